package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvdlabs/kvd/core/bugs"
	"github.com/kvdlabs/kvd/reports"
)

// kvsim mutation on two bugs, from a kvdbugs build as make mutation runs
// it: one the default campaign catches at once and shrinks to a schedule
// that replays bit-exact, and one no checker can hold the store to — a new
// leader that drops the leases' election-time extension makes leases
// expire sooner in failovers, yet never before their clients' deadline —
// so the campaign misses it (a miss the table must show, not hide).
func TestMutationMeasuresPlantedBugs(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "kvsim-bugs")
	build := exec.Command("go", "build", "-tags", "kvdbugs", "-o", bin, "./cmd/kvsim")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building kvsim with kvdbugs: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "mutation")
	cmd := exec.Command(bin, "mutation", "--bugs", bugs.MVCCRangeLimitOffByOne+","+bugs.LeasePromoteKeepsDeadline,
		"--workers", "2", "--wall-max", "8s", "--shrink-wall", "20s", "--score-min", "0.9", "--out", out)
	stdout, err := cmd.CombinedOutput()
	// Half the bugs caught is below --score-min: exit 1, report written.
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitCorrectness {
		t.Fatalf("kvsim mutation: %v, want exit %d\n%s", err, exitCorrectness, stdout)
	}
	m, err := reports.ReadMutation(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if len(m.Rows) != 2 || m.Score != 0.5 {
		t.Fatalf("score %v over %d rows, want 0.5 over 2\n%s", m.Score, len(m.Rows), stdout)
	}
	caught, missed := m.Rows[0], m.Rows[1]
	if !caught.UnitCaught || caught.UnitFailure == "" {
		t.Errorf("%s: %+v, want caught by a named unit test", caught.Bug, caught)
	}
	if !caught.CampaignCaught || caught.Outcome != reports.Correctness || caught.FirstSeed == 0 || caught.SeedsRun == 0 {
		t.Errorf("%s: %+v, want a correctness failure of the campaign", caught.Bug, caught)
	}
	if caught.ShrinkError != "" || caught.FaultsAfter > caught.FaultsBefore || !caught.ReplaysExact || !strings.Contains(caught.ReplayCommand, "--bug "+caught.Bug) {
		t.Errorf("%s: shrink %+v: want a shrunk schedule that replays exact, with its command", caught.Bug, caught)
	}
	if missed.CampaignCaught || missed.SeedsRun == 0 {
		t.Errorf("%s: %+v, want missed by the campaign after some seeds", missed.Bug, missed)
	}
	if !strings.Contains(string(stdout), "mutation score: the default campaign caught 1 of 2") {
		t.Errorf("no score line:\n%s", stdout)
	}
}

// A kvsim without the tag refuses to switch a bug on, and says how to get
// one that can.
func TestBugNeedsTheTag(t *testing.T) {
	if bugs.Planted {
		t.Skip("this test binary has the planted bugs")
	}
	code, _, stderr := runCLI(t, "run", "--seeds", "1", "--workers", "0", "--bug", bugs.MVCCRangeLimitOffByOne, "--out", t.TempDir())
	if code != exitHarness || !strings.Contains(stderr, "kvdbugs") {
		t.Fatalf("exit %d, stderr %q: want a harness error naming the kvdbugs tag", code, stderr)
	}
	code, _, stderr = runCLI(t, "mutation", "--out", t.TempDir())
	if code != exitHarness || !strings.Contains(stderr, "kvdbugs") {
		t.Fatalf("mutation: exit %d, stderr %q", code, stderr)
	}
}
