package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// VsOptions configures a side-by-side comparison of kvd and etcd.
type VsOptions struct {
	// KvdBin and EtcdBin are the server binaries; empty builds them (kvd
	// from ./cmd/kvd, etcd with tools/build.sh etcd) into the work dir.
	KvdBin, EtcdBin string
	// Rounds is how many times each load runs on each system, alternating
	// kvd, etcd, kvd, etcd …; default 3.
	Rounds int
	// Loads to run, in order; default all of Loads.
	Loads []string
	// MemOnly skips the loads, etcd's benchmark tool and every
	// configuration but restart: it runs the memory phase, and the
	// restarts that follow it when Configs has restart.
	MemOnly bool
	// Systems to run, in alternation order; default kvd then etcd. One
	// system alone is for profiling: the report then has no ratios.
	Systems []string
	// Run is the per-run load options (Load and Endpoints are set per run);
	// Total defaults to vsTotalDefault.
	Run Options
	// Cluster settings shared by both systems.
	Cluster ClusterSettings
	// EtcdBench runs etcd's own benchmark tool against each cluster after
	// kvbench's loads, in the same alternation; no Loads runs none.
	EtcdBench EtcdBenchOptions
	// Configs are the other configurations of the targets (configs.go),
	// run after etcd's benchmark tool on the same clusters (latency,
	// clients1000, values, watchers), on 5-member clusters after those are
	// stopped (members5), and on the memory phase's clusters after RSS is
	// read (restart); no Configs.Names runs none.
	Configs ConfigOptions
	// MemKeys keys of MemValueSizeBytes are loaded into a fresh cluster of
	// each system before RSS is read; default 1,000,000 and 100. Zero
	// MemKeys after EnsureDefaults cannot happen; negative skips the phase.
	MemKeys           int
	MemValueSizeBytes int
	// MemSettle is how long the members idle after loading before RSS is read; default 5 s.
	MemSettle time.Duration
	// OutDir receives <timestamp>/report.md, report.html and results.json;
	// default reports/bench.
	OutDir string
	// WorkDir holds data dirs and logs; default a new temp dir, removed after.
	WorkDir string
	// CPUProfiles runs each of kvbench's main loads once more per system
	// after every measured run on the same clusters, with every member profiled (cpuprofile.go), and
	// reports who spent the servers' CPU; it starts both systems with
	// --enable-pprof.
	CPUProfiles bool
}

// vsTotalDefault is the measured operations per run of vs. A run of 20,000
// reads lasted under a second: a garbage collection or a snapshot landing in
// it or not swung its throughput by 15%, and its p99 rested on 200 samples.
const vsTotalDefault = 60000

// EnsureDefaults fills every zero field with its documented default.
func (v *VsOptions) EnsureDefaults() {
	if v.CPUProfiles {
		v.Cluster.Pprof = true
	}
	if v.Rounds == 0 {
		v.Rounds = 3
	}
	if len(v.Loads) == 0 {
		v.Loads = slices.Clone(Loads)
	}
	if len(v.Systems) == 0 {
		v.Systems = slices.Clone(systems)
	}
	if v.Run.Total == 0 {
		v.Run.Total = vsTotalDefault
	}
	if v.Run.Duration == 0 {
		v.Run.Duration = 30 * time.Second
	}
	v.Run.EnsureDefaults()
	if v.Cluster.Members == 0 {
		v.Cluster.Members = 3
	}
	if v.Cluster.HeartbeatIntervalMs == 0 {
		v.Cluster.HeartbeatIntervalMs = 100
	}
	if v.Cluster.ElectionTimeoutMs == 0 {
		v.Cluster.ElectionTimeoutMs = 1000
	}
	if v.Cluster.SnapshotCount == 0 {
		v.Cluster.SnapshotCount = 10000
	}
	if v.Cluster.QuotaBackendBytes == 0 {
		v.Cluster.QuotaBackendBytes = 8 << 30
	}
	if v.EtcdBench.PutTotal == 0 {
		v.EtcdBench.PutTotal = etcdBenchPutTotalDefault
	}
	if v.EtcdBench.RangeTotal == 0 {
		v.EtcdBench.RangeTotal = etcdBenchRangeTotalDefault
	}
	if v.EtcdBench.Timeout == 0 {
		v.EtcdBench.Timeout = etcdBenchTimeoutDefault
	}
	if v.EtcdBench.ValueSizeBytes == 0 {
		v.EtcdBench.ValueSizeBytes = etcdBenchValueSizeDefault
	}
	if v.MemKeys == 0 {
		v.MemKeys = 1_000_000
	}
	if v.MemValueSizeBytes == 0 {
		v.MemValueSizeBytes = 100
	}
	if v.MemSettle == 0 {
		v.MemSettle = 5 * time.Second
	}
	v.Configs.EnsureDefaults()
	if v.OutDir == "" {
		v.OutDir = filepath.Join("reports", "bench")
	}
}

