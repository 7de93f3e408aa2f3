package realcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/kvdlabs/kvd/internal/procs"
	"github.com/kvdlabs/kvd/nemesis"
)

// kvdBin is kvd built from this tree once for the package's tests, or the
// binary REALCLUSTER_TEST_BIN names: REALCLUSTER_TEST_BIN=$PWD/bin/etcd
// runs the same tests on etcd (after make etcd).
var kvdBin string

func TestMain(m *testing.M) {
	if os.Getenv("REALCLUSTER_HELPER_DIAL") != "" {
		os.Exit(m.Run()) // a child of TestProxyFindsTheDialingProcess
	}
	if bin := os.Getenv("REALCLUSTER_TEST_BIN"); bin != "" {
		kvdBin = bin
		os.Exit(m.Run())
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	bins, cleanup, err := procs.BuildInTemp(root, "kvd")
	if err != nil {
		fmt.Fprintln(os.Stderr, "realcluster tests:", err)
		os.Exit(1)
	}
	kvdBin = bins[0]
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// fastElections makes kvd elect within a fraction of a second, so the
// tests wait little.
var fastElections = []string{"--heartbeat-interval", "10", "--election-timeout", "100", "--log-level", "warn"}

// startTestCluster starts members kvd members; the cluster is stopped and
// its directory removed with the test (its logs printed on failure).
func startTestCluster(t *testing.T, members int) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Start(ctx, Options{Binary: kvdBin, Members: members, Dir: t.TempDir(), ExtraFlags: fastElections, Seed: 1,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatalf("start %d kvd members: %v", members, err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
		if t.Failed() {
			for _, id := range c.IDs() {
				t.Logf("member %d log:\n%s", id, logTail(c.LogPath(id)))
			}
		}
	})
	return c
}

// testWriter sends the cluster's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// client returns a clientv3 client of the harness's proxied links.
func client(t *testing.T, c *Cluster, ids ...uint64) *clientv3.Client {
	t.Helper()
	var eps []string
	for _, id := range ids {
		eps = append(eps, c.ClientAddr(id))
	}
	cl, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// eventually retries fn every 50 ms until it returns nil or within ends.
func eventually(t *testing.T, within time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// put writes through one member's proxied client link.
func put(c *clientv3.Client, key, value string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := c.Put(ctx, key, value)
	return err
}

// get reads key linearizably.
func get(c *clientv3.Client, key string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	resp, err := c.Get(ctx, key)
	if err != nil {
		return "", err
	}
	if len(resp.Kvs) != 1 {
		return "", fmt.Errorf("get %q: %d keys", key, len(resp.Kvs))
	}
	return string(resp.Kvs[0].Value), nil
}

func leader(t *testing.T, c *Cluster) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.Leader(ctx)
}

// The life of a cluster: serve through the proxies, lose and regain a
// member, pause one, elect a new leader when the old one is cut off, and
// leave no process behind.
func TestClusterLifecycle(t *testing.T) {
	c := startTestCluster(t, 3)
	ids := c.IDs()
	if !slices.Equal(ids, []uint64{1, 2, 3}) || !slices.Equal(c.Up(), ids) {
		t.Fatalf("ids %v up %v, want 1..3 all up", ids, c.Up())
	}
	all := client(t, c, ids...)
	eventually(t, 5*time.Second, "put through the proxies", func() error { return put(all, "k", "v1") })
	for _, id := range ids {
		one := client(t, c, id)
		eventually(t, 5*time.Second, fmt.Sprintf("get through member %d's proxy", id), func() error {
			v, err := get(one, "k")
			if err == nil && v != "v1" {
				err = fmt.Errorf("read %q, want v1", v)
			}
			return err
		})
	}

	// The proxies name the members that dial each other.
	eventually(t, 5*time.Second, "peer connections named by their dialer", func() error {
		peers := 0
		for _, l := range c.Network().Conns() {
			if l.From != Harness && l.From != l.To {
				peers++
			}
		}
		if peers == 0 {
			return fmt.Errorf("connections %v: none from a member", c.Network().Conns())
		}
		return nil
	})

	for _, stop := range []struct {
		how    string
		victim uint64
		do     func(id uint64) error
	}{{"kill", 2, c.Kill}, {"terminate", 1, c.Terminate}} {
		t.Run(stop.how+" and restart", func(t *testing.T) {
			victim, value := stop.victim, "v2"+stop.how
			pid := c.PID(victim)
			if err := stop.do(victim); err != nil {
				t.Fatal(err)
			}
			if c.PID(victim) != 0 || slices.Contains(c.Up(), victim) {
				t.Fatalf("member %d stopped (%s) but pid %d, up %v", victim, stop.how, c.PID(victim), c.Up())
			}
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Fatalf("pid %d of the stopped member: kill -0 gives %v, want ESRCH", pid, err)
			}
			eventually(t, 5*time.Second, "put with a member down", func() error { return put(all, "k", value) })
			if err := c.Restart(victim); err != nil {
				t.Fatal(err)
			}
			if err := c.Restart(victim); err == nil {
				t.Fatal("restarting a running member was accepted")
			}
			one := client(t, c, victim)
			eventually(t, 10*time.Second, "the restarted member serves what it missed", func() error {
				v, err := get(one, "k")
				if err == nil && v != value {
					err = fmt.Errorf("read %q, want %s", v, value)
				}
				return err
			})
		})
	}

	t.Run("pause and resume", func(t *testing.T) {
		victim := uint64(3)
		if err := c.Pause(victim); err != nil {
			t.Fatal(err)
		}
		if !c.Paused(victim) || !slices.Contains(c.Up(), victim) {
			t.Fatalf("paused member %d: paused %v, up %v; want paused and up", victim, c.Paused(victim), c.Up())
		}
		eventually(t, 5*time.Second, "put with a member paused", func() error { return put(all, "k", "v3") })
		if err := c.Resume(victim); err != nil {
			t.Fatal(err)
		}
		one := client(t, c, victim)
		eventually(t, 10*time.Second, "the resumed member serves", func() error {
			v, err := get(one, "k")
			if err == nil && v != "v3" {
				err = fmt.Errorf("read %q, want v3", v)
			}
			return err
		})
	})

	t.Run("isolated leader is replaced", func(t *testing.T) {
		var old uint64
		eventually(t, 5*time.Second, "a leader", func() error {
			var err error
			if old, err = leader(t, c); err == nil && old == 0 {
				err = errors.New("no leader")
			}
			return err
		})
		rules := map[Link]LinkRule{}
		for _, id := range ids {
			if id != old {
				rules[Link{old, id}] = LinkRule{Blocked: true}
				rules[Link{id, old}] = LinkRule{Blocked: true}
			}
		}
		c.Network().SetRules(rules)
		eventually(t, 10*time.Second, "a new leader", func() error {
			l, err := leader(t, c)
			if err == nil && (l == 0 || l == old) {
				err = fmt.Errorf("leader %d, old leader %d", l, old)
			}
			return err
		})
		c.Network().Clear()
		eventually(t, 10*time.Second, "put after the heal", func() error { return put(all, "k", "v4") })
	})

	pids := map[uint64]int{}
	for _, id := range ids {
		pids[id] = c.PID(id)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	for id, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("member %d's pid %d after Stop: kill -0 gives %v, want ESRCH", id, pid, err)
		}
	}
	if len(c.Up()) != 0 {
		t.Fatalf("up after Stop: %v", c.Up())
	}
	if err := c.Restart(1); err == nil {
		t.Fatal("restart after Stop was accepted")
	}
	if fi, err := os.Stat(c.LogPath(1)); err != nil || fi.Size() == 0 {
		t.Fatalf("member 1's log after Stop: %v", err)
	}
	if err := c.RemoveDir(); err != nil {
		t.Fatal(err)
	}
}

// A schedule of every kind the real nemesis takes runs in wall-clock time,
// heals, and leaves every member running and the cluster serving.
func TestNemesisCarriesOutAScheduleAndHeals(t *testing.T) {
	c := startTestCluster(t, 3)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	f := func(at, until int, kind nemesis.Kind, targets ...uint64) nemesis.Fault {
		return nemesis.Fault{At: ms(at), Until: ms(until), Kind: kind, Targets: targets}
	}
	loss := f(1500, 1800, nemesis.PacketLoss, 1)
	loss.Params = map[string]float64{nemesis.ParamProbability: 0.2}
	delay := f(1900, 2200, nemesis.PacketDelay)
	delay.Params = map[string]float64{nemesis.ParamDelayMs: 20, nemesis.ParamJitterMs: 5}
	s := nemesis.Schedule{Nodes: c.IDs(), Duration: 20 * time.Second, Faults: []nemesis.Fault{
		f(0, 400, nemesis.CrashRestart),
		f(100, 500, nemesis.Pause, 3),
		f(600, 900, nemesis.PartitionIsolateLeader),
		f(1000, 1300, nemesis.PartitionHalves),
		f(1000, 1300, nemesis.PartitionOneWay, 2),
		f(1300, 1500, nemesis.PartitionBridge),
		f(1350, 1500, nemesis.PartitionRing),
		loss, delay,
		f(2300, 2700, nemesis.ClusterRestart),
	}}
	if err := Check(s); err != nil {
		t.Fatalf("Check: %v", err)
	}
	bad := s.Clone()
	bad.Faults = append(bad.Faults, nemesis.Fault{At: ms(2800), Until: ms(2900), Kind: nemesis.DiskFull},
		nemesis.Fault{At: ms(2900), Until: ms(3000), Kind: nemesis.PacketReorder, Params: map[string]float64{nemesis.ParamProbability: 0.1, nemesis.ParamDelayMaxMs: 10}})
	if err := Check(bad); err == nil {
		t.Fatal("Check accepted disk-full and packet-reorder")
	} else if msg := err.Error(); !containsAll(msg, "disk-full", "packet-reorder") {
		t.Fatalf("Check named not every unsupported fault: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n := RunNemesis(ctx, c, s, time.Now())
	// Inside the cluster restart nothing runs.
	time.Sleep(2500 * time.Millisecond)
	if up := c.Up(); len(up) != 0 {
		t.Errorf("members %v up inside the cluster restart", up)
	}
	n.Wait()
	if ctx.Err() != nil {
		t.Fatal("the nemesis outlived its context")
	}
	if !n.Done() {
		t.Fatal("Wait returned before Done")
	}
	w := n.Windows()
	if len(w) != len(s.Faults) {
		t.Fatalf("%d windows for %d faults: %v", len(w), len(s.Faults), w)
	}
	for i, win := range w {
		if win.Kind != string(s.Faults[i].Kind) || win.To <= win.From || win.From < s.Faults[i].At || len(win.Targets) == 0 {
			t.Errorf("window %d %+v does not carry out %s", i, win, s.Faults[i])
		}
	}
	if !slices.Equal(w[len(w)-1].Targets, c.IDs()) {
		t.Errorf("cluster restart hit %v, want every member", w[len(w)-1].Targets)
	}
	if !slices.Equal(c.Up(), c.IDs()) || len(c.Network().Rules()) != 0 {
		t.Fatalf("after every heal: up %v, rules %v", c.Up(), c.Network().Rules())
	}
	for _, id := range c.IDs() {
		if c.Paused(id) {
			t.Fatalf("member %d still paused", id)
		}
	}
	all := client(t, c, c.IDs()...)
	eventually(t, 10*time.Second, "put after the nemesis", func() error { return put(all, "after", "nemesis") })
}

// Ending the context heals at once: the killed member runs again and the
// rules are gone.
func TestNemesisHealsWhenTheRunEnds(t *testing.T) {
	c := startTestCluster(t, 3)
	s := nemesis.Schedule{Nodes: c.IDs(), Duration: time.Hour, Faults: []nemesis.Fault{
		{At: 0, Until: 30 * time.Minute, Kind: nemesis.CrashRestart, Targets: []uint64{1}},
		{At: 0, Until: 30 * time.Minute, Kind: nemesis.Pause, Targets: []uint64{2}},
		{At: 0, Until: 30 * time.Minute, Kind: nemesis.PartitionOneWay, Targets: []uint64{3}},
	}}
	ctx, cancel := context.WithCancel(context.Background())
	n := RunNemesis(ctx, c, s, time.Now())
	eventually(t, 5*time.Second, "every fault started", func() error {
		if len(n.Windows()) < 3 {
			return fmt.Errorf("windows %v", n.Windows())
		}
		return nil
	})
	if c.PID(1) != 0 || !c.Paused(2) || len(c.Network().Rules()) == 0 {
		t.Fatalf("faults not in effect: pid of 1 %d, 2 paused %v, rules %v", c.PID(1), c.Paused(2), c.Network().Rules())
	}
	cancel()
	n.Wait()
	if !slices.Equal(c.Up(), c.IDs()) || c.Paused(2) || len(c.Network().Rules()) != 0 {
		t.Fatalf("after the run ended: up %v, 2 paused %v, rules %v", c.Up(), c.Paused(2), c.Network().Rules())
	}
	for _, w := range n.Windows() {
		if w.Note == "" {
			t.Errorf("window %+v healed early without a note", w)
		}
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
