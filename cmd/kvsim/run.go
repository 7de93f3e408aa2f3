package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/bugs"
	"github.com/kvdlabs/kvd/core/node"
	"github.com/kvdlabs/kvd/linearizability"
	"github.com/kvdlabs/kvd/nemesis"
	"github.com/kvdlabs/kvd/reports"
	"github.com/kvdlabs/kvd/sim"
	"github.com/kvdlabs/kvd/workloads"
)

// Defaults of a run; flags override them.
const (
	durationDefault = 60 * time.Second
	nodesDefault    = 3
	clientsDefault  = 4
	// opsMaxDefault lets the pacer's relay keep a call in flight through
	// the whole fault window: one call per ~8 ms of simulated latency over
	// ~50 s takes ~6000, the rest is spread.
	opsMaxDefault        = 10000
	livenessBoundDefault = 15 * time.Second
	// finishOverrunMax bounds the virtual time a run goes on past its
	// finish bound for a workload whose final reads are not done.
	finishOverrunMax    = 10 * time.Minute
	checkTimeoutDefault = 30 * time.Second
	// finishRunDefault is how long a run goes on after Finish for a
	// workload that does not say (see finishDurationer): enough for final
	// writes retried through a late election and for members to settle.
	finishRunDefault = 20 * time.Second
	// firstLeaderWithin bounds the wait for the first election, before
	// the workload starts.
	firstLeaderWithin = 10 * time.Second
	// clientTimeout is the simulated clients' call timeout.
	clientTimeout = 2 * time.Second
	// traceKeptDefault keeps the newest records for a failing seed's
	// trace.txt; replay and the determinism check keep them all.
	traceKeptDefault = 1 << 16
	traceKeptAll     = 1 << 23
	// probeKey is read to prove the cluster serves after the faults heal;
	// workloads never write below "\x00".
	probeKey = "\x00kvsim/probe"
)

// job is one seed to run: everything a worker needs, as JSON.
type job struct {
	Seed   uint64         `json:"seed"`
	Config reports.Config `json:"config"`
	// Schedule replaces the generated schedule when set.
	Schedule *nemesis.Schedule `json:"schedule,omitempty"`
	// OutDir: write the seed's report there if it does not pass.
	OutDir string `json:"out_dir,omitempty"`
	// CheckDeterminism: run twice and compare the traces.
	CheckDeterminism bool `json:"check_determinism,omitempty"`
	// TraceKeptMax overrides how many trace records are kept.
	TraceKeptMax int `json:"trace_kept_max,omitempty"`
}

// run is one simulated run: the World and cluster, what the clients saw,
// and the judgement. Kept whole for replay and reports.
type run struct {
	job      job
	world    *sim.World
	cluster  *sim.Cluster
	schedule nemesis.Schedule
	workload workloads.Workload
	// epoch is when the run began: calls and faults are timed from it.
	epoch    time.Time
	calls    []sim.Call
	verdicts []linearizability.Verdict
	result   reports.Result
}

// runSeed runs j once, in this process. A panic anywhere in the run is
// caught and reported as a crash with its stack.
func runSeed(j job) (r *run) {
	r = &run{job: j, epoch: sim.DefaultEpoch}
	r.result = reports.Result{Seed: j.Seed, Config: j.Config, Outcome: reports.Pass}
	wallStart := time.Now()
	defer func() {
		if p := recover(); p != nil {
			r.result.Outcome = reports.Crash
			r.result.Detail = fmt.Sprintf("panic: %v", p)
			r.result.Stack = string(debug.Stack())
		}
		r.finishResult(time.Since(wallStart))
	}()
	// One planted bug at a time, switched per run: a worker runs seeds of
	// any configuration one after another.
	if err := bugs.Set(j.Config.Bug); err != nil {
		r.result.Outcome = reports.Unknown
		r.result.Detail = err.Error()
		return r
	}
	r.simulate()
	return r
}

