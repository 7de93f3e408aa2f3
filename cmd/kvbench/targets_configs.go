package main

import (
	"fmt"
	"slices"
)

// The targets of the configurations beside the main loads (configs.go),
// as kvd/etcd ratios, medians over rounds.
const (
	targetLatencyP50Ratio  = 0.8 // 1 request in flight: put and linearizable get p50 ≤
	targetMembers5PutRatio = 1.8 // 5-member clusters: put ops/s ≥
	targetClients1000Ratio = 1.3 // 1,000 requests in flight: put and linearizable get ops/s ≥, no errors
	targetValuesPutRatio   = 1.3 // 4 KiB and 64 KiB values: put ops/s ≥ each, no errors
	targetFanoutP99Ratio   = 0.7 // 10,000 watchers: put-to-delivery p99 ≤, every event delivered
	targetRestartRatio     = 0.5 // a follower's restart after 1M keys of 100 B, until it serves ≤

	targetFanoutWatchers    = 10_000
	targetNoteConfigNotRun  = "configuration not run (--configs)"
	targetNoteRestartNoMem  = "memory phase not run (restart follows it)"
	targetNoteNoRestartPair = "no round with a restart of both kvd and etcd that served"
)

// metric is what a configuration target judges of a LoadRatio.
type metric int

const (
	metricOps metric = iota
	metricP50
	metricP99
)

// of is the metric's ratio and each system's median figure.
func (m metric) of(lr LoadRatio) (ratio Spread, kvd, etcd string) {
	switch m {
	case metricP50:
		return lr.P50, fmtMs(lr.KvdP50Ms), fmtMs(lr.EtcdP50Ms)
	case metricP99:
		return lr.P99, fmtMs(lr.KvdP99Ms), fmtMs(lr.EtcdP99Ms)
	}
	return lr.Throughput, fmtOps(lr.KvdOps), fmtOps(lr.EtcdOps)
}

// configTarget is a target judged on the runs of one configuration.
type configTarget struct {
	// phase is the --configs name that runs it; config and load are the
	// runs it judges (Result.Config, Result.Load).
	phase, config, load string
	name                string
	metric              metric
	b                   bound
	// zeroErrors: any failed operation of kvd's misses the target,
	// whatever its ratio.
	zeroErrors bool
}

// configTargets are the configurations' targets in --configs order; the
// restart target, judged on RestartResults, follows them.
var configTargets = []configTarget{
	{"latency", "latency", "put", "put p50, 1 request in flight", metricP50, bound{targetLatencyP50Ratio, true}, false},
	{"latency", "latency", "get", "linearizable get p50, 1 request in flight", metricP50, bound{targetLatencyP50Ratio, true}, false},
	{"members5", "members5", "put", "put ops/s, 5-member clusters", metricOps, bound{limit: targetMembers5PutRatio}, false},
	{"clients1000", "clients1000", "put", "put ops/s, 1,000 clients", metricOps, bound{limit: targetClients1000Ratio}, true},
	{"clients1000", "clients1000", "get", "linearizable get ops/s, 1,000 clients", metricOps, bound{limit: targetClients1000Ratio}, true},
	{"values", "values-4KiB", "put", "put ops/s, 4 KiB values", metricOps, bound{limit: targetValuesPutRatio}, true},
	{"values", "values-64KiB", "put", "put ops/s, 64 KiB values", metricOps, bound{limit: targetValuesPutRatio}, true},
	{"watchers", "watchers", fanoutLoad, "put-to-delivery p99, 10,000 watchers", metricP99, bound{targetFanoutP99Ratio, true}, true},
}

// restartTargetName is the restart target's row.
var restartTargetName = fmt.Sprintf("restart of a follower until it serves, after %d keys of %d B", targetMemKeys, targetMemValueBytes)

// configTargets judges the configurations' targets; membersNote is the
// main clusters' note (those configurations but members5 run on them, or
// on clusters of the same size).
func (r *VsReport) configTargets(ratios []LoadRatio, membersNote string) []Target {
	var out []Target
	for _, ct := range configTargets {
		lr, ok := findRatio(ratios, ct.config, "", ct.load)
		if !ok {
			out = append(out, Target{Name: ct.name, Bound: ct.b.String(), Status: TargetNotMeasured, Note: targetNoteConfigNotRun})
			continue
		}
		var notes []string
		if ct.phase != "members5" {
			notes = append(notes, membersNote)
		}
		if ct.phase == "watchers" {
			if w := r.fanoutWatchers(); w != 0 && w != targetFanoutWatchers {
				notes = append(notes, fmt.Sprintf("measured with %d watchers, not %d", w, targetFanoutWatchers))
			}
		}
		if ct.zeroErrors {
			if lr.KvdErrors > 0 {
				notes = append(notes, fmt.Sprintf("kvd: %d errors, the target allows none", lr.KvdErrors))
			}
			if lr.EtcdErrors > 0 {
				notes = append(notes, fmt.Sprintf("etcd: %d errors", lr.EtcdErrors))
			}
		} else if lr.Errors > 0 {
			notes = append(notes, fmt.Sprintf("%d failed requests", lr.Errors))
		}
		ratio, kvd, etcd := ct.metric.of(lr)
		t := judge(ct.name, ct.b, ratio, kvd, etcd, notes...)
		if ct.zeroErrors && lr.KvdErrors > 0 {
			t.Status = TargetMissed
		}
		out = append(out, t)
	}
	return append(out, r.restartTarget(membersNote))
}

