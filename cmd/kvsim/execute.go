package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kvdlabs/kvd/reports"
	"github.com/kvdlabs/kvd/sim"
)

// execute runs a job to its Result: once, or twice with the traces
// compared under --check-determinism; and writes the seed's report folder
// when it did not pass and the job names an output directory.
func execute(j job) reports.Result {
	if j.CheckDeterminism && j.TraceKeptMax == 0 {
		j.TraceKeptMax = traceKeptAll
	}
	first := runSeed(j)
	if j.CheckDeterminism {
		second := runSeed(j)
		if diff := compareRuns(first, second); diff != "" {
			first.result.Outcome = reports.Nondeterminism
			first.result.Detail = diff + "\n" + first.result.Detail
		}
	}
	if first.result.Failed() && j.OutDir != "" {
		dir, err := writeSeedReport(first, j.OutDir)
		if err != nil {
			first.result.Detail += fmt.Sprintf("\nwriting the seed's report: %v", err)
		}
		first.result.ReportDir = dir
	}
	return first.result
}

// compareRuns returns "" when two runs of one seed traced the same events,
// else names the first record that differs.
func compareRuns(a, b *run) string {
	if a.result.TraceHash == b.result.TraceHash && a.result.TraceRecords == b.result.TraceRecords {
		return ""
	}
	msg := fmt.Sprintf("nondeterminism: two runs of seed %d traced different events (hash %.12s, %d records vs %.12s, %d records)",
		a.job.Seed, a.result.TraceHash, a.result.TraceRecords, b.result.TraceHash, b.result.TraceRecords)
	if a.world == nil || b.world == nil {
		return msg + "; a run did not start"
	}
	ra, rb := a.world.TraceRecords(), b.world.TraceRecords()
	if uint64(len(ra)) < a.world.TraceCount() || uint64(len(rb)) < b.world.TraceCount() {
		msg += fmt.Sprintf("; only the newest %d records were kept, the first difference may be earlier", min(len(ra), len(rb)))
	}
	i := firstDifference(ra, rb)
	switch {
	case i < 0:
		return msg + "; the kept records are equal"
	case i >= len(ra):
		return msg + fmt.Sprintf("; first difference: the first run ends, the second goes on with %v", rb[i])
	case i >= len(rb):
		return msg + fmt.Sprintf("; first difference: the second run ends, the first goes on with %v", ra[i])
	}
	return msg + fmt.Sprintf("; first difference at record #%d:\n  run 1: %v\n  run 2: %v", ra[i].Seq, ra[i], rb[i])
}

// firstDifference returns the index of the first record that differs, or
// -1 when the two lists are equal.
func firstDifference(a, b []sim.TraceRecord) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// writeSeedReport writes the folder of a seed that did not pass.
func writeSeedReport(r *run, outDir string) (string, error) {
	sched, err := json.MarshalIndent(r.schedule, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encoding seed %d's schedule: %w", r.job.Seed, err)
	}
	hist, err := historyJSON(r.calls, r.epoch)
	if err != nil {
		return "", fmt.Errorf("seed %d: %w", r.job.Seed, err)
	}
	files := reports.SeedFiles{Result: r.result, Schedule: sched, History: hist}
	if r.world != nil {
		files.WriteTrace = r.world.WriteTrace
	}
	for _, v := range r.verdicts {
		if len(v.VisualizationHTML) > 0 {
			files.Visualizations = append(files.Visualizations, reports.Visualization{Checker: v.Checker, HTML: v.VisualizationHTML})
		}
	}
	return reports.WriteSeed(outDir, files)
}

// describe renders a result for the terminal: its line, and the detail of
// a failure indented beneath.
func describe(r reports.Result) string {
	s := r.String()
	if r.Failed() && r.Detail != "" {
		s += "\n    " + strings.ReplaceAll(strings.TrimSpace(r.Detail), "\n", "\n    ")
	}
	if r.ReportDir != "" {
		s += "\n    report: " + r.ReportDir
	}
	return s
}
