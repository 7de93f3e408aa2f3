package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/kvdlabs/kvd/reports"
)

// BenchmarkSeed measures one whole seed — simulation, liveness and
// convergence checks, and the workload's checkers — per workload, under
// every fault: b.N seeds, reported with simulated seconds and client
// operations per wall second.
// Its seeds keep benchOpsMax operations whatever the campaign's default, so
// that figures stay comparable across releases: the benchmark measures the
// harness's speed, not the size of a default seed.
func BenchmarkSeed(b *testing.B) {
	const benchOpsMax = 1000
	for _, wl := range []string{"register", "bank", "lease", "watch"} {
		b.Run(fmt.Sprintf("workload=%s", wl), func(b *testing.B) {
			cfg := reports.Config{Workload: wl, Nemesis: "all", Nodes: 3, Duration: reports.Duration(durationDefault),
				Clients: clientsDefault, OpsMax: benchOpsMax, LivenessBound: reports.Duration(livenessBoundDefault),
				CheckTimeout: reports.Duration(checkTimeoutDefault)}
			var virtual, check time.Duration
			ops := 0
			for i := 0; b.Loop(); i++ {
				r := runSeed(job{Seed: uint64(i + 1), Config: cfg}).result
				virtual += time.Duration(r.Virtual)
				check += time.Duration(r.CheckWall)
				ops += r.Ops
			}
			b.ReportMetric(virtual.Seconds()/b.Elapsed().Seconds(), "sim-s/s")
			b.ReportMetric(float64(ops)/b.Elapsed().Seconds(), "ops/s")
			b.ReportMetric(float64(check.Microseconds())/float64(b.N)/1000, "check-ms/seed")
		})
	}
}
