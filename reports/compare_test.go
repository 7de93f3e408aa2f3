package reports

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestCompareOrdersDiffsAndTestsMetrics(t *testing.T) {
	mk := func(seed uint64, o Outcome, changes int, p99 time.Duration) Result {
		return Result{Seed: seed, Outcome: o, TraceHash: "h", Config: Config{Workload: "register"},
			Metrics: &Metrics{LeaderChanges: changes, LatencyP99: Duration(p99)}}
	}
	var a, b []Result
	for s := uint64(1); s <= 12; s++ {
		oa, ob := Pass, Pass
		switch s {
		case 3:
			oa = Liveness // fails on A only: listed after B's new failure
		case 9:
			ob = Correctness
		}
		a = append(a, mk(s, oa, 1, 10*time.Millisecond))
		b = append(b, mk(s, ob, 3+int(s%2), 10*time.Millisecond))
	}
	c := Compare(Side{Name: "A", Results: a}, Side{Name: "B", Results: b}, 0.05, func(side string, r Result) string { return side })
	if len(c.Diffs) != 2 || c.Diffs[0].Seed != 9 || c.Diffs[1].Seed != 3 || c.Diffs[0].ReplayB != "b" || c.Diffs[1].ReplayA != "a" {
		t.Fatalf("diffs %+v: want seed 9 (pass → correctness, replay on b) first, then seed 3", c.Diffs)
	}
	if got := c.NewCorrectnessFailures(); len(got) != 1 || got[0].Seed != 9 {
		t.Fatalf("new correctness failures %+v", got)
	}
	if c.Paired != 12 || c.SameTrace != 12 {
		t.Fatalf("paired %d, same trace %d", c.Paired, c.SameTrace)
	}
	byName := map[string]MetricDiff{}
	for _, m := range c.Metrics {
		byName[m.Name] = m
	}
	lc := byName["leader-changes"]
	if !lc.Significant || !lc.Regressed(100) || lc.Regressed(300) || math.Abs(lc.DeltaPct-250) > 1e-9 {
		t.Fatalf("leader-changes %+v: want a significant +250%%", lc)
	}
	if p99 := byName["p99"]; p99.Significant || p99.DeltaPct != 0 || p99.Regressed(0) {
		t.Fatalf("identical p99 reported as a change: %+v", p99)
	}
}

// A metric that was zero on A has no finite change: it still encodes
// (JSON has no infinity) and reads back as the same diff.
func TestMetricDiffFromZeroRoundTrips(t *testing.T) {
	d := MetricDiff{Name: "unavailable", Unit: "s", MeanA: 0, MeanB: 1.5, DeltaPct: math.Inf(1), P: 0.01, Significant: true, HigherIsWorse: true}
	data, err := json.Marshal(d)
	if err != nil {
		t.Fatalf("encoding a diff from zero: %v", err)
	}
	var back MetricDiff
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back != d || !back.Regressed(10) {
		t.Fatalf("round trip of %s: %+v, want %+v", data, back, d)
	}
	d.DeltaPct, d.MeanA = 50, 1
	data, _ = json.Marshal(d)
	if err := json.Unmarshal(data, &back); err != nil || back != d {
		t.Fatalf("round trip of %s: %+v, %v", data, back, err)
	}
}
