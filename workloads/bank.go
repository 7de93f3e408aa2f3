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
	"github.com/kvdlabs/kvd/sim"
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
	// AttemptsMax bounds the tries of the opening and final operations,
	// which must succeed; default 30.
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
	ops    int
	opened bool
	// openRev is the revision the accounts were opened at; reads of older
	// revisions (stale serializable ones) predate the bank.
	openRev int64
	// valueSeq makes every written value unique: "balance/sequence".
	valueSeq  int
	finalDone int
	finalFail []string
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
func (b *Bank) Start(env Env) {
	b.env, b.rec.env = env, env
	w := env.Cluster.World()
	opener := env.Cluster.NewClient(sim.ClientOptions{Timeout: b.opts.CallTimeout})
	txn := &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: b.account(0), Target: pb.Compare_CREATE, Result: pb.Compare_EQUAL,
			TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 0}}},
		Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: bankPrefix, RangeEnd: bankEnd}}}},
	}
	for i := range b.opts.Accounts {
		txn.Success = append(txn.Success, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{
			RequestPut: &pb.PutRequest{Key: b.account(i), Value: b.value(b.opts.BalanceInitial)}}})
	}
	var open func(attempt int)
	open = func(attempt int) {
		opener.Do(&pb.InternalRaftRequest{Txn: txn}, func(c sim.Call) {
			b.rec.record(env.Clients, c)
			resp, ok := c.Response.(*pb.TxnResponse)
			if c.Err == nil && !c.TimedOut && ok {
				rev, known := openRevision(resp)
				if !known {
					// The guard failed yet no account was read: the KV
					// checkers judge that answer; the bank cannot open.
					return
				}
				b.openRev, b.opened = rev, true
				for i := range env.Clients {
					cl := env.Cluster.NewClient(sim.ClientOptions{Timeout: b.opts.CallTimeout})
					w.After(thinkTime(env, b.opts.ThinkDurationMax), func() { b.next(i, cl) })
				}
				return
			}
			if attempt < b.opts.AttemptsMax {
				w.After(b.opts.ThinkDurationMax, func() { open(attempt + 1) })
			}
		})
	}
	open(1)
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
func (b *Bank) next(idx int, cl *sim.Client) {
	w := b.env.Cluster.World()
	if !w.Now().Before(b.env.End) || b.ops >= b.env.OpsMax {
		return
	}
	b.ops++
	serializable := b.env.Rand.IntN(100) < 20
	cl.Do(b.readAll(serializable), func(c sim.Call) {
		b.rec.record(idx, c)
		then := func() { w.After(thinkTime(b.env, b.opts.ThinkDurationMax), func() { b.next(idx, cl) }) }
		resp, ok := c.Response.(*pb.RangeResponse)
		if c.Err != nil || c.TimedOut || !ok || len(resp.Kvs) < 2 || serializable || b.ops >= b.env.OpsMax {
			then()
			return
		}
		b.ops++
		cl.Do(b.transfer(resp.Kvs), func(c sim.Call) {
			b.rec.record(idx, c)
			then()
		})
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

// Finish implements Workload: a final linearizable full read that must
// succeed, then the final state is captured once the members agree, then
// the committed history is read (see kvRecorder.readCommitted).
func (b *Bank) Finish() {
	cl := b.env.Cluster.NewClient(sim.ClientOptions{Timeout: b.opts.CallTimeout})
	finalClient := b.env.Clients + 1
	var read func(attempt int)
	read = func(attempt int) {
		cl.Do(b.readAll(false), func(c sim.Call) {
			b.rec.record(finalClient, c)
			switch {
			case c.Err == nil && !c.TimedOut:
				b.finalDone++
				b.rec.captureWhenSettled()
			case attempt >= b.opts.AttemptsMax:
				b.finalFail = append(b.finalFail, fmt.Sprintf("final read: %v (timed out %v)", c.Err, c.TimedOut))
				b.rec.captureWhenSettled()
			default:
				b.env.Cluster.World().After(b.opts.ThinkDurationMax, func() { read(attempt + 1) })
			}
		})
	}
	read(1)
}

// CheckerBankTotal names the bank invariant's verdict.
const CheckerBankTotal = "bank-total"

// Check implements Workload.
func (b *Bank) Check(timeout time.Duration) []linearizability.Verdict {
	out := b.rec.verdicts(timeout)
	out = append(out, b.checkTotal(), finalVerdict("bank-final-read", 1, b.finalDone, b.finalFail))
	return out
}

// checkTotal verifies every successful full read and final member store
// sums to the opening total.
func (b *Bank) checkTotal() linearizability.Verdict {
	started := time.Now()
	v := linearizability.Verdict{Checker: CheckerBankTotal}
	if !b.opened {
		v.Outcome, v.Detail = linearizability.Unknown, "the accounts were never opened"
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
