package main

import (
	"testing"
	"time"

	"github.com/kvdlabs/kvd/nemesis"
	"github.com/kvdlabs/kvd/reports"
)

// A disk so slow from the start that no election fits in an election
// timeout is a fault like any other: liveness is judged after it heals, not
// within ten seconds of the start (kvsim seed 862 register/disk).
func TestFirstLeaderJudgedAfterStartFaultsHeal(t *testing.T) {
	s := nemesis.Schedule{Seed: 862, Nodes: []uint64{1, 2, 3}, Duration: 40 * time.Second, Profile: "disk", Faults: []nemesis.Fault{
		{At: time.Second, Kind: nemesis.DiskLatency, Targets: []uint64{1, 2, 3}, Params: map[string]float64{nemesis.ParamLatencyMs: 909}, Until: 13 * time.Second},
	}}
	cfg := testConfig("register", "disk")
	cfg.Duration = reports.Duration(40 * time.Second)
	r := runSeed(job{Seed: 862, Config: cfg, Schedule: &s})
	if r.result.Outcome != reports.Pass {
		t.Fatalf("outcome %s: %v", r.result.Outcome, r.result.Detail)
	}
}
