package main

import (
	"fmt"
	"html"
	"slices"
	"strconv"
	"strings"
)

// The performance targets kvd is held to, as kvd/etcd ratios on the same
// machine with 3-member clusters, medians over rounds. Those of the other
// configurations are in targets_configs.go.
const (
	targetPutRatio            = 2.0  // put ops/s ≥
	targetGetRatio            = 1.5  // linearizable get ops/s ≥
	targetTxnCASRatio         = 1.8  // txn-cas ops/s ≥
	targetMixedRatio          = 1.8  // mixed ops/s ≥
	targetP99Ratio            = 0.8  // p99 ≤, every load
	targetCPURatio            = 0.5  // server CPU per op ≤, every load
	targetPeakRSSRatio        = 1.0  // peak RSS of every member during every load ≤
	targetMemoryRatio         = 0.75 // RSS after 1M keys of 100 B ≤
	targetEtcdBenchPutRatio   = 2.0  // etcd's benchmark tool, put ops/s ≥
	targetEtcdBenchRangeRatio = 1.5  // etcd's benchmark tool, linearizable range ops/s ≥

	targetMembers        = 3
	targetMemKeys        = 1_000_000
	targetMemValueBytes  = 100
	notMeasuredByThisRun = "not measured by this run"
	targetNoteLoadNotRun = "load not run"
	targetNoteNoPair     = "no round with figures from both kvd and etcd"
	targetNoteMemNotRun  = "memory phase not run"
)

// throughputTarget is a load's throughput target: kvd/etcd ops/s ≥ min.
type throughputTarget struct {
	tool, load, name string
	min              float64
}

// throughputTargets are the per-load throughput targets.
var throughputTargets = []throughputTarget{
	{"", "put", "put ops/s", targetPutRatio},
	{"", "get", "linearizable get ops/s", targetGetRatio},
	{"", "txn-cas", "txn-cas ops/s", targetTxnCASRatio},
	{"", "mixed", "mixed ops/s", targetMixedRatio},
	{ToolEtcdBenchmark, "put", "etcd-benchmark put ops/s", targetEtcdBenchPutRatio},
	{ToolEtcdBenchmark, "range", "etcd-benchmark linearizable range ops/s", targetEtcdBenchRangeRatio},
}

// TargetStatus is a target's verdict.
type TargetStatus string

const (
	TargetMet         TargetStatus = "✓"
	TargetMissed      TargetStatus = "✗"
	TargetNotMeasured TargetStatus = notMeasuredByThisRun
)

// Target is one row of the targets table.
type Target struct {
	Name string
	// Bound is the limit on the kvd/etcd ratio, e.g. "≥ 2.0×".
	Bound string
	// Kvd and Etcd are the medians over rounds of each system's figure.
	Kvd, Etcd string
	// Ratio is kvd/etcd per round: the verdict is on its median.
	Ratio  Spread
	Status TargetStatus
	Note   string
}

// bound is a limit on a ratio: at least limit, or (atMost) at most limit.
type bound struct {
	limit  float64
	atMost bool
}

func (b bound) String() string {
	limit := strconv.FormatFloat(b.limit, 'f', -1, 64)
	if !strings.Contains(limit, ".") {
		limit += ".0"
	}
	if b.atMost {
		return "≤ " + limit + "×"
	}
	return "≥ " + limit + "×"
}

func (b bound) met(ratio float64) bool {
	if b.atMost {
		return ratio <= b.limit
	}
	return ratio >= b.limit
}

// judge is a measured target's row; no ratio at all is "not measured".
func judge(name string, b bound, ratio Spread, kvd, etcd string, notes ...string) Target {
	t := Target{Name: name, Bound: b.String(), Kvd: kvd, Etcd: etcd, Ratio: ratio}
	switch {
	case ratio.N == 0:
		t.Status, t.Kvd, t.Etcd = TargetNotMeasured, "", ""
		notes = append([]string{targetNoteNoPair}, notes...)
	case b.met(ratio.Median):
		t.Status = TargetMet
	default:
		t.Status = TargetMissed
	}
	t.Note = joinNotes(notes...)
	return t
}

