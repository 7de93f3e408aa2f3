package workloads

import (
	"errors"
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/linearizability"
	"github.com/kvdlabs/kvd/workloads/driver"
)

// kvRecorder keeps what a KV workload saw: every call of its own sessions,
// then each live member's store once the cluster settled after the final
// operations, then the committed history. The register and bank workloads
// share it.
type kvRecorder struct {
	env     Env
	history []linearizability.KVOperation
	// finalReads and hashes are taken once, when the cluster settled.
	finalReads []linearizability.MemberRead
	hashes     []linearizability.MemberHash
	captured   bool
	// captureNote says why the final state was not captured, if it was not.
	captureNote string
	// committed is the store's committed history, read after the final
	// state was captured; nil if it was not (see readCommitted).
	committed *linearizability.KVCommittedHistory
	// committedNote says why committed is nil.
	committedNote string
	// inFlight counts calls issued through do that have not completed.
	inFlight int
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
	// committedReadStallMax bounds the wait for a member's committed
	// history to reach the revisions the clients saw while no history
	// moves; committedReadDurationMax bounds it however they move. A
	// member feeding a lagging watcher a few events a round (the swarm's
	// watch-catchup-batch) takes minutes of virtual time over a long run's
	// revisions, and porcupine without the history rarely decides one.
	committedReadStallMax    = 10 * time.Second
	committedReadDurationMax = 10 * time.Minute
)

// do issues req on cl, records the call as client's when it completes, and
// then hands it to then. Calls issued through do are counted in flight, so
// whenIdle can wait for them.
func (r *kvRecorder) do(cl driver.Session, client int, req *pb.InternalRaftRequest, then func(driver.Call)) {
	r.inFlight++
	cl.Do(req, func(c driver.Call) {
		r.inFlight--
		if r.inFlight < 0 {
			panic(fmt.Sprintf("workloads: %d calls in flight after client %d's call %d completed", r.inFlight, client, c.Seq))
		}
		r.record(client, c)
		then(c)
	})
}

// whenIdle runs fn once no call issued through do is in flight. The final
// operations and the final capture must come after every session's last
// call: a call still in flight may be acknowledged at a revision the
// capture would miss. Every call completes within its client's timeout, so
// waiting longer than idleWait is a bug in the client, not a slow cluster.
func (r *kvRecorder) whenIdle(idleWait time.Duration, fn func()) {
	w := r.env.Cluster
	deadline := w.Now().Add(idleWait)
	var poll func()
	poll = func() {
		if r.inFlight == 0 {
			fn()
			return
		}
		if !w.Now().Before(deadline) {
			panic(fmt.Sprintf("workloads: %d calls still in flight %v after the last could start", r.inFlight, idleWait))
		}
		w.After(settlePollInterval, poll)
	}
	poll()
}

func (r *kvRecorder) record(client int, c driver.Call) {
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
	w := r.env.Cluster
	deadline := w.Now().Add(settleDurationMax)
	var poll func()
	poll = func() {
		up := r.env.Cluster.Up()
		var revs []int64
		settled := len(up) > 0
		for _, id := range up {
			rev, ok := r.env.Cluster.Revision(id)
			settled = settled && ok
			revs = append(revs, rev)
		}
		for _, rev := range revs {
			settled = settled && rev == revs[0]
		}
		if !settled && w.Now().Before(deadline) {
			w.After(settlePollInterval, poll)
			return
		}
		r.capture(up)
		r.readCommitted()
	}
	w.After(settlePollInterval, poll)
}

