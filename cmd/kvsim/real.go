package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"

	"github.com/kvdlabs/kvd/core/bugs"
	"github.com/kvdlabs/kvd/core/node"
	"github.com/kvdlabs/kvd/nemesis"
	"github.com/kvdlabs/kvd/realcluster"
	"github.com/kvdlabs/kvd/realdriver"
	"github.com/kvdlabs/kvd/reports"
	"github.com/kvdlabs/kvd/workloads"
	"github.com/kvdlabs/kvd/workloads/driver"
)

// Defaults of "kvsim real", where every second is a wall-clock second.
const (
	realDurationDefault = 30 * time.Second
	realNemesisDefault  = "real"
	// realPollInterval is how often the harness looks at the cluster
	// (leader, revisions) while the workload's loop runs between looks.
	realPollInterval = 100 * time.Millisecond
	// realWorkloadStream names the workload's random stream of a real run,
	// drawn from the seed as the simulator draws World.Rand("workload").
	realWorkloadStream = 0x776f726b6c6f6164 // "workload"
)

// realOptions are the flags of "kvsim real" beyond a run's Config.
type realOptions struct {
	// keep: leave every run's member data directories and logs in place.
	keep bool
	// stderr gets the harness's log of what it did to the processes.
	logger *slog.Logger
}

// realMain is "kvsim real": the workloads and checkers of a campaign, on
// member processes of a real binary on 127.0.0.1, with the faults of a
// nemesis schedule carried out by signals and TCP proxies.
func realMain(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("real", stderr)
	var cf configFlags
	cf.register(fs, "register", realNemesisDefault, realDurationDefault)
	bin := fs.String("bin", "bin/kvd", "member binary: bin/kvd (make kvd), or any etcd-compatible server such as etcd v3.7.3 (make etcd builds bin/etcd); started with etcd's flags")
	seedsFlag := fs.String("seeds", "1", "seeds to run, one real cluster after another: 1-5, 7, or 1,5,9-12")
	read := fs.String("read", "", "\"serializable\": the clients send every read serializable while the checkers judge it as linearizable — a known-unsafe client the checkers must catch")
	schedFile := fs.String("schedule", "", "carry out this schedule JSON (e.g. a seed folder's schedule.json) instead of drawing one per seed")
	outDir := fs.String("out", "", "report directory (default kvsim-real-<time>)")
	keep := fs.Bool("keep", false, "keep the members' data directories and logs (their path is printed)")
	verbose := fs.Bool("v", false, "log every process and network action")
	if err := parseFlags(fs, args); err != nil {
		return 0, err
	}
	cfg, cfgErr := cf.config()
	var errs []error
	if cfgErr != nil {
		errs = append(errs, cfgErr)
	}
	if cf.unsafe != "" && !slices.Contains(memberVariants(), cf.unsafe) {
		errs = append(errs, fmt.Errorf("--unsafe %q: a real member switches on only %v (kvd built with the kvdunsafe tag: make kvd-unsafe); the others break the simulated disk or client", cf.unsafe, memberVariants()))
	}
	if cf.bug != "" {
		// A member binary built without the tag would ignore it and pass.
		errs = append(errs, fmt.Errorf("--bug %q: planted bugs are switched on in the simulator (kvsim run, make mutation); unset %s for a real run", cf.bug, bugs.EnvVar))
	}
	if cf.options != "" {
		errs = append(errs, fmt.Errorf("--options %q: member options are the simulator's (kvsim run, compare); give a real binary its own flags", cf.options))
	}
	if cf.nodes > 7 {
		errs = append(errs, fmt.Errorf("--nodes %d: a real run starts at most 7 processes", cf.nodes))
	}
	if p, ok := nemesis.LookupProfile(cf.nemesis); ok {
		supported := realcluster.SupportedKinds()
		for _, k := range p.Kinds {
			if !slices.Contains(supported, k.Kind) {
				errs = append(errs, fmt.Errorf("--nemesis %s: its fault %s is carried out in the simulator only (real processes take: %v)", cf.nemesis, k.Kind, supported))
			}
		}
	} else if cf.nemesis == mixedNemesis {
		errs = append(errs, fmt.Errorf("--nemesis mixed: draws simulator-only faults; a real run takes one profile, e.g. %s", realNemesisDefault))
	}
	switch *read {
	case "", "serializable":
	default:
		errs = append(errs, fmt.Errorf("--read %q: want \"serializable\" or nothing", *read))
	}
	seeds, err := parseSeeds(*seedsFlag)
	if err != nil {
		errs = append(errs, fmt.Errorf("--seeds: %w", err))
	} else if len(seeds) > 1000 {
		errs = append(errs, fmt.Errorf("--seeds %s: %d runs on real processes; at most 1000", *seedsFlag, len(seeds)))
	}
	binPath, err := filepath.Abs(*bin)
	if err == nil {
		_, err = os.Stat(binPath)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("--bin %s: %w (make kvd builds bin/kvd, make etcd bin/etcd)", *bin, err))
	}
	fixed, err := scheduleFlag(*schedFile, &cfg)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	cfg.Binary, cfg.Read = binPath, *read

	started := time.Now()
	if *outDir == "" {
		*outDir = "kvsim-real-" + started.Format("20060102-150405")
	}
	if abs, err := filepath.Abs(*outDir); err == nil {
		*outDir = abs
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	ro := realOptions{keep: *keep, logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))}

	// Ctrl-C or SIGTERM ends the run in progress: its faults heal, its
	// processes are stopped by PID, and what was recorded is reported.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Fprintf(stdout, "kvsim real: %d runs (%s) of %s, workload %s, nemesis %s, %d members, %v each\n",
		len(seeds), *seedsFlag, binPath, cfg.Workload, cfg.Nemesis, cfg.Nodes, cfg.Duration)
	var results []reports.Result
	for _, seed := range seeds {
		if ctx.Err() != nil {
			break
		}
		j := job{Seed: seed, Config: resolve(cfg, seed), OutDir: *outDir, Schedule: fixed}
		res := realRun(ctx, j, ro)
		results = append(results, res)
		fmt.Fprintln(stdout, describe(res))
	}
	s := reports.Summary{
		Command: "kvsim real " + strings.Join(args, " "), Campaign: cfg, Seeds: *seedsFlag, Started: started,
	}
	s.Summarize(results, time.Since(started))
	s.ExitCode = exitCode(s.Outcome)
	if err := reports.WriteRun(*outDir, s); err != nil {
		return 0, fmt.Errorf("writing the report: %w", err)
	}
	printSummary(stdout, s, *outDir)
	if ctx.Err() != nil {
		return 0, fmt.Errorf("%w: interrupted after %d of %d runs", errHarness, len(results), len(seeds))
	}
	return s.ExitCode, nil
}

