package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestSpreadIsMedianMinMax(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		xs := rapid.SliceOfN(rapid.Float64Range(0.01, 100), 1, 20).Draw(t, "xs")
		s := spreadOf(xs)
		below, above := 0, 0
		for _, x := range xs {
			if x < s.Min || x > s.Max {
				t.Fatalf("%v outside [%v, %v]", x, s.Min, s.Max)
			}
			if x < s.Median {
				below++
			}
			if x > s.Median {
				above++
			}
		}
		if below > len(xs)/2 || above > len(xs)/2 {
			t.Fatalf("median %v of %v: %d below, %d above", s.Median, xs, below, above)
		}
	})
}

// fakeRuns makes kvd's and etcd's runs of every round from ratios drawn by
// the test, so the report must find those ratios again.
func fakeRuns(loads []string, rounds int, tputRatio, p99Ratio func(load string, round int) float64) []Result {
	var rs []Result
	for _, load := range loads {
		for round := 1; round <= rounds; round++ {
			etcd := Result{System: "etcd", Round: round, Load: load, Ops: 1000, OpsPerSec: 1000 + float64(round), P99Ms: 10 + float64(round), ServerCPUUsPerOp: 100,
				PeakRSSBytes: []int64{100 << 20, 200 << 20, 150 << 20}}
			kvd := etcd
			kvd.System = "kvd"
			kvd.OpsPerSec = etcd.OpsPerSec * tputRatio(load, round)
			kvd.P99Ms = etcd.P99Ms * p99Ratio(load, round)
			kvd.ServerCPUUsPerOp = etcd.ServerCPUUsPerOp * p99Ratio(load, round)
			kvd.PeakRSSBytes = []int64{int64(float64(200<<20) * p99Ratio(load, round)), 1 << 20, 1 << 20}
			rs = append(rs, kvd, etcd)
		}
	}
	return rs
}

