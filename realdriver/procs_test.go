package realdriver

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

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kvdlabs/kvd/internal/procs"
)

// The package's tests run real kvd processes, built and given ports by
// internal/procs as cmd/kvd's tests are.

// kvdBin is the kvd binary TestMain built; shared is the 3-member
// cluster most tests use.
var (
	kvdBin string
	shared *testCluster
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	bins, cleanup, err := procs.BuildInTemp(root, "kvd")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	kvdBin = bins[0]
	dir, err := os.MkdirTemp("", "realdriver-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	shared, err = startCluster(filepath.Join(dir, "shared"), 3)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer shared.stop()
	return m.Run()
}

// testProc is one kvd process.
type testProc struct {
	name   string
	id     uint64 // the test's label for it, 1 up
	addr   string // client host:port
	cmd    *exec.Cmd
	log    *procs.Output
	exited chan struct{}
}

// testCluster is kvd processes on loopback.
type testCluster struct {
	procs []*testProc
}

// startCluster starts size members with short raft timings and a 1 s
// progress notification interval, and waits until each serves a
// linearizable read.
func startCluster(dir string, size int) (*testCluster, error) {
	ports, err := procs.FreeLoopbackPorts(2 * size)
	if err != nil {
		return nil, err
	}
	var initial []string
	for i := range size {
		initial = append(initial, fmt.Sprintf("m%d=http://127.0.0.1:%d", i, ports[2*i+1]))
	}
	c := &testCluster{}
	for i := range size {
		clientURL := fmt.Sprintf("http://127.0.0.1:%d", ports[2*i])
		peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])
		p := &testProc{name: fmt.Sprintf("m%d", i), id: uint64(i + 1), addr: fmt.Sprintf("127.0.0.1:%d", ports[2*i]), log: &procs.Output{}, exited: make(chan struct{})}
		p.cmd = exec.Command(kvdBin,
			"--name", p.name, "--data-dir", filepath.Join(dir, p.name+".etcd"),
			"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
			"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-token", filepath.Base(dir),
			"--initial-cluster-state", "new", "--heartbeat-interval", "10", "--election-timeout", "100",
			"--watch-progress-notify-interval", "1s", "--log-level", "warn")
		p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
		// Should the test binary die without its cleanup, the members die
		// with it.
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := p.cmd.Start(); err != nil {
			c.stop()
			return nil, fmt.Errorf("start %s: %w", p.name, err)
		}
		go func() { p.cmd.Wait(); close(p.exited) }()
		c.procs = append(c.procs, p)
	}
	for _, p := range c.procs {
		if err := waitServing(p, 20*time.Second); err != nil {
			c.stop()
			return nil, err
		}
	}
	return c, nil
}

// waitServing waits until p answers a linearizable read.
func waitServing(p *testProc, bound time.Duration) error {
	conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("connect to %s at %s: %w", p.name, p.addr, err)
	}
	defer conn.Close()
	deadline := time.Now().Add(bound)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited while starting:\n%s", p.name, p.log.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, last = pb.NewKVClient(conn).Range(ctx, &pb.RangeRequest{Key: []byte("ready")})
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s not serving within %v: %v\n%s", p.name, bound, last, p.log.String())
}

// members are the cluster's members as Options take them.
func (c *testCluster) members() []Member {
	var ms []Member
	for _, p := range c.procs {
		ms = append(ms, Member{ID: p.id, Addr: p.addr})
	}
	return ms
}

// kill sends SIGKILL to p (by its PID) and waits for it to exit.
func (p *testProc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.exited
}

// stop kills every member still running, by PID, and waits for each.
func (c *testCluster) stop() {
	for _, p := range c.procs {
		p.kill()
	}
}