// realRun runs one seed on real processes and returns its Result; the
// seed's folder is written whatever the outcome, since a real run cannot
// be repeated bit for bit.
func realRun(ctx context.Context, j job, ro realOptions) reports.Result {
	r := &run{job: j}
	r.result = reports.Result{Seed: j.Seed, Config: j.Config, Outcome: reports.Pass}
	wallStart := time.Now()
	var faults func() []driver.FaultWindow
	func() {
		defer func() {
			if p := recover(); p != nil {
				r.result.Outcome = reports.Crash
				r.result.Detail = fmt.Sprintf("panic: %v", p)
				r.result.Stack = string(debug.Stack())
			}
		}()
		faults = r.real(ctx, ro)
	}()
	r.finishResult(time.Since(wallStart))
	if !r.epoch.IsZero() {
		r.result.Virtual = reports.Duration(time.Since(r.epoch))
		r.result.Timeline = timeline(r.calls, r.epoch, time.Duration(r.result.Virtual))
	}
	if faults != nil {
		for _, f := range faults() {
			r.result.Faults = append(r.result.Faults, reports.FaultWindow{Kind: f.Kind, Targets: f.Targets, From: reports.Duration(f.From), To: reports.Duration(f.To)})
		}
		r.result.FaultTimeActive = faultTimeActive(r.calls, r.result.Faults, r.epoch)
	}
	if j.OutDir != "" {
		dir, err := writeSeedReport(r, j.OutDir)
		if err != nil {
			r.result.Detail += fmt.Sprintf("\nwriting the seed's report: %v", err)
		}
		r.result.ReportDir = dir
	}
	return r.result
}

