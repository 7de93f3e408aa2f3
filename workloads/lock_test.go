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
