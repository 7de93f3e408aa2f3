package workloads

import (
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"time"

	"github.com/kvdlabs/kvd/linearizability"
	"github.com/kvdlabs/kvd/sim"
)

// finisher is a workload that says how long its final operations take.
type finisher interface {
	Workload
	FinishDuration() time.Duration
}

// runSim runs wl on a fresh 3-member cluster for run of virtual time, with
// faults scheduled by inject, then finishes and checks it.
func runSim(t *testing.T, seed uint64, wl finisher, copts sim.ClusterOptions, run time.Duration, inject func(c *sim.Cluster)) []linearizability.Verdict {
	t.Helper()
	restore := sim.InstallCryptoRand(seed)
	defer restore()
	w := sim.New(seed, sim.Options{})
	c := sim.NewCluster(w, copts)
	env := Env{Cluster: c.Driver(), Rand: w.Rand("workload"), Clients: 3, OpsMax: 100000, End: w.Now().Add(run)}
	wl.Start(env)
	if inject != nil {
		inject(c)
	}
	w.RunUntil(env.End.Add(2 * time.Second))
	wl.Finish()
	w.RunFor(wl.FinishDuration())
	if wl.Ops() == 0 {
		t.Fatalf("seed %d: workload issued no operations", seed)
	}
	return wl.Check(10 * time.Second)
}

func verdictsOK(vs []linearizability.Verdict) (string, bool) {
	for _, v := range vs {
		if v.Outcome != linearizability.OK {
			return v.Checker + ": " + string(v.Outcome) + ": " + v.Detail, false
		}
	}
	return "", true
}

func TestLeaseFaultFree(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		wl := NewLease(LeaseOptions{})
		vs := runSim(t, seed, wl, sim.ClusterOptions{}, 30*time.Second, nil)
		if d, ok := verdictsOK(vs); !ok {
			t.Fatalf("seed %d: %s", seed, d)
		}
		if got := len(wl.collector.histories()); got != 3 {
			t.Fatalf("seed %d: %d member histories collected, want 3", seed, got)
		}
		deletes := 0
		for _, s := range wl.hist.Sightings {
			for _, e := range s.Events {
				if e.GetType() == mvccpb.DELETE {
					deletes++
				}
			}
		}
		if deletes == 0 {
			t.Fatalf("seed %d: no lease expired during the run: the workload exercises nothing", seed)
		}
		t.Logf("seed %d: ops %d grants %d keepalives %d reads %d: %+v", seed, wl.Ops(), len(wl.hist.Grants), len(wl.hist.KeepAlives), len(wl.hist.Reads), vs[0].Detail)
	}
}

// transferAndJump moves leadership away every few seconds and then jumps
// the deposed leader's clock forward. Followers do not judge lease expiry,
// so a correct cluster is unaffected; a member that keeps expiring leases
// after losing leadership (node.Unsafe.FollowerLeaseExpiry) revokes leases
// its successor is still keeping alive.
func transferAndJump(c *sim.Cluster) {
	w := c.World()
	var step func()
	step = func() {
		if lead := c.Leader(); lead != 0 {
			to := lead%3 + 1
			c.Member(lead).Node().MoveLeader(to)
			w.After(600*time.Millisecond, func() {
				if n := c.Member(lead).Node(); n != nil && !n.Status().IsLeader {
					c.Member(lead).Clock().Jump(3 * time.Second)
				}
			})
		}
		// Stop churning with the workload: each new leader restarts every
		// lease at TTL + an election timeout, so endless churn would keep
		// abandoned leases alive, as it does in etcd.
		if w.Elapsed() < 28*time.Second {
			w.After(4*time.Second, step)
		}
	}
	w.After(3*time.Second, step)
}

func TestLeaseSafeUnderFollowerClockJumps(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		vs := runSim(t, seed, NewLease(LeaseOptions{}), sim.ClusterOptions{}, 30*time.Second, transferAndJump)
		if d, ok := verdictsOK(vs); !ok {
			t.Fatalf("seed %d: a correct cluster was flagged: %s", seed, d)
		}
	}
}

func TestLeaseCatchesFollowerLeaseExpiry(t *testing.T) {
	const seedsMax = 10
	opts := sim.ClusterOptions{}
	opts.Node.Unsafe.FollowerLeaseExpiry = true
	for seed := uint64(1); seed <= seedsMax; seed++ {
		vs := runSim(t, seed, NewLease(LeaseOptions{}), opts, 30*time.Second, transferAndJump)
		if d, ok := verdictsOK(vs); !ok {
			t.Logf("seed %d caught the unsafe variant: %s", seed, d)
			return
		}
	}
	t.Fatalf("follower-lease-expiry not caught in %d seeds", seedsMax)
}

func TestLeaseCrashes(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		vs := runSim(t, seed, NewLease(LeaseOptions{}), sim.ClusterOptions{}, 30*time.Second, crashRestart)
		if d, ok := verdictsOK(vs); !ok {
			t.Fatalf("seed %d: %s", seed, d)
		}
	}
}

// leaderClockSteps steps the leader's wall clock every 2.5 s, 20 s back and
// 20 s forward in turn, and never undoes it. Leases are timed on a
// monotonic clock, so a correct cluster revokes abandoned leases on time
// and keeps the others: kvsim seed 2312's leader, its clock stepped back,
// kept an abandoned lease 21 s past its TTL.
func leaderClockSteps(c *sim.Cluster) {
	w := c.World()
	back := true
	var step func()
	step = func() {
		if lead := c.Leader(); lead != 0 {
			d := 20 * time.Second
			if back {
				d = -d
			}
			back = !back
			c.Member(lead).Clock().Jump(d)
		}
		if w.Elapsed() < 28*time.Second {
			w.After(2500*time.Millisecond, step)
		}
	}
	w.After(2*time.Second, step)
}

func TestLeaseOnTimeUnderLeaderClockSteps(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		wl := NewLease(LeaseOptions{})
		vs := runSim(t, seed, wl, sim.ClusterOptions{}, 30*time.Second, leaderClockSteps)
		if d, ok := verdictsOK(vs); !ok {
			t.Fatalf("seed %d: %s", seed, d)
		}
		if vs[0].Detail != "" {
			t.Fatalf("seed %d: hand-made clock steps are no suspect window, yet: %s", seed, vs[0].Detail)
		}
	}
}
