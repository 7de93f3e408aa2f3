package workloads

import (
	"testing"
	"time"

	"github.com/kvdlabs/kvd/sim"
)

func TestWatchFaultFree(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		wl := NewWatch()
		vs := runSim(t, seed, wl, sim.ClusterOptions{}, 20*time.Second, nil)
		if d, ok := verdictsOK(vs); !ok {
			t.Fatalf("seed %d: %s", seed, d)
		}
		events, compacted := 0, 0
		for _, rw := range wl.watches {
			for _, a := range rw.rec.Attempts {
				for _, r := range a.Responses {
					events += len(r.Events)
					if r.CompactRevision != 0 {
						compacted++
					}
				}
			}
		}
		if events < 100 {
			t.Fatalf("seed %d: watchers saw only %d events", seed, events)
		}
		t.Logf("seed %d: ops %d writes %d events %d compacted %d", seed, wl.Ops(), len(wl.writes), events, compacted)
	}
}

// crashRestart crashes a member (the leader every other time) every 5 s
// and restarts it 1 s later, until 18 s.
func crashRestart(c *sim.Cluster) {
	w := c.World()
	n := 0
	var step func()
	step = func() {
		n++
		id := uint64(n%3 + 1)
		if lead := c.Leader(); lead != 0 && n%2 == 0 {
			id = lead
		}
		c.Member(id).Crash()
		w.After(time.Second, c.Member(id).Restart)
		if w.Elapsed() < 18*time.Second {
			w.After(5*time.Second, step)
		}
	}
	w.After(3*time.Second, step)
}

func TestWatchCrashes(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		wl := NewWatch()
		vs := runSim(t, seed, wl, sim.ClusterOptions{}, 20*time.Second, crashRestart)
		if d, ok := verdictsOK(vs); !ok {
			t.Fatalf("seed %d: %s", seed, d)
		}
		resumes := 0
		for _, rw := range wl.watches {
			resumes += len(rw.rec.Attempts) - 1
		}
		if resumes == 0 {
			t.Fatalf("seed %d: no watcher resumed: crashes exercised nothing", seed)
		}
	}
}

// TestWatchSharedStream: the shared stream's watchers reach what they are
// there for — filtered watchers get events, cancels are acknowledged and
// the watchers re-created — so a checker rule on them has something to
// judge.
func TestWatchSharedStream(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		wl := NewWatch()
		vs := runSim(t, seed, wl, sim.ClusterOptions{}, 20*time.Second, nil)
		if d, ok := verdictsOK(vs); !ok {
			t.Fatalf("seed %d: %s", seed, d)
		}
		var noPutEvents, noDeleteEvents, cancelsAcked, recreated int
		for _, rw := range wl.shared.watchers {
			for ai, a := range rw.rec.Attempts {
				for _, r := range a.Responses {
					switch {
					case rw.rec.NoPut:
						noPutEvents += len(r.Events)
					case rw.rec.NoDelete:
						noDeleteEvents += len(r.Events)
					}
					if a.CancelRequested && r.Canceled && r.WatchID == a.WatchID {
						cancelsAcked++
						if ai+1 < len(rw.rec.Attempts) {
							recreated++
						}
					}
				}
			}
		}
		t.Logf("seed %d: shared watchers %d, events to NOPUT %d, to NODELETE %d, cancels acknowledged %d, re-created %d",
			seed, len(wl.shared.watchers), noPutEvents, noDeleteEvents, cancelsAcked, recreated)
		if noPutEvents == 0 || noDeleteEvents == 0 || cancelsAcked < 2 || recreated == 0 {
			t.Fatalf("seed %d: the shared stream exercised too little (NOPUT events %d, NODELETE events %d, cancels acknowledged %d, re-created %d)",
				seed, noPutEvents, noDeleteEvents, cancelsAcked, recreated)
		}
	}
}

// The simulated members hold a watch stream whose modelled sender falls
// behind (sim.ClusterOptions.WatchSendCost), as kvd's gRPC layer does: the
// watchers on held streams get the events of several revisions in one
// response, and the checker still finds every event, once, in order.
func TestWatchHeldStreams(t *testing.T) {
	multi := func(wl *Watch) int {
		n := 0
		for _, rw := range wl.watches {
			for _, a := range rw.rec.Attempts {
				for _, r := range a.Responses {
					if len(r.Events) > 1 && r.Events[0].Kv.ModRevision != r.Events[len(r.Events)-1].Kv.ModRevision {
						n++
					}
				}
			}
		}
		return n
	}
	for seed := uint64(1); seed <= 2; seed++ {
		held, never := NewWatch(), NewWatch()
		for _, run := range []struct {
			wl   *Watch
			opts sim.ClusterOptions
		}{{held, sim.ClusterOptions{}}, {never, sim.ClusterOptions{WatchSendCost: -1}}} {
			vs := runSim(t, seed, run.wl, run.opts, 20*time.Second, crashRestart)
			if d, ok := verdictsOK(vs); !ok {
				t.Fatalf("seed %d, send cost %v: %s", seed, run.opts.WatchSendCost, d)
			}
		}
		t.Logf("seed %d: responses spanning revisions: %d held, %d never held", seed, multi(held), multi(never))
		if multi(held) <= multi(never) {
			t.Fatalf("seed %d: %d responses spanning revisions with held streams, %d without: no stream was held", seed, multi(held), multi(never))
		}
	}
}
