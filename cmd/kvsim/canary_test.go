package main

import (
	"testing"
	"time"

	"github.com/kvdlabs/kvd/reports"
)

// TestUnsafeVariantsAreCaught is the canary of every known-unsafe variant:
// within its seed budget, some seed must fail; and that seed must pass
// with the variant switched off, so the catch is the variant's doing.
func TestUnsafeVariantsAreCaught(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			cfg := reports.Config{
				Workload: v.workload, Nemesis: v.nemesis, Nodes: 3, Duration: reports.Duration(v.duration),
				Clients: clientsDefault, OpsMax: opsMaxDefault, Unsafe: v.name, BeyondBudget: v.beyondBudget,
				LivenessBound: reports.Duration(livenessBoundDefault), CheckTimeout: reports.Duration(10 * time.Second),
			}
			for seed := uint64(1); seed <= uint64(v.seedsBudget); seed++ {
				// A mixed campaign draws each seed's workload and profile,
				// as the default campaign (make sim) does.
				cfg.Workload, cfg.Nemesis = resolveMixed(seed, v.workload, v.nemesis)
				r := runSeed(job{Seed: seed, Config: cfg}).result
				if !r.Failed() {
					continue
				}
				t.Logf("%s caught at seed %d (%d seeds): %s: %s", v.name, seed, seed, r.Outcome, firstLine(r.Detail))
				safe := cfg
				safe.Unsafe = ""
				if c := runSeed(job{Seed: seed, Config: safe}).result; c.Failed() {
					t.Fatalf("seed %d fails without %s too: %s: %s", seed, v.name, c.Outcome, c.Detail)
				}
				return
			}
			t.Fatalf("%s went unnoticed for its whole budget of %d seeds (%s/%s)", v.name, v.seedsBudget, v.workload, v.nemesis)
		})
	}
}
