package reports

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kvdlabs/kvd/theme"
)

// memberChips names fault targets as the simulator and kvsim real name
// members (member id k is "mk") in the member's colour, as the live
// dashboard shows a cluster's members.
func memberChips(ids []uint64) template.HTML {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, `<span class="%s">m%d</span>`, theme.MemberClass(int((id-1)%64)), id)
	}
	return template.HTML(b.String())
}

// pageStyle is theme's shared stylesheet (health colours, member chips)
// plus the report's own layout.
var pageStyle = theme.CSS + `
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px} h3{font-size:14px;margin:6px 0}
.sub{color:#555;margin:0 0 16px} code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
table{border-collapse:collapse;font-size:13px} th,td{padding:4px 8px;border-bottom:1px solid #e3e3e3;text-align:left;vertical-align:top}
th{background:#f4f4f4;position:sticky;top:0} td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;font-weight:600;color:#fff}
.pass{background:var(--ok)}.correctness{background:var(--bad)}.liveness{background:var(--warn)}.crash{background:var(--dead)}
.unknown{background:#777}.nondeterminism{background:#000}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:8px 0 16px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:20px}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin:0 4px 0 10px;vertical-align:-1px}
details{margin:6px 0} summary{cursor:pointer}
.note{background:#fffbe6;border:1px solid #f0e0a0;padding:8px 12px;border-radius:6px;font-size:13px}
pre{background:#f7f7f7;padding:8px;overflow:auto;font-size:12px;white-space:pre-wrap;word-break:break-word}
`

var funcs = template.FuncMap{
	"members":  memberChips,
	"timeline": timelineSVG,
	"legend":   faultLegend,
	"kinds":    faultKinds,
	"seedLink": func(r Result) string {
		return filepath.ToSlash(filepath.Join(SeedsDir, strconv.FormatUint(r.Seed, 10), SeedPageFile))
	},
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
	"pct": func(n, of int) string {
		if of == 0 {
			return "0%"
		}
		return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(of))
	},
	"outcomes": Outcomes,
	"human":    human,
	"firstLine": func(s string) string {
		line, _, _ := strings.Cut(s, "\n")
		return line
	},
}

// human rounds a duration for reading: three or four significant digits.
func human(d any) string {
	var v time.Duration
	switch d := d.(type) {
	case Duration:
		v = time.Duration(d)
	case time.Duration:
		v = d
	default:
		panic(fmt.Sprintf("reports: human(%T)", d))
	}
	switch {
	case v >= time.Minute:
		return v.Round(100 * time.Millisecond).String()
	case v >= time.Second:
		return v.Round(time.Millisecond).String()
	case v >= time.Millisecond:
		return v.Round(10 * time.Microsecond).String()
	}
	return v.Round(time.Microsecond).String()
}

// faultKinds counts a run's faults by kind: "crash-restart×2 pause×1".
func faultKinds(faults []FaultWindow) string {
	var order []string
	count := map[string]int{}
	for _, f := range faults {
		if count[f.Kind] == 0 {
			order = append(order, f.Kind)
		}
		count[f.Kind]++
	}
	parts := make([]string, len(order))
	for i, k := range order {
		parts[i] = fmt.Sprintf("%s×%d", k, count[k])
	}
	return strings.Join(parts, " ")
}

