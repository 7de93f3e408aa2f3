package workloads

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/kvdlabs/kvd/linearizability"
	"github.com/kvdlabs/kvd/workloads/driver"
)

// BankOptions shapes the bank workload.
type BankOptions struct {
	// Accounts is how many accounts (keys); default 5.
	Accounts int
	// BalanceInitial is each account's opening balance; default 100.
	BalanceInitial int64
	// ThinkDurationMax bounds a client's pause between operations; default 20 ms.
	ThinkDurationMax time.Duration
	// CallTimeout is each call's timeout; default 1 s.
	CallTimeout time.Duration
	// AttemptsMax bounds the tries of each of Finish's operations, which
	// must succeed on the healed cluster: the final read, and the opening
	// if it had not succeeded by End (before End it retries until End);
	// default 30.
	AttemptsMax int
}

// EnsureDefaults fills zero fields with their documented defaults.
func (o *BankOptions) EnsureDefaults() {
	if o.Accounts == 0 {
		o.Accounts = 5
	}
	if o.BalanceInitial == 0 {
		o.BalanceInitial = 100
	}
	if o.ThinkDurationMax == 0 {
		o.ThinkDurationMax = 20 * time.Millisecond
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = time.Second
	}
	if o.AttemptsMax == 0 {
		o.AttemptsMax = 30
	}
}

// bankAccountsMax keeps a txn and the model state small.
const bankAccountsMax = 64

// Validate reports every problem at once.
func (o *BankOptions) Validate() error {
	var errs []error
	if o.Accounts < 2 || o.Accounts > bankAccountsMax {
		errs = append(errs, fmt.Errorf("workloads: bank Accounts %d out of [2, %d]", o.Accounts, bankAccountsMax))
	}
	if o.BalanceInitial < 1 {
		errs = append(errs, fmt.Errorf("workloads: bank BalanceInitial %d must be positive", o.BalanceInitial))
	}
	if o.ThinkDurationMax < 0 {
		errs = append(errs, fmt.Errorf("workloads: bank ThinkDurationMax %v is negative", o.ThinkDurationMax))
	}
	if o.CallTimeout <= 0 {
		errs = append(errs, fmt.Errorf("workloads: bank CallTimeout %v must be positive", o.CallTimeout))
	}
	if o.AttemptsMax < 1 {
		errs = append(errs, fmt.Errorf("workloads: bank AttemptsMax %d must be positive", o.AttemptsMax))
	}
	return errors.Join(errs...)
}

// Bank is the "bank" workload: accounts whose balances move by transfers,
// each a txn that compares the mod revisions of both accounts as last read
// and then puts both; reads range over every account, linearizably or
// serializably. The total never changes: Check verifies that every
// successful full read, and every member's final store, sums to the
// opening total, and runs the KV checkers over the whole history.
type Bank struct {
	opts   BankOptions
	env    Env
	rec    kvRecorder
	pace   *pacer
	ops    int
	opened bool
	// openRev is the revision the accounts were opened at; reads of older
	// revisions (stale serializable ones) predate the bank.
	openRev int64
	// valueSeq makes every written value unique: "balance/sequence".
	valueSeq int
	// opener sends the opening txn, openReq; openAttempts counts its
	// attempts and openNote says how the latest one failed.
	opener       driver.Session
	openReq      *pb.InternalRaftRequest
	openAttempts int
	openNote     string
	// finalWanted counts the operations Finish must get done: the final
	// read, and the opening if it had not succeeded by End.
	finalWanted int
	finalDone   int
	finalFail   []string
	// finalLast is the latest failed final attempt, for a run that ended
	// before the attempts ran out.
	finalLast string
}

// NewBank returns the bank workload; invalid options panic.
func NewBank(opts BankOptions) *Bank {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	return &Bank{opts: opts}
}

// Name implements Workload.
func (*Bank) Name() string { return "bank" }

// Ops implements Workload.
func (b *Bank) Ops() int { return b.ops }

// History returns the recorded operations, for reports.
func (b *Bank) History() []linearizability.KVOperation { return b.rec.history }

var (
	bankPrefix = []byte("bank/")
	bankEnd    = []byte("bank0") // '/'+1: the end of the prefix range
)

func (b *Bank) account(i int) []byte { return fmt.Appendf(nil, "bank/a%02d", i) }

