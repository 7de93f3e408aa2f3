package main

import (
	"strings"
	"testing"
)

// configPair is one round of one configuration's load: etcd's run and
// kvd's, kvd's throughput, p50 and p99 etcd's times the given ratios.
func configPair(config, load string, round int, tput, p50, p99 float64) []Result {
	etcd := Result{System: "etcd", Round: round, Config: config, Load: load, Ops: 1000, OpsPerSec: 1000,
		P50Ms: 2, P99Ms: 10, ServerCPUUsPerOp: 100, PeakRSSBytes: []int64{100 << 20}}
	kvd := etcd
	kvd.System = "kvd"
	kvd.OpsPerSec *= tput
	kvd.P50Ms *= p50
	kvd.P99Ms *= p99
	return []Result{kvd, etcd}
}

// restartPair is one round of restarts, kvd's taking ratio × etcd's.
func restartPair(round int, ratio float64) []RestartResult {
	return []RestartResult{
		{System: "kvd", Round: round, Member: "kvd-1", Keys: targetMemKeys, ValueBytes: targetMemValueBytes, ServeMs: 2000 * ratio, StopMs: 500},
		{System: "etcd", Round: round, Member: "etcd-2", Keys: targetMemKeys, ValueBytes: targetMemValueBytes, ServeMs: 2000, StopMs: 20},
	}
}

// configRunsAt makes one round of every configuration target's runs with
// its judged ratio at scale times its limit (its inverse for "at most"
// limits): above 1 is the good side of every bound.
func configRunsAt(round int, scale float64) []Result {
	var rs []Result
	for _, ct := range configTargets {
		x := ct.b.limit * scale
		if ct.b.atMost {
			x = ct.b.limit / scale
		}
		switch ct.metric {
		case metricOps:
			rs = append(rs, configPair(ct.config, ct.load, round, x, 1, 1)...)
		case metricP50:
			rs = append(rs, configPair(ct.config, ct.load, round, 1, x, 1)...)
		case metricP99:
			rs = append(rs, configPair(ct.config, ct.load, round, 1, 1, x)...)
		}
	}
	return rs
}

func TestConfigTargetsJudgeBothSidesOfEveryThreshold(t *testing.T) {
	const eps = 0.01
	for _, side := range []struct {
		name   string
		scale  float64
		status TargetStatus
	}{{"just inside", 1 + eps, TargetMet}, {"just outside", 1 - eps, TargetMissed}} {
		r := report3(configRunsAt(1, side.scale))
		r.Restarts = restartPair(1, targetRestartRatio/side.scale)
		ts := r.Targets()
		for _, ct := range configTargets {
			if got := targetByName(t, ts, ct.name); got.Status != side.status || got.Ratio.N != 1 {
				t.Errorf("%s: %s at %.3f× (bound %s): %s, want %s", side.name, ct.name, got.Ratio.Median, got.Bound, got.Status, side.status)
			}
		}
		// The stop is noted beside, never judged.
		if got := targetByName(t, ts, restartTargetName); got.Status != side.status || got.Note != "the stop before it took 500.00 ms (kvd), 20.00 ms (etcd)" {
			t.Errorf("%s: restart at %.3f×: %s (%s), want %s", side.name, got.Ratio.Median, got.Status, got.Note, side.status)
		}
	}
}

func TestConfigTargetsAtExactlyTheLimitAreMet(t *testing.T) {
	r := report3(configRunsAt(1, 1))
	r.Restarts = restartPair(1, targetRestartRatio)
	ts := r.Targets()
	for _, ct := range configTargets {
		if got := targetByName(t, ts, ct.name); got.Status != TargetMet {
			t.Errorf("%s at its limit: %s", ct.name, got.Status)
		}
	}
	if got := targetByName(t, ts, restartTargetName); got.Status != TargetMet {
		t.Errorf("restart at its limit: %s", got.Status)
	}
}