// Validate reports every problem at once.
func (v *VsOptions) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if v.Rounds < 1 || v.Rounds > 100 {
		add("--rounds %d: want 1..100", v.Rounds)
	}
	for _, l := range v.Loads {
		if !slices.Contains(Loads, l) {
			add("--loads: unknown load %q", l)
		}
	}
	for _, sys := range v.Systems {
		if !slices.Contains(systems, sys) {
			add("--systems: unknown system %q, want kvd or etcd", sys)
		}
	}
	for _, l := range v.EtcdBench.Loads {
		if !slices.Contains(EtcdBenchLoads, l) {
			add("--etcd-benchmark: unknown load %q, want %s or none", l, strings.Join(EtcdBenchLoads, ","))
		}
	}
	if t := v.EtcdBench.PutTotal; t < 1 || t > totalMax {
		add("--etcd-benchmark-put-total %d: want 1..%d", t, totalMax)
	}
	if t := v.EtcdBench.RangeTotal; t < 1 || t > totalMax {
		add("--etcd-benchmark-range-total %d: want 1..%d", t, totalMax)
	}
	if b := v.EtcdBench.ValueSizeBytes; b < 1 || b > valueSizeBytesMax {
		add("--etcd-benchmark-value-size %d: want 1..%d", b, valueSizeBytesMax)
	}
	if v.EtcdBench.Timeout <= 0 {
		add("--etcd-benchmark-timeout %v: must be positive", v.EtcdBench.Timeout)
	}
	run := v.Run
	run.Load, run.Endpoints = Loads[0], []string{"placeholder"}
	if err := run.Validate(); err != nil {
		errs = append(errs, err)
	}
	if v.Cluster.Members < 1 || v.Cluster.Members > 7 {
		add("--members %d: want 1..7", v.Cluster.Members)
	}
	if v.Cluster.HeartbeatIntervalMs < 1 || v.Cluster.ElectionTimeoutMs < 5*v.Cluster.HeartbeatIntervalMs {
		add("--heartbeat-interval %d ms, --election-timeout %d ms: want heartbeat ≥ 1 and election ≥ 5 × heartbeat",
			v.Cluster.HeartbeatIntervalMs, v.Cluster.ElectionTimeoutMs)
	}
	if v.Cluster.SnapshotCount < 1 {
		add("--snapshot-count %d: must be positive", v.Cluster.SnapshotCount)
	}
	if v.MemKeys == 0 || v.MemKeys > keyspaceMax {
		add("--mem-keys %d: want 1..%d, or negative to skip the memory phase", v.MemKeys, keyspaceMax)
	}
	if v.MemValueSizeBytes < 0 || v.MemValueSizeBytes > valueSizeBytesMax {
		add("--mem-value-size %d: want 0..%d", v.MemValueSizeBytes, valueSizeBytesMax)
	}
	if err := v.Configs.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// systems kvbench can start, in default alternation order: kvd is A, etcd is B.
var systems = []string{"kvd", "etcd"}

