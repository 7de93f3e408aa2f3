package workloads

import (
	"testing"

	"github.com/kvdlabs/kvd/linearizability"
	"github.com/kvdlabs/kvd/sim"
)

func TestRegisterFaultFreeIsOK(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		wl := NewRegister(RegisterOptions{})
		vs := kvRun(t, wl, seed, sim.ClusterOptions{}, nil)
		if wl.Ops() < 100 {
			t.Fatalf("seed %d: only %d operations", seed, wl.Ops())
		}
		if lin := outcomes(vs)[linearizability.CheckerKVLinearizable]; lin.Operations < 100 {
			t.Fatalf("seed %d: porcupine judged only %d operations", seed, lin.Operations)
		}
		for _, v := range vs {
			t.Logf("seed %d: %s %s over %d ops in %v", seed, v.Checker, v.Outcome, v.Operations, v.CheckDuration)
			if v.Outcome != linearizability.OK {
				t.Errorf("seed %d: %s: %s: %s", seed, v.Checker, v.Outcome, v.Detail)
			}
		}
		if got := len(vs); got != 5 {
			t.Fatalf("seed %d: %d verdicts, want 5", seed, got)
		}
	}
}

// isolateFollower cuts one follower off from its peers (not from clients),
// so a member serving reads locally answers from a stale store.
func isolateFollower(c *sim.Cluster) (heal func()) {
	lead := c.Leader()
	var victim uint64
	var rest []uint64
	for _, id := range c.IDs() {
		if id != lead && victim == 0 {
			victim = id
			continue
		}
		rest = append(rest, id)
	}
	c.World().Network().Partition([]uint64{victim}, rest)
	return c.World().Network().Heal
}

func TestRegisterPartitionIsOK(t *testing.T) {
	for _, seed := range []uint64{11, 12} {
		vs := kvRun(t, NewRegister(RegisterOptions{}), seed, sim.ClusterOptions{}, isolateFollower)
		for _, v := range vs {
			if v.Outcome != linearizability.OK {
				t.Errorf("seed %d: %s: %s: %s", seed, v.Checker, v.Outcome, v.Detail)
			}
		}
	}
}

func TestRegisterCatchesStaleReads(t *testing.T) {
	const seedsMax = 10
	unsafe := sim.ClusterOptions{}
	unsafe.Node.Unsafe.StaleReads = true
	for seed := uint64(1); seed <= seedsMax; seed++ {
		vs := kvRun(t, NewRegister(RegisterOptions{}), seed, unsafe, isolateFollower)
		if v := outcomes(vs)[linearizability.CheckerKVLinearizable]; v.Outcome == linearizability.Violation {
			t.Logf("seed %d caught it: %s", seed, v.Detail)
			return
		}
	}
	t.Fatalf("no seed of %d caught linearizable reads served without ReadIndex", seedsMax)
}