func TestConfigTargetsShowTheJudgedFigures(t *testing.T) {
	rs := configPair("latency", "get", 1, 1, 0.5, 3)
	rs = append(rs, configPair("watchers", fanoutLoad, 1, 1, 3, 0.5)...)
	ts := report3(rs).Targets()
	// Latency judges p50 (a bad p99 does not matter), watchers p99.
	if got := targetByName(t, ts, "linearizable get p50, 1 request in flight"); got.Status != TargetMet || got.Kvd != "1.00 ms" || got.Etcd != "2.00 ms" {
		t.Errorf("latency get: %+v", got)
	}
	if got := targetByName(t, ts, "put-to-delivery p99, 10,000 watchers"); got.Status != TargetMet || got.Kvd != "5.00 ms" || got.Etcd != "10.00 ms" {
		t.Errorf("watchers: %+v", got)
	}
}

func TestConfigTargetsUseTheMedianOverRounds(t *testing.T) {
	var rs []Result
	for round, tput := range []float64{1.0, 1.5, 1.4} { // median 1.4: met although round 1 is far below
		rs = append(rs, configPair("values-64KiB", "put", round+1, tput, 1, 1)...)
	}
	r := report3(rs)
	for round, ratio := range []float64{0.3, 0.9, 0.4} { // median 0.4: met
		r.Restarts = append(r.Restarts, restartPair(round+1, ratio)...)
	}
	ts := r.Targets()
	if got := targetByName(t, ts, "put ops/s, 64 KiB values"); got.Status != TargetMet || got.Ratio.N != 3 || !near(got.Ratio.Median, 1.4) || !near(got.Ratio.Min, 1.0) {
		t.Errorf("64 KiB values: %+v", got)
	}
	if got := targetByName(t, ts, restartTargetName); got.Status != TargetMet || got.Ratio.N != 3 || !near(got.Ratio.Median, 0.4) || got.Kvd != "800.00 ms" {
		t.Errorf("restart: %+v", got)
	}
}

func TestConfigTargetsWithZeroErrorsMissOnAnyKvdError(t *testing.T) {
	rs := configRunsAt(1, 2) // every ratio well inside its bound
	for i := range rs {
		if rs[i].Config == "clients1000" && rs[i].Load == "put" && rs[i].System == "kvd" {
			rs[i].Errors = 3
		}
		if rs[i].Config == "watchers" && rs[i].System == "kvd" {
			rs[i].Errors = 1 // one event missed
		}
		if rs[i].Config == "values-4KiB" && rs[i].System == "etcd" {
			rs[i].Errors = 2 // etcd's errors are noted, not held against kvd
		}
		if rs[i].Config == "latency" && rs[i].Load == "put" && rs[i].System == "kvd" {
			rs[i].Errors = 4 // latency allows errors: noted only
		}
	}
	ts := report3(rs).Targets()
	for name, want := range map[string]struct {
		status TargetStatus
		note   string
	}{
		"put ops/s, 1,000 clients":              {TargetMissed, "kvd: 3 errors, the target allows none"},
		"put-to-delivery p99, 10,000 watchers":  {TargetMissed, "kvd: 1 errors"},
		"put ops/s, 4 KiB values":               {TargetMet, "etcd: 2 errors"},
		"put p50, 1 request in flight":          {TargetMet, "4 failed requests"},
		"linearizable get ops/s, 1,000 clients": {TargetMet, ""},
	} {
		got := targetByName(t, ts, name)
		if got.Status != want.status || !strings.Contains(got.Note, want.note) || (want.note == "" && got.Note != "") {
			t.Errorf("%s: %s (%q), want %s with a note containing %q", name, got.Status, got.Note, want.status, want.note)
		}
	}
}

func TestConfigTargetFailedRunNeverPasses(t *testing.T) {
	// kvd's fan-out could not open its watchers: no deliveries, all errors.
	rs := configPair("watchers", fanoutLoad, 1, 1, 1, 0.5)
	rs[0].Ops, rs[0].OpsPerSec, rs[0].P50Ms, rs[0].P99Ms, rs[0].Errors = 0, 0, 0, 0, 1_000_000
	got := targetByName(t, report3(rs).Targets(), "put-to-delivery p99, 10,000 watchers")
	if got.Status != TargetMissed || !strings.Contains(got.Note, "kvd: 1000000 errors") {
		t.Errorf("failed fan-out: %+v", got)
	}
}