var indexTemplate = template.Must(template.New("index").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kvsim campaign: {{.Outcome}}</title>
<style>` + pageStyle + `</style></head><body>
<h1>kvsim campaign — <span class="badge {{.Outcome}}">{{.Outcome}}</span></h1>
<p class="sub">{{len .Results}} seeds ({{.Seeds}}{{if .Shard}}, shard {{.Shard}}{{end}}) · workload <b>{{.Campaign.Workload}}</b> · nemesis <b>{{.Campaign.Nemesis}}</b> · {{.Campaign.Nodes}} nodes · {{.Campaign.Duration}} virtual per seed{{if .Campaign.Unsafe}} · unsafe variant <b>{{.Campaign.Unsafe}}</b>{{end}}{{if .CheckDeterminism}} · determinism checked{{end}} · started {{.Started.UTC.Format "2006-01-02 15:04:05 UTC"}} · exit code {{.ExitCode}}</p>
<div class="cards">
{{- $s := .}}{{range outcomes}}{{$n := index $s.Counts .}}{{if or $n (eq . "pass")}}<div class="card"><span class="badge {{.}}">{{.}}</span><b>{{$n}}</b>{{pct $n (len $s.Results)}} of seeds</div>{{end}}{{end}}
<div class="card">wall<b>{{human .Wall}}</b>{{printf "%.1f" .SeedsPerMinute}} seeds/min</div>
<div class="card">simulated/wall<b>{{printf "%.1f×" .VirtualPerWall}}</b>over {{.Workers}} workers</div>
<div class="card">checker per seed<b>{{human .CheckWallMean}}</b>max {{human .CheckWallMax}}</div>
</div>
<p class="note">How to read this: each row is one seed, a whole simulated run of the cluster under a random set of faults.
Anything but <span class="badge pass">pass</span> is a finding: open its row for the timeline, or its folder for the history, trace and porcupine view.
Reproduce any seed bit for bit with <code>kvsim replay --record {{"<"}}seed folder{{">"}}</code> or <code>kvsim replay --seed N</code> plus the same flags; shrink it with <code>kvsim shrink</code>.
<br><code class="mono">{{.Command}}</code></p>

{{with .Failed}}<h2>Failing seeds</h2>
{{range .}}<details open><summary><span class="badge {{.Outcome}}">{{.Outcome}}</span> <b>seed {{.Seed}}</b> · {{.Config.Workload}}/{{.Config.Nemesis}}{{if .Config.Unsafe}} · unsafe {{.Config.Unsafe}}{{end}} · {{firstLine .Detail}}{{if .ReportDir}} · <a href="{{seedLink .}}">details</a>{{end}}</summary>
{{timeline .}}<div>{{legend .Faults}}</div></details>
{{end}}{{end}}

<h2>All seeds</h2>
<table><thead><tr><th>seed</th><th>outcome</th><th>workload</th><th>nemesis</th><th>ops</th><th>faults</th><th>virtual</th><th>wall</th><th>checkers</th><th>trace hash</th></tr></thead><tbody>
{{range .Results}}<tr><td class="num">{{if .ReportDir}}<a href="{{seedLink .}}">{{.Seed}}</a>{{else}}{{.Seed}}{{end}}</td>
<td><span class="badge {{.Outcome}}">{{.Outcome}}</span></td><td>{{.Config.Workload}}</td><td>{{.Config.Nemesis}}</td>
<td class="num">{{.Ops}}</td><td><details><summary>{{len .Faults}}</summary><span class="mono">{{kinds .Faults}}</span><br><span class="mono">{{.Swarm}}</span>{{timeline .}}<div>{{legend .Faults}}</div></details></td>
<td class="num">{{human .Virtual}}</td><td class="num">{{human .Wall}}</td>
<td>{{range .Verdicts}}<span title="{{.Detail}}">{{.Checker}}: {{.Outcome}} ({{.Operations}} ops, {{human .CheckDuration}})</span><br>{{end}}</td>
<td class="mono">{{short .TraceHash}}</td></tr>
{{end}}</tbody></table>
</body></html>
`))

var seedTemplate = template.Must(template.New("seed").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kvsim seed {{.R.Seed}}: {{.R.Outcome}}</title>
<style>` + pageStyle + `</style></head><body>
<h1>seed {{.R.Seed}} — <span class="badge {{.R.Outcome}}">{{.R.Outcome}}</span></h1>
<p class="sub">{{.R.Config.Workload}} workload · nemesis {{.R.Config.Nemesis}} · {{.R.Config.Nodes}} nodes · {{.R.Config.Clients}} clients · ops ≤ {{.R.Config.OpsMax}} · {{human .R.Virtual}} virtual{{if .R.Config.Unsafe}} · unsafe variant <b>{{.R.Config.Unsafe}}</b>{{end}} · trace {{.R.TraceHash}} ({{.R.TraceRecords}} records)</p>
{{with .R.Detail}}<h2>What failed</h2><pre>{{.}}</pre>{{end}}
<h2>Checkers</h2>
<table><thead><tr><th>checker</th><th>outcome</th><th>operations</th><th>check time</th><th>detail</th></tr></thead><tbody>
{{range .R.Verdicts}}<tr><td>{{.Checker}}</td><td><span class="badge {{if eq .Outcome "ok"}}pass{{else if eq .Outcome "violation"}}correctness{{else}}unknown{{end}}">{{.Outcome}}</span></td><td class="num">{{.Operations}}</td><td class="num">{{human .CheckDuration}}</td><td>{{.Detail}}</td></tr>
{{else}}<tr><td colspan="5">no checker ran</td></tr>{{end}}</tbody></table>
<h2>Timeline</h2>
{{timeline .R}}<div>{{legend .R.Faults}}</div>
<h2>Files</h2><ul>
<li><a href="config.json">config.json</a> — the run's configuration</li>
<li><a href="schedule.json">schedule.json</a> — the faults; <code>kvsim replay --schedule schedule.json</code> reads it</li>
<li><a href="history.json">history.json</a> — every client call, invoke and return in virtual time</li>
{{if .Trace}}<li><a href="trace.txt">trace.txt</a> — the simulation trace, one event per line</li>{{end}}
{{range .Pages}}<li><a href="{{.}}">{{.}}</a> — porcupine's view of the history, fault windows listed on top</li>{{end}}
</ul>
<p>Replay bit for bit: <code>kvsim replay --record {{.Dir}}</code></p>
<h2>Faults</h2>
<table><thead><tr><th>kind</th><th>targets</th><th>from</th><th>to</th></tr></thead><tbody>
{{range .R.Faults}}<tr><td>{{.Kind}}</td><td>{{members .Targets}}</td><td class="num">{{.From}}</td><td class="num">{{.To}}</td></tr>{{else}}<tr><td colspan="4">none</td></tr>{{end}}
</tbody></table>
{{with .R.Stack}}<h2>Stack</h2><pre>{{.}}</pre>{{end}}
</body></html>
`))

