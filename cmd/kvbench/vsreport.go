package main

import (
	"encoding/json"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// VsReport is a comparison's outcome: every run, the memory phase, and the
// kvd/etcd ratios derived from them.
type VsReport struct {
	Started  time.Time      `json:"started"`
	Finished time.Time      `json:"finished"`
	Command  []string       `json:"command"`
	Options  VsOptions      `json:"options"`
	Results  []Result       `json:"results"`
	Memory   []MemoryResult `json:"memory,omitempty"`
	// Dir is where the report was written.
	Dir string `json:"-"`
}

// Spread is the median, min and max of a set of ratios.
type Spread struct {
	Median, Min, Max float64
	N                int
}

func spreadOf(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Spread{Median: med, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// LoadRatio compares kvd with etcd on one load: per round, kvd's figure
// over etcd's of the same round.
type LoadRatio struct {
	Load       string
	Throughput Spread // kvd ops/s ÷ etcd ops/s: above 1 is kvd faster
	P99        Spread // kvd p99 ÷ etcd p99: below 1 is kvd faster
	KvdOps     Spread // absolute medians, for context
	EtcdOps    Spread
	KvdP99Ms   Spread
	EtcdP99Ms  Spread
	// CPU is kvd's server CPU per op over etcd's: below 1 is kvd cheaper.
	CPU    Spread
	Errors int
}

// Targets from issue #6.
const (
	targetThroughputRatio = 1.2
	targetP99Ratio        = 1.0
	targetMemoryRatio     = 1.0
)

// throughputTargetLoads must reach targetThroughputRatio.
var throughputTargetLoads = []string{"put", "get"}

// Ratios pairs each round's kvd and etcd runs, load by load in report order.
func (r *VsReport) Ratios() []LoadRatio {
	type key struct {
		load  string
		round int
	}
	by := map[key]map[string]Result{}
	var loads []string
	for _, res := range r.Results {
		k := key{res.Load, res.Round}
		if by[k] == nil {
			by[k] = map[string]Result{}
		}
		by[k][res.System] = res
		if !slices.Contains(loads, res.Load) {
			loads = append(loads, res.Load)
		}
	}
	var out []LoadRatio
	for _, load := range loads {
		var tput, p99, kOps, eOps, kP99, eP99, cpu []float64
		lr := LoadRatio{Load: load}
		for round := 1; ; round++ {
			pair, ok := by[key{load, round}]
			if !ok {
				break
			}
			k, kok := pair["kvd"]
			e, eok := pair["etcd"]
			if !kok || !eok {
				continue
			}
			lr.Errors += k.Errors + e.Errors
			kOps, eOps = append(kOps, k.OpsPerSec), append(eOps, e.OpsPerSec)
			kP99, eP99 = append(kP99, k.P99Ms), append(eP99, e.P99Ms)
			if e.OpsPerSec > 0 {
				tput = append(tput, k.OpsPerSec/e.OpsPerSec)
			}
			if e.P99Ms > 0 {
				p99 = append(p99, k.P99Ms/e.P99Ms)
			}
			if e.ServerCPUUsPerOp > 0 {
				cpu = append(cpu, k.ServerCPUUsPerOp/e.ServerCPUUsPerOp)
			}
		}
		lr.Throughput, lr.P99, lr.CPU = spreadOf(tput), spreadOf(p99), spreadOf(cpu)
		lr.KvdOps, lr.EtcdOps, lr.KvdP99Ms, lr.EtcdP99Ms = spreadOf(kOps), spreadOf(eOps), spreadOf(kP99), spreadOf(eP99)
		out = append(out, lr)
	}
	return out
}

// memoryRatio is kvd's largest member RSS over etcd's; ok is false when
// the memory phase did not run.
func (r *VsReport) memoryRatio() (kvd, etcd MemoryResult, ratio float64, ok bool) {
	for _, m := range r.Memory {
		switch m.System {
		case "kvd":
			kvd = m
		case "etcd":
			etcd = m
		}
	}
	if len(kvd.RSSBytes) == 0 || len(etcd.RSSBytes) == 0 {
		return kvd, etcd, 0, false
	}
	return kvd, etcd, float64(kvd.MaxRSS()) / float64(etcd.MaxRSS()), true
}

func verdict(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func (lr LoadRatio) throughputTarget() (float64, bool) {
	if slices.Contains(throughputTargetLoads, lr.Load) {
		return targetThroughputRatio, true
	}
	return 0, false
}

// summaryMarkdown is the ratio table and the memory line.
func (r *VsReport) summaryMarkdown() string {
	var b strings.Builder
	b.WriteString("| load | kvd/etcd ops/s median (min–max) | kvd/etcd p99 median (min–max) | kvd/etcd server CPU per op | kvd ops/s | etcd ops/s | kvd p99 ms | etcd p99 ms | errors | target met |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, lr := range r.Ratios() {
		met := lr.P99.Median <= targetP99Ratio
		if t, ok := lr.throughputTarget(); ok {
			met = met && lr.Throughput.Median >= t
		}
		fmt.Fprintf(&b, "| %s | %.2f (%.2f–%.2f) | %.2f (%.2f–%.2f) | %.2f | %.0f | %.0f | %.2f | %.2f | %d | %s |\n",
			lr.Load, lr.Throughput.Median, lr.Throughput.Min, lr.Throughput.Max,
			lr.P99.Median, lr.P99.Min, lr.P99.Max, lr.CPU.Median,
			lr.KvdOps.Median, lr.EtcdOps.Median, lr.KvdP99Ms.Median, lr.EtcdP99Ms.Median, lr.Errors, verdict(met))
	}
	if k, e, ratio, ok := r.memoryRatio(); ok {
		fmt.Fprintf(&b, "\nMemory after %d keys of %d bytes (largest member RSS): kvd %.1f MiB, etcd %.1f MiB, kvd/etcd %.2f — target ≤ %.1f met: %s\n",
			k.Keys, k.ValueBytes, mib(k.MaxRSS()), mib(e.MaxRSS()), ratio, targetMemoryRatio, verdict(ratio <= targetMemoryRatio))
	}
	return b.String()
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// Markdown renders the whole report.
func (r *VsReport) Markdown() string {
	var b strings.Builder
	v := r.Options
	fmt.Fprintf(&b, "# kvd vs etcd — %s\n\n", r.Started.Format(time.RFC3339))
	fmt.Fprintf(&b, "Command: `%s`\n\n", strings.Join(r.Command, " "))
	fmt.Fprintf(&b, "Two %d-member clusters on 127.0.0.1 (data under one temp dir), both with --heartbeat-interval %d --election-timeout %d --snapshot-count %d --quota-backend-bytes %d. "+
		"Each load runs %d rounds alternating kvd, etcd; %d connections, %d in flight, %d ops per run (cap %v), keys %d bytes, values %d bytes, keyspace %d.\n\n",
		v.Cluster.Members, v.Cluster.HeartbeatIntervalMs, v.Cluster.ElectionTimeoutMs, v.Cluster.SnapshotCount, v.Cluster.QuotaBackendBytes,
		v.Rounds, v.Run.Clients, v.Run.Concurrency, v.Run.Total, v.Run.Duration, v.Run.KeySizeBytes, v.Run.ValueSizeBytes, v.Run.Keyspace)
	fmt.Fprintf(&b, "Targets: kvd/etcd throughput ≥ %.1f for %s; kvd/etcd p99 ≤ %.1f for every load; kvd/etcd RSS ≤ %.1f.\n\n",
		targetThroughputRatio, strings.Join(throughputTargetLoads, " and "), targetP99Ratio, targetMemoryRatio)
	b.WriteString("## Ratios\n\n")
	b.WriteString(r.summaryMarkdown())
	if len(r.Memory) > 0 {
		b.WriteString("\n## Memory per member\n\n| system | RSS per member (MiB) | load time s |\n|---|---|---|\n")
		for _, m := range r.Memory {
			var parts []string
			for _, x := range m.RSSBytes {
				parts = append(parts, fmt.Sprintf("%.1f", mib(x)))
			}
			fmt.Fprintf(&b, "| %s | %s | %.1f |\n", m.System, strings.Join(parts, ", "), m.LoadSeconds)
		}
	}
	b.WriteString("\n## Every run\n\n```\n")
	WriteTable(&b, r.Results)
	b.WriteString("```\n")
	for _, res := range r.Results {
		if len(res.ErrorSample) > 0 {
			fmt.Fprintf(&b, "\n%s %s round %d errors: %s\n", res.System, res.Load, res.Round, strings.Join(res.ErrorSample, "; "))
		}
	}
	return b.String()
}

// chart geometry, in SVG user units.
const (
	chartRowHeight = 26
	chartLabelW    = 140
	chartBarW      = 360
	chartRatioMax  = 3.0
)

// svgChart draws one horizontal bar per load: the median ratio, a whisker
// from min to max, and reference lines at 1 and at the target.
func svgChart(title string, rows []string, spreads []Spread, target float64, higherIsBetter bool) string {
	h := 40 + chartRowHeight*len(rows) + 20
	w := chartLabelW + chartBarW + 80
	x := func(v float64) float64 { return chartLabelW + chartBarW*min(v, chartRatioMax)/chartRatioMax }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`, w, h)
	fmt.Fprintf(&b, `<text x="4" y="16" font-weight="bold">%s</text>`, html.EscapeString(title))
	for i, name := range rows {
		y := 30 + i*chartRowHeight
		s := spreads[i]
		good := s.Median >= target
		if !higherIsBetter {
			good = s.Median <= target
		}
		color := "#c0392b"
		if good {
			color = "#27ae60"
		}
		fmt.Fprintf(&b, `<text x="4" y="%d">%s</text>`, y+14, html.EscapeString(name))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="16" fill="%s"/>`, chartLabelW, y+2, x(s.Median)-chartLabelW, color)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="black"/>`, x(s.Min), x(s.Max), y+10, y+10)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%.2f (%.2f–%.2f)</text>`, x(max(s.Median, s.Max))+4, y+14, s.Median, s.Min, s.Max)
	}
	for _, ref := range []float64{1, target} {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="24" y2="%d" stroke="#555" stroke-dasharray="4 3"/>`, x(ref), x(ref), h-16)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%.1f</text>`, x(ref), h-4, ref)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// HTML renders the report as one page with inline SVG charts.
func (r *VsReport) HTML() string {
	ratios := r.Ratios()
	var names []string
	var tput, p99 []Spread
	for _, lr := range ratios {
		names = append(names, lr.Load)
		tput = append(tput, lr.Throughput)
		p99 = append(p99, lr.P99)
	}
	var b strings.Builder
	b.WriteString("<!doctype html><html><head><meta charset=\"utf-8\"><title>kvd vs etcd</title>")
	b.WriteString("<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}pre{font-size:11px}</style></head><body>")
	fmt.Fprintf(&b, "<h1>kvd vs etcd — %s</h1><p>Command: <code>%s</code></p>", r.Started.Format(time.RFC3339), html.EscapeString(strings.Join(r.Command, " ")))
	b.WriteString("<p>Bars are medians over rounds, whiskers min–max; green meets the target.</p>")
	b.WriteString(svgChart("throughput kvd/etcd (higher is better; target 1.2 for put, get)", names, tput, targetThroughputRatio, true))
	b.WriteString("<br>")
	b.WriteString(svgChart("p99 latency kvd/etcd (lower is better)", names, p99, targetP99Ratio, false))
	if k, e, ratio, ok := r.memoryRatio(); ok {
		b.WriteString("<br>")
		b.WriteString(svgChart(fmt.Sprintf("RSS kvd/etcd after %d keys (lower is better)", k.Keys), []string{"largest member"}, []Spread{{Median: ratio, Min: ratio, Max: ratio, N: 1}}, targetMemoryRatio, false))
		fmt.Fprintf(&b, "<p>Largest member RSS: kvd %.1f MiB, etcd %.1f MiB.</p>", mib(k.MaxRSS()), mib(e.MaxRSS()))
	}
	b.WriteString("<h2>Report</h2><pre>")
	b.WriteString(html.EscapeString(r.Markdown()))
	b.WriteString("</pre></body></html>\n")
	return b.String()
}

// write makes <dir>/<timestamp>/ with report.md, report.html, results.json.
func (r *VsReport) write(dir string) error {
	r.Dir = filepath.Join(dir, r.Started.Format("20060102T150405Z"))
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return fmt.Errorf("make report dir %s: %w", r.Dir, err)
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	for name, data := range map[string][]byte{
		"report.md": []byte(r.Markdown()), "report.html": []byte(r.HTML()), "results.json": js,
	} {
		if err := os.WriteFile(filepath.Join(r.Dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write report %s: %w", name, err)
		}
	}
	return nil
}
