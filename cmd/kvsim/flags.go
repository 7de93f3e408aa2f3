package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kvdlabs/kvd/core/bugs"
	"github.com/kvdlabs/kvd/core/node"
	"github.com/kvdlabs/kvd/nemesis"
	"github.com/kvdlabs/kvd/reports"
	"github.com/kvdlabs/kvd/sim"
)

// configFlags are the flags that shape one run; run, replay and shrink
// share them.
type configFlags struct {
	workload, nemesis, unsafe string
	bug                       string
	options                   string
	nodes, clients, opsMax    int
	duration, livenessBound   time.Duration
	checkTimeout              time.Duration
	beyondBudget              bool
}

func (f *configFlags) register(fs *flag.FlagSet, workloadDefault, nemesisDefault string, durationDefault time.Duration) {
	fs.StringVar(&f.workload, "workload", workloadDefault, "workload: "+strings.Join(append(workloadNames(), mixedWorkload), ", ")+" (mixed: one per seed)")
	fs.StringVar(&f.nemesis, "nemesis", nemesisDefault, "nemesis profile: "+strings.Join(append(nemesis.Profiles(), mixedNemesis), ", ")+" (mixed: one per seed)")
	fs.IntVar(&f.nodes, "nodes", nodesDefault, "cluster members (3 or 5 are the usual sizes)")
	fs.DurationVar(&f.duration, "duration", durationDefault, "length of each run (virtual in simulation); faults heal 10s before its end")
	fs.IntVar(&f.clients, "clients", clientsDefault, "client sessions per run")
	fs.IntVar(&f.opsMax, "ops-max", opsMaxDefault, "bound on each run's client operations")
	fs.BoolVar(&f.beyondBudget, "beyond-budget", false, "let faults take down or damage a majority at once (safety is still judged; liveness only after they heal)")
	fs.StringVar(&f.options, "options", "", "member protocol options, name=value,... (e.g. 'prevote=false,read=lease'): "+memberOptionNames())
	fs.StringVar(&f.unsafe, "unsafe", "", "switch on a known-unsafe variant the checkers must catch: "+strings.Join(variantNames(), ", "))
	fs.StringVar(&f.bug, "bug", os.Getenv(bugs.EnvVar), "switch on a planted bug of the catalogue (a kvdbugs build of kvsim only: make mutation); default $"+bugs.EnvVar)
	fs.DurationVar(&f.livenessBound, "liveness-bound", livenessBoundDefault, "virtual time after the last fault heals within which a leader must serve and members converge")
	fs.DurationVar(&f.checkTimeout, "check-timeout", checkTimeoutDefault, "wall-clock bound on each checker; a checker that runs out says unknown")
}

// config validates the flags and returns the campaign's configuration,
// reporting every problem at once.
func (f *configFlags) config() (reports.Config, error) {
	var errs []error
	if f.workload != mixedWorkload {
		if _, ok := workloadMakers[f.workload]; !ok {
			errs = append(errs, fmt.Errorf("--workload %q: not one of %v or %s", f.workload, workloadNames(), mixedWorkload))
		}
	} else if len(workloadMakers) == 0 {
		errs = append(errs, errors.New("--workload mixed: no workloads are built in"))
	}
	if !knownProfile(f.nemesis, nemesis.Profiles()) {
		errs = append(errs, fmt.Errorf("--nemesis %q: not one of %v or %s", f.nemesis, nemesis.Profiles(), mixedNemesis))
	}
	if f.nodes < 1 || f.nodes > nemesis.NodesMax {
		errs = append(errs, fmt.Errorf("--nodes %d: must be in [1, %d]", f.nodes, nemesis.NodesMax))
	}
	settle := nemesis.DefaultSettle
	if f.duration <= settle || f.duration > nemesis.DurationMax {
		errs = append(errs, fmt.Errorf("--duration %v: must be in (%v, %v]: faults heal %v before the end", f.duration, settle, nemesis.DurationMax, settle))
	}
	if f.clients < 1 || f.clients > 1000 {
		errs = append(errs, fmt.Errorf("--clients %d: must be in [1, 1000]", f.clients))
	}
	if f.opsMax < 1 || f.opsMax > 1_000_000 {
		errs = append(errs, fmt.Errorf("--ops-max %d: must be in [1, 1000000]", f.opsMax))
	}
	if f.unsafe != "" {
		if _, err := lookupVariant(f.unsafe); err != nil {
			errs = append(errs, fmt.Errorf("--unsafe: %w", err))
		}
	}
	if err := checkBug(f.bug); err != nil {
		errs = append(errs, fmt.Errorf("--bug: %w", err))
	}
	options, err := memberOptions(f.options)
	if err != nil {
		errs = append(errs, fmt.Errorf("--options: %w", err))
	}
	if f.livenessBound <= 0 {
		errs = append(errs, fmt.Errorf("--liveness-bound %v: must be positive", f.livenessBound))
	}
	if f.checkTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--check-timeout %v: must be positive", f.checkTimeout))
	}
	return reports.Config{
		Workload: f.workload, Nemesis: f.nemesis, Nodes: f.nodes, Duration: reports.Duration(f.duration),
		Clients: f.clients, OpsMax: f.opsMax, Unsafe: f.unsafe, Bug: f.bug, BeyondBudget: f.beyondBudget, Options: options,
		LivenessBound: reports.Duration(f.livenessBound), CheckTimeout: reports.Duration(f.checkTimeout),
	}, errors.Join(errs...)
}