// finishResult fills what is known however the run ended.
func (r *run) finishResult(wall time.Duration) {
	res := &r.result
	res.Wall = reports.Duration(wall)
	if r.world != nil {
		h := r.world.TraceHash()
		res.TraceHash = hex.EncodeToString(h[:])
		res.TraceRecords = r.world.TraceCount()
		res.Virtual = reports.Duration(r.world.Elapsed())
	}
	if r.cluster != nil {
		for _, f := range r.cluster.FaultWindows() {
			res.Faults = append(res.Faults, reports.FaultWindow{Kind: f.Kind, Targets: f.Targets, From: reports.Duration(f.From), To: reports.Duration(f.To)})
		}
	}
	if r.workload != nil {
		res.Ops = r.workload.Ops()
	}
	res.Swarm = r.schedule.Swarm.String()
	res.Verdicts = r.verdicts
	res.Timeline = timeline(r.calls, r.epoch, time.Duration(res.Virtual))
	res.FaultTimeActive = faultTimeActive(r.calls, res.Faults, r.epoch)
	if r.cluster != nil && r.world != nil {
		res.Metrics = metrics(r.cluster, r.calls, res.Faults, r.epoch, r.world.Now())
	}
}

func (r *run) simulate() {
	cfg := r.job.Config
	restore := sim.InstallCryptoRand(r.job.Seed)
	defer restore()

	keep := r.job.TraceKeptMax
	if keep == 0 {
		keep = traceKeptDefault
	}
	r.world = sim.New(r.job.Seed, sim.Options{
		TraceRecordsKeptMax: keep,
		Network:             sim.NetworkOptions{Link: sim.LinkOptions{LatencyBase: time.Millisecond, LatencyJitter: 2 * time.Millisecond}},
	})
	w := r.world
	wl, err := newWorkload(cfg.Workload)
	assertf(err == nil, "job validated: %v", err)
	r.workload = wl
	r.schedule = scheduleOf(r.job)
	copts := sim.ClusterOptions{Members: cfg.Nodes}
	if tuner, ok := wl.(workloads.NodeTuner); ok {
		tuner.TuneNode(&copts.Node)
	}
	// The swarm's draw for the seed, then the options a person asked for,
	// which win.
	err = node.ApplyOptions(&copts.Node, r.schedule.Swarm.Members)
	assertf(err == nil, "the swarm drew member options %q: %v", r.schedule.Swarm.Members, err)
	err = node.ApplyOptions(&copts.Node, cfg.Options)
	assertf(err == nil, "job validated: %v", err)
	if cfg.Unsafe != "" {
		v, err := lookupVariant(cfg.Unsafe)
		assertf(err == nil, "job validated: %v", err)
		if !v.apply(&copts) {
			panic(fmt.Sprintf("unsafe variant %q is not in this build of the core", cfg.Unsafe))
		}
	}
	r.cluster = sim.NewCluster(w, copts)
	c := r.cluster

	assertf(slices.Equal(r.schedule.Nodes, c.IDs()), "schedule for members %v, cluster of %v", r.schedule.Nodes, c.IDs())
	c.ApplySchedule(r.schedule)
	c.Observe(func(call sim.Call) { r.calls = append(r.calls, call) })

	epoch := w.Now()
	duration := r.schedule.Duration
	env := workloads.Env{
		Cluster: c.Driver(),
		Rand:    w.Rand("workload"),
		Clients: cfg.Clients,
		OpsMax:  cfg.OpsMax,
		End:     epoch.Add(duration - r.schedule.Settle()),

		UnsafeRangeStreamUnpinned: copts.UnsafeRangeStreamUnpinned,
	}
	// Clients start once a first leader is elected, as a deployment's do:
	// a workload's first operation is often a set-up it cannot repeat.
	// Liveness is judged only once faults heal: a fault that starts before
	// the deadline — a majority down, but equally a partition or a disk so
	// slow that no election fits in an election timeout — moves it to its
	// heal plus the bound, and that later deadline may take in more faults.
	firstLeaderBound := firstLeaderWithin
	for moved := true; moved; {
		moved = false
		for _, f := range r.schedule.Faults {
			if f.At < firstLeaderBound && f.End()+firstLeaderWithin > firstLeaderBound {
				firstLeaderBound, moved = f.End()+firstLeaderWithin, true
			}
		}
	}
	if !r.awaitLeader(firstLeaderBound) {
		r.judge("", []string{fmt.Sprintf("no first leader within %v of the start", firstLeaderBound)})
		return
	}
	wl.Start(env)
	w.RunUntil(maxTime(env.End, w.Now()))
	if healed := epoch.Add(r.schedule.HealedBy()); healed.After(w.Now()) {
		w.RunUntil(healed)
	}

	bound := time.Duration(cfg.LivenessBound)
	problems := r.checkLive(bound)
	wl.Finish()
	w.RunUntil(maxTime(w.Now().Add(finishRun(wl, bound)), epoch.Add(duration)))
	// A workload that says when its final reads are done may need longer
	// than its bound: a long history read from a member that feeds it a
	// few events a round. Virtual time on a quiet cluster is cheap.
	if f, says := wl.(finisher); says {
		for overrun := w.Now().Add(finishOverrunMax); !f.Finished() && w.Now().Before(overrun); {
			w.RunFor(time.Second)
		}
	}
	divergence, lag := r.checkConverged(bound)
	problems = append(problems, lag...)
	problems = append(problems, r.cluster.LivenessProblems()...)

	checkStart := time.Now()
	r.verdicts = wl.Check(time.Duration(cfg.CheckTimeout))
	r.result.CheckWall = reports.Duration(time.Since(checkStart))
	r.judge(divergence, problems)
}