func runVs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var v VsOptions
	fs := flag.NewFlagSet("kvbench vs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var loads string
	fs.StringVar(&v.KvdBin, "kvd-bin", "", "kvd binary (default: build ./cmd/kvd)")
	fs.StringVar(&v.EtcdBin, "etcd-bin", "", "etcd binary (default: build with tools/build.sh etcd)")
	fs.IntVar(&v.Rounds, "rounds", 3, "rounds of A B alternation per load")
	fs.StringVar(&loads, "loads", "", "comma-separated loads (default all)")
	fs.BoolVar(&v.MemOnly, "mem-only", false, "skip the loads and every configuration but restart: run the memory phase (and the restarts after it)")
	var systemList string
	fs.StringVar(&systemList, "systems", "kvd,etcd", "systems to run, in alternation order (one alone for profiling)")
	v.Run.register(fs, vsTotalDefault, 30*time.Second)
	fs.IntVar(&v.Cluster.Members, "members", 3, "members per cluster")
	fs.IntVar(&v.Cluster.HeartbeatIntervalMs, "heartbeat-interval", 100, "--heartbeat-interval (ms) for both systems")
	fs.IntVar(&v.Cluster.ElectionTimeoutMs, "election-timeout", 1000, "--election-timeout (ms) for both systems")
	fs.IntVar(&v.Cluster.SnapshotCount, "snapshot-count", 10000, "--snapshot-count for both systems")
	fs.BoolVar(&v.Cluster.Pprof, "enable-pprof", false, "start both systems with --enable-pprof")
	fs.BoolVar(&v.CPUProfiles, "cpu-profiles", false, "after each main load's rounds, run it once more per system with every member CPU-profiled, and report who spent the servers' CPU (implies --enable-pprof)")
	var etcdBench string
	fs.StringVar(&v.EtcdBench.Bin, "etcd-benchmark-bin", "", "etcd's benchmark tool (default: build with tools/build.sh benchmark)")
	fs.StringVar(&etcdBench, "etcd-benchmark", strings.Join(EtcdBenchLoads, ","), "loads driven by etcd's benchmark tool after kvbench's own, or none")
	fs.IntVar(&v.EtcdBench.PutTotal, "etcd-benchmark-put-total", etcdBenchPutTotalDefault, "requests per etcd benchmark put run")
	fs.IntVar(&v.EtcdBench.RangeTotal, "etcd-benchmark-range-total", etcdBenchRangeTotalDefault, "requests per etcd benchmark range run")
	fs.IntVar(&v.EtcdBench.ValueSizeBytes, "etcd-benchmark-value-size", etcdBenchValueSizeDefault, "value size of etcd benchmark put and of the key its range reads")
	fs.DurationVar(&v.EtcdBench.Timeout, "etcd-benchmark-timeout", etcdBenchTimeoutDefault, "cap on one etcd benchmark run (killed and counted as failed past it)")
	fs.IntVar(&v.MemKeys, "mem-keys", 1_000_000, "keys loaded before measuring RSS (negative skips)")
	fs.IntVar(&v.MemValueSizeBytes, "mem-value-size", 100, "value size of the memory phase")
	fs.DurationVar(&v.MemSettle, "mem-settle", 5*time.Second, "idle time before RSS is read")
	var configs string
	fs.StringVar(&configs, "configs", strings.Join(Configs, ","), "other configurations of the targets to run, or none: "+
		"latency (1 request in flight), members5 (5-member clusters), clients1000 (1,000 requests in flight), "+
		"values (4 KiB and 64 KiB values), watchers (10,000 watchers on one prefix), restart (a follower after the memory phase)")
	fs.IntVar(&v.Configs.LatencyTotal, "latency-total", 2000, "measured operations per run of the latency configuration")
	fs.IntVar(&v.Configs.Clients1000Conns, "clients1000-conns", 100, "gRPC connections the 1,000 requests in flight of clients1000 share")
	fs.Int64Var(&v.Configs.ValuesBytesPerRun, "values-bytes-per-run", 256<<20, "cap on the bytes of values one values run puts (its puts: min(--total, this / value size))")
	fs.IntVar(&v.Configs.Fanout.Watchers, "fanout-watchers", 10_000, "watchers on one prefix in the watchers configuration")
	fs.IntVar(&v.Configs.Fanout.Conns, "fanout-conns", 100, "gRPC connections (one watch stream each) the watchers share")
	fs.IntVar(&v.Configs.Fanout.Puts, "fanout-puts", 100, "timed puts of the watchers configuration, one at a time")
	fs.DurationVar(&v.Configs.Fanout.PutInterval, "fanout-put-interval", 50*time.Millisecond, "time between the watchers configuration's puts")
	fs.DurationVar(&v.Configs.Fanout.DeliveryTimeout, "fanout-timeout", 30*time.Second, "how long after the last put every event may take to arrive")
	fs.IntVar(&v.Configs.RestartRounds, "restart-rounds", 3, "restarts per system, alternating, in the restart configuration")
	fs.DurationVar(&v.Configs.RestartTimeout, "restart-timeout", 2*time.Minute, "cap on one restart until the member serves (failed past it)")
	fs.StringVar(&v.OutDir, "out", filepath.Join("reports", "bench"), "report directory (a timestamped folder is made inside)")
	fs.StringVar(&v.WorkDir, "work-dir", "", "data dirs and logs (default a temp dir, removed after)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	v.Loads = splitList(loads)
	v.Systems = splitList(systemList)
	if etcdBench != "none" {
		v.EtcdBench.Loads = splitList(etcdBench)
	}
	v.Configs.Names = parseConfigs(configs)
	// Validated before EnsureDefaults so an explicit 0 is refused, not
	// replaced by a default (every flag's default is non-zero).
	if err := v.Validate(); err != nil {
		return usageError{err}
	}
	v.EnsureDefaults()
	rep, err := Vs(ctx, v, stderr)
	if err != nil {
		return err
	}
	if err := WriteTable(stdout, rep.Results); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s\n%s\nreport: %s\n", rep.summaryMarkdown(), rep.targetsMarkdown(), rep.Dir)
	return nil
}

// Vs runs the comparison and writes its report.
func Vs(ctx context.Context, v VsOptions, status io.Writer) (*VsReport, error) {
	v.EnsureDefaults()
	if err := v.Validate(); err != nil {
		return nil, err
	}
	work := v.WorkDir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "kvbench-vs-"); err != nil {
			return nil, fmt.Errorf("make work dir: %w", err)
		}
		defer os.RemoveAll(work)
	}
	bins := map[string]string{"kvd": v.KvdBin, "etcd": v.EtcdBin, ToolEtcdBenchmark: v.EtcdBench.Bin}
	want := slices.Clone(v.Systems)
	if !v.MemOnly && len(v.EtcdBench.Loads) > 0 {
		want = append(want, ToolEtcdBenchmark)
	}
	if err := buildMissing(want, bins, work, status); err != nil {
		return nil, err
	}
	rep := &VsReport{Started: time.Now().UTC(), Options: v, Command: os.Args}

	if !v.MemOnly {
		jobs := append(mainJobs(&v, bins, status), configJobs(&v, status)...)
		if err := runPhase(ctx, &v, "run", v.Cluster, jobs, bins, work, rep, status); err != nil {
			return nil, err
		}
		// After the 3-member clusters are stopped, so that the machine
		// runs one pair of clusters at a time.
		five := v.Cluster
		five.Members = members5Members
		if err := runPhase(ctx, &v, "members5", five, members5Jobs(&v, status), bins, work, rep, status); err != nil {
			return nil, err
		}
	}
	if v.MemKeys > 0 {
		if err := runMemoryAndRestarts(ctx, &v, bins, work, rep, status); err != nil {
			return nil, err
		}
	}
	rep.Finished = time.Now().UTC()
	if err := rep.write(v.OutDir); err != nil {
		return nil, err
	}
	return rep, nil
}

