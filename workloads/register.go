package workloads

import (
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/linearizability"
	"github.com/kvdlabs/kvd/workloads/driver"
)

// RegisterOptions shapes the register workload.
type RegisterOptions struct {
	// Keys is how many registers; default 10.
	Keys int
	// ThinkDurationMax bounds a client's pause between operations;
	// default 20 ms.
	ThinkDurationMax time.Duration
	// CallTimeout is each call's timeout; default 1 s.
	CallTimeout time.Duration
	// FinalAttemptsMax bounds the tries of each final write; default 30.
	FinalAttemptsMax int
}

// EnsureDefaults fills zero fields with their documented defaults.
func (o *RegisterOptions) EnsureDefaults() {
	if o.Keys == 0 {
		o.Keys = 10
	}
	if o.ThinkDurationMax == 0 {
		o.ThinkDurationMax = 20 * time.Millisecond
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = time.Second
	}
	if o.FinalAttemptsMax == 0 {
		o.FinalAttemptsMax = 30
	}
}

// registerKeysMax keeps the model state small enough for porcupine.
const registerKeysMax = 64

// Validate reports every problem at once.
func (o *RegisterOptions) Validate() error {
	var errs []error
	if o.Keys < 1 || o.Keys > registerKeysMax {
		errs = append(errs, fmt.Errorf("workloads: register Keys %d out of [1, %d]", o.Keys, registerKeysMax))
	}
	if o.ThinkDurationMax < 0 {
		errs = append(errs, fmt.Errorf("workloads: register ThinkDurationMax %v is negative", o.ThinkDurationMax))
	}
	if o.CallTimeout <= 0 {
		errs = append(errs, fmt.Errorf("workloads: register CallTimeout %v must be positive", o.CallTimeout))
	}
	if o.FinalAttemptsMax < 1 {
		errs = append(errs, fmt.Errorf("workloads: register FinalAttemptsMax %d must be positive", o.FinalAttemptsMax))
	}
	return joinErrs(errs)
}

// Register is the "register" workload: about ten keys read and written by
// Env.Clients closed-loop sessions with gets (linearizable and
// serializable), puts of unique values, deletes and compare-and-swap txns
// on mod revision or value. After a failed or indeterminate write the
// session reads that key. Finish writes every key once more and requires
// the writes to succeed, then reads the committed history (see
// kvRecorder.readCommitted), which decides the writes whose outcome the
// sessions never learned; Check runs the KV linearizability, serializable
// read, durability and convergence checkers.
type Register struct {
	opts RegisterOptions
	env  Env
	rec  kvRecorder
	pace *pacer
	ops  int
	// valueSeq makes every written value unique.
	valueSeq  int
	finalDone int
	finalFail []string
}

// NewRegister returns the register workload; invalid options panic.
func NewRegister(opts RegisterOptions) *Register {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	return &Register{opts: opts}
}

// Name implements Workload.
func (*Register) Name() string { return "register" }

// Ops implements Workload.
func (r *Register) Ops() int { return r.ops }

func (r *Register) key(i int) []byte { return fmt.Appendf(nil, "register/k%02d", i) }

func (r *Register) nextValue(client int) []byte {
	r.valueSeq++
	return fmt.Appendf(nil, "c%d-%d", client, r.valueSeq)
}

// registerSession is one client's closed loop.
type registerSession struct {
	idx int
	cl  driver.Session
	// lastMod is the mod revision this session last saw per key (0: never
	// seen or absent), the expectation of its next CAS on the key.
	lastMod map[int]int64
	// lastValue is the value this session last saw per key.
	lastValue map[int][]byte
	// recheck is a key to read next, after a write whose outcome is unknown
	// or failed; -1 when none.
	recheck int
}