// fanoutWatchers is how many watchers the watchers configuration's runs
// had (their Concurrency), 0 when none ran.
func (r *VsReport) fanoutWatchers() int {
	for _, res := range r.Results {
		if res.Config == "watchers" {
			return res.Concurrency
		}
	}
	return 0
}

// restartRatios pairs each round's kvd and etcd restarts: kvd's ServeMs
// over etcd's, rounds where either failed left out. kvdFailed and
// etcdFailed count each system's failed restarts over all rounds.
func (r *VsReport) restartRatios() (ratio, kvdMs, etcdMs Spread, kvdFailed, etcdFailed int) {
	type pair struct{ kvd, etcd *RestartResult }
	byRound := map[int]*pair{}
	var rounds []int
	for i := range r.Restarts {
		rr := &r.Restarts[i]
		p := byRound[rr.Round]
		if p == nil {
			p = &pair{}
			byRound[rr.Round] = p
			rounds = append(rounds, rr.Round)
		}
		switch rr.System {
		case "kvd":
			p.kvd = rr
			if rr.Error != "" {
				kvdFailed++
			}
		case "etcd":
			p.etcd = rr
			if rr.Error != "" {
				etcdFailed++
			}
		}
	}
	slices.Sort(rounds)
	var ratios, ks, es []float64
	for _, round := range rounds {
		p := byRound[round]
		if p.kvd == nil || p.etcd == nil || p.kvd.Error != "" || p.etcd.Error != "" || p.etcd.ServeMs <= 0 {
			continue
		}
		ks, es = append(ks, p.kvd.ServeMs), append(es, p.etcd.ServeMs)
		ratios = append(ratios, p.kvd.ServeMs/p.etcd.ServeMs)
	}
	return spreadOf(ratios), spreadOf(ks), spreadOf(es), kvdFailed, etcdFailed
}

// restartTarget judges the restart configuration. A failed restart of
// kvd's misses it whatever the other rounds say.
func (r *VsReport) restartTarget(membersNote string) Target {
	b := bound{targetRestartRatio, true}
	if len(r.Restarts) == 0 {
		note := targetNoteConfigNotRun
		if r.Options.Configs.has("restart") {
			note = targetNoteRestartNoMem
		}
		return Target{Name: restartTargetName, Bound: b.String(), Status: TargetNotMeasured, Note: note}
	}
	ratio, kvdMs, etcdMs, kvdFailed, etcdFailed := r.restartRatios()
	notes := []string{membersNote}
	first := r.Restarts[0]
	if first.Keys != targetMemKeys || first.ValueBytes != targetMemValueBytes {
		notes = append(notes, fmt.Sprintf("measured after %d keys of %d B, not %d of %d", first.Keys, first.ValueBytes, targetMemKeys, targetMemValueBytes))
	}
	if kvdFailed > 0 {
		notes = append(notes, fmt.Sprintf("kvd: %d restarts never served", kvdFailed))
	}
	if etcdFailed > 0 {
		notes = append(notes, fmt.Sprintf("etcd: %d restarts never served", etcdFailed))
	}
	killed := 0
	stopMs := map[string][]float64{}
	for _, rr := range r.Restarts {
		if rr.Killed {
			killed++
		}
		stopMs[rr.System] = append(stopMs[rr.System], rr.StopMs)
	}
	// The stop is not judged, but a member may save work for its restart
	// there (kvd's stop snapshot): say what it took beside.
	notes = append(notes, fmt.Sprintf("the stop before it took %s (kvd), %s (etcd)", fmtMs(spreadOf(stopMs["kvd"])), fmtMs(spreadOf(stopMs["etcd"]))))
	if killed > 0 {
		notes = append(notes, fmt.Sprintf("%d members outlived SIGTERM and were killed", killed))
	}
	t := judge(restartTargetName, b, ratio, fmtMs(kvdMs), fmtMs(etcdMs), notes...)
	if ratio.N == 0 {
		// judge's note speaks of rounds with figures; restarts pair differently.
		t.Note = joinNotes(append([]string{targetNoteNoRestartPair}, notes...)...)
	}
	if kvdFailed > 0 {
		t.Status = TargetMissed
	}
	return t
}
