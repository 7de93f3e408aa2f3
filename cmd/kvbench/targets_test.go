package main

import (
	"strings"
	"testing"
)

// ratios of one load's kvd run to etcd's.
type ratios struct{ tput, p99, cpu, rss float64 }

// pairRuns is one round of one load: etcd's run and kvd's, kvd's figures
// etcd's times the given ratios.
func pairRuns(tool, load string, round int, x ratios) []Result {
	etcd := Result{System: "etcd", Round: round, Tool: tool, Load: load, Ops: 1000, OpsPerSec: 1000,
		P99Ms: 10, ServerCPUUsPerOp: 100, PeakRSSBytes: []int64{50 << 20, 100 << 20, 80 << 20}}
	kvd := etcd
	kvd.System = "kvd"
	kvd.OpsPerSec *= x.tput
	kvd.P99Ms *= x.p99
	kvd.ServerCPUUsPerOp *= x.cpu
	kvd.PeakRSSBytes = []int64{10 << 20, int64(x.rss * float64(100<<20)), 10 << 20}
	return []Result{kvd, etcd}
}

func targetByName(t *testing.T, ts []Target, name string) Target {
	t.Helper()
	for _, tg := range ts {
		if tg.Name == name {
			return tg
		}
	}
	var names []string
	for _, tg := range ts {
		names = append(names, tg.Name)
	}
	t.Fatalf("no target %q among %q", name, names)
	return Target{}
}

// report3 is a 3-member report of the given runs.
func report3(results []Result, mem ...MemoryResult) *VsReport {
	r := &VsReport{Results: results, Memory: mem}
	r.Options.Cluster.Members = 3
	return r
}

func memPair(kvdMiB, etcdMiB int64) []MemoryResult {
	return []MemoryResult{
		{System: "kvd", Keys: 1_000_000, ValueBytes: 100, RSSBytes: []int64{kvdMiB << 20, 1 << 20, 1 << 20}},
		{System: "etcd", Keys: 1_000_000, ValueBytes: 100, RSSBytes: []int64{1 << 20, etcdMiB << 20, 1 << 20}},
	}
}

func TestTargetsJudgeBothSidesOfEveryThreshold(t *testing.T) {
	const eps = 0.01
	for _, side := range []struct {
		name   string
		scale  float64 // applied to "at least" limits; its inverse to "at most" ones
		status TargetStatus
	}{{"just above", 1 + eps, TargetMet}, {"just below", 1 - eps, TargetMissed}} {
		// Figures on the good side of each limit when scale > 1, the bad side when < 1.
		good := ratios{tput: 0, p99: targetP99Ratio / side.scale, cpu: targetCPURatio / side.scale, rss: targetPeakRSSRatio / side.scale}
		var rs []Result
		for _, tt := range throughputTargets {
			x := good
			x.tput = tt.min * side.scale
			rs = append(rs, pairRuns(tt.tool, tt.load, 1, x)...)
		}
		etcdMiB := int64(1000)
		kvdMiB := int64(float64(etcdMiB) * targetMemoryRatio / side.scale)
		ts := report3(rs, memPair(kvdMiB, etcdMiB)...).Targets()
		for _, tt := range throughputTargets {
			if got := targetByName(t, ts, tt.name); got.Status != side.status {
				t.Errorf("%s: %s at %.3f× (limit %.1f×): %s, want %s", side.name, tt.name, got.Ratio.Median, tt.min, got.Status, side.status)
			}
			for _, kind := range []string{"p99", "server CPU per op", "peak RSS (largest member)"} {
				name := kind + ", " + loadLabel(tt.tool, tt.load)
				if got := targetByName(t, ts, name); got.Status != side.status {
					t.Errorf("%s: %s at %.3f×: %s, want %s", side.name, name, got.Ratio.Median, got.Status, side.status)
				}
			}
		}
		mem := targetByName(t, ts, "RSS after 1000000 keys of 100 B (largest member)")
		if mem.Status != side.status || mem.Note != "" {
			t.Errorf("%s: memory at %.3f×: %s (%s), want %s", side.name, mem.Ratio.Median, mem.Status, mem.Note, side.status)
		}
	}
}

func TestTargetsAtExactlyTheLimitAreMet(t *testing.T) {
	rs := pairRuns("", "put", 1, ratios{tput: targetPutRatio, p99: targetP99Ratio, cpu: targetCPURatio, rss: targetPeakRSSRatio})
	ts := report3(rs).Targets()
	for _, name := range []string{"put ops/s", "p99, put", "server CPU per op, put", "peak RSS (largest member), put"} {
		if got := targetByName(t, ts, name); got.Status != TargetMet {
			t.Errorf("%s at its limit: %s", name, got.Status)
		}
	}
}

func TestTargetsUseTheMedianOverRounds(t *testing.T) {
	var rs []Result
	for round, tput := range []float64{1.0, 2.2, 2.1} { // median 2.1: met although round 1 is far below
		rs = append(rs, pairRuns("", "put", round+1, ratios{tput: tput, p99: 0.5, cpu: 0.4, rss: 0.9})...)
	}
	put := targetByName(t, report3(rs).Targets(), "put ops/s")
	if put.Status != TargetMet || put.Ratio.N != 3 || !near(put.Ratio.Median, 2.1) || !near(put.Ratio.Min, 1.0) {
		t.Fatalf("put %+v", put)
	}
	if put.Kvd != "2100 ops/s" || put.Etcd != "1000 ops/s" {
		t.Fatalf("put figures %q %q", put.Kvd, put.Etcd)
	}
}

