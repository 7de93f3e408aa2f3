package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kvdlabs/kvd/nemesis"
	"github.com/kvdlabs/kvd/reports"
)

// shrinkMain is "kvsim shrink".
func shrinkMain(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("shrink", stderr)
	var src seedSource
	src.register(fs)
	runsMax := fs.Int("runs-max", 200, "bound on the re-runs spent shrinking")
	out := fs.String("out", "", "where to write the shrunk schedule (default kvsim-shrunk-<seed>.json)")
	if err := parseFlags(fs, args); err != nil {
		return 0, err
	}
	if *runsMax < 1 || *runsMax > 100_000 {
		return 0, fmt.Errorf("--runs-max %d: must be in [1, 100000]", *runsMax)
	}
	j, _, err := src.job(fs)
	if err != nil {
		return 0, err
	}
	sh, err := shrink(j, *runsMax, time.Time{})
	if err != nil {
		return 0, err
	}
	path := *out
	if path == "" {
		path = fmt.Sprintf("kvsim-shrunk-%d.json", j.Seed)
	}
	if err := writeSchedule(path, sh.schedule); err != nil {
		return 0, err
	}
	fmt.Fprintf(stdout, "seed %d fails with %s: %s\n", j.Seed, sh.outcome, firstLine(sh.detail))
	fmt.Fprintf(stdout, "original: %s\nshrunk:   %s\n(%d re-runs)\n", sh.original, sh.shrunk, sh.runs)
	fmt.Fprintf(stdout, "wrote %s\nreplay:   %s\n", path, replayCommand(j.Seed, sh.config, path))
	return exitCode(sh.outcome), nil
}

// shrunk is what shrinking found.
type shrunk struct {
	outcome          reports.Outcome
	detail           string
	schedule         nemesis.Schedule
	config           reports.Config
	original, shrunk size
	runs             int
}

// size is what shrinking makes smaller.
type size struct {
	faults   int
	faultFor time.Duration // total of every fault's window
	duration time.Duration
	opsMax   int
}

func (s size) String() string {
	return fmt.Sprintf("%d faults (%v of fault windows), duration %v, ops-max %d", s.faults, s.faultFor, s.duration, s.opsMax)
}

func sizeOf(s nemesis.Schedule, opsMax int) size {
	z := size{faults: len(s.Faults), duration: s.Duration, opsMax: opsMax}
	for _, f := range s.Faults {
		z.faultFor += f.Window()
	}
	return z
}

// shrink re-runs j's seed with ever smaller schedules, then fewer
// operations, keeping each change that still fails the same way. Past
// deadline (zero: none) it tries nothing more and keeps what it has.
func shrink(j job, runsMax int, deadline time.Time) (shrunk, error) {
	first := runSeed(j)
	if !first.result.Failed() {
		return shrunk{}, fmt.Errorf("seed %d passes (trace %.12s): nothing to shrink", j.Seed, first.result.TraceHash)
	}
	want := first.result.Outcome
	sh := shrunk{outcome: want, detail: first.result.Detail, config: j.Config}
	sh.original = sizeOf(first.schedule, j.Config.OpsMax)
	runs := 0
	fails := func(s nemesis.Schedule, opsMax int) bool {
		if !deadline.IsZero() && time.Now().After(deadline) {
			return false
		}
		runs++
		k := j
		k.Schedule = &s
		k.Config.Duration = reports.Duration(s.Duration)
		k.Config.OpsMax = opsMax
		return runSeed(k).result.Outcome == want
	}
	// Operations first, by bisection between a count known to pass (or 0)
	// and one known to fail: a seed with fewer operations re-runs faster,
	// which leaves the schedule more runs within a wall-time budget. Then
	// faults, windows and duration, most of the budget; then operations
	// again, since the smaller schedule may fail with fewer.
	failing := j.Config.OpsMax
	bisectOps := func(s nemesis.Schedule, runsCap int) {
		passing := 0
		for failing-passing > 1 && runs < runsCap && (deadline.IsZero() || time.Now().Before(deadline)) {
			mid := passing + (failing-passing)/2
			if fails(s, mid) {
				failing = mid
			} else {
				passing = mid
			}
		}
	}
	bisectOps(first.schedule, max(runsMax/8, 1))
	sched := nemesis.Minimize(first.schedule, func(s nemesis.Schedule) bool { return fails(s, failing) }, max(runsMax*3/4, 1))
	bisectOps(sched, runsMax)
	sh.schedule = sched
	sh.config.OpsMax = failing
	sh.config.Duration = reports.Duration(sched.Duration)
	sh.config.Nemesis = "file"
	sh.shrunk = sizeOf(sched, failing)
	sh.runs = runs
	return sh, nil
}

// replayCommand is the command line that replays a shrunk run.
func replayCommand(seed uint64, c reports.Config, schedule string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "kvsim replay --seed %d --workload %s --nodes %d --clients %d --ops-max %d --liveness-bound %v --check-timeout %v",
		seed, c.Workload, c.Nodes, c.Clients, c.OpsMax, c.LivenessBound, c.CheckTimeout)
	if c.Unsafe != "" {
		fmt.Fprintf(&b, " --unsafe %s", c.Unsafe)
	}
	if c.Bug != "" {
		fmt.Fprintf(&b, " --bug %s", c.Bug)
	}
	if c.Options != "" {
		fmt.Fprintf(&b, " --options '%s'", c.Options)
	}
	if c.BeyondBudget {
		b.WriteString(" --beyond-budget")
	}
	fmt.Fprintf(&b, " --schedule %s", schedule)
	return b.String()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// writeSchedule writes a (shrunk) schedule as the JSON replay --schedule
// reads.
func writeSchedule(path string, s nemesis.Schedule) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the shrunk schedule: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the shrunk schedule: %w", err)
	}
	return nil
}
