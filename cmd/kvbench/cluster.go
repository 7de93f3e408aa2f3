package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/kvdlabs/kvd/internal/procs"
)

// ClusterSettings are what both systems get, flag for flag (etcd's names).
type ClusterSettings struct {
	Members             int
	HeartbeatIntervalMs int
	ElectionTimeoutMs   int
	SnapshotCount       int
	QuotaBackendBytes   int64
	// Pprof passes --enable-pprof, serving /debug/pprof on the client port.
	Pprof bool
}

// member is one server process this tool started; only these are stopped.
// bin and args are kept so that the restart configuration can start it
// again exactly as before; cmd, pid and exited are then the new process's.
type member struct {
	name      string
	clientURL string
	bin       string
	args      []string
	cmd       *exec.Cmd
	pid       int
	exited    chan struct{}
	logPath   string
}

// start runs the member's process, its output appended to its log (a
// restarted member's log keeps what the first process wrote).
func (m *member) start() error {
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start member %s: open log: %w", m.name, err)
	}
	cmd := exec.Command(m.bin, m.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start member %s (%s): %w", m.name, m.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	m.cmd, m.pid, m.exited = cmd, cmd.Process.Pid, exited
	return nil
}

// stopOne ends the member's process by its PID: SIGTERM, then SIGKILL
// past memberStopTimeout. killed tells which ended it.
func (m *member) stopOne() (killed bool) {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
		return false
	case <-time.After(memberStopTimeout):
		_ = m.cmd.Process.Kill()
		<-m.exited
		return true
	}
}

// cluster is a set of members of one system, all on 127.0.0.1.
type cluster struct {
	system  string
	members []*member
}

const (
	clusterReadyTimeout = 60 * time.Second
	memberStopTimeout   = 15 * time.Second
)

// memberArgs are etcd's flags for member i; kvd accepts the same names.
func memberArgs(s ClusterSettings, system, dir string, i int, peerURLs, clientURLs []string) []string {
	var initial []string
	for j, u := range peerURLs {
		initial = append(initial, fmt.Sprintf("%s-%d=%s", system, j, u))
	}
	args := []string{
		"--name", fmt.Sprintf("%s-%d", system, i),
		"--data-dir", filepath.Join(dir, fmt.Sprintf("%s-%d.data", system, i)),
		"--listen-client-urls", clientURLs[i], "--advertise-client-urls", clientURLs[i],
		"--listen-peer-urls", peerURLs[i], "--initial-advertise-peer-urls", peerURLs[i],
		"--initial-cluster", strings.Join(initial, ","),
		"--initial-cluster-state", "new", "--initial-cluster-token", system + "-bench",
		"--heartbeat-interval", strconv.Itoa(s.HeartbeatIntervalMs),
		"--election-timeout", strconv.Itoa(s.ElectionTimeoutMs),
		"--snapshot-count", strconv.Itoa(s.SnapshotCount),
		"--quota-backend-bytes", strconv.FormatInt(s.QuotaBackendBytes, 10),
		"--log-level", "warn",
	}
	if s.Pprof {
		args = append(args, "--enable-pprof")
	}
	return args
}

// startCluster starts s.Members processes of bin under dir and waits until
// every member answers and a write commits.
func startCluster(ctx context.Context, system, bin, dir string, s ClusterSettings) (*cluster, error) {
	ports, err := procs.FreeLoopbackPorts(2 * s.Members)
	if err != nil {
		return nil, err
	}
	var peerURLs, clientURLs []string
	for i := range s.Members {
		clientURLs = append(clientURLs, fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]))
		peerURLs = append(peerURLs, fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]))
	}
	c := &cluster{system: system}
	for i := range s.Members {
		m := &member{name: fmt.Sprintf("%s-%d", system, i), clientURL: clientURLs[i], bin: bin,
			args: memberArgs(s, system, dir, i, peerURLs, clientURLs), logPath: filepath.Join(dir, fmt.Sprintf("%s-%d.log", system, i))}
		if err := m.start(); err != nil {
			c.stop()
			return nil, fmt.Errorf("start %s cluster: %w", system, err)
		}
		c.members = append(c.members, m)
	}
	if err := c.waitReady(ctx); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

func (c *cluster) endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.clientURL)
	}
	return eps
}