func TestRatiosPairRoundsOfTheSameLoad(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rounds := rapid.IntRange(1, 5).Draw(t, "rounds")
		tput := rapid.SliceOfN(rapid.Float64Range(0.1, 5), rounds, rounds).Draw(t, "tput")
		p99 := rapid.SliceOfN(rapid.Float64Range(0.1, 5), rounds, rounds).Draw(t, "p99")
		r := VsReport{Results: fakeRuns([]string{"put", "get"}, rounds,
			func(_ string, i int) float64 { return tput[i-1] }, func(_ string, i int) float64 { return p99[i-1] })}
		ratios := r.Ratios()
		if len(ratios) != 2 || ratios[0].Load != "put" || ratios[1].Load != "get" {
			t.Fatalf("ratios %+v", ratios)
		}
		want, wantP99 := spreadOf(tput), spreadOf(p99)
		for _, lr := range ratios {
			if !near(lr.Throughput.Median, want.Median) || !near(lr.Throughput.Min, want.Min) || !near(lr.Throughput.Max, want.Max) {
				t.Fatalf("%s throughput %+v, want %+v", lr.Load, lr.Throughput, want)
			}
			if !near(lr.P99.Median, wantP99.Median) || lr.P99.N != rounds {
				t.Fatalf("%s p99 %+v, want %+v", lr.Load, lr.P99, wantP99)
			}
		}
	})
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestReportFilesAreWrittenAndWellFormed(t *testing.T) {
	r := &VsReport{
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Command: []string{"kvbench", "vs"},
		Results: fakeRuns(Loads, 3, func(string, int) float64 { return 1.5 }, func(string, int) float64 { return 0.5 }),
		Memory: []MemoryResult{
			{System: "kvd", Keys: 1000, ValueBytes: 100, RSSBytes: []int64{100 << 20, 110 << 20, 90 << 20}},
			{System: "etcd", Keys: 1000, ValueBytes: 100, RSSBytes: []int64{200 << 20, 210 << 20, 190 << 20}},
		},
	}
	r.Options.EnsureDefaults()
	dir := t.TempDir()
	if err := r.write(dir); err != nil {
		t.Fatal(err)
	}
	if r.Dir != filepath.Join(dir, "20260102T030405Z") {
		t.Fatalf("report dir %s", r.Dir)
	}
	md, err := os.ReadFile(filepath.Join(r.Dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, load := range Loads {
		if !regexp.MustCompile(`\| ` + regexp.QuoteMeta(load) + ` \| 1\.50 \(1\.50–1\.50\) \| 0\.50 \(0\.50–0\.50\) \| 0\.50 \| 0\.50 `).Match(md) {
			t.Errorf("markdown lacks the ratio row of %s:\n%s", load, md)
		}
	}
	if !bytes.Contains(md, []byte("kvd/etcd 0.52")) { // 110 MiB / 210 MiB, largest members
		t.Errorf("markdown lacks the memory ratio:\n%s", md)
	}
	page, err := os.ReadFile(filepath.Join(r.Dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	svgs := regexp.MustCompile(`(?s)<svg.*?</svg>`).FindAll(page, -1)
	if len(svgs) != 5 {
		t.Fatalf("%d charts in the HTML, want throughput, p99, CPU, peak RSS and memory", len(svgs))
	}
	if !bytes.Contains(page, []byte("<h2>Targets</h2>")) || !bytes.Contains(md, []byte("## Targets")) {
		t.Errorf("a report lacks the targets table")
	}
	for _, svg := range svgs {
		d := xml.NewDecoder(bytes.NewReader(svg))
		for {
			_, err := d.Token()
			if err != nil {
				if err.Error() != "EOF" {
					t.Fatalf("chart is not well-formed XML: %v\n%s", err, svg)
				}
				break
			}
		}
		if got := strings.Count(string(svg), "<rect"); got < 1 {
			t.Fatalf("chart without bars: %s", svg)
		}
	}
	var back VsReport
	js, err := os.ReadFile(filepath.Join(r.Dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &back); err != nil || len(back.Results) != len(r.Results) {
		t.Fatalf("results.json: %v, %d results", err, len(back.Results))
	}
}

func TestJSONLineAndTable(t *testing.T) {
	var h Histogram
	for i := 1; i <= 100; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	o := Options{Load: "put", Endpoints: []string{"e"}}
	o.EnsureDefaults()
	r := newResult(&o, &h, 3, 2*time.Second, []string{"boom"})
	if r.OpsPerSec != 50 || r.Errors != 3 || r.MaxMs != 100 {
		t.Fatalf("result %+v", r)
	}
	if r.P99Ms < 99 || r.P99Ms > 100 || r.P50Ms < 50 || r.P50Ms > 51 {
		t.Fatalf("percentiles p50 %v p99 %v", r.P50Ms, r.P99Ms)
	}
	var b bytes.Buffer
	if err := WriteJSONLine(&b, r); err != nil {
		t.Fatal(err)
	}
	if bytes.Count(b.Bytes(), []byte("\n")) != 1 {
		t.Fatalf("not one line: %q", b.String())
	}
	var back Result
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.P99Ms != r.P99Ms || back.Load != "put" {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	b.Reset()
	if err := WriteTable(&b, []Result{r}); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(b.String()), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "put") {
		t.Fatalf("table:\n%s", b.String())
	}
}

func TestReportWithConfigurationsAndRestarts(t *testing.T) {
	r := &VsReport{
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Command: []string{"kvbench", "vs"},
		Results:  append(fakeRuns([]string{"put"}, 3, func(string, int) float64 { return 2.5 }, func(string, int) float64 { return 0.5 }), configRunsAt(1, 2)...),
		Restarts: append(restartPair(1, 0.4), restartPair(2, 0.45)...),
	}
	r.Options.Configs.Names = slices.Clone(Configs)
	r.Options.EnsureDefaults()
	dir := t.TempDir()
	if err := r.write(dir); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(r.Dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| put [clients1000] | 2.60 ", // the ratios table has the configurations' rows
		"| put ops/s, 64 KiB values | 2600 ops/s | 1000 ops/s | 2.600 (2.600–2.600) | ≥ 1.3× | ✓ |",
		"| " + restartTargetName + " | 850.00 ms | 2000.00 ms | 0.425 (0.400–0.450) | ≤ 0.5× | ✓ | the stop before it took 500.00 ms (kvd), 20.00 ms (etcd) |",
		"## Restarts", "| kvd | 2 | kvd-1 | 500 | 900 |", // stop ms, serve ms
		"- watchers: 10000 watchers on one prefix over 100 connections",
		"- values: put of 4096 B and 65536 B values, 60000 and 4096 puts per run",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	page, err := os.ReadFile(filepath.Join(r.Dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	svgs := regexp.MustCompile(`(?s)<svg.*?</svg>`).FindAll(page, -1)
	if len(svgs) != 5 { // throughput, p99, CPU, peak RSS of the main put; the configurations
		t.Fatalf("%d charts, want 5", len(svgs))
	}
	configs := string(svgs[4])
	if err := xml.Unmarshal(svgs[4], new(struct{})); err != nil {
		t.Fatalf("configurations chart is not well-formed XML: %v\n%s", err, configs)
	}
	if got := strings.Count(configs, "<rect"); got != len(configTargets)+1 {
		t.Errorf("configurations chart has %d bars, want %d", got, len(configTargets)+1)
	}
	if strings.Contains(string(svgs[0]), "[") {
		t.Errorf("the throughput chart has a configuration's row: %s", svgs[0])
	}
	var back VsReport
	js, err := os.ReadFile(filepath.Join(r.Dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &back); err != nil || len(back.Restarts) != 4 || back.Results[len(back.Results)-1].Config == "" ||
		!slices.Equal(back.Options.Configs.Names, Configs) {
		t.Fatalf("results.json: %v, %d restarts, %+v", err, len(back.Restarts), back.Options.Configs)
	}
}
