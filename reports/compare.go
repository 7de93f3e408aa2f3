package reports

import (
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/perf/benchmath"
)

// Files of a comparison folder (kvsim compare): one campaign report per
// side, and the comparison beside them.
const (
	CompareDirA     = "a"
	CompareDirB     = "b"
	CompareFile     = "compare.json"
	ComparePageFile = "compare.html"
)

// A Side is one variant of a comparison: its name as given and its
// results, one per seed.
type Side struct {
	Name    string   `json:"name"`
	Results []Result `json:"-"`
	// Counts are its outcomes.
	Counts map[Outcome]int `json:"counts"`
}

// SeedDiff is a seed whose outcome differs between the sides.
type SeedDiff struct {
	Seed     uint64  `json:"seed"`
	A        Outcome `json:"a"`
	B        Outcome `json:"b"`
	DetailA  string  `json:"detail_a,omitempty"`
	DetailB  string  `json:"detail_b,omitempty"`
	ReplayA  string  `json:"replay_a,omitempty"`
	ReplayB  string  `json:"replay_b,omitempty"`
	Workload string  `json:"workload"`
	Nemesis  string  `json:"nemesis"`
}

// MetricDiff is one metric over the seeds both sides ran: its means, the
// change of B's mean against A's, and whether the seeds' values differ
// significantly (Mann-Whitney U test, at Alpha).
type MetricDiff struct {
	Name string `json:"name"`
	// Unit is "s", "count", "ops/s", "bytes".
	Unit        string  `json:"unit"`
	MeanA       float64 `json:"mean_a"`
	MeanB       float64 `json:"mean_b"`
	DeltaPct    float64 `json:"delta_pct"` // +Inf when A's mean is 0 and B's is not
	P           float64 `json:"p"`
	Significant bool    `json:"significant"`
	// HigherIsWorse says which way is a regression.
	HigherIsWorse bool `json:"higher_is_worse"`
}

// metricDiffJSON is MetricDiff as JSON writes it: JSON has no infinity,
// so a change from a zero mean is "from_zero" with no delta_pct.
type metricDiffJSON struct {
	Name          string   `json:"name"`
	Unit          string   `json:"unit"`
	MeanA         float64  `json:"mean_a"`
	MeanB         float64  `json:"mean_b"`
	DeltaPct      *float64 `json:"delta_pct,omitempty"`
	FromZero      bool     `json:"from_zero,omitempty"`
	P             float64  `json:"p"`
	Significant   bool     `json:"significant"`
	HigherIsWorse bool     `json:"higher_is_worse"`
}