// real carries out one run on real processes; it returns the nemesis's
// fault windows once the nemesis started.
func (r *run) real(ctx context.Context, ro realOptions) func() []driver.FaultWindow {
	cfg := r.job.Config
	r.schedule = scheduleOf(r.job)
	// Real members run with their own flags, not the simulator's member
	// options: the schedule written for a replay says what really ran.
	r.schedule.Swarm.Members = ""
	if err := realcluster.Check(r.schedule); err != nil {
		r.harnessFailure(fmt.Sprintf("the schedule cannot be carried out on real processes: %v", err))
		return nil
	}
	wl, err := newWorkload(cfg.Workload)
	assertf(err == nil, "job validated: %v", err)
	r.workload = wl

	dir, err := os.MkdirTemp("", fmt.Sprintf("kvsim-real-%d-", r.job.Seed))
	if err != nil {
		r.harnessFailure(fmt.Sprintf("a directory for the members: %v", err))
		return nil
	}
	var extra []string
	if cfg.Unsafe != "" {
		// Only kvd built with the kvdunsafe tag has the flag; any other
		// binary refuses it and the run ends as a harness failure saying so.
		extra = []string{"--unsafe", cfg.Unsafe}
	}
	// The harness's look at the members (status, hashes, stores) goes
	// through etcd's auth once a workload turns it on, as root.
	var admin *realdriver.AdminAuth
	var control []grpc.DialOption
	if a, ok := wl.(workloads.Admin); ok {
		user, password := a.Credentials()
		admin = &realdriver.AdminAuth{User: user, Password: password}
		control = append(control, admin.DialOption())
	}
	c, err := realcluster.Start(ctx, realcluster.Options{
		Binary: cfg.Binary, Members: cfg.Nodes, Dir: dir, Seed: r.job.Seed, Logger: ro.logger, ExtraFlags: extra,
		ControlDialOptions: control,
	})
	if err != nil {
		r.harnessFailure(fmt.Sprintf("starting %d members of %s: %v", cfg.Nodes, cfg.Binary, err))
		os.RemoveAll(dir)
		return nil
	}
	defer func() {
		if err := c.Stop(); err != nil {
			r.result.Detail += fmt.Sprintf("\nstopping the members: %v", err)
		}
		if ro.keep {
			r.result.Detail += "\nmembers' data and logs kept in " + dir
		} else {
			os.RemoveAll(dir)
		}
	}()
	assertf(slices.Equal(r.schedule.Nodes, c.IDs()), "schedule for members %v, cluster of %v", r.schedule.Nodes, c.IDs())

	r.epoch = time.Now()
	nem := realcluster.RunNemesis(ctx, c, r.schedule, r.epoch)
	defer nem.Wait()
	members := make([]realdriver.Member, 0, len(c.IDs()))
	for _, id := range c.IDs() {
		members = append(members, realdriver.Member{ID: id, Addr: c.ClientAddr(id)})
	}
	loop, err := realdriver.New(realdriver.Options{
		Members: members, Up: c.Up, FaultWindows: nem.Windows, Epoch: r.epoch, Logger: ro.logger,
		SerializableReads: cfg.Read == "serializable", Admin: admin,
	})
	if err != nil {
		r.harnessFailure(fmt.Sprintf("connecting to the members: %v", err))
		return nem.Windows
	}
	defer loop.Close()
	loop.Observe(func(call driver.Call) { r.calls = append(r.calls, call) })
	h := realHarness{ctx: ctx, c: c, loop: loop}

	duration := time.Duration(cfg.Duration)
	env := workloads.Env{
		Cluster: loop,
		Rand:    rand.New(rand.NewPCG(r.job.Seed, realWorkloadStream)),
		Clients: cfg.Clients,
		OpsMax:  cfg.OpsMax,
		End:     r.epoch.Add(duration - r.schedule.Settle()),
	}
	wl.Start(env)
	h.runUntil(env.End)
	h.runUntil(r.epoch.Add(r.schedule.HealedBy()))
	for !nem.Done() && ctx.Err() == nil {
		h.runFor(realPollInterval)
	}
	if ctx.Err() != nil {
		r.harnessFailure("interrupted")
		return nem.Windows
	}

	bound := time.Duration(cfg.LivenessBound)
	problems := h.checkLive(bound)
	wl.Finish()
	finishBy := time.Now().Add(finishRun(wl, bound))
	for time.Now().Before(finishBy) && !finished(wl) && ctx.Err() == nil {
		h.runFor(realPollInterval)
	}
	divergence, lag := h.checkConverged(bound)
	problems = append(problems, lag...)

	checkStart := time.Now()
	r.verdicts = wl.Check(time.Duration(cfg.CheckTimeout))
	r.result.CheckWall = reports.Duration(time.Since(checkStart))
	r.judge(divergence, problems)
	return nem.Windows
}

// harnessFailure ends a real run that could not be carried out. It is
// reported as unknown: nothing about the cluster was judged.
func (r *run) harnessFailure(why string) {
	r.result.Outcome = reports.Unknown
	r.result.Detail = "harness: " + why
}

