package realcluster

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// target is the member id the test proxies stand in front of.
const target uint64 = 2

// echoServer accepts connections on 127.0.0.1 and writes back what it
// reads; it stops with the test.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// newTestProxy puts a proxy for member target in front of an echo server.
func newTestProxy(t *testing.T, owner func(remote, local *net.TCPAddr) uint64) (*Proxy, *Network) {
	t.Helper()
	n := NewNetwork(1, nil)
	p, err := NewProxy(ProxyOptions{Listen: "127.0.0.1:0", Target: echoServer(t), To: target, Network: n, Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, n
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads it back, or returns the read error.
func roundTrip(c net.Conn, msg string, within time.Duration) error {
	c.SetDeadline(time.Now().Add(within))
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return fmt.Errorf("read %q, want %q", buf, msg)
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestProxyForwards(t *testing.T) {
	p, n := newTestProxy(t, nil)
	c := dial(t, p.Addr())
	for i := range 3 {
		if err := roundTrip(c, fmt.Sprintf("hello %d", i), 2*time.Second); err != nil {
			t.Fatalf("round trip %d: %v", i, err)
		}
	}
	if got := n.Conns(); !slices.Equal(got, []Link{{Harness, target}}) {
		t.Fatalf("connections %v, want one from the harness to %d", got, target)
	}
}

// A one-way block discards the bytes and keeps the connection; its heal
// resets the connection whose stream lost bytes.
func TestProxyOneWayBlockDiscardsThenResetsOnHeal(t *testing.T) {
	p, n := newTestProxy(t, nil)
	c := dial(t, p.Addr())
	if err := roundTrip(c, "before", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	n.SetRule(Link{Harness, target}, LinkRule{Blocked: true})
	if err := roundTrip(c, "lost", 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("blocked link: got %v, want a read timeout (bytes discarded)", err)
	}
	n.Clear()
	if err := roundTrip(c, "after", 2*time.Second); err == nil || isTimeout(err) {
		t.Fatalf("healed link whose stream lost bytes: got %v, want the connection reset", err)
	}
	// A new connection works again.
	if err := roundTrip(dial(t, p.Addr()), "fresh", 2*time.Second); err != nil {
		t.Fatalf("new connection after the heal: %v", err)
	}
}

// Blocking both directions resets open connections and refuses new ones.
func TestProxyBothWaysBlockedResetsAndRefuses(t *testing.T) {
	p, n := newTestProxy(t, nil)
	c := dial(t, p.Addr())
	if err := roundTrip(c, "before", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	n.SetRules(map[Link]LinkRule{{Harness, target}: {Blocked: true}, {target, Harness}: {Blocked: true}})
	if err := roundTrip(c, "x", 2*time.Second); err == nil || isTimeout(err) {
		t.Fatalf("open connection blocked both ways: got %v, want it reset", err)
	}
	if err := roundTrip(dial(t, p.Addr()), "y", 2*time.Second); err == nil || isTimeout(err) {
		t.Fatalf("new connection blocked both ways: got %v, want it closed at once", err)
	}
	if got := n.Conns(); len(got) != 0 {
		t.Fatalf("connections %v left open", got)
	}
}

func TestProxyDelaysEachDirection(t *testing.T) {
	p, n := newTestProxy(t, nil)
	const delay = 60 * time.Millisecond
	n.SetRule(Link{Harness, target}, LinkRule{Delay: delay, Jitter: 10 * time.Millisecond})
	n.SetRule(Link{target, Harness}, LinkRule{Delay: delay})
	c := dial(t, p.Addr())
	start := time.Now()
	if err := roundTrip(c, "slow", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 2*delay {
		t.Fatalf("round trip took %v, want at least %v (delay each way)", took, 2*delay)
	}
	// Order within a direction holds with jitter: many chunks arrive in order.
	c.SetDeadline(time.Now().Add(5 * time.Second))
	go func() {
		for i := range 20 {
			fmt.Fprintf(c, "%02d\n", i)
			time.Sleep(time.Millisecond) // separate chunks
		}
	}()
	r := bufio.NewReader(c)
	for i := range 20 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if want := fmt.Sprintf("%02d\n", i); line != want {
			t.Fatalf("line %d is %q, want %q: chunks reordered", i, line, want)
		}
	}
}

func TestProxyResetProbabilityOneResets(t *testing.T) {
	p, n := newTestProxy(t, nil)
	n.SetRule(Link{Harness, target}, LinkRule{ResetProbability: 1})
	if err := roundTrip(dial(t, p.Addr()), "x", 2*time.Second); err == nil || isTimeout(err) {
		t.Fatalf("got %v, want the connection reset", err)
	}
}

// The proxy names the member process that dialed it, through /proc.
func TestProxyFindsTheDialingProcess(t *testing.T) {
	const helperID = 7
	var helperPID atomic.Int64
	p, n := newTestProxy(t, ProcOwner(func() map[int]uint64 { return map[int]uint64{int(helperPID.Load()): helperID} }))
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "REALCLUSTER_HELPER_DIAL="+p.Addr())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	helperPID.Store(int64(cmd.Process.Pid))
	defer func() {
		stdin.Close() // the helper exits at the end of its stdin
		cmd.Wait()
	}()
	// The helper says "connected" once its round trip through the proxy
	// succeeded; the proxy named the dialer before forwarding a byte.
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "connected\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	if got := n.Conns(); !slices.Equal(got, []Link{{helperID, target}}) {
		t.Fatalf("connections %v, want one from member %d (pid %d) to %d", got, helperID, helperPID.Load(), target)
	}
	// A dialer that is not a member process is the harness.
	c := dial(t, p.Addr())
	if err := roundTrip(c, "harness", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := n.Conns(); !slices.Contains(got, Link{Harness, target}) {
		t.Fatalf("connections %v, want one from the harness too", got)
	}
}

// TestHelperProcess is not a test: TestProxyFindsTheDialingProcess runs
// the test binary as a child that dials the proxy, does a round trip,
// says so, and holds the connection until its stdin ends.
func TestHelperProcess(t *testing.T) {
	addr := os.Getenv("REALCLUSTER_HELPER_DIAL")
	if addr == "" {
		t.Skip("only as TestProxyFindsTheDialingProcess's child")
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := roundTrip(c, "child", 5*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("connected")
	io.Copy(io.Discard, os.Stdin)
	c.Close()
	os.Exit(0)
}

// A client delay slows the harness's links on top of their rules.
func TestProxyClientDelay(t *testing.T) {
	p, n := newTestProxy(t, nil)
	const delay = 40 * time.Millisecond
	n.SetClientDelay(delay, time.Millisecond)
	c := dial(t, p.Addr())
	start := time.Now()
	if err := roundTrip(c, "slow", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 2*delay {
		t.Fatalf("round trip took %v, want at least %v", took, 2*delay)
	}
	if len(n.Rules()) != 0 {
		t.Fatalf("a client delay set rules: %v", n.Rules())
	}
}