func TestRestartTargetFailuresAndAbsence(t *testing.T) {
	r := report3(nil)
	r.Restarts = append(restartPair(1, 0.3), restartPair(2, 0.3)...)
	r.Restarts[2].Error = "kvd-1 did not serve" // kvd's round 2 failed
	got := targetByName(t, r.Targets(), restartTargetName)
	if got.Status != TargetMissed || got.Ratio.N != 1 || !strings.Contains(got.Note, "kvd: 1 restarts never served") {
		t.Errorf("a failed kvd restart: %+v", got)
	}

	r.Restarts = append(restartPair(1, 0.3), restartPair(2, 0.3)...)
	r.Restarts[3].Error = "etcd-2 did not serve" // etcd's: that round is left out
	r.Restarts[0].Killed = true
	got = targetByName(t, r.Targets(), restartTargetName)
	if got.Status != TargetMet || got.Ratio.N != 1 || !strings.Contains(got.Note, "etcd: 1 restarts never served") || !strings.Contains(got.Note, "1 members outlived SIGTERM") {
		t.Errorf("a failed etcd restart: %+v", got)
	}

	r.Restarts = restartPair(1, 0.3)[:1] // kvd alone
	if got := targetByName(t, r.Targets(), restartTargetName); got.Status != TargetNotMeasured || !strings.Contains(got.Note, targetNoteNoRestartPair) {
		t.Errorf("kvd's restarts alone: %+v", got)
	}

	r.Restarts = nil
	r.Options.Configs.Names = []string{"restart"} // asked for, but no memory phase ran
	if got := targetByName(t, r.Targets(), restartTargetName); got.Status != TargetNotMeasured || got.Note != targetNoteRestartNoMem {
		t.Errorf("restart without the memory phase: %+v", got)
	}

	r.Restarts = restartPair(1, 0.3)
	r.Restarts[0].Keys, r.Restarts[1].Keys = 20000, 20000
	if got := targetByName(t, r.Targets(), restartTargetName); got.Status != TargetMet || !strings.Contains(got.Note, "after 20000 keys") {
		t.Errorf("restart after 20000 keys: %+v", got)
	}
}

func TestConfigTargetNotes(t *testing.T) {
	rs := configRunsAt(1, 2)
	for i := range rs {
		if rs[i].Config == "watchers" {
			rs[i].Concurrency = 500
		}
	}
	r := report3(rs)
	r.Options.Cluster.Members = 1
	ts := r.Targets()
	if got := targetByName(t, ts, "put-to-delivery p99, 10,000 watchers"); !strings.Contains(got.Note, "measured with 500 watchers, not 10000") || !strings.Contains(got.Note, "1-member") {
		t.Errorf("watchers with 500 on 1 member: %+v", got)
	}
	// members5's clusters have 5 members whatever --members says.
	if got := targetByName(t, ts, "put ops/s, 5-member clusters"); got.Note != "" {
		t.Errorf("members5 note: %q", got.Note)
	}
	if got := targetByName(t, ts, "put ops/s, 1,000 clients"); !strings.Contains(got.Note, "1-member") {
		t.Errorf("clients1000 on 1 member: %+v", got)
	}
}

func TestConfigRunsHaveNoPerLoadTargets(t *testing.T) {
	rs := append(pairRuns("", "put", 1, ratios{tput: 3, p99: 0.5, cpu: 0.4, rss: 0.9}), configRunsAt(1, 2)...)
	ts := report3(rs).Targets()
	for _, tg := range ts {
		if strings.Contains(tg.Name, "[") {
			t.Errorf("a configuration's run has a per-load target: %s", tg.Name)
		}
	}
	// And a main load of the same name is judged on the main runs only.
	if got := targetByName(t, ts, "put ops/s"); !near(got.Ratio.Median, 3) {
		t.Errorf("main put mixed with a configuration's: %+v", got)
	}
}
