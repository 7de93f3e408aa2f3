package workloads

import (
	"testing"
	"time"

	"github.com/kvdlabs/kvd/sim"
)

func TestLockAndElection(t *testing.T) {
	for _, mk := range []func() *Lock{NewLock, NewElection} {
		for _, faults := range []func(*sim.Cluster){nil, crashRestart} {
			for seed := uint64(1); seed <= 3; seed++ {
				wl := mk()
				vs := runSim(t, seed, wl, sim.ClusterOptions{}, 20*time.Second, faults)
				if d, ok := verdictsOK(vs); !ok {
					t.Fatalf("%s seed %d (faults %v): %s", wl.Name(), seed, faults != nil, d)
				}
				if len(wl.hist.Acquired) < 3 || len(wl.hist.Acked) < 3 {
					t.Fatalf("%s seed %d: only %d acquisitions and %d guarded writes", wl.Name(), seed, len(wl.hist.Acquired), len(wl.hist.Acked))
				}
			}
		}
	}
}

// leaderClockJumps runs the leader's clock 20 times fast for half a second
// every 4 s, so its ticks, and with them its lease time, race about 10 s
// (twice the sessions' TTL) ahead: the leader then expires every lease at
// once, also the keys of waiters whose predecessor is gone in the same
// burst. Such a waiter must learn its key is lost (as clientv3's
// Mutex.Lock does with ErrSessionExpired) and never claim the lock. (A
// step of the wall clock would not do: leases are timed on ticks, which
// no step moves.)
func leaderClockJumps(c *sim.Cluster) {
	w := c.World()
	const fastRate, fastFor = 20, 500 * time.Millisecond
	var step func()
	step = func() {
		if lead := c.Leader(); lead != 0 {
			clk := c.Member(lead).Clock()
			clk.SetDrift((fastRate - 1) * 1_000_000)
			w.After(fastFor, func() { clk.SetDrift(0) })
		}
		if w.Elapsed() < 18*time.Second {
			w.After(4*time.Second, step)
		}
	}
	w.After(3*time.Second, step)
}

func TestLockExpiredWaiterClaimsNothing(t *testing.T) {
	for _, mk := range []func() *Lock{NewLock, NewElection} {
		lost := 0
		for seed := uint64(1); seed <= 4; seed++ {
			wl := mk()
			vs := runSim(t, seed, wl, sim.ClusterOptions{}, 20*time.Second, leaderClockJumps)
			if d, ok := verdictsOK(vs); !ok {
				t.Fatalf("%s seed %d: %s", wl.Name(), seed, d)
			}
			if len(wl.hist.Acquired) < 3 {
				t.Fatalf("%s seed %d: only %d acquisitions", wl.Name(), seed, len(wl.hist.Acquired))
			}
			lost += wl.sessionsLost
		}
		// Without a waiter outliving its own key the test proves nothing.
		t.Logf("%s: %d sessions lost", mk().Name(), lost)
		if lost == 0 {
			t.Fatalf("%s: no waiter found its key expired; the faults missed the case under test", mk().Name())
		}
	}
}