var legendTemplate = template.Must(template.New("legend").Funcs(funcs).Parse(`<div id="kvsim-faults" style="font-family:sans-serif;font-size:13px;margin:48px 12px 12px;padding:10px;border:1px solid #ccc;border-radius:6px;background:#fafafa">
<b>kvsim seed {{.Seed}} — {{.Outcome}}</b> · the faults of this run, in virtual time since its start (the history below counts from its first operation){{with .Detail}}<br>{{firstLine .}}{{end}}
<table style="border-collapse:collapse;margin-top:6px"><tr><th style="text-align:left;padding:2px 8px">kind</th><th style="text-align:left;padding:2px 8px">targets</th><th style="text-align:left;padding:2px 8px">from</th><th style="text-align:left;padding:2px 8px">to</th></tr>
{{range .Faults}}<tr><td style="padding:2px 8px">{{.Kind}}</td><td style="padding:2px 8px">{{.Targets}}</td><td style="padding:2px 8px">{{.From}}</td><td style="padding:2px 8px">{{.To}}</td></tr>{{else}}<tr><td colspan="4" style="padding:2px 8px">no faults</td></tr>{{end}}
</table></div>
`))

func renderIndex(w io.Writer, s Summary) error {
	if err := indexTemplate.Execute(w, s); err != nil {
		return fmt.Errorf("reports: rendering %s: %w", IndexFile, err)
	}
	return nil
}

func renderSeedPage(w io.Writer, r Result, pages []string, trace bool) error {
	data := struct {
		R     Result
		Pages []string
		Trace bool
		Dir   string
	}{r, pages, trace, r.ReportDir}
	if err := seedTemplate.Execute(w, data); err != nil {
		return fmt.Errorf("reports: rendering seed %d page: %w", r.Seed, err)
	}
	return nil
}

// AnnotateVisualization returns page (porcupine's HTML) with a table of r's
// fault windows inserted at the top of its body, so that a reader of the
// history sees what the nemesis was doing. A page without a <body> tag gets
// the table prepended.
func AnnotateVisualization(page []byte, r Result) []byte {
	var legend bytes.Buffer
	if err := legendTemplate.Execute(&legend, r); err != nil {
		// The template and its data are ours: failing is a bug.
		panic(fmt.Sprintf("reports: fault legend: %v", err))
	}
	i := bytes.Index(bytes.ToLower(page), []byte("<body"))
	if i < 0 {
		return append(legend.Bytes(), page...)
	}
	end := bytes.IndexByte(page[i:], '>')
	if end < 0 {
		return append(legend.Bytes(), page...)
	}
	at := i + end + 1
	out := make([]byte, 0, len(page)+legend.Len())
	out = append(out, page[:at]...)
	out = append(out, legend.Bytes()...)
	return append(out, page[at:]...)
}
