package reports_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kvdlabs/kvd/reports"
)

// A campaign hands every seed's Result to a Summary and writes the run's
// directory: summary.json for machines, index.html for people.
func Example() {
	results := []reports.Result{
		{Seed: 1, Outcome: reports.Pass, Virtual: reports.Duration(time.Minute)},
		{Seed: 2, Outcome: reports.Correctness, Detail: "kv-linearizable: not linearizable", Virtual: reports.Duration(time.Minute),
			Faults: []reports.FaultWindow{{Kind: "partition-halves", Targets: []uint64{1}, From: reports.Duration(5 * time.Second), To: reports.Duration(9 * time.Second)}}},
	}
	var s reports.Summary
	s.Summarize(results, 30*time.Second)

	dir, err := os.MkdirTemp("", "kvsim-report")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	if err := reports.WriteRun(dir, s); err != nil {
		panic(err)
	}
	back, err := reports.ReadSummary(dir)
	if err != nil {
		panic(err)
	}
	_, err = os.Stat(filepath.Join(dir, reports.IndexFile))
	fmt.Println("outcome:", back.Outcome, "passed:", back.Counts[reports.Pass], "failed:", len(back.Failed()), "index.html written:", err == nil)
	fmt.Println(back.Failed()[0].Faults[0].Kind, back.Failed()[0].Faults[0].From, "to", back.Failed()[0].Faults[0].To)
	// Output:
	// outcome: correctness passed: 1 failed: 1 index.html written: true
	// partition-halves 5s to 9s
}