// waitReady polls until every member reports a leader and a put commits.
func (c *cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, clusterReadyTimeout)
	defer cancel()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return fmt.Errorf("%s cluster: dial %v: %w", c.system, c.endpoints(), err)
	}
	defer cli.Close()
	var last error
	for ctx.Err() == nil {
		if m := c.exitedMember(); m != nil {
			return fmt.Errorf("%s member %s (pid %d) exited during start-up; see %s", c.system, m.name, m.pid, m.logPath)
		}
		last = c.probe(ctx, cli)
		if last == nil {
			return nil
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	return fmt.Errorf("%s cluster not ready within %v: %w", c.system, clusterReadyTimeout, errors.Join(last, ctx.Err()))
}

func (c *cluster) probe(ctx context.Context, cli *clientv3.Client) error {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for _, ep := range c.endpoints() {
		st, err := cli.Status(pctx, ep)
		if err != nil {
			return fmt.Errorf("status of %s: %w", ep, err)
		}
		if st.Leader == 0 {
			return fmt.Errorf("%s has no leader yet", ep)
		}
	}
	_, err := cli.Put(pctx, "kvbench/ready", "1")
	return err
}

// leaderLookupTimeout bounds finding a cluster's leader, an election included.
const leaderLookupTimeout = 15 * time.Second

// leaderIndex is the index of the member that reports itself leader,
// asked of every member in turn until one does (an election may be under
// way) or leaderLookupTimeout passes.
func (c *cluster) leaderIndex(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, leaderLookupTimeout)
	defer cancel()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return -1, fmt.Errorf("%s cluster: dial %v: %w", c.system, c.endpoints(), err)
	}
	defer cli.Close()
	var last error
	for ctx.Err() == nil {
		for i, ep := range c.endpoints() {
			sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
			st, err := cli.Status(sctx, ep)
			scancel()
			if err != nil {
				last = fmt.Errorf("status of %s: %w", ep, err)
				continue
			}
			if st.Leader != 0 && st.Header.GetMemberId() == st.Leader {
				return i, nil
			}
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	return -1, fmt.Errorf("%s cluster: no member reported itself leader within %v: %w", c.system, leaderLookupTimeout, errors.Join(last, ctx.Err()))
}

func (c *cluster) exitedMember() *member {
	for _, m := range c.members {
		select {
		case <-m.exited:
			return m
		default:
		}
	}
	return nil
}

// stop ends the members this tool started, by their recorded PIDs: SIGTERM,
// then SIGKILL for one that does not exit in time.
func (c *cluster) stop() {
	for _, m := range c.members {
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.After(memberStopTimeout)
	for _, m := range c.members {
		select {
		case <-m.exited:
		case <-deadline:
			_ = m.cmd.Process.Kill()
			<-m.exited
		}
	}
}

// rssBytes reads a process's resident set size from /proc/PID/status.
func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read RSS of pid %d: %w", pid, err)
	}
	return parseVmRSS(string(b))
}

// parseVmRSS finds "VmRSS:   1234 kB" in a /proc status file.
func parseVmRSS(status string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("VmRSS line %q: want a number of kB", line)
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS line %q: %w", line, err)
		}
		return kb * 1024, nil
	}
	return 0, errors.New("no VmRSS line in /proc status")
}

// clockTicksPerSecond is USER_HZ, the unit of /proc/PID/stat's CPU times;
// 100 on every Linux architecture Go supports.
const clockTicksPerSecond = 100

// cpuSeconds is a process's user plus system CPU time so far.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time of pid %d: %w", pid, err)
	}
	return parseStatCPUSeconds(string(b))
}

// parseStatCPUSeconds reads utime and stime (fields 14 and 15) from a
// /proc/PID/stat line; the command name, field 2, may hold spaces, so
// fields are counted after its closing parenthesis.
func parseStatCPUSeconds(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no command name in /proc stat line")
	}
	fields := strings.Fields(stat[i+1:])
	// fields[0] is field 3 (state), so utime (14) is fields[11].
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc stat line has %d fields after the name, want at least 13", len(fields))
	}
	var ticks float64
	for _, f := range fields[11:13] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat CPU field %q: %w", f, err)
		}
		ticks += float64(v)
	}
	return ticks / clockTicksPerSecond, nil
}

// cpuSeconds sums the members' CPU time.
func (c *cluster) cpuSeconds() (float64, error) {
	var sum float64
	for _, m := range c.members {
		s, err := cpuSeconds(m.pid)
		if err != nil {
			return 0, err
		}
		sum += s
	}
	return sum, nil
}

// rssSampleInterval is how often vs reads every member's VmRSS during a run.
const rssSampleInterval = 100 * time.Millisecond

// pids are the members' process IDs, in member order.
func (c *cluster) pids() []int {
	var ps []int
	for _, m := range c.members {
		ps = append(ps, m.pid)
	}
	return ps
}

// samplePeakRSS reads every pid's VmRSS now and then every interval until
// the returned stop is called, which samples once more and returns each
// pid's peak (0 for a pid never read: a process that is gone). A spike
// shorter than interval between two samples can be missed.
func samplePeakRSS(pids []int, interval time.Duration) (stop func() []int64) {
	peaks := make([]int64, len(pids))
	sample := func() {
		for i, pid := range pids {
			if rss, err := rssBytes(pid); err == nil {
				peaks[i] = max(peaks[i], rss)
			}
		}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		sample()
		for {
			select {
			case <-done:
				sample()
				return
			case <-t.C:
				sample()
			}
		}
	}()
	var once sync.Once
	return func() []int64 {
		once.Do(func() { close(done) })
		<-finished
		return peaks
	}
}