func joinNotes(notes ...string) string {
	var keep []string
	for _, n := range notes {
		if n != "" {
			keep = append(keep, n)
		}
	}
	return strings.Join(keep, "; ")
}

func fmtOps(s Spread) string     { return fmt.Sprintf("%.0f ops/s", s.Median) }
func fmtMs(s Spread) string      { return fmt.Sprintf("%.2f ms", s.Median) }
func fmtUsPerOp(s Spread) string { return fmt.Sprintf("%.1f µs/op", s.Median) }
func fmtMiB(s Spread) string     { return fmt.Sprintf("%.1f MiB", s.Median/(1<<20)) }

// findRatio is the ratio of one configuration's load driven by tool.
func findRatio(ratios []LoadRatio, config, tool, load string) (LoadRatio, bool) {
	for _, lr := range ratios {
		if lr.Config == config && lr.Tool == tool && lr.Load == load {
			return lr, true
		}
	}
	return LoadRatio{}, false
}

// mainRatios are the ratios of the main loads, those of no configuration.
func mainRatios(ratios []LoadRatio) []LoadRatio {
	var out []LoadRatio
	for _, lr := range ratios {
		if lr.Config == "" {
			out = append(out, lr)
		}
	}
	return out
}

// Targets judges every target against the report's results: a pure
// function of r.Results, r.Memory, r.Restarts and r.Options.
func (r *VsReport) Targets() []Target {
	ratios := r.Ratios()
	find := func(tool, load string) (LoadRatio, bool) { return findRatio(ratios, "", tool, load) }
	var membersNote string
	if m := r.Options.Cluster.Members; m != 0 && m != targetMembers {
		membersNote = fmt.Sprintf("%d-member clusters; the target is for %d", m, targetMembers)
	}
	errorsNote := func(lr LoadRatio) string {
		if lr.Errors == 0 {
			return ""
		}
		return fmt.Sprintf("%d failed requests", lr.Errors)
	}
	var out []Target
	for _, t := range throughputTargets {
		b := bound{limit: t.min}
		lr, ok := find(t.tool, t.load)
		if !ok {
			out = append(out, Target{Name: t.name, Bound: b.String(), Status: TargetNotMeasured, Note: targetNoteLoadNotRun})
			continue
		}
		out = append(out, judge(t.name, b, lr.Throughput, fmtOps(lr.KvdOps), fmtOps(lr.EtcdOps), membersNote, errorsNote(lr)))
	}
	perLoad := []struct {
		name string
		b    bound
		row  func(lr LoadRatio) (Spread, string, string)
	}{
		{"p99", bound{targetP99Ratio, true}, func(lr LoadRatio) (Spread, string, string) {
			return lr.P99, fmtMs(lr.KvdP99Ms), fmtMs(lr.EtcdP99Ms)
		}},
		{"server CPU per op", bound{targetCPURatio, true}, func(lr LoadRatio) (Spread, string, string) {
			return lr.CPU, fmtUsPerOp(lr.KvdCPUUsPerOp), fmtUsPerOp(lr.EtcdCPUUsPerOp)
		}},
		{"peak RSS (largest member)", bound{targetPeakRSSRatio, true}, func(lr LoadRatio) (Spread, string, string) {
			return lr.PeakRSS, fmtMiB(lr.KvdPeakRSS), fmtMiB(lr.EtcdPeakRSS)
		}},
	}
	var notRun []string
	for _, l := range Loads {
		if _, ok := find("", l); !ok {
			notRun = append(notRun, l)
		}
	}
	for _, l := range EtcdBenchLoads {
		if _, ok := find(ToolEtcdBenchmark, l); !ok {
			notRun = append(notRun, loadLabel(ToolEtcdBenchmark, l))
		}
	}
	for _, pl := range perLoad {
		// The per-load targets are the main configuration's; the other
		// configurations have targets of their own.
		for _, lr := range mainRatios(ratios) {
			s, k, e := pl.row(lr)
			out = append(out, judge(pl.name+", "+lr.Label(), pl.b, s, k, e, membersNote, errorsNote(lr)))
		}
		if len(notRun) > 0 {
			out = append(out, Target{Name: pl.name + ", " + strings.Join(notRun, ", "), Bound: pl.b.String(),
				Status: TargetNotMeasured, Note: targetNoteLoadNotRun})
		}
	}
	memName := fmt.Sprintf("RSS after %d keys of %d B (largest member)", targetMemKeys, targetMemValueBytes)
	memBound := bound{targetMemoryRatio, true}
	if k, e, ratio, ok := r.memoryRatio(); ok {
		var keysNote string
		if k.Keys != targetMemKeys || k.ValueBytes != targetMemValueBytes {
			keysNote = fmt.Sprintf("measured after %d keys of %d B, not %d of %d", k.Keys, k.ValueBytes, targetMemKeys, targetMemValueBytes)
		}
		out = append(out, judge(memName, memBound, Spread{Median: ratio, Min: ratio, Max: ratio, N: 1},
			fmt.Sprintf("%.1f MiB", mib(k.MaxRSS())), fmt.Sprintf("%.1f MiB", mib(e.MaxRSS())), membersNote, keysNote))
	} else {
		out = append(out, Target{Name: memName, Bound: memBound.String(), Status: TargetNotMeasured, Note: targetNoteMemNotRun})
	}
	return append(out, r.configTargets(ratios, membersNote)...)
}

