package workloads

import (
	"errors"
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/linearizability"
	"github.com/kvdlabs/kvd/sim"
)

// kvRecorder keeps what a KV workload saw: every call of its own sessions,
// then each live member's store once the cluster settled after the final
// operations. The register and bank workloads share it.
type kvRecorder struct {
	env     Env
	history []linearizability.KVOperation
	// finalReads and hashes are taken once, when the cluster settled.
	finalReads []linearizability.MemberRead
	hashes     []linearizability.MemberHash
	captured   bool
	// captureNote says why the final state was not captured, if it was not.
	captureNote string
}

// Limits on settling: poll members every settlePollInterval until every
// live member applied the same revision, for at most settleDurationMax.
const (
	settlePollInterval = 100 * time.Millisecond
	settleDurationMax  = 20 * time.Second
	// historyOpsMax bounds what one run records: porcupine over the whole
	// keyspace is exponential in concurrency, so KV workloads are meant
	// for short histories.
	historyOpsMax = 100_000
)

func (r *kvRecorder) record(client int, c sim.Call) {
	if len(r.history) >= historyOpsMax {
		panic(fmt.Sprintf("workloads: history exceeds historyOpsMax %d", historyOpsMax))
	}
	if c.Req == nil {
		panic(fmt.Sprintf("workloads: KV recorder got a non-KV call from client %d", c.Client))
	}
	r.history = append(r.history, linearizability.KVOperation{
		ClientID:      client,
		Invoke:        c.Invoke,
		Return:        c.Return,
		Request:       c.Req,
		Response:      c.Response,
		Err:           c.Err,
		Indeterminate: c.Indeterminate(),
	})
}

// captureWhenSettled waits (in virtual time) until every live member has
// applied the same revision, then reads each one's whole keyspace and hash.
func (r *kvRecorder) captureWhenSettled() {
	w := r.env.Cluster.World()
	deadline := w.Now().Add(settleDurationMax)
	var poll func()
	poll = func() {
		up := r.env.Cluster.Up()
		var revs []int64
		for _, id := range up {
			revs = append(revs, r.env.Cluster.Member(id).Node().Status().Revision)
		}
		settled := len(up) > 0
		for _, rev := range revs {
			settled = settled && rev == revs[0]
		}
		if !settled && w.Now().Before(deadline) {
			w.After(settlePollInterval, poll)
			return
		}
		r.capture(up)
	}
	w.After(settlePollInterval, poll)
}

func (r *kvRecorder) capture(up []uint64) {
	r.captured = true
	for _, id := range up {
		n := r.env.Cluster.Member(id).Node()
		req := &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}
		resp, err := n.LocalRange(req)
		if err != nil {
			r.captureNote = fmt.Sprintf("member %d local range: %v", id, err)
			r.captured = false
			return
		}
		r.finalReads = append(r.finalReads, linearizability.MemberRead{Member: id, Request: req, Response: resp})
		h, err := n.HashKV(0)
		if err != nil {
			r.captureNote = fmt.Sprintf("member %d HashKV: %v", id, err)
			r.captured = false
			return
		}
		r.hashes = append(r.hashes, linearizability.MemberHash{Member: id, Revision: h.Header.Revision, Hash: h.Hash})
	}
}

// verdicts runs the KV checkers over what was recorded.
func (r *kvRecorder) verdicts(timeout time.Duration) []linearizability.Verdict {
	lin := linearizability.CheckKV(r.history, linearizability.KVCheckOptions{Timeout: timeout, Visualize: true})
	if lin.Outcome == linearizability.OK {
		lin.VisualizationHTML = nil // only a failure is worth the bytes
	}
	out := []linearizability.Verdict{lin, linearizability.CheckSerializableReads(r.history)}
	if !r.captured {
		note := r.captureNote
		if note == "" {
			note = "the final state was never captured: the World did not run long enough after Finish"
		}
		for _, name := range []string{linearizability.CheckerKVDurability, linearizability.CheckerConvergence} {
			out = append(out, linearizability.Verdict{Checker: name, Outcome: linearizability.Unknown, Detail: note})
		}
		return out
	}
	return append(out, linearizability.CheckDurability(r.history, r.finalReads), linearizability.CheckConvergence(r.hashes))
}

// finalVerdict judges that the final operations, which run after the faults
// healed, all succeeded.
func finalVerdict(checker string, wanted, done int, failures []string) linearizability.Verdict {
	v := linearizability.Verdict{Checker: checker, Operations: wanted, Outcome: linearizability.OK}
	if done < wanted {
		v.Outcome = linearizability.Violation
		v.Detail = fmt.Sprintf("%d of %d final operations never succeeded after the faults healed: %v", wanted-done, wanted, failures)
	}
	return v
}

// thinkTime draws a client's pause between two operations.
func thinkTime(env Env, maxDuration time.Duration) time.Duration {
	return time.Duration(env.Rand.Int64N(int64(maxDuration) + 1))
}

func joinErrs(errs []error) error { return errors.Join(errs...) }