// finisher is a workload that can tell when its final operations are done,
// so a real run need not wait out finishRun's whole bound.
type finisher interface {
	Finished() bool
}

func finished(wl workloads.Workload) bool {
	f, ok := wl.(finisher)
	return ok && f.Finished()
}

// realHarness is what a real run's checks need: the processes, the loop the
// workload runs on, and the run's context.
type realHarness struct {
	ctx  context.Context
	c    *realcluster.Cluster
	loop *realdriver.Loop
}

// runUntil runs the workload's loop until t, in slices so that an
// interrupt is heard.
func (h realHarness) runUntil(t time.Time) {
	for time.Now().Before(t) && h.ctx.Err() == nil {
		h.loop.RunUntil(minTime(t, time.Now().Add(realPollInterval)))
	}
}

func (h realHarness) runFor(d time.Duration) { h.runUntil(time.Now().Add(d)) }

// leader asks the members who leads, 0 for no one.
func (h realHarness) leader() uint64 {
	ctx, cancel := context.WithTimeout(h.ctx, clientTimeout)
	defer cancel()
	id, err := h.c.Leader(ctx)
	if err != nil {
		return 0
	}
	return id
}

// checkLive is the simulator's liveness check on real processes: within
// bound of the last heal, a leader and a linearizable read it serves.
func (h realHarness) checkLive(bound time.Duration) []string {
	start := time.Now()
	deadline := start.Add(bound)
	leader := h.leader()
	for leader == 0 && time.Now().Before(deadline) {
		h.runFor(realPollInterval)
		leader = h.leader()
	}
	if leader == 0 {
		return []string{fmt.Sprintf("no leader within %v after the last fault healed (up: %v)", bound, h.c.Up())}
	}
	probe := h.loop.NewSession(driver.SessionOptions{Timeout: clientTimeout})
	probe.SetTarget(leader)
	var last string
	for time.Now().Before(deadline) && h.ctx.Err() == nil {
		var got *driver.Call
		probe.Do(&pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte(probeKey)}}, func(call driver.Call) { got = &call })
		h.loop.RunWhile(func() bool { return got == nil }, time.Now().Add(2*clientTimeout))
		switch {
		case got == nil || got.TimedOut:
			last = "timed out"
		case got.Err == rpctypes.ErrGRPCUserEmpty:
			return nil // auth is on: refused only after the read index was served
		case got.Err != nil:
			last = fmt.Sprintf("member %d: %v", got.Member, got.Err)
			h.runFor(50 * time.Millisecond)
		default:
			return nil
		}
	}
	return []string{fmt.Sprintf("no linearizable read served within %v after the faults healed (last: %s)", bound, last)}
}

// checkConverged is the simulator's convergence check on real processes:
// every member running, at one revision, with one KV hash there.
func (h realHarness) checkConverged(bound time.Duration) (divergence string, lag []string) {
	deadline := time.Now().Add(bound)
	ids := h.c.IDs()
	for {
		up := h.c.Up()
		expired := !time.Now().Before(deadline)
		if len(up) < len(ids) {
			if expired {
				return "", []string{fmt.Sprintf("members still down after every fault healed: up %v of %v", up, ids)}
			}
			h.runFor(realPollInterval)
			continue
		}
		revs := make([]int64, 0, len(up))
		for _, id := range up {
			if rev, ok := h.loop.Revision(id); ok {
				revs = append(revs, rev)
			}
		}
		if len(revs) == len(up) {
			lo, hi := slices.Min(revs), slices.Max(revs)
			if div := realHashesAt(h.loop, up, lo); div != "" {
				return div, nil
			}
			if lo == hi {
				return "", nil
			}
		}
		if expired {
			return "", []string{fmt.Sprintf("members did not reach one revision within %v: revisions %v of members %v", bound, revs, up)}
		}
		h.runFor(realPollInterval)
	}
}

// realHashesAt compares the real members' KV hashes at rev.
func realHashesAt(d driver.Cluster, ids []uint64, rev int64) string {
	return divergence(ids, rev, func(id uint64, rev int64) (uint32, error) {
		h, err := d.HashKV(id, rev)
		if err != nil {
			return 0, err
		}
		return h.Hash, nil
	})
}

// memberVariants are the unsafe variants a member process can switch on
// (kvd --unsafe NAME in a kvdunsafe build), by kvsim's names.
func memberVariants() []string {
	var names []string
	for _, v := range node.UnsafeVariants() {
		names = append(names, v.Name)
	}
	return names
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
