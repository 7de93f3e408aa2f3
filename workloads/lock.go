package workloads

import (
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/linearizability"
	"github.com/kvdlabs/kvd/workloads/driver"
)

const (
	// lockTTLSeconds is each session's lease TTL (clientv3/concurrency's
	// default is 60 s; short here so lost holders expire within a run).
	lockTTLSeconds = 5
	// lockPollInterval is how often a waiter re-reads its predecessor.
	lockPollInterval = 200 * time.Millisecond
	// lockWritesPerHold is how many guarded writes a holder makes.
	lockWritesPerHold = 3
	// lockObserveIntervalMax is the longest an observer waits between
	// reads of the holder once the pacer has no budget to spread.
	lockObserveIntervalMax = 500 * time.Millisecond
)

// Lock is the clientv3/concurrency mutex recipe over simulated clients:
// each session grants a lease, puts its own key under the lock prefix,
// waits until every key with a smaller create revision is gone, checks its
// own key survived the wait (else its session expired and it holds
// nothing), then makes guarded writes (a txn comparing its key's create
// revision) and releases. With Election set it is the election recipe
// instead: the holder is the leader and its guarded writes are
// proclamations on its own key. (clientv3's Campaign skips the survival
// check; a campaign here makes it too, so that every claim to lead is one
// etcd's guarantees can prove.) Observers ask who holds the lock (etcd's
// Election.Leader) between the sessions' calls, paced to cover the run.
type Lock struct {
	// Election switches to the election recipe.
	Election bool

	env       Env
	ops       int
	seq       int
	finishing bool
	// sessionsLost counts waiters that outlived their own key.
	sessionsLost int
	hist         linearizability.LockHistory
	collector    *historyCollector
	// observePace paces the observers' reads.
	observePace *pacer
}

// NewLock returns the lock workload; NewElection the election workload.
func NewLock() *Lock { return &Lock{} }

// NewElection returns the election workload (campaign, proclaim, resign).
func NewElection() *Lock { return &Lock{Election: true} }

// Name implements Workload.
func (l *Lock) Name() string {
	if l.Election {
		return "election"
	}
	return "lock"
}

// Ops implements Workload.
func (l *Lock) Ops() int { return l.ops }

func (l *Lock) root() []byte { return []byte("/" + l.Name() + "/") }

// Start implements Workload.
func (l *Lock) Start(env Env) {
	l.env = env
	l.hist.Prefix = append(l.root(), "holders/"...)
	if !l.Election {
		l.hist.GuardedKey = append(l.root(), "guarded"...)
	}
	l.hist.Writers = map[string]linearizability.LockHolder{}
	progressTicker(env.Cluster, func() bool { return l.collector != nil && l.collectorDone() })
	for i := range max(env.Clients, 1) {
		cl := env.Cluster.NewSession(driver.SessionOptions{})
		env.Cluster.After(time.Duration(i)*30*time.Millisecond, func() { l.session(cl, i) })
	}
	observers := max(env.Clients/2, 1)
	l.observePace = newPacer(env, observers, lockObserveIntervalMax)
	for i := range observers {
		cl := env.Cluster.NewSession(driver.SessionOptions{})
		l.observe(cl, i, time.Duration(i)*50*time.Millisecond)
	}
}

// observe reads who holds the lock after wait, as etcd's Election.Leader
// does (the live key under the prefix with the smallest create revision),
// and again as the pacer says.
func (l *Lock) observe(cl driver.Session, observer int, wait time.Duration) {
	l.after(wait, func() {
		if !l.running() {
			return
		}
		l.ops++
		cl.Do(&pb.InternalRaftRequest{Range: &pb.RangeRequest{
			Key: l.hist.Prefix, RangeEnd: prefixEnd(l.hist.Prefix),
			SortTarget: pb.RangeRequest_CREATE, SortOrder: pb.RangeRequest_ASCEND, Limit: 1,
		}}, func(call driver.Call) {
			if rr, ok := call.Response.(*pb.RangeResponse); ok && lockCallOK(call) {
				o := linearizability.LockObservation{Revision: rr.GetHeader().GetRevision()}
				if len(rr.Kvs) > 0 {
					o.Holder = linearizability.LockHolder{Key: string(rr.Kvs[0].GetKey()), CreateRevision: rr.Kvs[0].GetCreateRevision()}
					o.Held = true
				}
				l.hist.Observed = append(l.hist.Observed, o)
			}
			l.observe(cl, observer, l.observePace.pause(observer, l.ops, lockObserveIntervalMax))
		})
	})
}

