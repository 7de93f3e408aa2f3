package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvdlabs/kvd/internal/procs"
)

// Binaries built once for the package's tests.
var (
	kvdBin     string
	etcdctlBin string
)

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	bins, cleanup, err := procs.BuildInTemp(filepath.Join(filepath.Dir(file), "..", ".."), "kvd", "etcdctl")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kvdBin, etcdctlBin = bins[0], bins[1]
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// proc is one kvd process of a test cluster.
type proc struct {
	name      string
	args      []string
	clientURL string
	cmd       *exec.Cmd
	log       *procs.Output
	exited    chan struct{}
}

type procCluster struct {
	t     *testing.T
	procs []*proc
}

// freePorts reserves n loopback ports for a test's processes.
func freePorts(t *testing.T, n int) []int {
	ports, err := procs.FreeLoopbackPorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// startProcCluster starts size kvd processes with 10 ms heartbeats and
// 100 ms elections.
func startProcCluster(t *testing.T, size int, extraArgs ...string) *procCluster {
	return startSchemeProcCluster(t, size, "http", func(int) []string { return extraArgs })
}

// startSchemeProcCluster starts size members on client and peer URLs of
// scheme (http or https); args(i) are member i's further flags.
func startSchemeProcCluster(t *testing.T, size int, scheme string, args func(i int) []string) *procCluster {
	c := newProcCluster(t, size, scheme, args)
	for _, p := range c.procs {
		c.start(p)
	}
	return c
}

// newProcCluster is startSchemeProcCluster without the starting: the test
// starts each member with c.start.
func newProcCluster(t *testing.T, size int, scheme string, args func(i int) []string) *procCluster {
	ports := freePorts(t, 2*size)
	dir := t.TempDir()
	var initial []string
	for i := range size {
		initial = append(initial, fmt.Sprintf("m%d=%s://127.0.0.1:%d", i, scheme, ports[2*i+1]))
	}
	c := &procCluster{t: t}
	for i := range size {
		clientURL := fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[2*i])
		peerURL := fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[2*i+1])
		p := &proc{
			name:      fmt.Sprintf("m%d", i),
			clientURL: clientURL,
			args: append([]string{
				"--name", fmt.Sprintf("m%d", i), "--data-dir", filepath.Join(dir, fmt.Sprintf("m%d.etcd", i)),
				"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
				"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
				"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-token", "test-" + t.Name(),
				"--initial-cluster-state", "new", "--heartbeat-interval", "10", "--election-timeout", "100",
				"--log-level", "warn",
			}, args(i)...),
		}
		c.procs = append(c.procs, p)
	}
	t.Cleanup(c.stopAll)
	return c
}

func (c *procCluster) start(p *proc) {
	p.log = &procs.Output{}
	p.cmd = exec.Command(kvdBin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func() { p.cmd.Wait(); close(p.exited) }()
}

// stopAll sends SIGTERM to every process still running and waits for it.
func (c *procCluster) stopAll() {
	for _, p := range c.procs {
		if p.cmd == nil {
			continue // never started
		}
		select {
		case <-p.exited:
			continue
		default:
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
			c.t.Errorf("%s ignored SIGTERM for 10s", p.name)
		}
		if c.t.Failed() {
			c.t.Logf("%s log:\n%s", p.name, p.log.String())
		}
	}
}

func (c *procCluster) endpoints() []string {
	var eps []string
	for _, p := range c.procs {
		eps = append(eps, p.clientURL)
	}
	return eps
}

func (c *procCluster) client() *clientv3.Client {
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cli.Close() })
	return cli
}

// leader waits until a running member reports a leader and returns its proc.
func (c *procCluster) leader(cli *clientv3.Client, exclude *proc) *proc {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, p := range c.procs {
			if p == exclude {
				continue
			}
			cx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			st, err := cli.Status(cx, p.clientURL)
			cancel()
			if err != nil || st.Leader == 0 {
				continue
			}
			for _, q := range c.procs {
				if q == exclude {
					continue
				}
				cx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				qs, err := cli.Status(cx, q.clientURL)
				cancel()
				if err == nil && qs.Header.MemberId == st.Leader {
					return q
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("no leader among the running members within 15s")
	return nil
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	cx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return cx
}