// clusterViolations are the simulator's own checkers' findings
// (configuration, backups), judged with the other checkers' violations.
func (r *run) clusterViolations() []string {
	if r.cluster == nil {
		return nil
	}
	return r.cluster.Violations()
}

// scheduleOf is the job's schedule: the one it carries, else the one drawn
// from its seed and profile (member ids are 1..Nodes, as sim numbers them).
func scheduleOf(j job) nemesis.Schedule {
	if j.Schedule != nil {
		return j.Schedule.Clone()
	}
	nodes := make([]uint64, j.Config.Nodes)
	for i := range nodes {
		nodes[i] = uint64(i + 1)
	}
	return nemesis.Generate(j.Seed, nemesis.GenerateOptions{
		Nodes: nodes, Duration: time.Duration(j.Config.Duration), Profile: j.Config.Nemesis, BeyondBudget: j.Config.BeyondBudget,
	})
}

// awaitLeader runs the World until a member leads, for at most bound.
func (r *run) awaitLeader(bound time.Duration) bool {
	deadline := r.world.Now().Add(bound)
	for r.cluster.Leader() == 0 {
		if !r.world.Now().Before(deadline) {
			return false
		}
		r.world.RunFor(10 * time.Millisecond)
	}
	return true
}

// checkLive waits up to bound for a leader and for a linearizable read to
// succeed, and returns what did not happen.
func (r *run) checkLive(bound time.Duration) []string {
	w, c := r.world, r.cluster
	deadline := w.Now().Add(bound)
	start := w.Now()
	if !r.awaitLeader(bound) {
		return []string{fmt.Sprintf("no leader within %v after the last fault healed at %v (up: %v)", bound, start.Sub(sim.DefaultEpoch), c.Up())}
	}
	probe := c.NewClient(sim.ClientOptions{Timeout: clientTimeout})
	probe.SetTarget(c.Leader())
	var served bool
	var last string
	for !served && w.Now().Before(deadline) {
		var got *sim.Call
		probe.Do(&pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte(probeKey)}}, func(call sim.Call) { got = &call })
		for got == nil {
			if !w.Step() {
				panic("kvsim: the world ran dry with a probe in flight")
			}
		}
		switch {
		case got.TimedOut:
			last = fmt.Sprintf("timed out at member %d", got.Member)
		case got.Err == rpctypes.ErrGRPCUserEmpty:
			// With auth on (the auth workload), a read without a token is
			// refused only once its read index is applied: served.
			served = true
		case got.Err != nil:
			last = fmt.Sprintf("member %d: %v", got.Member, got.Err)
			w.RunFor(50 * time.Millisecond)
		default:
			served = true
		}
	}
	if !served {
		return []string{fmt.Sprintf("no linearizable read served within %v after the faults healed (last: %s)", bound, last)}
	}
	return nil
}

// checkConverged waits up to bound for every live member to reach the same
// revision, then compares their KV hashes at the lowest revision any of
// them has. Different hashes at one revision is divergence (a correctness
// failure); never reaching one revision is lag (liveness).
func (r *run) checkConverged(bound time.Duration) (divergence string, lag []string) {
	w, c := r.world, r.cluster
	deadline := w.Now().Add(bound)
	for {
		up := c.Up()
		if down := len(c.IDs()) - len(up); down > 0 {
			var why []string
			for _, id := range c.IDs() {
				if !slices.Contains(up, id) {
					why = append(why, fmt.Sprintf("member %d (damaged: %v)", id, c.Member(id).Damaged()))
				}
			}
			if !w.Now().Before(deadline) {
				return "", []string{"members still down after every fault healed: " + strings.Join(why, ", ")}
			}
			w.RunFor(100 * time.Millisecond)
			continue
		}
		revs := make([]int64, len(up))
		for i, id := range up {
			revs[i] = c.Member(id).Node().Status().Revision
		}
		lo, hi := slices.Min(revs), slices.Max(revs)
		if div := hashesAt(c, up, lo); div != "" {
			return div, nil
		}
		alarms := alarmsDisagree(c, up)
		if lo == hi && alarms == "" {
			return "", nil
		}
		if lo == hi && !w.Now().Before(deadline) {
			// Alarms are replicated state: at one revision, after the
			// settle bound, members must hold the same ones.
			return alarms, nil
		}
		if !w.Now().Before(deadline) {
			return "", []string{fmt.Sprintf("members did not reach one revision within %v: revisions %v of members %v", bound, revs, up)}
		}
		w.RunFor(100 * time.Millisecond)
	}
}