// readCommitted reads the store's committed history — every event of the
// whole keyspace from revision 1, by a watch pinned to each live member —
// and keeps the first member's that reaches every revision a recorded call
// was answered at; CheckKV decides the indeterminate writes from it.
//
// It runs after the final operations were acknowledged (the register's
// final writes, the bank's final linearizable read), which is what makes
// the history final: the leader that served them had committed an entry of
// its own term (the write; or, for a read, the empty entry raft commits
// before it serves a ReadIndex) after every earlier entry in its log, so a
// proposal not committed by then never will be — leader completeness keeps
// every later leader's log equal to this one up to that entry, and an
// entry of an older term cannot follow it. A timed-out request still in
// flight on the network may yet be proposed, but only as a new entry after
// that one: at a revision above everything the clients saw. The checker
// does not rely on this timing: it drops a write missing from the history
// only when the history reaches every revision an acknowledged call
// reported, since such a write then took effect after every state anyone
// observed.
//
// A compaction makes the history start late; the KV workloads never
// compact, but if one happened the history is not used (the checker then
// searches over every indeterminate write, as without it).
func (r *kvRecorder) readCommitted() {
	w := r.env.Cluster
	hc := collectHistories(r.env.Cluster, []byte{0}, []byte{0})
	if len(hc.watches) == 0 {
		r.committedNote = "no live member to read the committed history from"
		return
	}
	deadline := w.Now().Add(committedReadDurationMax)
	movedAt := w.Now()
	seen := make([]int64, len(hc.watches))
	var poll func()
	poll = func() {
		revMax := r.revisionMax()
		for i, rw := range hc.watches {
			if compactedWatch(rw) {
				hc.histories() // stops the watches
				r.committedNote = fmt.Sprintf("member %d's committed history was compacted", hc.members[i])
				return
			}
			if rw.lastSeen > seen[i] {
				seen[i], movedAt = rw.lastSeen, w.Now()
			}
			if rw.lastSeen < max(hc.targets[i], revMax) {
				continue
			}
			for _, mh := range hc.histories() {
				if mh.Member == hc.members[i] {
					r.committed = &linearizability.KVCommittedHistory{MemberHistory: mh, ReadAt: w.Now()}
					return
				}
			}
			panic(fmt.Sprintf("workloads: member %d's history reached revision %d but was not collected", hc.members[i], rw.lastSeen))
		}
		switch {
		case w.Now().Sub(movedAt) >= committedReadStallMax:
			hc.histories()
			r.committedNote = fmt.Sprintf("no member's committed history reached revision %d: none moved for %v (reached %v)", revMax, committedReadStallMax, seen)
			return
		case !w.Now().Before(deadline):
			hc.histories()
			r.committedNote = fmt.Sprintf("no member's committed history reached revision %d within %v (reached %v)", revMax, committedReadDurationMax, seen)
			return
		}
		w.After(settlePollInterval, poll)
	}
	w.After(settlePollInterval, poll)
}

// finished reports whether the committed history was read (or found
// unreadable): the last step of a KV workload's Finish.
func (r *kvRecorder) finished() bool { return r.committed != nil || r.committedNote != "" }

// revisionMax is the highest revision a recorded call was answered at.
func (r *kvRecorder) revisionMax() int64 {
	var rev int64
	for i := range r.history {
		if h, ok := r.history[i].Response.(interface{ GetHeader() *pb.ResponseHeader }); ok {
			rev = max(rev, h.GetHeader().GetRevision())
		}
	}
	return rev
}

func compactedWatch(rw *resumingWatch) bool {
	for _, a := range rw.rec.Attempts {
		for _, resp := range a.Responses {
			if resp.CompactRevision != 0 {
				return true
			}
		}
	}
	return false
}

func (r *kvRecorder) capture(up []uint64) {
	r.captured = true
	for _, id := range up {
		req := &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}
		resp, err := r.env.Cluster.LocalRange(id, req)
		if err != nil {
			r.captureNote = fmt.Sprintf("member %d local range: %v", id, err)
			r.captured = false
			return
		}
		r.finalReads = append(r.finalReads, linearizability.MemberRead{Member: id, Request: req, Response: resp})
		h, err := r.env.Cluster.HashKV(id, 0)
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
	lin := linearizability.CheckKV(r.history, linearizability.KVCheckOptions{Timeout: timeout, Visualize: true, Committed: r.committed})
	if lin.Outcome == linearizability.OK {
		lin.VisualizationHTML = nil // only a failure is worth the bytes
	}
	if lin.Outcome == linearizability.Unknown && r.committed == nil {
		note := r.committedNote
		if note == "" {
			note = "the World did not run long enough after Finish"
		}
		lin.Detail += "; no committed history: " + note
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