func (l *Lock) running() bool {
	w := l.env.Cluster
	return !l.finishing && l.ops < l.env.OpsMax && w.Now().Before(l.env.End)
}

func (l *Lock) after(d time.Duration, fn func()) { l.env.Cluster.After(d, fn) }

func lockCallOK(call driver.Call) bool { return call.Err == nil && !call.TimedOut }

// session: grant, keep alive, enqueue, wait, hold, release, repeat.
func (l *Lock) session(cl driver.Session, client int) {
	if !l.running() {
		return
	}
	retry := func() { l.after(300*time.Millisecond, func() { l.session(cl, client) }) }
	l.ops++
	cl.Do(&pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: lockTTLSeconds}}, func(call driver.Call) {
		gr, isGrant := call.Response.(*pb.LeaseGrantResponse)
		if !lockCallOK(call) || !isGrant {
			retry()
			return
		}
		lease := gr.ID
		done := false
		var keep func()
		keep = func() {
			if done {
				return
			}
			cl.KeepAlive(lease, func(driver.Call) { l.after(time.Second, keep) })
		}
		l.after(time.Second, keep)
		l.seq++
		me := fmt.Sprintf("%sc%d-%d", l.hist.Prefix, client, l.seq)
		end := func() {
			done = true
			l.ops++
			cl.Do(&pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: lease}}, func(driver.Call) { retry() })
		}
		l.ops++
		cl.Do(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(me), Value: []byte("candidate"), Lease: lease}}, func(call driver.Call) {
			pr, isPut := call.Response.(*pb.PutResponse)
			if !lockCallOK(call) || !isPut {
				end() // an indeterminate put may have enqueued us: revoking removes it
				return
			}
			holder := linearizability.LockHolder{Key: me, CreateRevision: pr.GetHeader().GetRevision()}
			l.wait(cl, holder, func(acquiredRev int64) {
				if acquiredRev == 0 {
					end()
					return
				}
				l.hist.Acquired = append(l.hist.Acquired, linearizability.LockClaim{Holder: holder, Revision: acquiredRev})
				l.hold(cl, holder, lockWritesPerHold, end)
			})
		})
	})
}

// wait follows etcd's waitDeletes: read the last key created before ours
// until there is none, then verify our own key.
func (l *Lock) wait(cl driver.Session, me linearizability.LockHolder, acquired func(rev int64)) {
	if !l.running() {
		acquired(0)
		return
	}
	l.ops++
	cl.Do(&pb.InternalRaftRequest{Range: &pb.RangeRequest{
		Key: l.hist.Prefix, RangeEnd: prefixEnd(l.hist.Prefix), MaxCreateRevision: me.CreateRevision - 1,
		SortTarget: pb.RangeRequest_CREATE, SortOrder: pb.RangeRequest_DESCEND, Limit: 1,
	}}, func(call driver.Call) {
		rr, isRange := call.Response.(*pb.RangeResponse)
		if lockCallOK(call) && isRange && len(rr.Kvs) == 0 {
			l.verify(cl, me, acquired)
			return
		}
		l.after(lockPollInterval, func() { l.wait(cl, me, acquired) })
	})
}