// MarshalJSON writes an infinite DeltaPct as from_zero.
func (d MetricDiff) MarshalJSON() ([]byte, error) {
	j := metricDiffJSON{Name: d.Name, Unit: d.Unit, MeanA: d.MeanA, MeanB: d.MeanB, P: d.P, Significant: d.Significant, HigherIsWorse: d.HigherIsWorse}
	if math.IsInf(d.DeltaPct, 0) {
		j.FromZero = true
	} else {
		j.DeltaPct = &d.DeltaPct
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (d *MetricDiff) UnmarshalJSON(data []byte) error {
	var j metricDiffJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*d = MetricDiff{Name: j.Name, Unit: j.Unit, MeanA: j.MeanA, MeanB: j.MeanB, P: j.P, Significant: j.Significant, HigherIsWorse: j.HigherIsWorse}
	switch {
	case j.FromZero:
		d.DeltaPct = math.Inf(1)
	case j.DeltaPct != nil:
		d.DeltaPct = *j.DeltaPct
	}
	return nil
}

// Comparison is what kvsim compare found between A and B over the same
// seeds, workloads and fault schedules.
type Comparison struct {
	Command string    `json:"command"`
	Seeds   string    `json:"seeds"`
	Started time.Time `json:"started"`
	Alpha   float64   `json:"alpha"`
	A       Side      `json:"a"`
	B       Side      `json:"b"`
	// Diffs are the seeds whose outcomes differ: those that pass on A and
	// fail on B first, then the rest, by seed.
	Diffs   []SeedDiff   `json:"diffs"`
	Metrics []MetricDiff `json:"metrics"`
	// SameTrace counts the seeds whose runs traced the very same events
	// on both sides (equal trace hashes): a change that alters nothing a
	// seed does leaves every seed here.
	SameTrace int `json:"same_trace"`
	// Paired counts the seeds both sides ran.
	Paired int `json:"paired"`
}

// metricSpec names one measure of a run for comparison.
type metricSpec struct {
	name, unit    string
	higherIsWorse bool
	value         func(*Metrics) float64
	// workload limits the metric to that workload's seeds ("": all).
	workload string
}

func seconds(d Duration) float64 { return time.Duration(d).Seconds() }

func metric(name, unit string, higherIsWorse bool, value func(*Metrics) float64) metricSpec {
	return metricSpec{name: name, unit: unit, higherIsWorse: higherIsWorse, value: value}
}

// compareMetrics are the measures compared, in the order shown.
var compareMetrics = []metricSpec{
	metric("leader-changes", "count", true, func(m *Metrics) float64 { return float64(m.LeaderChanges) }),
	metric("terms", "count", true, func(m *Metrics) float64 { return float64(m.Terms) }),
	metric("unavailable", "s", true, func(m *Metrics) float64 { return seconds(m.Leaderless) }),
	metric("leaders-overlap", "s", true, func(m *Metrics) float64 { return seconds(m.LeadersOverlap) }),
	metric("heal-to-write", "s", true, func(m *Metrics) float64 { return seconds(m.HealToWriteP50) }),
	metric("heal-to-write-max", "s", true, func(m *Metrics) float64 { return seconds(m.HealToWriteMax) }),
	metric("p50", "s", true, func(m *Metrics) float64 { return seconds(m.LatencyP50) }),
	metric("p99", "s", true, func(m *Metrics) float64 { return seconds(m.LatencyP99) }),
	metric("throughput", "ops/s", false, func(m *Metrics) float64 { return m.OpsPerSecond }),
	metric("messages", "count", true, func(m *Metrics) float64 { return float64(m.Messages) }),
	metric("bytes", "bytes", true, func(m *Metrics) float64 { return float64(m.MessageBytes) }),
	metric("disk-syncs", "count", true, func(m *Metrics) float64 { return float64(m.DiskSyncs) }),
}

// CompareMetricNames lists the metrics a comparison reports (and a
// threshold can name), leader changes by fault kind aside.
func CompareMetricNames() []string {
	names := make([]string, len(compareMetrics))
	for i, m := range compareMetrics {
		names[i] = m.name
	}
	return names
}

// LeaderChangesByFaultPrefix names the per-fault-kind metrics:
// "leader-changes@partition-halves".
const LeaderChangesByFaultPrefix = "leader-changes@"

// TermsByFaultPrefix names the terms elections went through, by fault
// kind: "terms@partition-halves".
const TermsByFaultPrefix = "terms@"

// Compare judges two sides' results seed by seed. replay names the
// command that repeats a side's seed ("" when there is none to give).
func Compare(a, b Side, alpha float64, replay func(side string, r Result) string) Comparison {
	c := Comparison{A: a, B: b, Alpha: alpha}
	c.A.Counts, c.B.Counts = countOutcomes(a.Results), countOutcomes(b.Results)
	bySeed := map[uint64]Result{}
	for _, r := range b.Results {
		bySeed[r.Seed] = r
	}
	var pairs [][2]Result
	for _, ra := range a.Results {
		rb, ok := bySeed[ra.Seed]
		if !ok {
			continue
		}
		pairs = append(pairs, [2]Result{ra, rb})
		c.Paired++
		if ra.TraceHash != "" && ra.TraceHash == rb.TraceHash {
			c.SameTrace++
		}
		if ra.Outcome != rb.Outcome {
			d := SeedDiff{Seed: ra.Seed, A: ra.Outcome, B: rb.Outcome, DetailA: firstLineOf(ra.Detail), DetailB: firstLineOf(rb.Detail),
				Workload: ra.Config.Workload, Nemesis: ra.Config.Nemesis}
			if ra.Failed() {
				d.ReplayA = replay(CompareDirA, ra)
			}
			if rb.Failed() {
				d.ReplayB = replay(CompareDirB, rb)
			}
			c.Diffs = append(c.Diffs, d)
		}
	}
	slices.SortStableFunc(c.Diffs, func(x, y SeedDiff) int {
		xr, yr := x.A == Pass && x.B != Pass, y.A == Pass && y.B != Pass
		switch {
		case xr && !yr:
			return -1
		case yr && !xr:
			return 1
		}
		return 0
	})
	specs := slices.Clone(compareMetrics)
	for _, kind := range faultKindsOf(pairs) {
		specs = append(specs, metric(LeaderChangesByFaultPrefix+kind, "count", true,
			func(m *Metrics) float64 { return float64(m.LeaderChangesByFault[kind]) }),
			metric(TermsByFaultPrefix+kind, "count", true,
				func(m *Metrics) float64 { return float64(m.TermsByFault[kind]) }))
	}
	// With several workloads, their latency and throughput apart too.
	workloads := map[string]bool{}
	for _, p := range pairs {
		workloads[p[0].Config.Workload] = true
	}
	if len(workloads) > 1 {
		for _, w := range slices.Sorted(maps.Keys(workloads)) {
			for _, base := range compareMetrics {
				if base.name == "p50" || base.name == "p99" || base.name == "throughput" {
					s := base
					s.name, s.workload = base.name+"@"+w, w
					specs = append(specs, s)
				}
			}
		}
	}
	for _, s := range specs {
		var va, vb []float64
		for _, p := range pairs {
			if p[0].Metrics == nil || p[1].Metrics == nil || (s.workload != "" && p[0].Config.Workload != s.workload) {
				continue
			}
			va = append(va, s.value(p[0].Metrics))
			vb = append(vb, s.value(p[1].Metrics))
		}
		if len(va) == 0 {
			continue
		}
		c.Metrics = append(c.Metrics, diffOf(s, va, vb, alpha))
	}
	return c
}

// diffOf compares one metric's values on A and B.
func diffOf(s metricSpec, va, vb []float64, alpha float64) MetricDiff {
	d := MetricDiff{Name: s.name, Unit: s.unit, HigherIsWorse: s.higherIsWorse, MeanA: mean(va), MeanB: mean(vb), P: 1}
	switch {
	case d.MeanA == d.MeanB:
	case d.MeanA == 0:
		d.DeltaPct = math.Inf(1)
	default:
		d.DeltaPct = 100 * (d.MeanB - d.MeanA) / math.Abs(d.MeanA)
	}
	if !slices.Equal(va, vb) {
		th := benchmath.DefaultThresholds
		th.CompareAlpha = alpha
		cmp := benchmath.AssumeNothing.Compare(benchmath.NewSample(va, &th), benchmath.NewSample(vb, &th))
		d.P = cmp.P
		d.Significant = cmp.P < alpha
	}
	return d
}

// Regressed reports whether B is worse than A on d by more than pct
// percent, significantly.
func (d MetricDiff) Regressed(pct float64) bool {
	if !d.Significant {
		return false
	}
	if d.HigherIsWorse {
		return d.DeltaPct > pct
	}
	return -d.DeltaPct > pct
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func countOutcomes(rs []Result) map[Outcome]int {
	m := map[Outcome]int{}
	for _, r := range rs {
		m[r.Outcome]++
	}
	return m
}

// faultKindsOf lists, sorted, the fault kinds any seed counted a leader
// change against.
func faultKindsOf(pairs [][2]Result) []string {
	seen := map[string]bool{}
	for _, p := range pairs {
		for _, r := range p {
			if r.Metrics != nil {
				for k := range r.Metrics.LeaderChangesByFault {
					seen[k] = true
				}
			}
		}
	}
	kinds := make([]string, 0, len(seen))
	for k := range seen {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}

func firstLineOf(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}

// NewCorrectnessFailures are the seeds B fails on correctness while A
// does not.
func (c Comparison) NewCorrectnessFailures() []SeedDiff {
	var out []SeedDiff
	for _, d := range c.Diffs {
		if d.B == Correctness && d.A != Correctness {
			out = append(out, d)
		}
	}
	return out
}

// FormatValue renders a metric's value in its unit.
func (d MetricDiff) FormatValue(v float64) string {
	if d.Unit == "s" {
		return human(Duration(v * float64(time.Second)))
	}
	return fmt.Sprintf("%.1f", v)
}

// FormatDelta renders DeltaPct.
func (d MetricDiff) FormatDelta() string {
	switch {
	case math.IsInf(d.DeltaPct, 1):
		return "new"
	case d.DeltaPct == 0:
		return "~"
	}
	return fmt.Sprintf("%+.1f%%", d.DeltaPct)
}

// WriteComparison writes compare.json and compare.html into dir, beside
// the sides' campaign reports in dir/a and dir/b.
func WriteComparison(dir string, c Comparison) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("reports: encoding the comparison: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, CompareFile), data, 0o644); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, ComparePageFile))
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	if err := comparePage.Execute(f, c); err != nil {
		f.Close()
		return fmt.Errorf("reports: rendering %s: %w", ComparePageFile, err)
	}
	return f.Close()
}

var comparePage = template.Must(template.New("compare").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>kvsim compare: {{.A.Name}} vs {{.B.Name}}</title><style>` + pageStyle + `
.worse{color:#c62828;font-weight:600}.better{color:#3a8f3a;font-weight:600}</style></head><body>
<h1>kvsim compare</h1>
<p class="sub">A: <code>{{.A.Name}}</code> · B: <code>{{.B.Name}}</code> · seeds {{.Seeds}} · same workloads and fault schedules · <code>{{.Command}}</code></p>
<div class="cards">
{{range outcomes}}{{$o := .}}{{if or (index $.A.Counts $o) (index $.B.Counts $o)}}<div class="card"><span class="badge {{$o}}">{{$o}}</span><b>{{index $.A.Counts $o}} → {{index $.B.Counts $o}}</b>seeds, A → B</div>{{end}}{{end}}
</div>
<p>{{.SameTrace}} of {{.Paired}} seeds traced the very same events on both sides.</p>
<h2>Seeds whose verdict differs</h2>
{{if .Diffs}}<table><tr><th>seed</th><th>workload</th><th>nemesis</th><th>A</th><th>B</th><th>why</th><th>replay</th></tr>
{{range .Diffs}}<tr><td class="num">{{.Seed}}</td><td>{{.Workload}}</td><td>{{.Nemesis}}</td><td><span class="badge {{.A}}">{{.A}}</span></td><td><span class="badge {{.B}}">{{.B}}</span></td>
<td>{{if .DetailB}}B: {{.DetailB}}{{end}}{{if .DetailA}} A: {{.DetailA}}{{end}}</td><td><code>{{.ReplayA}}</code> <code>{{.ReplayB}}</code></td></tr>
{{end}}</table>{{else}}<p>None: every seed has the same verdict on both.</p>{{end}}
<h2>Behaviour, per seed (means; Mann-Whitney U over the seeds, α = {{.Alpha}})</h2>
{{if not .Metrics}}<p>No metrics: a side's build predates them.</p>{{end}}
<table><tr><th>metric</th><th>A</th><th>B</th><th>change</th><th>p</th><th></th></tr>
{{range .Metrics}}<tr><td>{{.Name}}</td><td class="num">{{.FormatValue .MeanA}}</td><td class="num">{{.FormatValue .MeanB}}</td><td class="num">{{.FormatDelta}}</td><td class="num">{{printf "%.3f" .P}}</td>
<td>{{if .Significant}}{{if .Regressed 0}}<span class="worse">B worse</span>{{else}}<span class="better">B better</span>{{end}}{{else}}no significant change{{end}}</td></tr>
{{end}}</table>
<p class="sub">Campaign reports: <a href="a/index.html">A</a> · <a href="b/index.html">B</a>. unavailable: time without a leader after the first; leaders-overlap: time two or more members believed they led; heal-to-write: from a fault's heal to the next write answered OK; leader-changes@KIND, terms@KIND: leader changes, and the terms their elections took, during a fault of that kind or within 2 s of its heal.</p>
</body></html>
`))
