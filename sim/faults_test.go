package sim

import (
	"fmt"
	"testing"
	"time"

	"github.com/kvdlabs/kvd/nemesis"
)

// TestFaultsHealToALiveConvergedCluster runs generated schedules of every
// profile under a client load, then checks liveness and convergence after
// the last heal: a leader within a bound, a write acknowledged, every live
// member at the same hash and revision, and no member left down.
func TestFaultsHealToALiveConvergedCluster(t *testing.T) {
	for _, profile := range nemesis.Profiles() {
		for seed := uint64(1); seed <= 6; seed++ {
			t.Run(fmt.Sprintf("%s/seed=%d", profile, seed), func(t *testing.T) {
				restore := InstallCryptoRand(seed)
				defer restore()
				w := New(seed, Options{})
				c := NewCluster(w, ClusterOptions{Members: 3, Node: nodeConfigSmallSnapshots()})
				sched := nemesis.Generate(seed, nemesis.GenerateOptions{Nodes: c.IDs(), Duration: 30 * time.Second, Profile: profile})
				c.ApplySchedule(sched)
				cl := c.NewClient(ClientOptions{Timeout: time.Second})
				end := w.Now().Add(sched.Duration)
				var next func()
				i := 0
				next = func() {
					if w.Now().Before(end) {
						i++
						cl.Do(putReq(fmt.Sprintf("k%d", i%7), fmt.Sprintf("v%d", i)), func(Call) { next() })
					}
				}
				next()
				w.RunUntil(end)
				s := &scenario{t: t, w: w, c: c}
				for _, id := range c.IDs() {
					if m := c.Member(id); m.Node() == nil {
						t.Fatalf("member %d still down after every fault healed (damaged: %v); faults: %v", id, m.Damaged(), c.FaultWindows())
					}
				}
				s.waitLeader(10*time.Second, 0)
				s.putAcked(cl, "final", "write")
				s.converged(3 * time.Second)
			})
		}
	}
}

// A crash and a pause on one member that heal at the same instant leave it
// running, whichever heal runs first (kvsim found the member stuck down).
func TestOverlappingCrashAndPauseHealToRunning(t *testing.T) {
	for _, order := range [][2]nemesis.Kind{{nemesis.CrashRestart, nemesis.Pause}, {nemesis.Pause, nemesis.CrashRestart}} {
		restore := InstallCryptoRand(1)
		w := New(1, Options{})
		c := NewCluster(w, ClusterOptions{Members: 3})
		w.RunFor(3 * time.Second)
		victim := c.IDs()[0]
		sched := nemesis.Schedule{Seed: 1, Nodes: c.IDs(), Duration: 20 * time.Second, Faults: []nemesis.Fault{
			{At: 4 * time.Second, Kind: order[0], Targets: []uint64{victim}, Until: 8 * time.Second},
			{At: 5 * time.Second, Kind: order[1], Targets: []uint64{victim}, Until: 8 * time.Second},
		}}
		c.ApplySchedule(sched)
		w.RunFor(10 * time.Second)
		m := c.Member(victim)
		if m.Node() == nil || m.Paused() {
			t.Fatalf("%v then %v: member %d down=%v paused=%v after both healed", order[0], order[1], victim, m.Node() == nil, m.Paused())
		}
		restore()
	}
}
