package nemesis

import (
	"fmt"
	"testing"
	"time"
)

func BenchmarkGenerate(b *testing.B) {
	for _, nodes := range []int{3, 5, 7} {
		for _, d := range []time.Duration{time.Minute, 10 * time.Minute} {
			b.Run(fmt.Sprintf("nodes=%d/duration=%s", nodes, d), func(b *testing.B) {
				opts := GenerateOptions{Duration: d}
				for id := uint64(1); id <= uint64(nodes); id++ {
					opts.Nodes = append(opts.Nodes, id)
				}
				faults := 0
				seed := uint64(0)
				for b.Loop() {
					seed++
					faults += len(Generate(seed, opts).Faults)
				}
				b.ReportMetric(float64(faults)/float64(seed), "faults/op")
			})
		}
	}
}

func BenchmarkWithinBudget(b *testing.B) {
	for _, d := range []time.Duration{time.Minute, 10 * time.Minute, time.Hour} {
		s := Generate(1, GenerateOptions{Nodes: []uint64{1, 2, 3, 4, 5}, Duration: d, BeyondBudget: true})
		b.Run(fmt.Sprintf("faults=%d", len(s.Faults)), func(b *testing.B) {
			for b.Loop() {
				s.WithinBudget()
			}
		})
	}
}

func BenchmarkMinimize(b *testing.B) {
	pred := failsOnOverlap(CrashRestart, PartitionIsolateLeader)
	var s Schedule
	for seed := uint64(1); !pred(s); seed++ {
		if seed > 100 {
			b.Fatal("no seed in 1..100 triggers the synthetic bug")
		}
		s = Generate(seed, GenerateOptions{Nodes: []uint64{1, 2, 3, 4, 5}, Duration: 10 * time.Minute})
	}
	b.Run(fmt.Sprintf("faults=%d", len(s.Faults)), func(b *testing.B) {
		for b.Loop() {
			Minimize(s, pred, 10_000)
		}
	})
}