// verify follows etcd's Mutex.Lock after waitDeletes: the predecessors
// are gone, but our own key may be gone too (our lease expired meanwhile),
// so only a read that still finds our key, with our create revision,
// proves we hold the lock — at that read's revision. No key with a smaller
// create revision can appear after the wait's read, so this read proves
// both halves of "holder at revision H".
func (l *Lock) verify(cl driver.Session, me linearizability.LockHolder, acquired func(rev int64)) {
	if !l.running() {
		acquired(0)
		return
	}
	l.ops++
	cl.Do(&pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte(me.Key)}}, func(call driver.Call) {
		rr, isRange := call.Response.(*pb.RangeResponse)
		switch {
		case !lockCallOK(call) || !isRange:
			l.after(lockPollInterval, func() { l.verify(cl, me, acquired) })
		case len(rr.Kvs) == 0 || rr.Kvs[0].GetCreateRevision() != me.CreateRevision:
			l.sessionsLost++ // clientv3: ErrSessionExpired
			acquired(0)
		default:
			acquired(rr.GetHeader().GetRevision())
		}
	})
}

// hold makes n guarded writes, each conditional on still owning the key.
func (l *Lock) hold(cl driver.Session, me linearizability.LockHolder, n int, release func()) {
	if n == 0 || !l.running() {
		release()
		return
	}
	l.seq++
	value := fmt.Sprintf("%s@%d#%d", me.Key, me.CreateRevision, l.seq)
	key := string(l.hist.GuardedKey)
	if l.Election {
		key = me.Key // a proclamation
	}
	l.hist.Writers[value] = me
	l.ops++
	cl.Do(&pb.InternalRaftRequest{Txn: &pb.TxnRequest{
		Compare: []*pb.Compare{{
			Key: []byte(me.Key), Target: pb.Compare_CREATE, Result: pb.Compare_EQUAL,
			TargetUnion: &pb.Compare_CreateRevision{CreateRevision: me.CreateRevision},
		}},
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(key), Value: []byte(value), IgnoreLease: l.Election}}}},
	}}, func(call driver.Call) {
		tr, isTxn := call.Response.(*pb.TxnResponse)
		if lockCallOK(call) && isTxn && tr.Succeeded {
			l.hist.Acked = append(l.hist.Acked, linearizability.LockWrite{Holder: me, Key: key, Value: []byte(value), Revision: tr.GetHeader().GetRevision()})
		}
		if lockCallOK(call) && isTxn && !tr.Succeeded {
			release() // we lost the lock (our lease expired)
			return
		}
		l.after(100*time.Millisecond, func() { l.hold(cl, me, n-1, release) })
	})
}

// FinishDuration is how much virtual time Finish's operations need.
func (l *Lock) FinishDuration() time.Duration { return 25 * time.Second }

// Finish implements Workload: sessions stop; once their leases had time
// to expire, each member's history of the lock's keys is read.
func (l *Lock) Finish() {
	l.finishing = true
	l.after(lockTTLSeconds*time.Second+8*time.Second, func() {
		l.collector = collectHistories(l.env.Cluster, l.root(), prefixEnd(l.root()))
	})
}

func (l *Lock) collectorDone() bool {
	for i, rw := range l.collector.watches {
		if rw.lastSeen < l.collector.targets[i] {
			return false
		}
	}
	return true
}

// Check implements Workload: every member's history is judged on its own.
func (l *Lock) Check(timeout time.Duration) []linearizability.Verdict {
	var ms []linearizability.MemberHistory
	if l.collector != nil {
		ms = l.collector.histories()
	}
	if len(ms) == 0 {
		return []linearizability.Verdict{{Checker: "lock", Outcome: linearizability.Unknown, Detail: "no member history was collected"}}
	}
	var out []linearizability.Verdict
	for _, m := range ms {
		h := l.hist
		h.Events = m.Events
		v := linearizability.CheckLock(h)
		if v.Outcome != linearizability.OK || len(out) == 0 {
			v.Detail = fmt.Sprintf("member %d: %s", m.Member, v.Detail)
			out = []linearizability.Verdict{v}
		}
		if v.Outcome != linearizability.OK {
			break
		}
	}
	return out
}
