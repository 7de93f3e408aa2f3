package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/kvdlabs/kvd/core/bugs"
	"github.com/kvdlabs/kvd/nemesis"
	"github.com/kvdlabs/kvd/reports"
)

// kvsim mutation: the harness measures its own power. For every planted
// bug of the catalogue (core/bugs) it runs the unit tests of the bug's
// package, the default campaign from seed 1 until the first failure
// (capped in wall time), and shrinks the first failing seed; it prints a
// table and the mutation score and writes them as JSON and HTML. The
// command only exists in a kvdbugs build (make mutation): elsewhere no bug
// can be switched on.

// Bounds of a mutation run, with their defaults.
const (
	mutationWallMaxDefault    = 60 * time.Second
	mutationShrinkRunsDefault = 80
	mutationShrinkWallDefault = 60 * time.Second
	mutationUnitTimeout       = 5 * time.Minute
	// mutationSeedsMax bounds the seeds one bug's campaign may queue; the
	// wall-time cap ends it long before.
	mutationSeedsMax = 20_000
	// mutationShrinkSeedsMax bounds the failing seeds shrunk per bug (the
	// first, and later ones while the smallest shrunk stays above
	// reports.ShrunkFaultsGoal).
	mutationShrinkSeedsMax = 3
	// mutationScoreMinDefault is the score below which the command fails.
	mutationScoreMinDefault = 0.9
)

// mutationMain is "kvsim mutation".
func mutationMain(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("mutation", stderr)
	var cf configFlags
	cf.register(fs, mixedWorkload, mixedNemesis, durationDefault)
	only := fs.String("bugs", "", "comma-separated bugs to measure (default: the whole catalogue)")
	wallMax := fs.Duration("wall-max", mutationWallMaxDefault, "wall-time cap on each bug's campaign")
	workers := fs.Int("workers", runtime.NumCPU(), "worker processes of each bug's campaign")
	shrinkRuns := fs.Int("shrink-runs", mutationShrinkRunsDefault, "bound on the re-runs spent shrinking each bug's first failing seed")
	shrinkWall := fs.Duration("shrink-wall", mutationShrinkWallDefault, "wall-time cap on shrinking each bug's first failing seed")
	skipUnit := fs.Bool("skip-unit", false, "do not run the unit tests (campaign only)")
	scoreMin := fs.Float64("score-min", mutationScoreMinDefault, "exit 1 when the campaign catches less than this share of the bugs")
	outDir := fs.String("out", "", "report directory (default kvsim-mutation-<time>)")
	if err := parseFlags(fs, args); err != nil {
		return 0, err
	}
	if !bugs.Planted {
		return 0, errors.New("this kvsim has no planted bugs: run it from a kvdbugs build (make mutation, or go run -tags kvdbugs ./cmd/kvsim mutation)")
	}
	cfg, err := cf.config()
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if cf.bug != "" {
		errs = append(errs, fmt.Errorf("--bug %q (or $%s): mutation switches each bug on itself; choose them with --bugs", cf.bug, bugs.EnvVar))
	}
	catalogue := bugs.Catalogue()
	if *only != "" {
		catalogue = nil
		for _, name := range strings.Split(*only, ",") {
			b, err := bugs.Lookup(strings.TrimSpace(name))
			if err != nil {
				errs = append(errs, fmt.Errorf("--bugs: %w", err))
				continue
			}
			catalogue = append(catalogue, b)
		}
	}
	if *wallMax <= 0 || *wallMax > time.Hour {
		errs = append(errs, fmt.Errorf("--wall-max %v: must be in (0, 1h]", *wallMax))
	}
	if *workers < 1 || *workers > 1024 {
		errs = append(errs, fmt.Errorf("--workers %d: must be in [1, 1024]", *workers))
	}
	if *shrinkRuns < 1 || *shrinkRuns > 100_000 {
		errs = append(errs, fmt.Errorf("--shrink-runs %d: must be in [1, 100000]", *shrinkRuns))
	}
	if *shrinkWall <= 0 {
		errs = append(errs, fmt.Errorf("--shrink-wall %v: must be positive", *shrinkWall))
	}
	if *scoreMin < 0 || *scoreMin > 1 {
		errs = append(errs, fmt.Errorf("--score-min %v: must be in [0, 1]", *scoreMin))
	}
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	started := time.Now()
	if *outDir == "" {
		*outDir = "kvsim-mutation-" + started.Format("20060102-150405")
	}
	if abs, err := filepath.Abs(*outDir); err == nil {
		*outDir = abs
	}
	if err := os.MkdirAll(filepath.Join(*outDir, "schedules"), 0o755); err != nil {
		return 0, fmt.Errorf("%w: %v", errHarness, err)
	}

	var units *unitTests
	if !*skipUnit {
		fmt.Fprintf(stdout, "kvsim mutation: building the unit tests of %d packages with the kvdbugs tag\n", len(bugPackages(catalogue)))
		if units, err = buildUnitTests(bugPackages(catalogue), filepath.Join(*outDir, "unit")); err != nil {
			return 0, fmt.Errorf("%w: %v", errHarness, err)
		}
	}
	fmt.Fprintf(stdout, "kvsim mutation: %d planted bugs; default campaign (workload %s, nemesis %s, %d nodes, %v each) from seed 1 until the first failure, at most %v on %d workers\n",
		len(catalogue), cfg.Workload, cfg.Nemesis, cfg.Nodes, cfg.Duration, *wallMax, *workers)
	m := reports.Mutation{
		Command: "kvsim mutation " + strings.Join(args, " "), Started: started, Campaign: cfg,
		Workers: *workers, CampaignWallMax: reports.Duration(*wallMax),
	}
	for i, b := range catalogue {
		row := reports.MutationRow{Bug: b.Name, Package: b.Package, About: b.About, ModelledOn: b.ModelledOn}
		if units != nil {
			units.run(b, &row)
		}
		if err := mutationCampaign(cfg, b.Name, *workers, *wallMax, &row); err != nil {
			return 0, err
		}
		if row.CampaignCaught {
			if err := shrinkFailures(cfg, b.Name, *workers, *wallMax, *shrinkRuns, *shrinkWall, filepath.Join(*outDir, "schedules"), &row); err != nil {
				return 0, err
			}
		}
		m.Rows = append(m.Rows, row)
		fmt.Fprintf(stdout, "[%d/%d] %s\n", i+1, len(catalogue), rowLine(row))
	}
	m.Wall = reports.Duration(time.Since(started))
	m.Summarize()
	if err := reports.WriteMutation(*outDir, m); err != nil {
		return 0, fmt.Errorf("%w: %v", errHarness, err)
	}
	printMutation(stdout, m, *outDir)
	if m.Score < *scoreMin {
		fmt.Fprintf(stdout, "the campaign caught %.0f%% of the bugs, below --score-min %.0f%%\n", 100*m.Score, 100**scoreMin)
		return exitCorrectness, nil
	}
	return exitPass, nil
}