func (b *Bank) value(balance int64) []byte {
	b.valueSeq++
	return fmt.Appendf(nil, "%d/%d", balance, b.valueSeq)
}

func balanceOf(v []byte) (int64, error) {
	i := bytes.IndexByte(v, '/')
	if i < 0 {
		return 0, fmt.Errorf("value %q is not balance/sequence", v)
	}
	return strconv.ParseInt(string(v[:i]), 10, 64)
}

func (b *Bank) total() int64 { return int64(b.opts.Accounts) * b.opts.BalanceInitial }

func (b *Bank) readAll(serializable bool) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: bankPrefix, RangeEnd: bankEnd, Serializable: serializable}}
}

// Start implements Workload: one client opens every account in one txn,
// retrying until it learns the outcome; then the sessions start.
//
// The opening txn is guarded — put the accounts only if bank/a00 was never
// created, else read them — so a retry after an indeterminate attempt (timed
// out, leader changed) cannot open the bank twice, whichever attempt lands
// first or late: exactly one attempt puts, every later one reads the
// accounts back and learns the revision they were opened at.
//
// The opening retries until env.End, however many attempts that takes: a
// nemesis may hold the cluster without a quorum for most of the run, and a
// count of attempts spent there says nothing about the cluster once it
// heals. If the bank is still not open at End, Finish opens it on the
// healed cluster.
func (b *Bank) Start(env Env) {
	b.env, b.rec.env = env, env
	b.pace = newPacer(env, env.Clients, b.opts.ThinkDurationMax)
	b.opener = env.Cluster.NewSession(driver.SessionOptions{Timeout: b.opts.CallTimeout})
	// One request for every attempt: the same values, so whichever attempt
	// lands opened the bank with them.
	b.openReq = b.openTxn()
	b.open(1, false, func() {
		w := env.Cluster
		for i := range env.Clients {
			cl := env.Cluster.NewSession(driver.SessionOptions{Timeout: b.opts.CallTimeout})
			w.After(thinkTime(env, b.opts.ThinkDurationMax), func() { b.next(i, cl) })
		}
	})
}

// openTxn is the guarded opening txn.
func (b *Bank) openTxn() *pb.InternalRaftRequest {
	txn := &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: b.account(0), Target: pb.Compare_CREATE, Result: pb.Compare_EQUAL,
			TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 0}}},
		Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: bankPrefix, RangeEnd: bankEnd}}}},
	}
	for i := range b.opts.Accounts {
		txn.Success = append(txn.Success, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{
			RequestPut: &pb.PutRequest{Key: b.account(i), Value: b.value(b.opts.BalanceInitial)}}})
	}
	return &pb.InternalRaftRequest{Txn: txn}
}

// open sends one opening attempt and calls opened once the bank is open.
// Before End (final false) it retries until End; in Finish (final true) it
// makes at most AttemptsMax attempts and records the failure.
func (b *Bank) open(attempt int, final bool, opened func()) {
	w := b.env.Cluster
	if !final && !w.Now().Before(b.env.End) {
		return // Finish takes over
	}
	b.openAttempts++
	b.rec.do(b.opener, b.env.Clients, b.openReq, func(c driver.Call) {
		resp, ok := c.Response.(*pb.TxnResponse)
		if c.Err == nil && !c.TimedOut && ok {
			rev, known := openRevision(resp)
			if !known {
				// The guard failed yet no account was read: the KV
				// checkers judge that answer; the bank cannot open.
				b.openNote = "the guard failed yet the opening read no account"
				if final {
					b.finalFail = append(b.finalFail, "opening: "+b.openNote)
					opened()
				}
				return
			}
			b.openRev, b.opened = rev, true
			opened()
			return
		}
		b.openNote = fmt.Sprintf("attempt %d: %v (timed out %v)", attempt, c.Err, c.TimedOut)
		if final && attempt >= b.opts.AttemptsMax {
			b.finalFail = append(b.finalFail, "opening "+b.openNote)
			opened() // the final read runs all the same, and will judge no bank
			return
		}
		w.After(b.retryDelay(attempt), func() { b.open(attempt+1, final, opened) })
	})
}

