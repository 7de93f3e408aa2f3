package main

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kvdlabs/kvd/linearizability"
	"github.com/kvdlabs/kvd/nemesis"
	"github.com/kvdlabs/kvd/reports"
	"github.com/kvdlabs/kvd/sim"
)

// TestDeterminismInProcessAndInWorkers runs seeds with faults in this
// process and in worker processes: every path gives the same trace hash.
func TestDeterminismInProcessAndInWorkers(t *testing.T) {
	useTestWorkers(t)
	var jobs []job
	want := map[uint64]string{}
	for seed := uint64(1); seed <= 4; seed++ {
		j := job{Seed: seed, Config: testConfig("standin", "all")}
		jobs = append(jobs, j)
		r := execute(j)
		if r.Outcome == reports.Crash {
			t.Fatalf("seed %d crashed: %s\n%s", seed, r.Detail, r.Stack)
		}
		want[seed] = r.TraceHash
	}
	if want[1] == want[2] {
		t.Fatalf("seeds 1 and 2 traced the same run %s", want[1])
	}
	got := map[uint64]string{}
	if err := runJobs(jobs, 2, time.Minute, func(r reports.Result) { got[r.Seed] = r.TraceHash }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("worker processes traced %v, this process %v", got, want)
	}
	j := jobs[0]
	j.CheckDeterminism = true
	if r := execute(j); r.Outcome != reports.Pass || r.TraceHash != want[1] {
		t.Fatalf("--check-determinism of seed 1: %s (%s), hash %s want %s", r.Outcome, r.Detail, r.TraceHash, want[1])
	}
}

// TestCompareRunsNamesTheFirstDifference feeds the determinism check two
// runs that differ (two seeds passed off as one): it must say so and name a
// record.
func TestCompareRunsNamesTheFirstDifference(t *testing.T) {
	j := job{Seed: 1, Config: testConfig("standin", "none"), TraceKeptMax: traceKeptAll}
	a := runSeed(j)
	if diff := compareRuns(a, runSeed(j)); diff != "" {
		t.Fatalf("one seed twice: %s", diff)
	}
	j.Seed = 2
	b := runSeed(j)
	b.job.Seed = 1
	diff := compareRuns(a, b)
	if !regexp.MustCompile(`first difference at record #\d+:\n  run 1: .+\n  run 2: .+`).MatchString(diff) {
		t.Fatalf("difference not named: %q", diff)
	}
}