// Start implements Workload.
func (r *Register) Start(env Env) {
	r.env = env
	r.rec.env = env
	r.pace = newPacer(env, env.Clients, r.opts.ThinkDurationMax)
	for i := range env.Clients {
		s := &registerSession{idx: i, cl: env.Cluster.NewSession(driver.SessionOptions{Timeout: r.opts.CallTimeout}),
			lastMod: map[int]int64{}, lastValue: map[int][]byte{}, recheck: -1}
		env.Cluster.After(thinkTime(env, r.opts.ThinkDurationMax), func() { r.next(s) })
	}
}

func (r *Register) next(s *registerSession) {
	w := r.env.Cluster
	if !w.Now().Before(r.env.End) || r.ops >= r.env.OpsMax {
		return
	}
	r.ops++
	req, key := r.pick(s)
	r.rec.do(s.cl, s.idx, req, func(c driver.Call) {
		r.learn(s, key, c)
		w.After(r.pace.pause(s.idx, r.ops, thinkTime(r.env, r.opts.ThinkDurationMax)), func() { r.next(s) })
	})
}

func (r *Register) pick(s *registerSession) (*pb.InternalRaftRequest, int) {
	rnd := r.env.Rand
	if s.recheck >= 0 {
		k := s.recheck
		s.recheck = -1
		return &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: r.key(k)}}, k
	}
	if rnd.IntN(100) < shapedOpsPercent {
		return r.shaped(s), -1
	}
	k := rnd.IntN(r.opts.Keys)
	key := r.key(k)
	switch p := rnd.IntN(100); {
	case p < 30:
		return &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: key}}, k
	case p < 40:
		return &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: key, Serializable: true}}, k
	case p < 65:
		return &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: key, Value: r.nextValue(s.idx)}}, k
	case p < 72:
		return &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: key}}, k
	default:
		cmp := &pb.Compare{Key: key, Target: pb.Compare_MOD, Result: pb.Compare_EQUAL,
			TargetUnion: &pb.Compare_ModRevision{ModRevision: s.lastMod[k]}}
		if v, ok := s.lastValue[k]; ok && p >= 90 {
			cmp = &pb.Compare{Key: key, Target: pb.Compare_VALUE, Result: pb.Compare_EQUAL,
				TargetUnion: &pb.Compare_Value{Value: v}}
		}
		return &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
			Compare: []*pb.Compare{cmp},
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: key, Value: r.nextValue(s.idx)}}}},
			Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: key}}}},
		}}, k
	}
}

// shapedOpsPercent is the share of operations that use the rest of the KV
// API's request shapes: spans of registers with limits and counts, delete
// ranges, prev_kv, and txn compares of every target and result, on keys
// present and absent. The KV model judges them like the rest; without them
// a store could get every one of those shapes wrong and pass.
const shapedOpsPercent = 15

// shaped draws one operation of the wider request shapes. It touches
// several registers or compares loosely, so the session learns nothing
// from it (pick's key -1).
func (r *Register) shaped(s *registerSession) *pb.InternalRaftRequest {
	rnd := r.env.Rand
	i := rnd.IntN(r.opts.Keys)
	// [key(i), key(j)) spans 1 to 4 registers; key(Keys) is past the last.
	j := i + 1 + rnd.IntN(min(4, r.opts.Keys-i))
	key, end := r.key(i), r.key(j)
	span := &pb.RangeRequest{Key: key, RangeEnd: end, Limit: rnd.Int64N(4), CountOnly: rnd.IntN(5) == 0, KeysOnly: rnd.IntN(5) == 0}
	switch rnd.IntN(5) {
	case 0:
		return &pb.InternalRaftRequest{Range: span}
	case 1:
		return &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: key, RangeEnd: end, PrevKv: rnd.IntN(2) == 0}}
	case 2:
		return &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: key, Value: r.nextValue(s.idx), PrevKv: true}}
	}
	// A compare near what the session last saw of the key, so each result
	// (and an absent key's zeros and empty value) is met often.
	cmp := &pb.Compare{Key: key, Target: pb.Compare_CompareTarget(rnd.IntN(4)), Result: pb.Compare_CompareResult(rnd.IntN(4))}
	near := s.lastMod[i] + int64(rnd.IntN(3)) - 1
	switch cmp.Target {
	case pb.Compare_VERSION:
		cmp.TargetUnion = &pb.Compare_Version{Version: max(near%3, 0)}
	case pb.Compare_CREATE:
		cmp.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: near}
	case pb.Compare_MOD:
		cmp.TargetUnion = &pb.Compare_ModRevision{ModRevision: near}
	case pb.Compare_VALUE:
		v := s.lastValue[i] // nil for a key seen absent: compares with ""
		if rnd.IntN(3) == 0 {
			v = nil
		}
		cmp.TargetUnion = &pb.Compare_Value{Value: v}
	}
	return &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
		Compare: []*pb.Compare{cmp},
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: key, Value: r.nextValue(s.idx), PrevKv: rnd.IntN(2) == 0}}}},
		Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: span}}},
	}}
}

