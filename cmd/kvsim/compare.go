package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kvdlabs/kvd/reports"
)

// exitRegression is compare's status when B is worse than A beyond a
// --fail-on threshold (a correctness failure only B has exits
// exitCorrectness).
const exitRegression = 7

// compareAlphaDefault is the significance level of compare's tests.
const compareAlphaDefault = 0.05

// threshold is one --fail-on rule: metric worse on B by more than pct.
type threshold struct {
	metric string
	pct    float64
}

// parseFailOn reads "p99>+10%,unavailable>+20%,throughput<-5%": a metric,
// then > with a rise or < with a fall, in percent of A's mean. Every
// problem is reported at once.
func parseFailOn(s string) ([]threshold, error) {
	var out []threshold
	var errs []error
	known := reports.CompareMetricNames()
	for field := range strings.SplitSeq(s, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		i := strings.IndexAny(field, "<>")
		if i < 0 {
			errs = append(errs, fmt.Errorf("--fail-on %q: want METRIC>+N%% or METRIC<-N%%", field))
			continue
		}
		name, op, num := strings.TrimSpace(field[:i]), field[i], strings.TrimSpace(field[i+1:])
		if !strings.HasSuffix(num, "%") {
			errs = append(errs, fmt.Errorf("--fail-on %q: the change must be in percent, e.g. %c%s10%%", field, op, map[byte]string{'>': "+", '<': "-"}[op]))
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(num, "%"), 64)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("--fail-on %q: %q is not a number", field, num))
			continue
		case op == '>' && pct < 0, op == '<' && pct > 0:
			errs = append(errs, fmt.Errorf("--fail-on %q: > takes a rise (+N%%), < a fall (-N%%)", field))
			continue
		}
		if !isCompareMetric(name, known) {
			errs = append(errs, fmt.Errorf("--fail-on %q: unknown metric %q (known: %s, %sKIND, %sKIND, p50|p99|throughput@WORKLOAD)", field, name, strings.Join(known, ", "), reports.LeaderChangesByFaultPrefix, reports.TermsByFaultPrefix))
			continue
		}
		out = append(out, threshold{metric: name, pct: max(pct, -pct)})
	}
	return out, errors.Join(errs...)
}

// isCompareMetric accepts a metric's name, and the per-fault-kind
// (leader-changes@KIND) and per-workload (p50|p99|throughput@WORKLOAD)
// ones a comparison reports when its seeds have them.
func isCompareMetric(name string, known []string) bool {
	base, sub, per := strings.Cut(name, "@")
	switch {
	case !per:
		return slices.Contains(known, name)
	case sub == "":
		return false
	}
	return base+"@" == reports.LeaderChangesByFaultPrefix || base+"@" == reports.TermsByFaultPrefix || base == "p50" || base == "p99" || base == "throughput"
}

