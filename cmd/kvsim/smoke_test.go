package main

import (
	"testing"

	"github.com/kvdlabs/kvd/reports"
)

// TestSmokeCampaign runs the real workloads under mixed faults in worker
// processes, every seed twice: each seed must replay bit for bit and none
// may crash. Checker findings are the checked packages' business (make
// sim reports them); they are logged here, not judged.
func TestSmokeCampaign(t *testing.T) {
	useTestWorkers(t)
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", "--seeds", "1-12", "--duration", "30s", "--check-determinism", "--workers", "2", "--out", out)
	s, err := reports.ReadSummary(out)
	if err != nil {
		t.Fatalf("exit %d, no summary: %v\n%s\n%s", code, err, stdout, stderr)
	}
	if len(s.Results) != 12 || code == exitHarness {
		t.Fatalf("exit %d with %d of 12 results\n%s", code, len(s.Results), stderr)
	}
	workloads := map[string]bool{}
	for _, r := range s.Results {
		workloads[r.Config.Workload] = true
		switch r.Outcome {
		case reports.Nondeterminism, reports.Crash:
			t.Errorf("seed %d: %s: %s\n%s", r.Seed, r.Outcome, r.Detail, r.Stack)
		case reports.Pass:
		default:
			t.Logf("finding: %s", firstLine(describe(r)))
		}
	}
	if len(workloads) != len(mixedWorkloads) {
		t.Fatalf("the mixed campaign ran workloads %v", workloads)
	}
}
