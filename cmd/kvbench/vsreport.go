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
	"unicode/utf8"
)

// VsReport is a comparison's outcome: every run, the memory phase, the
// restarts, and the kvd/etcd ratios derived from them.
type VsReport struct {
	Started  time.Time      `json:"started"`
	Finished time.Time      `json:"finished"`
	Command  []string       `json:"command"`
	Options  VsOptions      `json:"options"`
	Results  []Result       `json:"results"`
	Memory   []MemoryResult `json:"memory,omitempty"`
	// Restarts are the restart configuration's, in the order they ran.
	Restarts []RestartResult `json:"restarts,omitempty"`
	// CPUProfiles are the profiled runs (--cpu-profiles), in the order they ran.
	CPUProfiles []CPUProfile `json:"cpuProfiles,omitempty"`
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
	// Config is the configuration the runs belong to: empty for the main
	// loads (Result.Config).
	Config string
	// Tool is who drove the load: empty for kvbench, ToolEtcdBenchmark.
	Tool       string
	Load       string
	Throughput Spread // kvd ops/s ÷ etcd ops/s: above 1 is kvd faster
	P50        Spread // kvd p50 ÷ etcd p50: below 1 is kvd faster
	P99        Spread // kvd p99 ÷ etcd p99: below 1 is kvd faster
	KvdOps     Spread // absolute medians, for context
	EtcdOps    Spread
	KvdP50Ms   Spread
	EtcdP50Ms  Spread
	KvdP99Ms   Spread
	EtcdP99Ms  Spread
	// CPU is kvd's server CPU per op over etcd's: below 1 is kvd cheaper.
	CPU            Spread
	KvdCPUUsPerOp  Spread
	EtcdCPUUsPerOp Spread
	// PeakRSS is kvd's largest member's peak RSS during the run over
	// etcd's: below 1 is kvd smaller. KvdPeakRSS and EtcdPeakRSS are
	// those peaks in bytes.
	PeakRSS     Spread
	KvdPeakRSS  Spread
	EtcdPeakRSS Spread
	// Errors are both systems' failed operations over the paired rounds;
	// KvdErrors and EtcdErrors each one's.
	Errors, KvdErrors, EtcdErrors int
}

// Label names the load, the tool that drove it and the configuration.
func (lr LoadRatio) Label() string { return runLabel(lr.Config, lr.Tool, lr.Load) }