// bugPackages lists the packages of the bugs, in catalogue order.
func bugPackages(catalogue []bugs.Bug) []string {
	var pkgs []string
	for _, b := range catalogue {
		if !slices.Contains(pkgs, b.Package) {
			pkgs = append(pkgs, b.Package)
		}
	}
	return pkgs
}

// unitTests are the test binaries of the bugs' packages, built once with
// the kvdbugs tag; each bug runs its package's binary with KVD_BUG set.
type unitTests struct {
	root string
	bins map[string]string // package → test binary
	// rapid lists the packages whose tests use rapid.
	rapid []string
}

// buildUnitTests builds each package's tests into dir and runs them once
// with no bug on: a package whose tests fail without a bug cannot measure
// one.
func buildUnitTests(pkgs []string, dir string) (*unitTests, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	u := &unitTests{root: root, bins: map[string]string{}}
	for _, pkg := range pkgs {
		bin := filepath.Join(dir, strings.ReplaceAll(pkg, "/", "-")+".test")
		cmd := exec.Command("go", "test", "-c", "-tags", "kvdbugs", "-o", bin, "./"+pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building the tests of %s: %w\n%s", pkg, err, out)
		}
		u.bins[pkg] = bin
		// rapid writes a failing case into the package's testdata unless
		// told not to; a planted bug's failures must not land in the tree.
		if help, _ := exec.Command(bin, "-h").CombinedOutput(); bytes.Contains(help, []byte("rapid.nofailfile")) {
			u.rapid = append(u.rapid, pkg)
		}
		if failed, why, _ := u.runPackage(pkg, ""); failed {
			return nil, fmt.Errorf("the unit tests of %s fail with no bug on: %s", pkg, why)
		}
	}
	return u, nil
}

var failingTest = regexp.MustCompile(`(?m)^\s*--- FAIL: (\S+)`)