func TestFirstDifference(t *testing.T) {
	rec := func(kind string) simRecord { return simRecord{Kind: kind} }
	for _, c := range []struct {
		a, b []simRecord
		want int
	}{
		{nil, nil, -1},
		{[]simRecord{rec("x")}, []simRecord{rec("x")}, -1},
		{[]simRecord{rec("x")}, []simRecord{rec("y")}, 0},
		{[]simRecord{rec("x"), rec("y")}, []simRecord{rec("x")}, 1},
		{[]simRecord{rec("x")}, []simRecord{rec("x"), rec("z")}, 1},
	} {
		if got := firstDifference(c.a, c.b); got != c.want {
			t.Errorf("firstDifference(%v, %v) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestCampaignExitCodes(t *testing.T) {
	useTestWorkers(t)
	short := []string{"--duration", "30s", "--clients", "3", "--ops-max", "1000"}
	cases := []struct {
		name     string
		args     []string
		code     int
		outcome  reports.Outcome
		failures int
	}{
		{"pass", []string{"--seeds", "1-3", "--workload", "standin", "--nemesis", "none", "--workers", "0"}, exitPass, reports.Pass, 0},
		{"correctness", []string{"--seeds", failingStaleReadSeed, "--workload", "standin", "--nemesis", "network", "--unsafe", "stale-read", "--workers", "0"}, exitCorrectness, reports.Correctness, 1},
		{"crash in process", []string{"--seeds", "1-2", "--workload", "panicky", "--nemesis", "none", "--workers", "0"}, exitCrash, reports.Crash, 2},
		{"worker dies", []string{"--seeds", "1-3", "--workload", "exiting", "--nemesis", "none", "--workers", "2"}, exitCrash, reports.Crash, 3},
		{"determinism checked", []string{"--seeds", "1-2", "--workload", "standin", "--nemesis", "all", "--workers", "2", "--check-determinism"}, exitPass, reports.Pass, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			code, stdout, stderr := runCLI(t, append(append([]string{"run", "--out", out}, short...), c.args...)...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, stdout, stderr)
			}
			s, err := reports.ReadSummary(out)
			if err != nil {
				t.Fatal(err)
			}
			if s.Outcome != c.outcome || s.ExitCode != c.code || len(s.Failed()) != c.failures {
				t.Fatalf("summary: outcome %s exit %d failures %d, want %s %d %d", s.Outcome, s.ExitCode, len(s.Failed()), c.outcome, c.code, c.failures)
			}
			for _, r := range s.Results {
				if !strings.Contains(stdout, "seed "+itoa(r.Seed)+" ") || !strings.Contains(stdout, "swarm: ") {
					t.Fatalf("seed %d's line (with its swarm parameters) is missing from:\n%s", r.Seed, stdout)
				}
				if r.Outcome == reports.Crash && r.Stack == "" {
					t.Fatalf("seed %d crashed without a stack: %s", r.Seed, r.Detail)
				}
				if c.name == "worker dies" && !strings.Contains(r.Stack, "deliberate exit") {
					t.Fatalf("seed %d: the dead worker's stderr is not kept: %q", r.Seed, r.Stack)
				}
				if r.Failed() {
					checkSeedFolder(t, r, c.name != "worker dies")
				}
			}
			checkIndex(t, out, s)
			if !strings.Contains(stdout, "report: "+filepath.Join(out, reports.IndexFile)) {
				t.Fatalf("the report's path is not printed:\n%s", stdout)
			}
		})
	}
}

func itoa(u uint64) string { return strconv.FormatUint(u, 10) }

type simRecord = sim.TraceRecord

type verdictOutcome struct{ checker, outcome string }

func toVerdicts(vs []verdictOutcome) []linearizability.Verdict {
	out := make([]linearizability.Verdict, len(vs))
	for i, v := range vs {
		out[i] = linearizability.Verdict{Checker: v.checker, Outcome: linearizability.Outcome(v.outcome), Detail: "because"}
	}
	return out
}

// checkSeedFolder asserts a failing seed's folder holds every file, each
// readable.
func checkSeedFolder(t *testing.T, r reports.Result, ran bool) {
	t.Helper()
	if r.ReportDir == "" {
		t.Fatalf("seed %d failed without a report folder", r.Seed)
	}
	back, err := reports.ReadResult(r.ReportDir)
	if err != nil || back.Seed != r.Seed || back.Outcome != r.Outcome || back.TraceHash != r.TraceHash {
		t.Fatalf("result.json of seed %d: %+v, %v", r.Seed, back, err)
	}
	if data, err := os.ReadFile(filepath.Join(r.ReportDir, reports.ScheduleFile)); err != nil {
		t.Fatal(err)
	} else if _, err := nemesis.ParseSchedule(data); err != nil {
		t.Fatalf("schedule.json of seed %d: %v", r.Seed, err)
	}
	if !ran {
		return // the process died: no history or trace survived it
	}
	var hist []map[string]any
	if data, err := os.ReadFile(filepath.Join(r.ReportDir, reports.HistoryFile)); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(data, &hist); err != nil {
		t.Fatalf("history.json of seed %d: %v", r.Seed, err)
	}
	if trace, err := os.ReadFile(filepath.Join(r.ReportDir, reports.TraceFile)); err != nil || len(trace) == 0 {
		t.Fatalf("trace.txt of seed %d: %d bytes, %v", r.Seed, len(trace), err)
	}
}

// checkIndex asserts index.html names every seed, draws well-formed SVG,
// and fetches nothing.
func checkIndex(t *testing.T, dir string, s reports.Summary) {
	t.Helper()
	page, err := os.ReadFile(filepath.Join(dir, reports.IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, bad := range []string{"<script", "src=\"http", "href=\"http", "@import"} {
		if strings.Contains(html, bad) {
			t.Fatalf("index.html is not self-contained: has %q", bad)
		}
	}
	svgs := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(html, -1)
	if len(svgs) < len(s.Results) {
		t.Fatalf("%d timelines for %d seeds", len(svgs), len(s.Results))
	}
	for _, svg := range svgs {
		d := xml.NewDecoder(strings.NewReader(svg))
		for {
			if _, err := d.Token(); err != nil {
				if err.Error() == "EOF" {
					break
				}
				t.Fatalf("timeline SVG is not well-formed: %v", err)
			}
		}
	}
}

func TestHarnessErrorsReportEveryProblem(t *testing.T) {
	code, _, stderr := runCLI(t, "run", "--nodes", "0", "--workload", "nope", "--seeds", "9-1", "--duration", "1s")
	if code != exitHarness {
		t.Fatalf("exit %d, want %d", code, exitHarness)
	}
	for _, want := range []string{"--nodes 0", `--workload "nope"`, "runs backwards", "--duration 1s"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not mention %q:\n%s", want, stderr)
		}
	}
	if code, _, _ := runCLI(t, "frobnicate"); code != exitHarness {
		t.Fatalf("unknown command: exit %d", code)
	}
	if code, out, _ := runCLI(t, "help"); code != exitPass || !strings.Contains(out, "6  nondeterminism") {
		t.Fatalf("help: exit %d, exit codes not documented:\n%s", code, out)
	}
}

// TestLivenessFailureAfterHeal crashes a majority until the settle period
// and allows 50ms to recover: no election fits, so the seed fails liveness.
func TestLivenessFailureAfterHeal(t *testing.T) {
	sched := nemesis.Schedule{
		Nodes: []uint64{1, 2, 3}, Duration: 30 * time.Second,
		Faults: []nemesis.Fault{{At: 15 * time.Second, Kind: nemesis.CrashRestart, Targets: []uint64{1, 2}, Until: 20 * time.Second}},
	}
	path := filepath.Join(t.TempDir(), "schedule.json")
	data, err := json.Marshal(sched)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "replay", "--seed", "1", "--workload", "standin", "--nodes", "3", "--schedule", path,
		"--liveness-bound", "50ms", "--trace", "none", "--out", t.TempDir())
	if code != exitLiveness || !strings.Contains(stdout, "no leader within 50ms") {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, exitLiveness, stdout, stderr)
	}
}

func TestJudge(t *testing.T) {
	v := func(o string) []verdictOutcome { return []verdictOutcome{{"a", o}} }
	for _, c := range []struct {
		verdicts   []verdictOutcome
		divergence string
		liveness   []string
		want       reports.Outcome
	}{
		{v("ok"), "", nil, reports.Pass},
		{v("unknown"), "", nil, reports.Unknown},
		{v("unknown"), "", []string{"no leader"}, reports.Liveness},
		{v("violation"), "", []string{"no leader"}, reports.Correctness},
		{v("ok"), "diverged", nil, reports.Correctness},
	} {
		r := &run{verdicts: toVerdicts(c.verdicts)}
		r.judge(c.divergence, c.liveness)
		if r.result.Outcome != c.want {
			t.Errorf("judge(%v, %q, %v) = %s, want %s", c.verdicts, c.divergence, c.liveness, r.result.Outcome, c.want)
		}
		if c.want != reports.Pass && r.result.Detail == "" {
			t.Errorf("judge(%v): %s without a detail", c.verdicts, c.want)
		}
	}
}