// Ratios pairs each round's kvd and etcd runs, load by load (and
// configuration by configuration) in report order. A ratio of a round is left out when its denominator is missing
// (etcd served nothing), and p99 and CPU ratios also when kvd served
// nothing, so that a failed run never passes for a fast one.
func (r *VsReport) Ratios() []LoadRatio {
	type load struct{ config, tool, load string }
	type key struct {
		load
		round int
	}
	by := map[key]map[string]Result{}
	var loads []load
	for _, res := range r.Results {
		l := load{res.Config, res.Tool, res.Load}
		k := key{l, res.Round}
		if by[k] == nil {
			by[k] = map[string]Result{}
		}
		by[k][res.System] = res
		if !slices.Contains(loads, l) {
			loads = append(loads, l)
		}
	}
	var out []LoadRatio
	for _, l := range loads {
		var tput, p50, p99, kOps, eOps, kP50, eP50, kP99, eP99, cpu, kCPU, eCPU, rss, kRSS, eRSS []float64
		lr := LoadRatio{Config: l.config, Tool: l.tool, Load: l.load}
		for round := 1; ; round++ {
			pair, ok := by[key{l, round}]
			if !ok {
				break
			}
			k, kok := pair["kvd"]
			e, eok := pair["etcd"]
			if !kok || !eok {
				continue
			}
			lr.Errors += k.Errors + e.Errors
			lr.KvdErrors += k.Errors
			lr.EtcdErrors += e.Errors
			kOps, eOps = append(kOps, k.OpsPerSec), append(eOps, e.OpsPerSec)
			if e.OpsPerSec > 0 {
				tput = append(tput, k.OpsPerSec/e.OpsPerSec)
			}
			if k.Ops > 0 && e.Ops > 0 {
				kP50, eP50 = append(kP50, k.P50Ms), append(eP50, e.P50Ms)
				if e.P50Ms > 0 {
					p50 = append(p50, k.P50Ms/e.P50Ms)
				}
				kP99, eP99 = append(kP99, k.P99Ms), append(eP99, e.P99Ms)
				if e.P99Ms > 0 {
					p99 = append(p99, k.P99Ms/e.P99Ms)
				}
				if k.ServerCPUUsPerOp > 0 && e.ServerCPUUsPerOp > 0 {
					kCPU, eCPU = append(kCPU, k.ServerCPUUsPerOp), append(eCPU, e.ServerCPUUsPerOp)
					cpu = append(cpu, k.ServerCPUUsPerOp/e.ServerCPUUsPerOp)
				}
			}
			if kp, ep := k.MaxPeakRSS(), e.MaxPeakRSS(); kp > 0 && ep > 0 {
				kRSS, eRSS = append(kRSS, float64(kp)), append(eRSS, float64(ep))
				rss = append(rss, float64(kp)/float64(ep))
			}
		}
		lr.Throughput, lr.P50, lr.P99, lr.CPU, lr.PeakRSS = spreadOf(tput), spreadOf(p50), spreadOf(p99), spreadOf(cpu), spreadOf(rss)
		lr.KvdP50Ms, lr.EtcdP50Ms = spreadOf(kP50), spreadOf(eP50)
		lr.KvdOps, lr.EtcdOps, lr.KvdP99Ms, lr.EtcdP99Ms = spreadOf(kOps), spreadOf(eOps), spreadOf(kP99), spreadOf(eP99)
		lr.KvdCPUUsPerOp, lr.EtcdCPUUsPerOp = spreadOf(kCPU), spreadOf(eCPU)
		lr.KvdPeakRSS, lr.EtcdPeakRSS = spreadOf(kRSS), spreadOf(eRSS)
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
	if len(kvd.RSSBytes) == 0 || len(etcd.RSSBytes) == 0 || etcd.MaxRSS() == 0 {
		return kvd, etcd, 0, false
	}
	return kvd, etcd, float64(kvd.MaxRSS()) / float64(etcd.MaxRSS()), true
}

// summaryMarkdown is the ratio table and the memory line.
func (r *VsReport) summaryMarkdown() string {
	var b strings.Builder
	b.WriteString("| load | kvd/etcd ops/s median (min–max) | kvd/etcd p99 median (min–max) | kvd/etcd server CPU per op | kvd/etcd peak RSS | kvd ops/s | etcd ops/s | kvd p99 ms | etcd p99 ms | kvd peak RSS MiB | etcd peak RSS MiB | errors |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, lr := range r.Ratios() {
		fmt.Fprintf(&b, "| %s | %.2f (%.2f–%.2f) | %.2f (%.2f–%.2f) | %.2f | %.2f | %.0f | %.0f | %.2f | %.2f | %.1f | %.1f | %d |\n",
			lr.Label(), lr.Throughput.Median, lr.Throughput.Min, lr.Throughput.Max,
			lr.P99.Median, lr.P99.Min, lr.P99.Max, lr.CPU.Median, lr.PeakRSS.Median,
			lr.KvdOps.Median, lr.EtcdOps.Median, lr.KvdP99Ms.Median, lr.EtcdP99Ms.Median,
			lr.KvdPeakRSS.Median/(1<<20), lr.EtcdPeakRSS.Median/(1<<20), lr.Errors)
	}
	if k, e, ratio, ok := r.memoryRatio(); ok {
		fmt.Fprintf(&b, "\nMemory after %d keys of %d bytes (largest member RSS): kvd %.1f MiB, etcd %.1f MiB, kvd/etcd %.2f\n",
			k.Keys, k.ValueBytes, mib(k.MaxRSS()), mib(e.MaxRSS()), ratio)
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
	if eb := v.EtcdBench; len(eb.Loads) > 0 {
		fmt.Fprintf(&b, "Then etcd's own benchmark tool (go.etcd.io/etcd/v3 v3.6.8 tools/benchmark: the newest root module on the Go module proxy, v3.7.3's is not there) runs %s the same way, "+
			"--conns %d --clients %d over every member: put of %d requests (keys %d bytes, values %d bytes, key space %d), linearizable range of one key (value %d bytes), %d requests. "+
			"Its figures are its own summary's (Requests/sec, Average, the 50/90/99 %% lines of its latency distribution).\n\n",
			strings.Join(eb.Loads, " and "), v.Run.Clients, v.Run.Concurrency, eb.PutTotal, v.Run.KeySizeBytes, eb.ValueSizeBytes, v.Run.Keyspace, eb.ValueSizeBytes, eb.RangeTotal)
	}
	fmt.Fprintf(&b, "Server CPU per op is every member's user and system CPU over the run (preload included) per measured op; peak RSS is the largest VmRSS of each member sampled every %v during the run, "+
		"and a load's figure is the largest member's.\n\n", rssSampleInterval)
	b.WriteString(r.configsMarkdown())
	b.WriteString("## Targets\n\n")
	b.WriteString(r.targetsMarkdown())
	b.WriteString("\n## Ratios\n\n")
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
	if len(r.Restarts) > 0 {
		b.WriteString("\n## Restarts\n\n| system | round | member | stop ms | until it serves ms | note |\n|---|---|---|---|---|---|\n")
		for _, rr := range r.Restarts {
			note := rr.Error
			if rr.Killed {
				note = joinNotes("killed after SIGTERM timed out", note)
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %.0f | %.0f | %s |\n", rr.System, rr.Round, rr.Member, rr.StopMs, rr.ServeMs, note)
		}
	}
	b.WriteString(r.cpuProfilesMarkdown())
	b.WriteString("\n## Every run\n\n```\n")
	WriteTable(&b, r.Results)
	b.WriteString("```\n")
	for _, res := range r.Results {
		if len(res.ErrorSample) > 0 {
			fmt.Fprintf(&b, "\n%s %s round %d errors: %s\n", res.System, res.Label(), res.Round, strings.Join(res.ErrorSample, "; "))
		}
	}
	return b.String()
}

// chart geometry, in SVG user units.
const (
	chartRowHeight = 26
	chartLabelW    = 140
	chartCharW     = 7 // a generous width of one character at font-size 12
	chartBarW      = 360
	chartRatioMax  = 3.0
)

// svgChart draws one horizontal bar per row: the median ratio, a whisker
// from min to max, a reference line at 1 and a mark at each row's target
// (bounds[i]; a limit of 0 is none, and the bar is grey), green when the
// median meets it, red when not.
func svgChart(title string, rows []string, spreads []Spread, bounds []bound) string {
	// Rows are named in the left column, as wide as the longest name needs.
	labelW := chartLabelW
	for _, name := range rows {
		labelW = max(labelW, chartCharW*utf8.RuneCountInString(name)+8)
	}
	h := 40 + chartRowHeight*len(rows) + 20
	w := labelW + chartBarW + 80
	x := func(v float64) float64 { return float64(labelW) + chartBarW*min(v, chartRatioMax)/chartRatioMax }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`, w, h)
	fmt.Fprintf(&b, `<text x="4" y="16" font-weight="bold">%s</text>`, html.EscapeString(title))
	for i, name := range rows {
		y := 30 + i*chartRowHeight
		s := spreads[i]
		target := bounds[i].limit
		color := "#c0392b"
		switch {
		case target == 0 || s.N == 0:
			color = "#999"
		case bounds[i].met(s.Median):
			color = "#27ae60"
		}
		fmt.Fprintf(&b, `<text x="4" y="%d">%s</text>`, y+14, html.EscapeString(name))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="16" fill="%s"/>`, labelW, y+2, x(s.Median)-float64(labelW), color)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="black"/>`, x(s.Min), x(s.Max), y+10, y+10)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%.2f (%.2f–%.2f)</text>`, x(max(s.Median, s.Max))+4, y+14, s.Median, s.Min, s.Max)
		if target > 0 {
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#000" stroke-width="2"/>`, x(target), x(target), y, y+20)
		}
	}
	fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="24" y2="%d" stroke="#555" stroke-dasharray="4 3"/>`, x(1), x(1), h-16)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">1.0</text>`, x(1), h-4)
	b.WriteString(`</svg>`)
	return b.String()
}