// fmtRatio shows a ratio to three decimals, so one just past its bound
// does not print as the bound itself.
func fmtRatio(s Spread) string {
	return fmt.Sprintf("%.3f (%.3f–%.3f)", s.Median, s.Min, s.Max)
}

// targetsMarkdown is the targets table.
func (r *VsReport) targetsMarkdown() string {
	var b strings.Builder
	ts := r.Targets()
	met, missed := 0, 0
	for _, t := range ts {
		switch t.Status {
		case TargetMet:
			met++
		case TargetMissed:
			missed++
		}
	}
	fmt.Fprintf(&b, "Targets: %d met ✓, %d missed ✗, %d not measured by this run (kvd/etcd, medians over rounds)\n\n", met, missed, len(ts)-met-missed)
	b.WriteString("| target | kvd | etcd | kvd/etcd median (min–max) | bound | met | note |\n|---|---|---|---|---|---|---|\n")
	for _, t := range ts {
		ratio := ""
		if t.Ratio.N > 0 {
			ratio = fmtRatio(t.Ratio)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", t.Name, t.Kvd, t.Etcd, ratio, t.Bound, t.Status, t.Note)
	}
	return b.String()
}

// targetsHTML is the targets table as HTML, verdicts coloured.
func (r *VsReport) targetsHTML() string {
	var b strings.Builder
	b.WriteString("<h2>Targets</h2><table><tr><th>target</th><th>kvd</th><th>etcd</th><th>kvd/etcd median (min–max)</th><th>bound</th><th>met</th><th>note</th></tr>")
	for _, t := range r.Targets() {
		ratio := ""
		if t.Ratio.N > 0 {
			ratio = fmtRatio(t.Ratio)
		}
		color := map[TargetStatus]string{TargetMet: "#27ae60", TargetMissed: "#c0392b"}[t.Status]
		if color == "" {
			color = "#777"
		}
		fmt.Fprintf(&b, `<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td style="color:%s;font-weight:bold">%s</td><td>%s</td></tr>`,
			html.EscapeString(t.Name), html.EscapeString(t.Kvd), html.EscapeString(t.Etcd), ratio, html.EscapeString(t.Bound),
			color, html.EscapeString(string(t.Status)), html.EscapeString(t.Note))
	}
	b.WriteString("</table>")
	return b.String()
}

// throughputTargetOf is the throughput target of a load, 0 when it has none.
func throughputTargetOf(tool, load string) float64 {
	i := slices.IndexFunc(throughputTargets, func(t throughputTarget) bool { return t.tool == tool && t.load == load })
	if i < 0 {
		return 0
	}
	return throughputTargets[i].min
}