// alarmsDisagree says how two members' active alarms differ, "" if all
// hold the same.
func alarmsDisagree(c *sim.Cluster, ids []uint64) string {
	var want []*pb.AlarmMember
	for i, id := range ids {
		got := c.Member(id).Node().Alarms()
		if i == 0 {
			want = got
			continue
		}
		if !slices.EqualFunc(got, want, func(a, b *pb.AlarmMember) bool { return proto.Equal(a, b) }) {
			return fmt.Sprintf("members disagree on alarms: member %d holds %v, member %d holds %v", ids[0], want, id, got)
		}
	}
	return ""
}

// hashesAt compares the simulated members' KV hashes at rev.
func hashesAt(c *sim.Cluster, ids []uint64, rev int64) string {
	return divergence(ids, rev, func(id uint64, rev int64) (uint32, error) {
		h, err := c.Member(id).Node().HashKV(rev)
		if err != nil {
			return 0, err
		}
		return h.Hash, nil
	})
}

// divergence compares the members' KV hashes at rev, as hash reads them,
// and says which two differ ("" when none do). A member that cannot hash
// at rev (compacted past it, unreachable) is skipped.
func divergence(ids []uint64, rev int64, hash func(id uint64, rev int64) (uint32, error)) string {
	var want uint32
	var from uint64
	for _, id := range ids {
		h, err := hash(id, rev)
		if err != nil {
			continue
		}
		if from == 0 {
			want, from = h, id
			continue
		}
		if h != want {
			return fmt.Sprintf("members diverged: member %d hashes %08x and member %d hashes %08x at revision %d", from, want, id, h, rev)
		}
	}
	return ""
}

// judge sets the outcome: a checker's violation or divergence is a
// correctness failure; else a liveness problem; else an undecided checker.
func (r *run) judge(divergence string, liveness []string) {
	res := &r.result
	var violations, unknowns []string
	for _, v := range r.verdicts {
		switch v.Outcome {
		case linearizability.Violation:
			violations = append(violations, v.Checker+": "+v.Detail)
		case linearizability.Unknown:
			unknowns = append(unknowns, v.Checker+": "+v.Detail)
		case linearizability.OK:
		default:
			panic(fmt.Sprintf("kvsim: checker %q returned outcome %q", v.Checker, v.Outcome))
		}
	}
	if divergence != "" {
		violations = append(violations, "convergence: "+divergence)
	}
	violations = append(violations, r.clusterViolations()...)
	switch {
	case len(violations) > 0:
		res.Outcome = reports.Correctness
		res.Detail = strings.Join(append(violations, liveness...), "\n")
	case len(liveness) > 0:
		res.Outcome = reports.Liveness
		res.Detail = strings.Join(liveness, "\n")
	case len(unknowns) > 0:
		res.Outcome = reports.Unknown
		res.Detail = strings.Join(unknowns, "\n")
	default:
		res.Outcome = reports.Pass
	}
}

// finishDurationer is a workload that knows how much virtual time its
// final operations need after Finish.
type finishDurationer interface {
	FinishDuration() time.Duration
}

// finishRun is how long the World runs after Finish: what the workload
// asks for, else finishRunDefault, and never less than the liveness bound.
func finishRun(wl workloads.Workload, bound time.Duration) time.Duration {
	d := finishRunDefault
	if f, ok := wl.(finishDurationer); ok {
		d = f.FinishDuration()
	}
	return max(d, bound)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// errHarness marks a failure of the harness itself (bad flags, unreadable
// files, a worker that cannot start), as opposed to a finding.
var errHarness = errors.New("harness error")

func assertf(ok bool, format string, args ...any) {
	if !ok {
		panic(fmt.Sprintf("kvsim: invariant violated: "+format, args...))
	}
}
