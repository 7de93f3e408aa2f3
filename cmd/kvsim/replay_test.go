package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kvdlabs/kvd/nemesis"
	"github.com/kvdlabs/kvd/reports"
	"github.com/kvdlabs/kvd/sim"
)

// failingStaleReadSeed is a seed of the stand-in workload under network
// faults that the stale-read variant makes fail (found by
// TestStaleReadVariantIsCaught's search; asserted again where used).
const failingStaleReadSeed = "3"

// TestReplayReproducesTheRecordedRun runs a failing campaign, then
// replays its seed folder: same trace hash, same outcome; a wrong hash is
// nondeterminism; a filter narrows the trace.
func TestReplayReproducesTheRecordedRun(t *testing.T) {
	out := t.TempDir()
	code, stdout, _ := runCLI(t, "run", "--out", out, "--seeds", failingStaleReadSeed, "--workload", "standin", "--nemesis", "network",
		"--unsafe", "stale-read", "--duration", "30s", "--clients", "3", "--ops-max", "1000", "--workers", "0")
	if code != exitCorrectness {
		t.Fatalf("campaign: exit %d\n%s", code, stdout)
	}
	s, err := reports.ReadSummary(out)
	if err != nil {
		t.Fatal(err)
	}
	rec := s.Results[0]

	replayOut := t.TempDir()
	code, stdout, _ = runCLI(t, "replay", "--record", rec.ReportDir, "--trace", "none", "--out", replayOut)
	if code != exitCorrectness || !strings.Contains(stdout, "trace hash matches the record: "+rec.TraceHash) {
		t.Fatalf("replay: exit %d\n%s", code, stdout)
	}
	back, err := reports.ReadResult(reports.SeedDir(replayOut, rec.Seed))
	if err != nil || back.TraceHash != rec.TraceHash || back.Detail != rec.Detail {
		t.Fatalf("replayed result differs: %+v, %v", back, err)
	}
	for _, v := range rec.Verdicts {
		if v.Outcome == "violation" {
			if _, err := os.Stat(filepath.Join(back.ReportDir, "porcupine-"+v.Checker+".html")); err != nil {
				t.Fatalf("replay did not write the view of %s: %v", v.Checker, err)
			}
		}
	}

	code, stdout, _ = runCLI(t, "replay", "--record", rec.ReportDir, "--trace", "none", "--hash", "00ff", "--out", t.TempDir())
	if code != exitNondeterminism || !strings.Contains(stdout, "NONDETERMINISM") {
		t.Fatalf("replay against a wrong hash: exit %d\n%s", code, stdout)
	}

	tracePath := filepath.Join(t.TempDir(), "trace.txt")
	code, _, _ = runCLI(t, "replay", "--record", rec.ReportDir, "--trace", tracePath, "--filter", "kind=fault.|member.,member=2,from=1s,to=25s", "--out", t.TempDir())
	if code != exitCorrectness {
		t.Fatalf("filtered replay: exit %d", code)
	}
	f, err := os.Open(tracePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := 0
	for sc := bufio.NewScanner(f); sc.Scan(); lines++ {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || !(strings.HasPrefix(fields[2], "fault.") || strings.HasPrefix(fields[2], "member.")) {
			t.Fatalf("filter let through %q", sc.Text())
		}
		if !strings.Contains(sc.Text(), "2") {
			t.Fatalf("filter member=2 let through %q", sc.Text())
		}
	}
	if lines == 0 {
		t.Fatal("the filtered trace is empty")
	}
}

func TestTraceFilter(t *testing.T) {
	f, err := parseFilter("member=2,kind=net.drop|fault,from=1s,to=2s")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		r    sim.TraceRecord
		want bool
	}{
		{sim.TraceRecord{AtElapsed: 1500 * time.Millisecond, Kind: "net.drop", Text: "m7 2->3 reason=loss"}, true},
		{sim.TraceRecord{AtElapsed: 1500 * time.Millisecond, Kind: "net.drop", Text: "m7 3->2 reason=loss"}, true},
		{sim.TraceRecord{AtElapsed: 1500 * time.Millisecond, Kind: "net.drop", Text: "m7 3->12 reason=loss"}, false},
		{sim.TraceRecord{AtElapsed: 1500 * time.Millisecond, Kind: "fault.start", Text: "pause targets=[1 2] params= until=3s"}, true},
		{sim.TraceRecord{AtElapsed: 1500 * time.Millisecond, Kind: "fault.start", Text: "pause targets=[1 3] params= until=3s"}, false},
		{sim.TraceRecord{AtElapsed: 1500 * time.Millisecond, Kind: "disk.write", Text: "member-2 wal size=3"}, false},
		{sim.TraceRecord{AtElapsed: 3 * time.Second, Kind: "net.drop", Text: "m7 2->3 reason=loss"}, false},
		{sim.TraceRecord{AtElapsed: 500 * time.Millisecond, Kind: "net.drop", Text: "m7 2->3 reason=loss"}, false},
	} {
		if got := f.match(c.r); got != c.want {
			t.Errorf("match(%v) = %v, want %v", c.r, got, c.want)
		}
	}
	if _, err := parseFilter("member=x,colour=red,from=soon"); err == nil || strings.Count(err.Error(), "\n") != 2 {
		t.Fatalf("want three problems reported at once, got %v", err)
	}
}