// job is one kind of run vs alternates over the systems, round after
// round; config, tool and load tag its Results.
type job struct {
	config, tool, load string
	// prepare, when not nil, runs before each of the job's runs, outside
	// the measurement (its CPU is not counted).
	prepare func(ctx context.Context, c *cluster) error
	run     func(ctx context.Context, c *cluster) (Result, error)
	// profile, when not nil, is the job's profiled run (--cpu-profiles).
	profile func(ctx context.Context, c *cluster) (CPUProfile, error)
}

// mainJobs are kvbench's loads and then etcd's benchmark tool's.
func mainJobs(v *VsOptions, bins map[string]string, status io.Writer) []job {
	var jobs []job
	for _, load := range v.Loads {
		jobs = append(jobs, job{load: load, run: func(ctx context.Context, c *cluster) (Result, error) {
			o := v.Run
			o.Load, o.Endpoints = load, c.endpoints()
			return Run(ctx, o, status)
		}, profile: func(ctx context.Context, c *cluster) (CPUProfile, error) {
			o := v.Run
			o.Load = load
			return profiledRun(ctx, c, o, status)
		}})
	}
	for _, load := range v.EtcdBench.Loads {
		eb := v.EtcdBench
		eb.Bin = bins[ToolEtcdBenchmark]
		jobs = append(jobs, job{tool: ToolEtcdBenchmark, load: load, run: func(ctx context.Context, c *cluster) (Result, error) {
			return runEtcdBenchmark(ctx, load, c.endpoints(), &v.Run, &eb)
		}})
	}
	return jobs
}