// runPackage runs pkg's test binary with bug on ("" for none) and says
// whether it failed, and how.
func (u *unitTests) runPackage(pkg, bug string) (failed bool, why string, wall time.Duration) {
	args := []string{"-test.count=1", "-test.timeout=" + mutationUnitTimeout.String()}
	if slices.Contains(u.rapid, pkg) {
		args = append(args, "-rapid.nofailfile")
	}
	cmd := exec.Command(u.bins[pkg], args...)
	// Tests read their testdata relative to the package.
	cmd.Dir = filepath.Join(u.root, pkg)
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, bugs.EnvVar+"=") }), bugs.EnvVar+"="+bug)
	out := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	err := cmd.Run()
	wall = time.Since(start)
	if err == nil {
		return false, "", wall
	}
	text := out.String()
	switch m := failingTest.FindStringSubmatch(text); {
	case m != nil:
		why = m[1]
	case strings.Contains(text, "panic: test timed out"):
		why = "timed out after " + mutationUnitTimeout.String()
	case strings.Contains(text, "panic:"):
		i := strings.Index(text, "panic:")
		why = firstLine(text[i:])
	default:
		why = firstLine(err.Error())
	}
	return true, why, wall
}

func (u *unitTests) run(b bugs.Bug, row *reports.MutationRow) {
	failed, why, wall := u.runPackage(b.Package, b.Name)
	row.UnitCaught, row.UnitFailure, row.UnitWall = failed, why, reports.Duration(wall)
}

// mutationCampaign runs the default campaign with bug on from seed 1 until
// the first failure or wallMax, whichever comes first.
func mutationCampaign(cfg reports.Config, bug string, workers int, wallMax time.Duration, row *reports.MutationRow) error {
	start := time.Now()
	first, seedsRun, err := failingSeed(cfg, bug, workers, 1, wallMax, func() {
		row.FirstFailureWall = reports.Duration(time.Since(start))
	})
	row.SeedsRun = seedsRun
	row.CampaignWall = reports.Duration(time.Since(start))
	if err != nil {
		return err
	}
	if first != nil {
		row.CampaignCaught = true
		row.FirstSeed, row.Outcome, row.Detail = first.Seed, first.Outcome, firstLine(first.Detail)
		row.Workload, row.Nemesis = first.Config.Workload, first.Config.Nemesis
		row.FaultsBefore = len(first.Faults)
	}
	return nil
}

// failingSeed runs the default campaign with bug on from seed from until
// the first failure or wallMax, whichever comes first; nil when no seed
// failed. It calls arrived once, when the first failure arrives. Of the
// failures among the seeds still running then, the lowest seed is the one
// returned.
func failingSeed(cfg reports.Config, bug string, workers int, from uint64, wallMax time.Duration, arrived func()) (first *reports.Result, seedsRun int, err error) {
	cfg.Bug = bug
	jobs := make([]job, mutationSeedsMax)
	for i := range jobs {
		s := from + uint64(i)
		jobs[i] = job{Seed: s, Config: resolve(cfg, s)}
	}
	stop := make(chan struct{})
	var once sync.Once
	halt := func() { once.Do(func() { close(stop) }) }
	timer := time.AfterFunc(wallMax, halt)
	defer timer.Stop()
	err = runJobsUntil(workerProgram{}, jobs, workers, wallMax+2*time.Minute, stop, func(r reports.Result) {
		seedsRun++
		// A checker that ran out of time decided nothing: not a catch.
		if !r.Failed() || r.Outcome == reports.Unknown {
			return
		}
		if first == nil {
			arrived()
		}
		if first == nil || r.Seed < first.Seed {
			rr := r
			first = &rr
		}
		halt()
	})
	if err != nil {
		return nil, seedsRun, fmt.Errorf("%w: bug %s: %v", errHarness, bug, err)
	}
	return first, seedsRun, nil
}

// shrinkFailures shrinks the bug's first failing seed and, while the
// smallest schedule shrunk so far keeps more than reports.ShrunkFaultsGoal fault
// events, the next failing seeds too (at most mutationShrinkSeedsMax in
// all, each found within wallMax), and reports the smallest. A failure
// that needs one precise interleaving can shrink badly from one seed —
// dropping any fault moves every later event — and to a handful from
// another; what a person reads is the smallest failing schedule.
func shrinkFailures(cfg reports.Config, bug string, workers int, wallMax time.Duration, runsMax int, wall time.Duration, dir string, row *reports.MutationRow) error {
	best, schedule := shrinkSeed(cfg, bug, row.FirstSeed, runsMax, wall, dir)
	next := row.FirstSeed + 1
	for tries := 1; tries < mutationShrinkSeedsMax && !best.ShrunkSmall(); tries++ {
		r, _, err := failingSeed(cfg, bug, workers, next, wallMax, func() {})
		if err != nil {
			return err
		}
		if r == nil {
			break
		}
		next = r.Seed + 1
		c, cs := shrinkSeed(cfg, bug, r.Seed, runsMax, wall, dir)
		usable := func(s reports.MutationShrink) bool { return s.ShrinkError == "" && s.ReplaysExact }
		if usable(c) && (!usable(best) || c.FaultsAfter < best.FaultsAfter) {
			best, schedule = c, cs
		}
	}
	row.MutationShrink = best
	if best.ShrinkError != "" {
		return nil
	}
	// Only the reported schedule is written: the one the replay command
	// names.
	if err := writeSchedule(filepath.Join(dir, bug+".json"), schedule); err != nil {
		row.ShrinkError = err.Error()
	}
	return nil
}