// TestShrinkKeepsTheFailure shrinks a seed of a known-unsafe variant: the
// result is smaller and, replayed, still fails the same way.
func TestShrinkKeepsTheFailure(t *testing.T) {
	cfg := testConfig("standin", "network")
	cfg.Unsafe = "stale-read"
	j := job{Seed: 3, Config: cfg}
	sh, err := shrink(j, 80, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("original: %s\nshrunk:   %s\n%d runs", sh.original, sh.shrunk, sh.runs)
	o, s := sh.original, sh.shrunk
	if s.faults > o.faults || s.duration > o.duration || s.opsMax > o.opsMax || s.faultFor > o.faultFor {
		t.Fatalf("shrinking grew something: %s → %s", o, s)
	}
	if s == o {
		t.Fatalf("nothing shrank: %s", o)
	}
	if sh.runs > 80 {
		t.Fatalf("%d runs, bound 80", sh.runs)
	}
	k := j
	k.Schedule = &sh.schedule
	k.Config = sh.config
	if r := runSeed(k).result; r.Outcome != sh.outcome {
		t.Fatalf("the shrunk run %s, the original %s", r.Outcome, sh.outcome)
	}

	// The command writes a schedule replay reads.
	path := filepath.Join(t.TempDir(), "shrunk.json")
	code, stdout, stderr := runCLI(t, "shrink", "--seed", failingStaleReadSeed, "--workload", "standin", "--nemesis", "network", "--unsafe", "stale-read",
		"--duration", "30s", "--clients", "3", "--ops-max", "1000", "--liveness-bound", "10s", "--check-timeout", "10s", "--runs-max", "80", "--out", path)
	if code != exitCorrectness {
		t.Fatalf("shrink: exit %d\n%s\n%s", code, stdout, stderr)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nemesis.ParseSchedule(data); err != nil {
		t.Fatal(err)
	}
	_, cmd, ok := strings.Cut(stdout, "replay:   kvsim ")
	if !ok {
		t.Fatalf("no replay command in:\n%s", stdout)
	}
	args := append(strings.Fields(strings.TrimSpace(cmd)), "--trace", "none", "--out", t.TempDir())
	if code, out, errOut := runCLI(t, args...); code != exitCorrectness {
		t.Fatalf("the printed replay command exits %d, want %d\n%s\n%s", code, exitCorrectness, out, errOut)
	}
}

func TestShrinkRefusesAPassingSeed(t *testing.T) {
	if _, err := shrink(job{Seed: 1, Config: testConfig("standin", "none")}, 10, time.Time{}); err == nil || !strings.Contains(err.Error(), "nothing to shrink") {
		t.Fatalf("shrinking a passing seed: %v", err)
	}
}

// Member options are part of a run's configuration: they change the run
// (another trace than the defaults' for the same seed), are recorded in
// its configuration, and a replay with them repeats it bit for bit.
func TestOptionsAreRecordedAndReplayed(t *testing.T) {
	run := func(options string) reports.Result {
		t.Helper()
		out := t.TempDir()
		code, stdout, stderr := runCLI(t, "run", "--out", out, "--seeds", "1", "--workload", "register", "--nemesis", "network",
			"--duration", "20s", "--options", options, "--workers", "0")
		if code != exitPass {
			t.Fatalf("run --options %q: exit %d\n%s\n%s", options, code, stdout, stderr)
		}
		s, err := reports.ReadSummary(out)
		if err != nil {
			t.Fatal(err)
		}
		return s.Results[0]
	}
	defaults := run("")
	changed := run(" read=lease, prevote=false")
	if changed.Config.Options != "prevote=false,read=lease" {
		t.Fatalf("recorded options %q, want the canonical prevote=false,read=lease", changed.Config.Options)
	}
	if changed.TraceHash == defaults.TraceHash {
		t.Fatal("the options did not change the run: same trace hash as the defaults")
	}
	code, stdout, _ := runCLI(t, "replay", "--seed", "1", "--workload", "register", "--nemesis", "network", "--duration", "20s",
		"--options", changed.Config.Options, "--hash", changed.TraceHash, "--trace", "none", "--out", t.TempDir())
	if code != exitPass || !strings.Contains(stdout, "trace hash matches the record: "+changed.TraceHash) {
		t.Fatalf("replay of a run with options: exit %d\n%s", code, stdout)
	}
}

// The share of fault time with a call in flight: faults and calls are
// each a union of intervals (overlaps count once); an instantaneous fault
// has no time.
func TestFaultTimeActive(t *testing.T) {
	epoch := time.Unix(100, 0)
	at := func(d time.Duration) time.Time { return epoch.Add(d) }
	s := time.Second
	faults := []reports.FaultWindow{
		{Kind: "pause", From: reports.Duration(0), To: reports.Duration(4 * s)},
		{Kind: "partition-halves", From: reports.Duration(2 * s), To: reports.Duration(6 * s)}, // union [0, 6)
		{Kind: "clock-jump", From: reports.Duration(8 * s), To: reports.Duration(8 * s)},       // instantaneous
		{Kind: "crash-restart", From: reports.Duration(10 * s), To: reports.Duration(12 * s)},  // [10, 12): 8 s in all
	}
	calls := []sim.Call{
		{Invoke: at(1 * s), Return: at(3 * s)},
		{Invoke: at(2 * s), Return: at(5 * s)},   // with the first: [1, 5) → 4 s
		{Invoke: at(7 * s), Return: at(11 * s)},  // [10, 11) → 1 s
		{Invoke: at(20 * s), Return: at(21 * s)}, // outside every fault
	}
	got := faultTimeActive(calls, faults, epoch)
	if got == nil || *got != 5.0/8 {
		t.Fatalf("share %v, want 5/8", got)
	}
	if got := faultTimeActive(calls, faults[2:3], epoch); got != nil {
		t.Fatalf("only an instantaneous fault: share %v, want none", *got)
	}
}