// runPhase starts a cluster of each system with settings (data under
// work/<phase>-<system>), runs every job on each in alternation, round
// after round, and stops the clusters. No jobs starts nothing.
func runPhase(ctx context.Context, v *VsOptions, phase string, settings ClusterSettings, jobs []job, bins map[string]string, work string, rep *VsReport, status io.Writer) error {
	if len(jobs) == 0 {
		return nil
	}
	clusters := map[string]*cluster{}
	defer func() {
		for _, c := range clusters {
			c.stop()
		}
	}()
	for _, sys := range v.Systems {
		fmt.Fprintf(status, "starting %d-member %s cluster\n", settings.Members, sys)
		c, err := startCluster(ctx, sys, bins[sys], mkdir(work, phase+"-"+sys), settings)
		if err != nil {
			return err
		}
		clusters[sys] = c
	}
	for _, j := range jobs {
		label := runLabel(j.config, j.tool, j.load)
		for round := 1; round <= v.Rounds; round++ {
			for _, sys := range v.Systems {
				fmt.Fprintf(status, "round %d/%d %s on %s\n", round, v.Rounds, label, sys)
				if j.prepare != nil {
					if err := j.prepare(ctx, clusters[sys]); err != nil {
						return fmt.Errorf("prepare %s on %s, round %d: %w", label, sys, round, err)
					}
				}
				r, err := measured(ctx, clusters[sys], j.run)
				if err != nil {
					return fmt.Errorf("%s on %s, round %d: %w", label, sys, round, err)
				}
				r.System, r.Round, r.Tool, r.Config = sys, round, j.tool, j.config
				rep.Results = append(rep.Results, r)
				WriteJSONLine(status, r)
			}
		}
	}
	// The profiled runs come after every measured one: their writes grow
	// the stores' history, and a measured run after them would start from
	// more history (more memory, larger snapshots) than its rounds did.
	for _, j := range jobs {
		if !v.CPUProfiles || j.profile == nil {
			continue
		}
		label := runLabel(j.config, j.tool, j.load)
		for _, sys := range v.Systems {
			fmt.Fprintf(status, "profiled run of %s on %s\n", label, sys)
			p, err := j.profile(ctx, clusters[sys])
			if err != nil {
				return fmt.Errorf("profiled run of %s on %s: %w", label, sys, err)
			}
			rep.CPUProfiles = append(rep.CPUProfiles, p)
		}
	}
	return nil
}

// measured runs one load against c and adds what the servers spent on it:
// CPU per op and every member's peak RSS while it ran. A member that died
// meanwhile is an error.
func measured(ctx context.Context, c *cluster, run func(context.Context, *cluster) (Result, error)) (Result, error) {
	cpuBefore, err := c.cpuSeconds()
	if err != nil {
		return Result{}, err
	}
	stopRSS := samplePeakRSS(c.pids(), rssSampleInterval)
	r, err := run(ctx, c)
	peaks := stopRSS()
	if err != nil {
		return r, err
	}
	if m := c.exitedMember(); m != nil {
		return r, fmt.Errorf("%s member %s (pid %d) died; see %s", c.system, m.name, m.pid, m.logPath)
	}
	cpuAfter, err := c.cpuSeconds()
	if err != nil {
		return r, err
	}
	if r.Ops > 0 {
		// Includes an unmeasured preload: CPU per measured op of the whole run.
		r.ServerCPUUsPerOp = (cpuAfter - cpuBefore) * 1e6 / float64(r.Ops)
	}
	r.PeakRSSBytes = peaks
	return r, nil
}

func mkdir(parent, name string) string {
	d := filepath.Join(parent, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		panic(fmt.Sprintf("kvbench: make %s: %v", d, err)) // the parent was just made by us
	}
	return d
}