// retryDelay backs off from ThinkDurationMax to CallTimeout, so a cluster
// that answers "no leader" at once is not asked thousands of times.
func (b *Bank) retryDelay(attempt int) time.Duration {
	d := b.opts.ThinkDurationMax
	for range min(attempt-1, 16) {
		d *= 2
	}
	return min(max(d, time.Millisecond), b.opts.CallTimeout)
}

// openRevision is the revision the accounts were opened at: the opening
// txn's own revision when it put them, else the mod revision of the
// accounts it read back (no transfer runs before the bank is open). known
// is false for an answer that is neither.
func openRevision(resp *pb.TxnResponse) (rev int64, known bool) {
	if resp.Succeeded {
		return resp.GetHeader().GetRevision(), true
	}
	if len(resp.Responses) == 1 {
		if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
			return kvs[0].ModRevision, true
		}
	}
	return 0, false
}

// next runs one session step: a full read, then (usually) a transfer
// based on it.
func (b *Bank) next(idx int, cl driver.Session) {
	w := b.env.Cluster
	if !w.Now().Before(b.env.End) || b.ops >= b.env.OpsMax {
		return
	}
	b.ops++
	serializable := b.env.Rand.IntN(100) < 20
	// A quarter of the reads are RangeStreams (etcd 3.7): several chunks
	// that must still add up to one revision's total.
	read := b.rec.do
	if b.env.Rand.IntN(100) < 25 {
		read = func(cl driver.Session, client int, req *pb.InternalRaftRequest, then func(driver.Call)) {
			b.rec.doRangeStream(cl, client, req, b.opts.CallTimeout, then)
		}
	}
	read(cl, idx, b.readAll(serializable), func(c driver.Call) {
		then := func() {
			w.After(b.pace.pause(idx, b.ops, thinkTime(b.env, b.opts.ThinkDurationMax)), func() { b.next(idx, cl) })
		}
		resp, ok := c.Response.(*pb.RangeResponse)
		if c.Err != nil || c.TimedOut || !ok || len(resp.Kvs) < 2 || serializable || b.ops >= b.env.OpsMax {
			then()
			return
		}
		if !w.Now().Before(b.env.End) {
			// A transfer is a new operation: none starts after End, or
			// it could be acknowledged after Finish captured the state.
			return
		}
		b.ops++
		b.rec.do(cl, idx, b.transfer(resp.Kvs), func(driver.Call) { then() })
	})
}

// transfer moves a random amount between two random accounts, guarded by
// both accounts' mod revisions as read.
func (b *Bank) transfer(kvs []*mvccpb.KeyValue) *pb.InternalRaftRequest {
	rnd := b.env.Rand
	i := rnd.IntN(len(kvs))
	j := (i + 1 + rnd.IntN(len(kvs)-1)) % len(kvs)
	from, to := kvs[i], kvs[j]
	fromBal, err1 := balanceOf(from.Value)
	toBal, err2 := balanceOf(to.Value)
	if err1 != nil || err2 != nil {
		// A corrupt value is the checkers' business; move nothing.
		fromBal, toBal = 0, 0
	}
	amount := int64(0)
	if fromBal > 0 {
		amount = 1 + rnd.Int64N(fromBal)
	}
	put := func(kv *mvccpb.KeyValue, balance int64) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: kv.Key, Value: b.value(balance)}}}
	}
	modIs := func(kv *mvccpb.KeyValue) *pb.Compare {
		return &pb.Compare{Key: kv.Key, Target: pb.Compare_MOD, Result: pb.Compare_EQUAL,
			TargetUnion: &pb.Compare_ModRevision{ModRevision: kv.ModRevision}}
	}
	return &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
		Compare: []*pb.Compare{modIs(from), modIs(to)},
		Success: []*pb.RequestOp{put(from, fromBal-amount), put(to, toBal+amount)},
	}}
}

// Finish implements Workload: once every session's last call completed,
// the opening if it had not succeeded by End, then a final linearizable
// full read that must succeed, then the final state is captured once the
// members agree, then the committed history is read (see
// kvRecorder.readCommitted).
func (b *Bank) Finish() {
	// Calls complete within their timeout; the opener's or a session's
	// last one started before End.
	b.rec.whenIdle(2*b.opts.CallTimeout, func() {
		if b.opened {
			b.finalRead()
			return
		}
		b.finalWanted++
		b.open(1, true, func() {
			if b.opened {
				b.finalDone++
			}
			b.finalRead()
		})
	})
}