// memberOptions validates a spec of member options, the rules between
// them included (on the simulator's defaults), and returns it canonical.
func memberOptions(spec string) (string, error) {
	options, err := node.CanonicalOptions(spec)
	if err != nil {
		return "", err
	}
	copts := sim.ClusterOptions{}
	_ = node.ApplyOptions(&copts.Node, options)
	copts.EnsureDefaults()
	copts.Node.EnsureDefaults()
	if err := copts.Node.ValidateProtocol(); err != nil {
		return "", fmt.Errorf("%q: %w", options, err)
	}
	return options, nil
}

// memberOptionNames lists node.Options for a flag's help.
func memberOptionNames() string {
	var names []string
	for _, o := range node.Options() {
		names = append(names, o.Name+"="+o.Values)
	}
	return strings.Join(names, ", ")
}

// resolve fills a campaign's "mixed" choices for one seed.
func resolve(cfg reports.Config, seed uint64) reports.Config {
	cfg.Workload, cfg.Nemesis = resolveMixed(seed, cfg.Workload, cfg.Nemesis)
	return cfg
}

// seedsMax bounds one campaign.
const seedsMax = 10_000_000

// parseSeeds reads "1-500", "7" or "1,5,9-12" into an ascending list
// without repeats.
func parseSeeds(s string) ([]uint64, error) {
	var out []uint64
	seen := map[uint64]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("seeds %q: %q is not a seed: %w", s, lo, err)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 64); err != nil {
				return nil, fmt.Errorf("seeds %q: %q is not a seed: %w", s, hi, err)
			}
		}
		if b < a {
			return nil, fmt.Errorf("seeds %q: range %s runs backwards", s, part)
		}
		if b-a >= seedsMax || len(out)+int(b-a) >= seedsMax {
			return nil, fmt.Errorf("seeds %q: more than %d seeds", s, seedsMax)
		}
		for x := a; ; x++ {
			if !seen[x] {
				seen[x] = true
				out = append(out, x)
			}
			if x == b {
				break
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// parseShard reads "i/n" (1 ≤ i ≤ n): the i-th of n CI jobs takes the
// seeds at positions i-1, i-1+n, i-1+2n, … of the list.
func parseShard(s string) (index, count int, err error) {
	if s == "" {
		return 1, 1, nil
	}
	a, b, ok := strings.Cut(s, "/")
	if ok {
		index, err = strconv.Atoi(a)
		if err == nil {
			count, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || count < 1 || index < 1 || index > count {
		return 0, 0, fmt.Errorf("--shard %q: want i/n with 1 ≤ i ≤ n, e.g. 2/4", s)
	}
	return index, count, nil
}

func shard(seeds []uint64, index, count int) []uint64 {
	var out []uint64
	for i := index - 1; i < len(seeds); i += count {
		out = append(out, seeds[i])
	}
	return out
}

// checkBug reports whether this build can switch on the planted bug
// called name ("" always).
func checkBug(name string) error {
	if name == "" {
		return nil
	}
	if !bugs.Planted {
		return bugs.Set(name) // says why not
	}
	_, err := bugs.Lookup(name)
	return err
}