// buildMissing builds each binary not given: kvd from ./cmd/kvd (run from
// the repository root), etcd with tools/build.sh etcd, etcd's benchmark
// tool with tools/build.sh benchmark.
func buildMissing(want []string, bins map[string]string, work string, status io.Writer) error {
	for _, sys := range want {
		if bins[sys] != "" {
			continue
		}
		out := filepath.Join(work, sys)
		var cmd *exec.Cmd
		switch sys {
		case "kvd":
			cmd = exec.Command("go", "build", "-o", out, "./cmd/kvd")
		case ToolEtcdBenchmark:
			cmd = exec.Command(filepath.Join("tools", "build.sh"), "benchmark", out)
		default:
			cmd = exec.Command(filepath.Join("tools", "build.sh"), sys, out)
		}
		fmt.Fprintf(status, "building %s: %s\n", sys, cmd.String())
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s (run kvbench vs from the repository root, or pass --%s-bin): %w\n%s", sys, sys, err, b)
		}
		bins[sys] = out
	}
	return nil
}

// MemoryResult is one system's resident memory after the memory load.
type MemoryResult struct {
	System      string  `json:"system"`
	Keys        int     `json:"keys"`
	ValueBytes  int     `json:"valueBytes"`
	RSSBytes    []int64 `json:"rssBytes"` // per member
	LoadSeconds float64 `json:"loadSeconds"`
}

// MaxRSS is the largest member's RSS.
func (m MemoryResult) MaxRSS() int64 { return slices.Max(m.RSSBytes) }

// runMemoryAndRestarts runs the memory phase for each system in turn and
// then, when Configs has restart, the restarts, alternating over the
// systems round after round on the memory phase's loaded clusters. Those
// are kept running for it: one system's idle cluster runs beside the
// next one's memory load and RSS reading (an idle member's heartbeats are
// all it costs the machine).
func runMemoryAndRestarts(ctx context.Context, v *VsOptions, bins map[string]string, work string, rep *VsReport, status io.Writer) error {
	restart := v.Configs.has("restart")
	clusters := map[string]*cluster{}
	defer func() {
		for _, c := range clusters {
			c.stop()
		}
	}()
	for _, sys := range v.Systems {
		m, c, err := measureMemory(ctx, sys, bins[sys], mkdir(work, "mem-"+sys), v, status)
		if err != nil {
			return err
		}
		rep.Memory = append(rep.Memory, m)
		if restart {
			clusters[sys] = c
		} else {
			c.stop()
		}
	}
	if !restart {
		return nil
	}
	rs, err := measureRestarts(ctx, v, clusters, status)
	rep.Restarts = rs
	return err
}

// measureMemory loads v.MemKeys distinct keys into a fresh cluster and reads
// every member's RSS after v.MemSettle. The cluster is the caller's to stop,
// unless an error is returned.
func measureMemory(ctx context.Context, sys, bin, dir string, v *VsOptions, status io.Writer) (m MemoryResult, c *cluster, err error) {
	fmt.Fprintf(status, "memory: starting a fresh %s cluster for %d keys of %d bytes\n", sys, v.MemKeys, v.MemValueSizeBytes)
	c, err = startCluster(ctx, sys, bin, dir, v.Cluster)
	if err != nil {
		return MemoryResult{}, nil, err
	}
	defer func() {
		if err != nil {
			c.stop()
			c = nil
		}
	}()
	o := v.Run
	o.Load, o.Endpoints = "put", c.endpoints()
	o.Keyspace, o.ValueSizeBytes = v.MemKeys, v.MemValueSizeBytes
	o.KeySizeBytes = max(o.KeySizeBytes, len(keyPrefix)+len(fmt.Sprint(v.MemKeys-1)))
	o.Concurrency = max(o.Concurrency, 256)
	clients, err := dialClients(&o)
	if err != nil {
		return MemoryResult{}, nil, err
	}
	start := time.Now()
	err = preload(ctx, clients, &o, status)
	closeClients(clients)
	if err != nil {
		return MemoryResult{}, nil, fmt.Errorf("memory load into %s: %w", sys, err)
	}
	m = MemoryResult{System: sys, Keys: v.MemKeys, ValueBytes: v.MemValueSizeBytes, LoadSeconds: time.Since(start).Seconds()}
	select {
	case <-time.After(v.MemSettle):
	case <-ctx.Done():
		return m, nil, ctx.Err()
	}
	for _, mem := range c.members {
		rss, err := rssBytes(mem.pid)
		if err != nil {
			return m, nil, fmt.Errorf("%s member %s: %w", sys, mem.name, err)
		}
		m.RSSBytes = append(m.RSSBytes, rss)
	}
	fmt.Fprintf(status, "memory: %s RSS per member %v bytes (load took %.1f s)\n", sys, m.RSSBytes, m.LoadSeconds)
	return m, c, nil
}