func TestTargetsNotMeasuredByThisRun(t *testing.T) {
	rs := pairRuns("", "put", 1, ratios{tput: 3, p99: 0.5, cpu: 0.4, rss: 0.9})
	ts := report3(rs).Targets()
	for _, name := range []string{"linearizable get ops/s", "txn-cas ops/s", "mixed ops/s", "etcd-benchmark put ops/s",
		"etcd-benchmark linearizable range ops/s", "RSS after 1000000 keys of 100 B (largest member)"} {
		if got := targetByName(t, ts, name); got.Status != TargetNotMeasured {
			t.Errorf("%s without its load: %s", name, got.Status)
		}
	}
	for _, ct := range configTargets {
		if got := targetByName(t, ts, ct.name); got.Status != TargetNotMeasured || got.Note != targetNoteConfigNotRun {
			t.Errorf("%s without its configuration: %+v", ct.name, got)
		}
	}
	if got := targetByName(t, ts, restartTargetName); got.Status != TargetNotMeasured || got.Note != targetNoteConfigNotRun {
		t.Errorf("restart without its configuration: %+v", got)
	}
	p99Rest := targetByName(t, ts, "p99, get, get-serializable, txn-cas, range-prefix, watch-latency, lease-grant, mixed, etcd-benchmark put, etcd-benchmark range")
	if p99Rest.Status != TargetNotMeasured {
		t.Errorf("p99 of the loads not run: %s", p99Rest.Status)
	}

	// kvd alone (profiling): nothing to compare, nothing judged.
	var kvdOnly []Result
	for _, r := range rs {
		if r.System == "kvd" {
			kvdOnly = append(kvdOnly, r)
		}
	}
	for _, tg := range report3(kvdOnly).Targets() {
		if tg.Status != TargetNotMeasured {
			t.Errorf("kvd alone: %s is %s", tg.Name, tg.Status)
		}
	}
}

func TestTargetsFailedRunNeverPasses(t *testing.T) {
	rs := pairRuns(ToolEtcdBenchmark, "put", 1, ratios{tput: 3, p99: 0.5, cpu: 0.4, rss: 0.9})
	rs[0].Ops, rs[0].OpsPerSec, rs[0].P99Ms, rs[0].ServerCPUUsPerOp, rs[0].Errors = 0, 0, 0, 0, 30000 // kvd's run was killed
	ts := report3(rs).Targets()
	if got := targetByName(t, ts, "etcd-benchmark put ops/s"); got.Status != TargetMissed || !strings.Contains(got.Note, "30000 failed") {
		t.Errorf("throughput of a failed run: %+v", got)
	}
	for _, name := range []string{"p99, etcd-benchmark put", "server CPU per op, etcd-benchmark put"} {
		if got := targetByName(t, ts, name); got.Status != TargetNotMeasured {
			t.Errorf("%s of a failed run: %s", name, got.Status)
		}
	}
}

func TestTargetsNoteOtherMemberCountsAndKeyCounts(t *testing.T) {
	rs := pairRuns("", "put", 1, ratios{tput: 3, p99: 0.5, cpu: 0.4, rss: 0.9})
	mem := memPair(500, 1000)
	mem[0].Keys, mem[1].Keys = 20000, 20000
	r := report3(rs, mem...)
	r.Options.Cluster.Members = 1
	ts := r.Targets()
	if got := targetByName(t, ts, "put ops/s"); got.Status != TargetMet || !strings.Contains(got.Note, "1-member") {
		t.Errorf("put with 1 member: %+v", got)
	}
	if got := targetByName(t, ts, "RSS after 1000000 keys of 100 B (largest member)"); got.Status != TargetMet || !strings.Contains(got.Note, "20000 keys") {
		t.Errorf("memory after 20000 keys: %+v", got)
	}
}

func TestTargetsMarkdownShowsEveryRow(t *testing.T) {
	rs := pairRuns("", "put", 1, ratios{tput: 2.5, p99: 0.9, cpu: 0.4, rss: 0.9})
	r := report3(rs)
	md := r.targetsMarkdown()
	for _, want := range []string{
		"| put ops/s | 2500 ops/s | 1000 ops/s | 2.500 (2.500–2.500) | ≥ 2.0× | ✓ |",
		"| p99, put | 9.00 ms | 10.00 ms | 0.900 (0.900–0.900) | ≤ 0.8× | ✗ |",
		"| put-to-delivery p99, 10,000 watchers |  |  |  | ≤ 0.7× | not measured by this run | configuration not run (--configs) |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("targets markdown lacks %q:\n%s", want, md)
		}
	}
	if got := strings.Count(md, "\n| ") - 1; got != len(r.Targets()) {
		t.Errorf("%d rows for %d targets", got, len(r.Targets()))
	}
}