// compareMain is "kvsim compare": the same seeds, workloads and fault
// schedules under two variants of the members' options, and what
// differs.
func compareMain(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("compare", stderr)
	var cf configFlags
	cf.register(fs, mixedWorkload, mixedNemesis, durationDefault)
	aFlag := fs.String("a", "", "variant A: member options, name=value,... ('' for the defaults)")
	bFlag := fs.String("b", "", "variant B: member options, name=value,... ('' for the defaults)")
	aRev := fs.String("a-rev", "", "run A on kvsim built from this git revision (e.g. main~5) in a temporary worktree")
	bRev := fs.String("b-rev", "", "run B on kvsim built from this git revision")
	seedsFlag := fs.String("seeds", "1-50", "seeds to run on both: 1-500, 7, or 1,5,9-12")
	workers := fs.Int("workers", runtime.NumCPU(), "worker processes (0: run in this process, one seed at a time)")
	outDir := fs.String("out", "", "report directory (default kvsim-compare-<time>)")
	failOn := fs.String("fail-on", "", "exit 7 when B is significantly worse than A beyond these, e.g. 'p99>+10%,unavailable>+20%,throughput<-5%'")
	alpha := fs.Float64("alpha", compareAlphaDefault, "significance level of the Mann-Whitney U test over the seeds")
	seedTimeout := fs.Duration("seed-timeout", 10*time.Minute, "wall-clock bound on one seed; overrunning is a crash")
	schedFile := fs.String("schedule", "", "give every seed this schedule JSON instead of the one drawn from it (the seeds still vary the workload and elections)")
	if err := parseFlags(fs, args); err != nil {
		return 0, err
	}
	cfg, cfgErr := cf.config()
	errs := []error{cfgErr}
	fixed, err := scheduleFlag(*schedFile, &cfg)
	errs = append(errs, err)
	if cf.options != "" {
		errs = append(errs, errors.New("--options: a comparison takes the options of each side as --a and --b"))
	}
	optsA, err := memberOptions(*aFlag)
	if err != nil {
		errs = append(errs, fmt.Errorf("--a: %w", err))
	}
	optsB, err := memberOptions(*bFlag)
	if err != nil {
		errs = append(errs, fmt.Errorf("--b: %w", err))
	}
	if err == nil && optsA == optsB && *aRev == *bRev {
		errs = append(errs, fmt.Errorf("--a %q and --b %q name the same options on the same build: nothing to compare", *aFlag, *bFlag))
	}
	if (*aRev != "" || *bRev != "") && *workers == 0 {
		errs = append(errs, errors.New("--workers 0: a revision's build runs in worker processes only"))
	}
	seeds, err := parseSeeds(*seedsFlag)
	if err != nil {
		errs = append(errs, fmt.Errorf("--seeds: %w", err))
	}
	rules, err := parseFailOn(*failOn)
	errs = append(errs, err)
	if *alpha <= 0 || *alpha >= 1 {
		errs = append(errs, fmt.Errorf("--alpha %v: must be in (0, 1)", *alpha))
	}
	if *workers < 0 || *workers > 1024 {
		errs = append(errs, fmt.Errorf("--workers %d: must be in [0, 1024]", *workers))
	}
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	started := time.Now()
	if *outDir == "" {
		*outDir = "kvsim-compare-" + started.Format("20060102-150405")
	}
	if abs, err := filepath.Abs(*outDir); err == nil {
		*outDir = abs
	}
	dirA, dirB := filepath.Join(*outDir, reports.CompareDirA), filepath.Join(*outDir, reports.CompareDirB)

	// Builds of other revisions, if asked for.
	bins := map[string]workerProgram{}
	names := map[string]string{sideA: sideName(optsA), sideB: sideName(optsB)}
	for _, sr := range [][2]string{{sideA, *aRev}, {sideB, *bRev}} {
		side, rev := sr[0], sr[1]
		if rev == "" {
			continue
		}
		fmt.Fprintf(stdout, "kvsim compare: building %s of revision %s\n", side, rev)
		r, err := buildRevision(rev)
		if err != nil {
			return 0, fmt.Errorf("%w: --%s-rev: %v", errHarness, strings.ToLower(side), err)
		}
		defer r.close()
		bins[side] = workerProgram{path: r.bin}
		names[side] += fmt.Sprintf(" @ %s (%.12s)", rev, r.commit)
	}

	// One schedule per seed, drawn once and handed to both sides.
	var jobsA, jobsB []job
	for _, s := range seeds {
		c := resolve(cfg, s)
		sched := scheduleOf(job{Seed: s, Config: c, Schedule: fixed})
		a, b := c, c
		a.Options, b.Options = optsA, optsB
		jobsA = append(jobsA, job{Seed: s, Config: a, Schedule: &sched, OutDir: dirA})
		jobsB = append(jobsB, job{Seed: s, Config: b, Schedule: &sched, OutDir: dirB})
	}
	fmt.Fprintf(stdout, "kvsim compare: A %s vs B %s, %d seeds (%s), workload %s, nemesis %s, %d nodes, %v each, %d workers\n",
		names[sideA], names[sideB], len(seeds), *seedsFlag, cfg.Workload, cfg.Nemesis, cfg.Nodes, cfg.Duration, *workers)
	prog := newProgress(stdout, stderr, 2*len(seeds))
	runSide := func(side string, jobs []job) ([]reports.Result, error) {
		var rs []reports.Result
		err := runJobsOn(bins[side], jobs, *workers, *seedTimeout, func(r reports.Result) {
			rs = append(rs, r)
			prog.seed(r)
		})
		if err == nil && len(rs) != len(jobs) {
			err = fmt.Errorf("%w: %d of %d seeds of %s returned a result", errHarness, len(rs), len(jobs), side)
		}
		return rs, err
	}
	resA, errA := runSide(sideA, jobsA)
	resB, errB := runSide(sideB, jobsB)
	prog.finish()
	if err := errors.Join(errA, errB); err != nil {
		return 0, err
	}
	command := "kvsim compare " + strings.Join(args, " ")
	for _, side := range []struct {
		dir, options string
		results      []reports.Result
	}{{dirA, optsA, resA}, {dirB, optsB, resB}} {
		c := cfg
		c.Options = side.options
		s := reports.Summary{Command: command, Campaign: c, Seeds: *seedsFlag, Workers: *workers, Started: started}
		s.Summarize(side.results, time.Since(started))
		s.ExitCode = exitCode(s.Outcome)
		if err := reports.WriteRun(side.dir, s); err != nil {
			return 0, fmt.Errorf("writing the report of %s: %w", side.dir, err)
		}
	}
	cmp := reports.Compare(reports.Side{Name: names[sideA], Results: resA}, reports.Side{Name: names[sideB], Results: resB}, *alpha,
		func(side string, r reports.Result) string {
			return "kvsim replay --record " + reports.SeedDir(filepath.Join(*outDir, side), r.Seed)
		})
	cmp.Command, cmp.Seeds, cmp.Started = command, *seedsFlag, started
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return 0, err
	}
	if err := reports.WriteComparison(*outDir, cmp); err != nil {
		return 0, err
	}
	code := printComparison(stdout, cmp, rules)
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(*outDir, reports.ComparePageFile))
	return code, nil
}