// learn updates the session's view of key from a completed call.
func (r *Register) learn(s *registerSession, k int, c driver.Call) {
	if k < 0 {
		return // a shaped operation: see shaped
	}
	if c.Err != nil || c.TimedOut {
		if c.Req.Range == nil {
			s.recheck = k
		}
		return
	}
	var kvsSeen *pb.RangeResponse
	switch resp := c.Response.(type) {
	case *pb.RangeResponse:
		kvsSeen = resp
	case *pb.TxnResponse:
		if !resp.Succeeded && len(resp.Responses) == 1 {
			kvsSeen = resp.Responses[0].GetResponseRange()
		}
	}
	if kvsSeen == nil {
		return
	}
	if len(kvsSeen.Kvs) == 0 {
		s.lastMod[k] = 0
		delete(s.lastValue, k)
		return
	}
	s.lastMod[k] = kvsSeen.Kvs[0].ModRevision
	s.lastValue[k] = kvsSeen.Kvs[0].Value
}

// Finish implements Workload: once the sessions' last calls are back, one
// more write of every key, each retried until acknowledged, then the final
// state is captured once the members agree on a revision, then the
// committed history is read: only after the final writes committed is
// every earlier proposal settled.
func (r *Register) Finish() {
	r.rec.whenIdle(2*r.opts.CallTimeout, r.finalWrites)
}

// FinishDuration is how much virtual time Finish's operations need: the
// sessions' last calls, then the final writes, capture and history read.
func (r *Register) FinishDuration() time.Duration { return 2*r.opts.CallTimeout + 20*time.Second }

// Finished reports whether Finish's operations are all done, so a run on
// real processes need not wait out FinishDuration.
func (r *Register) Finished() bool { return r.rec.finished() }

func (r *Register) finalWrites() {
	cl := r.env.Cluster.NewSession(driver.SessionOptions{Timeout: r.opts.CallTimeout})
	finalClient := r.env.Clients
	var write func(k, attempt int)
	write = func(k, attempt int) {
		if k == r.opts.Keys {
			r.rec.captureWhenSettled()
			return
		}
		req := &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: r.key(k), Value: r.nextValue(finalClient)}}
		cl.Do(req, func(c driver.Call) {
			r.rec.record(finalClient, c)
			switch {
			case c.Err == nil && !c.TimedOut:
				r.finalDone++
				write(k+1, 1)
			case attempt >= r.opts.FinalAttemptsMax:
				r.finalFail = append(r.finalFail, fmt.Sprintf("%s: %v (timed out %v)", r.key(k), c.Err, c.TimedOut))
				write(k+1, 1)
			default:
				r.env.Cluster.After(r.opts.ThinkDurationMax, func() { write(k, attempt+1) })
			}
		})
	}
	write(0, 1)
}

// Check implements Workload.
func (r *Register) Check(timeout time.Duration) []linearizability.Verdict {
	return append(r.rec.verdicts(timeout), finalVerdict("register-final-writes", r.opts.Keys, r.finalDone, r.finalFail))
}

// History returns the recorded operations, for reports.
func (r *Register) History() []linearizability.KVOperation { return r.rec.history }
