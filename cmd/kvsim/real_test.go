package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvdlabs/kvd/internal/procs"
	"github.com/kvdlabs/kvd/linearizability"
	"github.com/kvdlabs/kvd/nemesis"
	"github.com/kvdlabs/kvd/realcluster"
	"github.com/kvdlabs/kvd/realdriver"
	"github.com/kvdlabs/kvd/reports"
	"github.com/kvdlabs/kvd/workloads"
)

var (
	kvdOnce sync.Once
	kvdPath string
	kvdErr  error
)

// kvdBinary builds cmd/kvd once for the package's real-process tests.
func kvdBinary(t *testing.T) string {
	t.Helper()
	kvdOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		dir, err := os.MkdirTemp("", "kvsim-test-kvd")
		if err != nil {
			kvdErr = err
			return
		}
		paths, err := procs.Build(filepath.Join(filepath.Dir(file), "..", ".."), dir, "kvd")
		if err != nil {
			kvdErr = err
			return
		}
		kvdPath = paths[0]
	})
	if kvdErr != nil {
		t.Fatalf("building kvd: %v", kvdErr)
	}
	return kvdPath
}

// shortRealSchedule is make test's real campaign: a kill of the leader, a
// pause, and the leader cut off by the proxies, all healed by 13 s.
func shortRealSchedule(t *testing.T) nemesis.Schedule {
	t.Helper()
	s := nemesis.Schedule{
		Nodes: []uint64{1, 2, 3}, Duration: 23 * time.Second,
		Faults: []nemesis.Fault{
			{At: 2 * time.Second, Kind: nemesis.CrashRestart, Until: 4 * time.Second},
			{At: 6 * time.Second, Kind: nemesis.Pause, Targets: []uint64{2}, Until: 8 * time.Second},
			{At: 9 * time.Second, Kind: nemesis.PartitionIsolateLeader, Until: 12 * time.Second},
		},
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("the test's schedule: %v", err)
	}
	return s
}