// shrinkSeed shrinks the bug's failing seed and checks that the shrunk
// schedule replays bit-exact: two runs, the same outcome and the same
// trace hash.
func shrinkSeed(cfg reports.Config, bug string, seed uint64, runsMax int, wall time.Duration, dir string) (reports.MutationShrink, nemesis.Schedule) {
	cfg.Bug = bug
	j := job{Seed: seed, Config: resolve(cfg, seed)}
	out := reports.MutationShrink{ShrunkSeed: seed}
	sh, err := shrink(j, runsMax, time.Now().Add(wall))
	if err != nil {
		out.ShrinkError = err.Error()
		return out, nemesis.Schedule{}
	}
	out.FaultsBefore, out.FaultsAfter, out.ShrinkRuns = sh.original.faults, sh.shrunk.faults, sh.runs
	k := j
	k.Schedule = &sh.schedule
	k.Config = sh.config
	a, b := runSeed(k), runSeed(k)
	out.ReplaysExact = a.result.Outcome == sh.outcome && b.result.Outcome == sh.outcome && compareRuns(a, b) == ""
	path := filepath.Join(dir, bug+".json")
	out.ReplayCommand = "go run -tags kvdbugs ./cmd/kvsim " + strings.TrimPrefix(replayCommand(j.Seed, sh.config, path), "kvsim ")
	return out, sh.schedule
}

// rowLine is one bug's result on one line, as the run goes.
func rowLine(r reports.MutationRow) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%-34s unit %-6s", r.Bug, yesNo(r.UnitCaught, "caught", "missed"))
	if r.CampaignCaught {
		fmt.Fprintf(&b, " campaign caught: seed %d (%s/%s) %s after %v, %d seeds; shrunk",
			r.FirstSeed, r.Workload, r.Nemesis, r.Outcome, time.Duration(r.FirstFailureWall).Round(100*time.Millisecond), r.SeedsRun)
		if r.ShrunkSeed != r.FirstSeed {
			fmt.Fprintf(&b, " (seed %d)", r.ShrunkSeed)
		}
		fmt.Fprintf(&b, " %d → %d faults", r.FaultsBefore, r.FaultsAfter)
		if r.ShrinkError != "" {
			fmt.Fprintf(&b, " (shrink: %s)", r.ShrinkError)
		} else if !r.ReplaysExact {
			b.WriteString(" (does NOT replay exact)")
		}
	} else {
		fmt.Fprintf(&b, " campaign missed: %d seeds in %v", r.SeedsRun, time.Duration(r.CampaignWall).Round(100*time.Millisecond))
	}
	return b.String()
}

func yesNo(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}

// printMutation prints the final table and the score.
func printMutation(w io.Writer, m reports.Mutation, outDir string) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "bug\tpackage\tunit tests\tcampaign\tseeds\tfirst failure\tfaults before→after shrink")
	for _, r := range m.Rows {
		camp, first, faults := "missed", "—", "—"
		if r.CampaignCaught {
			camp = fmt.Sprintf("%s (seed %d)", r.Outcome, r.FirstSeed)
			first = time.Duration(r.FirstFailureWall).Round(100 * time.Millisecond).String()
			faults = fmt.Sprintf("%d→%d", r.FaultsBefore, r.FaultsAfter)
			if r.ShrunkSeed != r.FirstSeed {
				faults = fmt.Sprintf("seed %d: %s", r.ShrunkSeed, faults)
			}
			if r.ShrinkError != "" {
				faults = "shrink failed"
			} else if !r.ReplaysExact {
				faults += " (not exact)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Bug, r.Package, yesNo(r.UnitCaught, "caught", "missed"), camp, r.SeedsRun, first, faults)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nmutation score: the default campaign caught %d of %d planted bugs (%.0f%%); unit tests %.0f%%; either %.0f%%\n",
		m.Caught(), len(m.Rows), 100*m.Score, 100*m.UnitScore, 100*m.EitherScore)
	fmt.Fprintf(w, "median wall time to the first failing seed: %v (%d workers); %d caught bugs shrunk to ≤ 10 fault events, replaying bit-exact\n",
		time.Duration(m.MedianFirstFailure).Round(100*time.Millisecond), m.Workers, m.ShrunkWithin10)
	fmt.Fprintf(w, "report: %s\n", filepath.Join(outDir, reports.MutationPageFile))
}