// HTML renders the report as one page with inline SVG charts.
func (r *VsReport) HTML() string {
	// The per-load charts are of the main loads; the other configurations
	// get one chart of their targets' ratios.
	ratios := mainRatios(r.Ratios())
	var names []string
	var tput, p99, cpu, rss []Spread
	var tputBounds, p99Bounds, cpuBounds, rssBounds []bound
	measuredCPU, measuredRSS := false, false
	for _, lr := range ratios {
		names = append(names, lr.Label())
		tput, p99, cpu, rss = append(tput, lr.Throughput), append(p99, lr.P99), append(cpu, lr.CPU), append(rss, lr.PeakRSS)
		tputBounds = append(tputBounds, bound{limit: throughputTargetOf(lr.Tool, lr.Load)})
		p99Bounds = append(p99Bounds, bound{targetP99Ratio, true})
		cpuBounds, rssBounds = append(cpuBounds, bound{targetCPURatio, true}), append(rssBounds, bound{targetPeakRSSRatio, true})
		measuredCPU = measuredCPU || lr.CPU.N > 0
		measuredRSS = measuredRSS || lr.PeakRSS.N > 0
	}
	var b strings.Builder
	b.WriteString("<!doctype html><html><head><meta charset=\"utf-8\"><title>kvd vs etcd</title>")
	b.WriteString("<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}pre{font-size:11px}</style></head><body>")
	fmt.Fprintf(&b, "<h1>kvd vs etcd — %s</h1><p>Command: <code>%s</code></p>", r.Started.Format(time.RFC3339), html.EscapeString(strings.Join(r.Command, " ")))
	b.WriteString(r.targetsHTML())
	b.WriteString("<p>Bars are medians over rounds, whiskers min–max, the black mark the target; green meets it, red does not, grey has none.</p>")
	b.WriteString(svgChart("throughput kvd/etcd (higher is better)", names, tput, tputBounds))
	b.WriteString("<br>")
	b.WriteString(svgChart("p99 latency kvd/etcd (lower is better)", names, p99, p99Bounds))
	if measuredCPU {
		b.WriteString("<br>")
		b.WriteString(svgChart("server CPU per op kvd/etcd (lower is better)", names, cpu, cpuBounds))
	}
	if measuredRSS {
		b.WriteString("<br>")
		b.WriteString(svgChart("peak RSS during the load kvd/etcd, largest member (lower is better)", names, rss, rssBounds))
	}
	if k, e, ratio, ok := r.memoryRatio(); ok {
		b.WriteString("<br>")
		b.WriteString(svgChart(fmt.Sprintf("RSS kvd/etcd after %d keys (lower is better)", k.Keys), []string{"largest member"}, []Spread{{Median: ratio, Min: ratio, Max: ratio, N: 1}}, []bound{{targetMemoryRatio, true}}))
		fmt.Fprintf(&b, "<p>Largest member RSS: kvd %.1f MiB, etcd %.1f MiB.</p>", mib(k.MaxRSS()), mib(e.MaxRSS()))
	}
	if rows, spreads, bounds := r.configChartRows(); len(rows) > 0 {
		b.WriteString("<br>")
		b.WriteString(svgChart("other configurations kvd/etcd, each against its own bound (≥ or ≤, see Targets)", rows, spreads, bounds))
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
	for i := range r.CPUProfiles {
		p := &r.CPUProfiles[i]
		p.Files = p.Files[:0]
		for m, raw := range p.raw {
			name := fmt.Sprintf("cpu-%s-%s-m%d.pb.gz", p.Load, p.System, m+1)
			if err := os.WriteFile(filepath.Join(r.Dir, name), raw, 0o644); err != nil {
				return fmt.Errorf("write profile %s: %w", name, err)
			}
			p.Files = append(p.Files, name)
		}
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
