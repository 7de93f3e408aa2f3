package main

import (
	"testing"

	"github.com/kvdlabs/kvd/reports"
)

func TestFaultFreeSeedsPass(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		r := runSeed(job{Seed: seed, Config: testConfig("standin", "none")}).result
		if r.Outcome != reports.Pass {
			t.Fatalf("seed %d: %s: %s\n%s", seed, r.Outcome, r.Detail, r.Stack)
		}
		if r.Ops == 0 || len(r.Verdicts) == 0 || len(r.TraceHash) != 64 || len(r.Timeline) == 0 {
			t.Fatalf("seed %d: incomplete result: ops=%d verdicts=%d hash=%q buckets=%d", seed, r.Ops, len(r.Verdicts), r.TraceHash, len(r.Timeline))
		}
		if len(r.Faults) != 0 {
			t.Fatalf("seed %d: profile none carried out faults %v", seed, r.Faults)
		}
		t.Log(r.String())
	}
}

func TestStaleReadVariantIsCaught(t *testing.T) {
	caught := 0
	for seed := uint64(1); seed <= 20; seed++ {
		cfg := testConfig("standin", "network")
		cfg.Unsafe = "stale-read"
		r := runSeed(job{Seed: seed, Config: cfg}).result
		t.Log(r.String(), r.Detail)
		if r.Outcome == reports.Correctness {
			caught++
		}
	}
	if caught == 0 {
		t.Fatal("stale reads went unnoticed in 10 seeds")
	}
}
