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
