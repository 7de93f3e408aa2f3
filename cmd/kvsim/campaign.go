package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kvdlabs/kvd/reports"
)

// errHelp: the user asked for -h; the flag package has printed the usage.
var errHelp = errors.New("help requested")

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("kvsim "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: kvsim %s [flags]\n\n", name)
		fs.PrintDefaults()
		fmt.Fprint(stderr, "\n"+exitCodesHelp)
	}
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return nil
}

// campaignMain is "kvsim run".
func campaignMain(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("run", stderr)
	var cf configFlags
	cf.register(fs, mixedWorkload, mixedNemesis, durationDefault)
	seedsFlag := fs.String("seeds", "1-100", "seeds to run: 1-500, 7, or 1,5,9-12")
	shardFlag := fs.String("shard", "", "run only shard i of n (1-based), e.g. 2/4, for CI matrices")
	workers := fs.Int("workers", runtime.NumCPU(), "worker processes (0: run in this process, one seed at a time)")
	checkDet := fs.Bool("check-determinism", false, "run every seed twice and compare the trace hashes")
	outDir := fs.String("out", "", "report directory (default kvsim-report-<time>)")
	seedTimeout := fs.Duration("seed-timeout", 10*time.Minute, "wall-clock bound on one seed; overrunning is a crash")
	coverDir := fs.String("cover", "", "build the workers with coverage of the core packages and raft, and write the campaign's profile into this directory")
	if err := parseFlags(fs, args); err != nil {
		return 0, err
	}
	cfg, cfgErr := cf.config()
	var errs []error
	if cfgErr != nil {
		errs = append(errs, cfgErr)
	}
	seeds, err := parseSeeds(*seedsFlag)
	if err != nil {
		errs = append(errs, fmt.Errorf("--seeds: %w", err))
	}
	index, count, err := parseShard(*shardFlag)
	if err != nil {
		errs = append(errs, err)
	}
	if *workers < 0 || *workers > 1024 {
		errs = append(errs, fmt.Errorf("--workers %d: must be in [0, 1024]", *workers))
	}
	if *seedTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--seed-timeout %v: must be positive", *seedTimeout))
	}
	if *coverDir != "" && *workers == 0 {
		errs = append(errs, errors.New("--cover: coverage is counted in worker processes; --workers 0 has none"))
	}
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	seeds = shard(seeds, index, count)
	if len(seeds) == 0 {
		return 0, fmt.Errorf("shard %d/%d of --seeds %s is empty", index, count, *seedsFlag)
	}
	started := time.Now()
	if *outDir == "" {
		*outDir = "kvsim-report-" + started.Format("20060102-150405")
	}
	if abs, err := filepath.Abs(*outDir); err == nil {
		*outDir = abs
	}

	jobs := make([]job, len(seeds))
	for i, s := range seeds {
		jobs[i] = job{Seed: s, Config: resolve(cfg, s), OutDir: *outDir, CheckDeterminism: *checkDet}
	}
	fmt.Fprintf(stdout, "kvsim run: %d seeds (%s%s), workload %s, nemesis %s, %d nodes, %v each, %d workers\n",
		len(seeds), *seedsFlag, shardNote(*shardFlag), cfg.Workload, cfg.Nemesis, cfg.Nodes, cfg.Duration, *workers)
	var worker workerProgram
	if *coverDir != "" {
		if worker, err = coverWorker(*coverDir); err != nil {
			return 0, fmt.Errorf("%w: --cover: %v", errHarness, err)
		}
	}
	var results []reports.Result
	prog := newProgress(stdout, stderr, len(jobs))
	runErr := runJobsOn(worker, jobs, *workers, *seedTimeout, func(r reports.Result) {
		results = append(results, r)
		prog.seed(r)
	})
	prog.finish()

	s := reports.Summary{
		Command: "kvsim run " + strings.Join(args, " "), Campaign: cfg, Seeds: *seedsFlag, Shard: *shardFlag,
		Workers: *workers, CheckDeterminism: *checkDet, Started: started,
	}
	s.Summarize(results, time.Since(started))
	s.ExitCode = exitCode(s.Outcome)
	if runErr != nil || len(results) != len(jobs) {
		s.ExitCode = exitHarness
	}
	if err := reports.WriteRun(*outDir, s); err != nil {
		return 0, fmt.Errorf("writing the report: %w", err)
	}
	printSummary(stdout, s, *outDir)
	if *coverDir != "" && runErr == nil {
		cov, err := mergeCoverage(*coverDir)
		if err != nil {
			return 0, fmt.Errorf("%w: --cover: %v", errHarness, err)
		}
		fmt.Fprintln(stdout, cov)
	}
	if runErr != nil {
		return 0, runErr
	}
	if len(results) != len(jobs) {
		return 0, fmt.Errorf("%w: %d of %d seeds returned a result", errHarness, len(results), len(jobs))
	}
	return s.ExitCode, nil
}

func shardNote(s string) string {
	if s == "" {
		return ""
	}
	return ", shard " + s
}

// printSummary prints the table a person reads at the end of a campaign.
func printSummary(w io.Writer, s reports.Summary, outDir string) {
	fmt.Fprintf(w, "\n%d seeds in %v: %.1f seeds/min, %.0f simulated s per wall s, checkers %v per seed (max %v)\n",
		len(s.Results), time.Duration(s.Wall).Round(time.Millisecond), s.SeedsPerMinute, s.VirtualPerWall,
		time.Duration(s.CheckWallMean).Round(time.Microsecond), time.Duration(s.CheckWallMax).Round(time.Microsecond))
	if s.FaultTimeActiveSeeds > 0 {
		fmt.Fprintf(w, "client calls in flight during %.0f%% of the fault time (median of %d seeds with lasting faults; lowest %.0f%%)\n",
			100*s.FaultTimeActiveMedian, s.FaultTimeActiveSeeds, 100*s.FaultTimeActiveMin)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "outcome\tseeds\texit code")
	for _, o := range reports.Outcomes() {
		if n := s.Counts[o]; n > 0 || o == reports.Pass {
			fmt.Fprintf(tw, "%s\t%d\t%d\n", o, n, exitCode(o))
		}
	}
	tw.Flush()
	if failed := s.Failed(); len(failed) > 0 {
		fmt.Fprintln(w, "\nfailing seeds:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "seed\toutcome\tworkload\tnemesis\tfaults\twhy")
		for _, r := range failed {
			why, _, _ := strings.Cut(r.Detail, "\n")
			if len(why) > 100 {
				why = why[:100] + "…"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\n", r.Seed, r.Outcome, r.Config.Workload, r.Config.Nemesis, len(r.Faults), why)
		}
		tw.Flush()
		fmt.Fprintf(w, "replay one: kvsim replay --record %s\n", reports.SeedDir(outDir, failed[0].Seed))
	}
	fmt.Fprintf(w, "\nresult: %s (exit %d)\nreport: %s\n", s.Outcome, s.ExitCode, filepath.Join(outDir, reports.IndexFile))
}