// shortRealRunPasses runs workload on three kvd members under
// shortRealSchedule, requires a pass, and returns the report folder and
// the run's result.
func shortRealRunPasses(t *testing.T, workload string) (string, reports.Result) {
	t.Helper()
	bin := kvdBinary(t)
	dir := t.TempDir()
	sched, err := json.Marshal(shortRealSchedule(t))
	if err != nil {
		t.Fatal(err)
	}
	schedFile := filepath.Join(dir, "schedule.json")
	if err := os.WriteFile(schedFile, sched, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report")
	code, stdout, stderr := runCLI(t, "real", "--bin", bin, "--workload", workload, "--seeds", "1",
		"--schedule", schedFile, "--out", out)
	if code != exitPass {
		t.Fatalf("kvsim real --workload %s exited %d\nstdout:\n%s\nstderr:\n%s", workload, code, stdout, stderr)
	}
	sum, err := reports.ReadSummary(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Results) != 1 || sum.Results[0].Outcome != reports.Pass {
		t.Fatalf("want one passing run, got %+v", sum.Results)
	}
	return out, sum.Results[0]
}

// A short real campaign against kvd passes, with a history and every
// fault of its schedule carried out.
func TestRealRegisterOnKvdPasses(t *testing.T) {
	out, res := shortRealRunPasses(t, "register")
	if res.Ops < 50 {
		t.Errorf("only %d operations in a 13 s workload", res.Ops)
	}
	kinds := map[string]bool{}
	for _, f := range res.Faults {
		kinds[f.Kind] = true
	}
	for _, k := range []nemesis.Kind{nemesis.CrashRestart, nemesis.Pause, nemesis.PartitionIsolateLeader} {
		if !kinds[string(k)] {
			t.Errorf("fault %s was not carried out (faults: %+v)", k, res.Faults)
		}
	}
	hist, err := os.ReadFile(filepath.Join(reports.SeedDir(out, 1), reports.HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	var calls []historyCall
	if err := json.Unmarshal(hist, &calls); err != nil || len(calls) < res.Ops {
		t.Fatalf("history.json holds %d calls (err %v), the run issued %d operations", len(calls), err, res.Ops)
	}
	verdicts := map[string]linearizability.Outcome{}
	for _, v := range res.Verdicts {
		verdicts[v.Checker] = v.Outcome
	}
	if verdicts[linearizability.CheckerKVLinearizable] != linearizability.OK {
		t.Errorf("kv-linearizable: %v (verdicts %v)", verdicts[linearizability.CheckerKVLinearizable], verdicts)
	}
	if _, err := os.Stat(filepath.Join(out, reports.IndexFile)); err != nil {
		t.Errorf("no report page: %v", err)
	}

	// The real run's seed folder replays in the simulator: the same seed,
	// workload and schedule, now bit-exact and with a trace to read.
	seedDir := reports.SeedDir(out, 1)
	code, stdout, stderr := runCLI(t, "replay", "--record", seedDir, "--trace", "none", "--out", t.TempDir())
	if code != exitPass {
		t.Fatalf("kvsim replay --record %s exited %d\nstdout:\n%s\nstderr:\n%s", seedDir, code, stdout, stderr)
	}
	if !strings.Contains(stdout, "seed 1") {
		t.Errorf("the replay does not report seed 1:\n%s", stdout)
	}
}

// The auth workload turns auth on, after which kvd and etcd answer the
// harness's own status checks and hashes only to an authenticated user:
// the harness authenticates as the workload's root, again after the
// leader's restart lost its token, and the run passes on its merits (it
// ended in a false liveness failure before).
func TestRealAuthOnKvdPasses(t *testing.T) {
	t.Parallel()
	_, res := shortRealRunPasses(t, "auth")
	verdicts := map[string]linearizability.Outcome{}
	for _, v := range res.Verdicts {
		verdicts[v.Checker] = v.Outcome
	}
	if verdicts[linearizability.CheckerAuth] != linearizability.OK {
		t.Errorf("auth: %v (verdicts %v)", verdicts[linearizability.CheckerAuth], verdicts)
	}
}

// On real processes a write whose answer never came is indeterminate, and
// the committed history read back at the end decides it, as in simulation.
func TestRealIndeterminateWritesResolvedFromCommittedHistory(t *testing.T) {
	bin := kvdBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := realcluster.Start(ctx, realcluster.Options{Binary: bin, Members: 3, Dir: t.TempDir(), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	var members []realdriver.Member
	for _, id := range c.IDs() {
		members = append(members, realdriver.Member{ID: id, Addr: c.ClientAddr(id)})
	}
	loop, err := realdriver.New(realdriver.Options{Members: members, Up: c.Up})
	if err != nil {
		t.Fatal(err)
	}
	defer loop.Close()
	// Every write reaches a member, but the 100 ms of latency the proxies
	// add to the client links outlasts the 50 ms call timeout: each write
	// is answered too late to be known, and most still apply.
	c.Network().SetClientDelay(100*time.Millisecond, 0)
	wl := workloads.NewRegister(workloads.RegisterOptions{Keys: 3, CallTimeout: 50 * time.Millisecond, FinalAttemptsMax: 1})
	start := time.Now()
	wl.Start(workloads.Env{Cluster: loop, Rand: rand.New(rand.NewPCG(1, 2)), Clients: 2, OpsMax: 40, End: start.Add(2 * time.Second)})
	loop.RunUntil(start.Add(2 * time.Second))
	c.Network().SetClientDelay(0, 0)
	wl.Finish()
	loop.RunWhile(func() bool { return !wl.Finished() }, time.Now().Add(30*time.Second))
	if !wl.Finished() {
		t.Fatal("the register's final writes and committed-history read did not finish within 30 s")
	}
	var indeterminate int
	for _, op := range wl.History() {
		if op.Indeterminate {
			indeterminate++
		}
	}
	if indeterminate == 0 {
		t.Fatal("no write was indeterminate: the test lost its subject")
	}
	var lin linearizability.Verdict
	for _, v := range wl.Check(30 * time.Second) {
		if v.Checker == linearizability.CheckerKVLinearizable {
			lin = v
		}
	}
	if lin.Outcome != linearizability.OK {
		t.Fatalf("kv-linearizable: %s: %s", lin.Outcome, lin.Detail)
	}
	if !strings.Contains(lin.Detail, "committed history") || strings.Contains(lin.Detail, " 0 indeterminate writes resolved") {
		t.Fatalf("the committed history resolved none of %d indeterminate writes: %s", indeterminate, lin.Detail)
	}
	t.Logf("%d indeterminate calls; %s", indeterminate, lin.Detail)
}