func (b *Bank) finalRead() {
	b.finalWanted++
	cl := b.env.Cluster.NewSession(driver.SessionOptions{Timeout: b.opts.CallTimeout})
	finalClient := b.env.Clients + 1
	var read func(attempt int)
	read = func(attempt int) {
		b.rec.do(cl, finalClient, b.readAll(false), func(c driver.Call) {
			switch {
			case c.Err == nil && !c.TimedOut:
				b.finalDone++
				b.rec.captureWhenSettled()
			case attempt >= b.opts.AttemptsMax:
				b.finalFail = append(b.finalFail, fmt.Sprintf("final read, attempt %d: %v (timed out %v)", attempt, c.Err, c.TimedOut))
				b.rec.captureWhenSettled()
			default:
				b.finalLast = fmt.Sprintf("final read, attempt %d: %v (timed out %v)", attempt, c.Err, c.TimedOut)
				b.env.Cluster.After(b.opts.ThinkDurationMax, func() { read(attempt + 1) })
			}
		})
	}
	read(1)
}

// FinishDuration is how much virtual time Finish's operations need: the
// sessions' last calls, then what any KV workload's final steps take.
func (b *Bank) FinishDuration() time.Duration { return 2*b.opts.CallTimeout + 20*time.Second }

// Finished reports whether Finish's operations are all done, so a run on
// real processes need not wait out FinishDuration.
func (b *Bank) Finished() bool { return b.rec.finished() }

// CheckerBankTotal names the bank invariant's verdict.
const CheckerBankTotal = "bank-total"

// Check implements Workload.
func (b *Bank) Check(timeout time.Duration) []linearizability.Verdict {
	out := b.rec.verdicts(timeout)
	wanted, failures := max(b.finalWanted, 1), b.finalFail
	if b.finalDone < wanted && len(failures) == 0 && b.finalLast != "" {
		failures = []string{b.finalLast + "; the run ended before the attempts ran out"}
	}
	out = append(out, b.checkTotal(), finalVerdict("bank-final-read", wanted, b.finalDone, failures))
	return out
}

// checkTotal verifies every successful full read and final member store
// sums to the opening total.
func (b *Bank) checkTotal() linearizability.Verdict {
	started := time.Now()
	v := linearizability.Verdict{Checker: CheckerBankTotal}
	if !b.opened {
		v.Outcome = linearizability.Unknown
		v.Detail = fmt.Sprintf("the accounts were never opened (%d attempts; latest: %s)", b.openAttempts, b.openNote)
		return v
	}
	var problems []string
	judge := func(who string, resp *pb.RangeResponse) {
		v.Operations++
		var sum int64
		for _, kv := range resp.Kvs {
			bal, err := balanceOf(kv.Value)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s at revision %d: %s: %v", who, resp.GetHeader().GetRevision(), kv.Key, err))
				return
			}
			sum += bal
		}
		if sum != b.total() || len(resp.Kvs) != b.opts.Accounts {
			problems = append(problems, fmt.Sprintf("%s at revision %d: %d accounts sum to %d, want %d accounts summing to %d",
				who, resp.GetHeader().GetRevision(), len(resp.Kvs), sum, b.opts.Accounts, b.total()))
		}
	}
	for _, h := range b.rec.history {
		resp, ok := h.Response.(*pb.RangeResponse)
		if !ok || h.Err != nil || h.Indeterminate || h.Request.GetRange() == nil {
			continue
		}
		if resp.GetHeader().GetRevision() >= b.openRev {
			kind := "linearizable"
			if h.Request.Range.Serializable {
				kind = "serializable"
			}
			judge(fmt.Sprintf("client %d %s read", h.ClientID, kind), resp)
		}
	}
	for _, f := range b.rec.finalReads {
		judge(fmt.Sprintf("member %d final store", f.Member), f.Response)
	}
	if len(problems) == 0 {
		v.Outcome = linearizability.OK
	} else {
		v.Outcome = linearizability.Violation
		v.Detail = fmt.Sprintf("%d reads break the total: %v", len(problems), problems[:min(len(problems), 5)])
	}
	v.CheckDuration = time.Since(started)
	return v
}
