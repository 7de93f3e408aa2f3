package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvdlabs/kvd/reports"
)

// compare runs kvsim compare in this process and returns its exit status
// and comparison.
func compare(t *testing.T, args ...string) (int, reports.Comparison) {
	t.Helper()
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, append([]string{"compare", "--workers", "0", "--out", out}, args...)...)
	data, err := os.ReadFile(filepath.Join(out, reports.CompareFile))
	if err != nil {
		t.Fatalf("kvsim compare %v: exit %d, no comparison: %v\n%s\n%s", args, code, err, stdout, stderr)
	}
	var c reports.Comparison
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	for _, side := range []string{reports.CompareDirA, reports.CompareDirB} {
		if _, err := os.Stat(filepath.Join(out, side, reports.IndexFile)); err != nil {
			t.Errorf("no campaign report for side %s: %v", side, err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, reports.ComparePageFile)); err != nil {
		t.Errorf("no comparison page: %v", err)
	}
	return code, c
}

func metricOf(t *testing.T, c reports.Comparison, name string) reports.MetricDiff {
	t.Helper()
	for _, m := range c.Metrics {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no metric %s in %+v", name, c.Metrics)
	return reports.MetricDiff{}
}

// Four comparisons whose answer is known, each on a fault schedule made
// for it (testdata) and given to every seed.
func TestCompareKnownAnswers(t *testing.T) {
	// Without PreVote a follower cut off campaigns with rising terms and,
	// when the partition heals, deposes the leader it returns to.
	t.Run("prevote", func(t *testing.T) {
		code, c := compare(t, "--a", "", "--b", "prevote=false", "--seeds", "1-12", "--workload", "register", "--ops-max", "2000",
			"--schedule", "testdata/compare-prevote.json", "--fail-on", "leader-changes>+50%")
		lc := metricOf(t, c, "leader-changes")
		if !lc.Significant || lc.MeanB <= lc.MeanA {
			t.Errorf("leader changes without PreVote: %+v, want significantly more", lc)
		}
		if terms := metricOf(t, c, "terms"); !terms.Significant || terms.MeanB <= terms.MeanA {
			t.Errorf("terms without PreVote: %+v, want significantly more", terms)
		}
		if code != exitRegression {
			t.Errorf("exit %d, want %d: leader-changes rose beyond --fail-on", code, exitRegression)
		}
	})
	// Without CheckQuorum a leader cut off from the others leads on alone
	// until the heal, beside the leader the others elected.
	t.Run("checkquorum", func(t *testing.T) {
		code, c := compare(t, "--a", "", "--b", "checkquorum=false", "--seeds", "1-12", "--workload", "register", "--ops-max", "2000",
			"--schedule", "testdata/compare-checkquorum.json")
		ov := metricOf(t, c, "leaders-overlap")
		if !ov.Significant || ov.MeanB < 3*ov.MeanA || ov.MeanB < 2 {
			t.Errorf("leaders overlap without CheckQuorum: %+v, want significantly longer (seconds)", ov)
		}
		if code != exitPass {
			t.Errorf("exit %d, want %d: no threshold, no correctness failure", code, exitPass)
		}
	})
	// A leader stopped gracefully hands its leadership off first: the
	// others are without a leader for a round trip, not for the election
	// timeout a leader that keeps its leadership to the end leaves them.
	t.Run("stop-handoff", func(t *testing.T) {
		code, c := compare(t, "--a", "", "--b", "stop-handoff=false", "--seeds", "1-12", "--workload", "register", "--ops-max", "2000",
			"--schedule", "testdata/compare-stop-handoff.json", "--fail-on", "unavailable>+50%")
		un := metricOf(t, c, "unavailable")
		if !un.Significant || un.MeanB < 3*un.MeanA || un.MeanB < 1 {
			t.Errorf("time without a leader without the handoff: %+v, want significantly longer (seconds)", un)
		}
		if code != exitRegression {
			t.Errorf("exit %d, want %d: unavailable rose beyond --fail-on", code, exitRegression)
		}
	})
	// Lease-based ReadIndex on a leader whose clock runs slow: cut off, it
	// answers reads from a lease that outlived its leadership. ReadIndex
	// confirmed by a quorum does not.
	t.Run("read-lease", func(t *testing.T) {
		code, c := compare(t, "--a", "read=safe", "--b", "read=lease", "--seeds", "1-8", "--workload", "register",
			"--clients", "10", "--ops-max", "6000", "--schedule", "testdata/compare-lease-read.json")
		if c.A.Counts[reports.Correctness] != 0 || c.B.Counts[reports.Correctness] == 0 {
			t.Fatalf("correctness failures A %d, B %d: want none on A and some on B", c.A.Counts[reports.Correctness], c.B.Counts[reports.Correctness])
		}
		if code != exitCorrectness {
			t.Errorf("exit %d, want %d: B has correctness failures A does not", code, exitCorrectness)
		}
		d := c.Diffs[0]
		if d.A != reports.Pass || d.B != reports.Correctness || !strings.Contains(d.ReplayB, "kvsim replay --record ") {
			t.Errorf("first differing seed %+v: want pass on A, correctness on B, with B's replay command", d)
		}
		code, stdout, _ := runCLI(t, append(strings.Fields(d.ReplayB)[1:], "--trace", "none", "--out", t.TempDir())...)
		if code != exitCorrectness || !strings.Contains(stdout, "trace hash matches the record") {
			t.Errorf("%s: exit %d\n%s", d.ReplayB, code, stdout)
		}
	})
}

func TestCompareRefusesBadFlags(t *testing.T) {
	code, _, stderr := runCLI(t, "compare", "--a", "prevote=false", "--b", " prevote = false", "--fail-on", "p99>10,bogus>+5%,throughput<+3%", "--alpha", "2")
	if code != exitHarness {
		t.Fatalf("exit %d, want %d", code, exitHarness)
	}
	for _, want := range []string{"name the same options", `"p99>10"`, `unknown metric "bogus"`, `"throughput<+3%"`, "--alpha 2"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %s:\n%s", want, stderr)
		}
	}
}

// A side can run on kvsim built from another commit, in worker processes
// of that build: here the checked-out commit against the code under test,
// the same code on a clean checkout (as CI's), so every seed traces the
// same events on both.
func TestCompareRevision(t *testing.T) {
	useTestWorkers(t)
	head, err := gitOutput("", "rev-parse", "HEAD")
	if err != nil {
		t.Fatalf("this test runs in a git checkout of the repository: %v", err)
	}
	code, c := compare(t, "--a-rev", "HEAD", "--workers", "1", "--seeds", "1-3", "--workload", "register", "--nemesis", "network", "--duration", "20s")
	if code != exitPass || c.Paired != 3 || !strings.Contains(c.A.Name, head[:12]) {
		t.Fatalf("exit %d, %d seeds paired, side A %q: want exit 0, 3 seeds, A naming commit %.12s", code, c.Paired, c.A.Name, head)
	}
	if dirty, err := gitOutput("", "status", "--porcelain", "--untracked-files=no"); err == nil && dirty == "" && c.SameTrace != c.Paired {
		t.Errorf("HEAD against its own clean checkout: %d of %d seeds traced the same events", c.SameTrace, c.Paired)
	}
	if wt, err := gitOutput("", "worktree", "list", "--porcelain"); err != nil || strings.Contains(wt, "kvsim-rev-") {
		t.Errorf("the revision's worktree was not removed: %q, %v", wt, err)
	}
}