// The sides of a comparison.
const (
	sideA = "A"
	sideB = "B"
)

func sideName(options string) string {
	if options == "" {
		return "defaults"
	}
	return options
}

// printComparison prints what differs and returns the exit status: a
// correctness failure only B has, then a --fail-on regression.
func printComparison(w io.Writer, c reports.Comparison, rules []threshold) int {
	fmt.Fprintf(w, "\noutcomes (A → B):")
	for _, o := range reports.Outcomes() {
		if c.A.Counts[o] > 0 || c.B.Counts[o] > 0 {
			fmt.Fprintf(w, "  %s %d → %d", o, c.A.Counts[o], c.B.Counts[o])
		}
	}
	fmt.Fprintf(w, "\n%d of %d seeds traced the very same events on both sides\n", c.SameTrace, c.Paired)
	if len(c.Diffs) > 0 {
		fmt.Fprintln(w, "\nseeds whose verdict differs (passing on A, failing on B first):")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "seed\tworkload\tnemesis\tA\tB\treplay")
		for _, d := range c.Diffs {
			replay := d.ReplayB
			if replay == "" {
				replay = d.ReplayA
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", d.Seed, d.Workload, d.Nemesis, d.A, d.B, replay)
		}
		tw.Flush()
	}
	if len(c.Metrics) == 0 {
		fmt.Fprintln(w, "\nno metrics: a side's build predates them")
	}
	fmt.Fprintf(w, "\nbehaviour per seed, means (Mann-Whitney U over the seeds, alpha %v):\n", c.Alpha)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tA\tB\tchange\tp\t")
	for _, m := range c.Metrics {
		verdict := ""
		if m.Significant {
			verdict = "B better"
			if m.Regressed(0) {
				verdict = "B worse"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.3f\t%s\n", m.Name, m.FormatValue(m.MeanA), m.FormatValue(m.MeanB), m.FormatDelta(), m.P, verdict)
	}
	tw.Flush()

	code := exitPass
	if bad := c.NewCorrectnessFailures(); len(bad) > 0 {
		fmt.Fprintf(w, "\nresult: B has %d correctness failures A does not (exit %d)\n", len(bad), exitCorrectness)
		return exitCorrectness
	}
	for _, r := range rules {
		for _, m := range c.Metrics {
			if m.Name == r.metric && m.Regressed(r.pct) {
				fmt.Fprintf(w, "\nregression: %s %s (p=%.3f) beyond the threshold of %.0f%%\n", m.Name, m.FormatDelta(), m.P, r.pct)
				code = exitRegression
			}
		}
	}
	if code == exitPass {
		fmt.Fprintln(w, "\nresult: no correctness failure only B has, no threshold crossed (exit 0)")
	} else {
		fmt.Fprintf(w, "result: regression (exit %d)\n", code)
	}
	return code
}
