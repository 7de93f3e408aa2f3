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
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/kvdlabs/kvd/internal/procs"
)

// Limits and defaults of Options.
const (
	// MembersMax bounds a real cluster: each member is a process with a
	// disk of its own on one machine.
	MembersMax = 7
	// MembersDefault is the cluster's size when Options leaves it 0.
	MembersDefault = 3
	// StartTimeoutDefault bounds Start when Options leaves it 0.
	StartTimeoutDefault = 30 * time.Second
	// statusTimeout bounds one Maintenance Status call of the harness.
	statusTimeout = time.Second
	// readyPollInterval paces Start's look at the members.
	readyPollInterval = 100 * time.Millisecond
	// logTailBytes is how much of a member's log an error quotes.
	logTailBytes = 2048
)

// Options configures Start.
type Options struct {
	// Binary is the member program: bin/kvd, or an etcd v3.7.3 binary.
	// Both get etcd's flags.
	Binary string
	// Members is the cluster's size, 1..MembersMax; 0 means 3.
	Members int
	// Dir is the parent of the cluster's directory; "" means os.TempDir().
	Dir string
	// ExtraFlags are appended to every member's flags.
	ExtraFlags []string
	// StartTimeout bounds Start; 0 means 30 s.
	StartTimeout time.Duration
	// Seed keys the proxies' randomness (delay jitter, resets).
	Seed uint64
	// Logger gets every process and network action; nil discards them.
	Logger *slog.Logger
	// ControlDialOptions are added to the harness's own client of each
	// member (its status checks), e.g. realdriver.AdminAuth's, to be
	// answered once a workload turns auth on.
	ControlDialOptions []grpc.DialOption
}

// Cluster is a running cluster of member processes behind proxies. Its
// methods are safe for concurrent use.
type Cluster struct {
	opts    Options
	dir     string
	ids     []uint64
	members map[uint64]*member
	network *Network
	logger  *slog.Logger

	mu      sync.Mutex
	stopped bool

	stopOnce sync.Once
	stopErr  error
}

// member is one member's fixed setup and, under Cluster.mu, its process.
type member struct {
	id                 uint64
	name               string
	args               []string
	dataDir, logPath   string
	clientURL          string // the member's own client URL, not proxied
	clientProxyAddr    string
	peerProxy, cliProx *Proxy
	// control is the harness's client to the member's own client port,
	// for Status: the harness's look at the cluster is no workload and
	// takes no fault, as the simulator's look is omniscient.
	control *clientv3.Client

	proc   *process
	paused bool
}

// Start starts opts.Members members of opts.Binary on 127.0.0.1 and
// returns once every member answers a Maintenance Status and one of them
// leads. On error everything started is stopped; the directory and its
// logs are kept (the error names it).
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Members == 0 {
		opts.Members = MembersDefault
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = StartTimeoutDefault
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	if runtime.GOOS != "linux" {
		errs = append(errs, fmt.Errorf("realcluster: runs on linux only (the proxies find who dialed them in /proc), not %s", runtime.GOOS))
	}
	if opts.Members < 1 || opts.Members > MembersMax {
		errs = append(errs, fmt.Errorf("realcluster: Options.Members is %d, want 1..%d", opts.Members, MembersMax))
	}
	if fi, err := os.Stat(opts.Binary); err != nil {
		errs = append(errs, fmt.Errorf("realcluster: Options.Binary %q: %w", opts.Binary, err))
	} else if fi.IsDir() || fi.Mode()&0o111 == 0 {
		errs = append(errs, fmt.Errorf("realcluster: Options.Binary %q is not an executable file", opts.Binary))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(opts.Dir, "realcluster-")
	if err != nil {
		return nil, fmt.Errorf("realcluster: directory for the members under %q: %w", opts.Dir, err)
	}
	c := &Cluster{opts: opts, dir: dir, members: map[uint64]*member{}, logger: opts.Logger,
		network: NewNetwork(opts.Seed, opts.Logger)}
	if err := c.setUp(); err != nil {
		c.Stop()
		return nil, err
	}
	if err := c.waitReady(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// setUp reserves the ports, opens the proxies and starts every member.
func (c *Cluster) setUp() error {
	n := c.opts.Members
	// Per member: its own peer and client ports, then its proxies'.
	ports, err := procs.FreeLoopbackPorts(4 * n)
	if err != nil {
		return fmt.Errorf("realcluster: ports for %d members: %w", n, err)
	}
	url := func(port int) string { return fmt.Sprintf("http://127.0.0.1:%d", port) }
	var initial []string
	for i := range n {
		initial = append(initial, fmt.Sprintf("m%d=%s", i+1, url(ports[4*i+2])))
	}
	owner := ProcOwner(c.pids)
	token := filepath.Base(c.dir)
	for i := range n {
		id := uint64(i + 1)
		realPeer, realClient, proxyPeer, proxyClient := ports[4*i], ports[4*i+1], ports[4*i+2], ports[4*i+3]
		m := &member{
			id: id, name: fmt.Sprintf("m%d", id),
			dataDir:         filepath.Join(c.dir, fmt.Sprintf("m%d.etcd", id)),
			logPath:         filepath.Join(c.dir, fmt.Sprintf("m%d.log", id)),
			clientURL:       url(realClient),
			clientProxyAddr: fmt.Sprintf("127.0.0.1:%d", proxyClient),
		}
		m.args = append([]string{
			"--name", m.name, "--data-dir", m.dataDir,
			"--listen-peer-urls", url(realPeer), "--initial-advertise-peer-urls", url(proxyPeer),
			"--listen-client-urls", url(realClient), "--advertise-client-urls", url(proxyClient),
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", token,
			// A real member sends its watchers' progress notifications from
			// its own ticker; 1 s keeps the watch workload's checks fed.
			"--watch-progress-notify-interval", "1s",
		}, c.opts.ExtraFlags...)
		c.ids = append(c.ids, id)
		c.members[id] = m
		if m.peerProxy, err = NewProxy(ProxyOptions{Listen: fmt.Sprintf("127.0.0.1:%d", proxyPeer),
			Target: fmt.Sprintf("127.0.0.1:%d", realPeer), To: id, Network: c.network, Owner: owner, Logger: c.logger}); err != nil {
			return err
		}
		if m.cliProx, err = NewProxy(ProxyOptions{Listen: m.clientProxyAddr,
			Target: fmt.Sprintf("127.0.0.1:%d", realClient), To: id, Network: c.network, Owner: owner, Logger: c.logger}); err != nil {
			return err
		}
		if m.control, err = clientv3.New(clientv3.Config{
			Endpoints: []string{m.clientURL}, DialTimeout: statusTimeout, Logger: zap.NewNop(),
			DialOptions: c.opts.ControlDialOptions,
		}); err != nil {
			return fmt.Errorf("realcluster: client of member %d at %s: %w", id, m.clientURL, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range c.ids {
		if err := c.startLocked(c.members[id]); err != nil {
			return err
		}
	}
	return nil
}

// startLocked starts m's process; c.mu is held.
func (c *Cluster) startLocked(m *member) error {
	p, err := startProcess(c.opts.Binary, m.args, m.logPath)
	if err != nil {
		return fmt.Errorf("realcluster: member %d: %w", m.id, err)
	}
	m.proc, m.paused = p, false
	c.logger.Info("realcluster: started", "member", m.id, "pid", p.pid)
	return nil
}

// waitReady polls until every member answers Status and one leads.
func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	for {
		answered := 0
		var lastErr error
		for _, id := range c.ids {
			m := c.members[id]
			if !c.running(id) {
				return fmt.Errorf("realcluster: member %d exited while starting (log %s): %s", id, m.logPath, logTail(m.logPath))
			}
			if _, err := c.status(ctx, m); err != nil {
				lastErr = fmt.Errorf("member %d: %w", id, err)
				continue
			}
			answered++
		}
		if answered == len(c.ids) {
			if lead, err := c.Leader(ctx); err == nil && lead != 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("realcluster: %d members of %s not ready (each answering Status, one leading) within %v: %d answered, last error: %v; logs in %s",
				len(c.ids), c.opts.Binary, c.opts.StartTimeout, answered, lastErr, c.dir)
		case <-time.After(readyPollInterval):
		}
	}
}

// status asks member m's own client port for its Status.
func (c *Cluster) status(ctx context.Context, m *member) (*clientv3.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	return m.control.Status(ctx, m.clientURL)
}

// pids maps the PID of every running member process to its member id.
func (c *Cluster) pids() map[int]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[int]uint64, len(c.members))
	for id, m := range c.members {
		if m.proc != nil && m.proc.running() {
			out[m.proc.pid] = id
		}
	}
	return out
}

// IDs are the member ids, 1..N in the order the members were started.
func (c *Cluster) IDs() []uint64 { return slices.Clone(c.ids) }

// Dir is the directory holding the members' data directories and logs.
func (c *Cluster) Dir() string { return c.dir }

// ClientAddr is host:port of the proxy in front of member id's client
// port: the harness's link to the member, on which network faults act.
func (c *Cluster) ClientAddr(id uint64) string { return c.mustMember(id).clientProxyAddr }

// LogPath is member id's stdout and stderr, appended across restarts.
func (c *Cluster) LogPath(id uint64) string { return c.mustMember(id).logPath }

// Network holds the rules of every link between members and between the
// harness and a member.
func (c *Cluster) Network() *Network { return c.network }

// Up returns the members whose process runs, in id order. A paused
// member's process runs: it counts as up.
func (c *Cluster) Up() []uint64 {
	var up []uint64
	for _, id := range c.ids {
		if c.running(id) {
			up = append(up, id)
		}
	}
	return up
}

// Paused reports whether member id is stopped by Pause.
func (c *Cluster) Paused(id uint64) bool {
	m := c.mustMember(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	return m.paused && m.proc != nil && m.proc.running()
}

// PID is the process id of member id's running process, 0 when none runs.
func (c *Cluster) PID(id uint64) int {
	m := c.mustMember(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.proc == nil || !m.proc.running() {
		return 0
	}
	return m.proc.pid
}

func (c *Cluster) running(id uint64) bool { return c.PID(id) != 0 }

// Leader asks every running, unpaused member for its Status and returns
// the member that says it leads at the highest term, 0 if none does. The
// error is non-nil only when no member answered.
func (c *Cluster) Leader(ctx context.Context) (uint64, error) {
	type answer struct {
		id  uint64
		st  *clientv3.StatusResponse
		err error
	}
	var asked []uint64
	for _, id := range c.Up() {
		if !c.Paused(id) {
			asked = append(asked, id)
		}
	}
	answers := make([]answer, len(asked))
	var wg sync.WaitGroup
	for i, id := range asked {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := c.status(ctx, c.members[id])
			answers[i] = answer{id: id, st: st, err: err}
		}()
	}
	wg.Wait()
	var lead, term uint64
	var errs []error
	for _, a := range answers {
		if a.err != nil {
			errs = append(errs, fmt.Errorf("member %d: %w", a.id, a.err))
			continue
		}
		if a.st.Leader != 0 && a.st.Leader == a.st.Header.MemberId && a.st.RaftTerm >= term {
			lead, term = a.id, a.st.RaftTerm
		}
	}
	if len(asked) > 0 && len(errs) == len(asked) {
		return 0, fmt.Errorf("realcluster: no member answered Status: %w", errors.Join(errs...))
	}
	return lead, nil
}

// Kill SIGKILLs member id and waits until its process is reaped. A member
// already down is left as it is.
func (c *Cluster) Kill(id uint64) error {
	return c.end(id, "kill", "killed", (*process).kill)
}

// terminateWaitMax bounds a graceful stop: kvd's stop snapshot timeout
// (10 s by default) and its drain of calls in flight (2 s), with room.
const terminateWaitMax = 15 * time.Second

// Terminate stops member id gracefully (SIGTERM; SIGKILL past
// terminateWaitMax) and waits until it has exited. A member already down
// is left as it is.
func (c *Cluster) Terminate(id uint64) error {
	return c.end(id, "terminate", "terminated", func(p *process) error { return p.terminate(terminateWaitMax) })
}

// end stops member id's process by how (verb, and done once it is) if it
// runs.
func (c *Cluster) end(id uint64, verb, done string, how func(*process) error) error {
	m := c.mustMember(id)
	c.mu.Lock()
	p := m.proc
	m.paused = false
	c.mu.Unlock()
	if p == nil || !p.running() {
		return nil
	}
	start := time.Now()
	if err := how(p); err != nil {
		return fmt.Errorf("realcluster: %s member %d: %w", verb, id, err)
	}
	c.logger.Info("realcluster: "+done, "member", id, "pid", p.pid, "took", time.Since(start).String())
	return nil
}

// Restart starts member id again from its data directory, on the same
// ports and flags. It fails when the member runs, or after Stop.
func (c *Cluster) Restart(id uint64) error {
	m := c.mustMember(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return fmt.Errorf("realcluster: restart member %d: the cluster was stopped", id)
	}
	if m.proc != nil && m.proc.running() {
		return fmt.Errorf("realcluster: restart member %d: it runs (pid %d)", id, m.proc.pid)
	}
	return c.startLocked(m)
}

// Pause stops member id's process with SIGSTOP.
func (c *Cluster) Pause(id uint64) error {
	return c.stopOrContinue(id, syscall.SIGSTOP, true)
}

// Resume continues member id's process with SIGCONT.
func (c *Cluster) Resume(id uint64) error {
	return c.stopOrContinue(id, syscall.SIGCONT, false)
}

func (c *Cluster) stopOrContinue(id uint64, sig syscall.Signal, paused bool) error {
	m := c.mustMember(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.proc == nil || !m.proc.running() {
		return fmt.Errorf("realcluster: %v to member %d: it is down", sig, id)
	}
	if err := m.proc.signal(sig); err != nil {
		return fmt.Errorf("realcluster: member %d: %w", id, err)
	}
	m.paused = paused
	c.logger.Info("realcluster: signalled", "member", id, "pid", m.proc.pid, "signal", sig.String())
	return nil
}

// Stop SIGCONTs and SIGKILLs every process the cluster started, by PID,
// waits for each, and closes the proxies and clients. It keeps the
// directory (see RemoveDir). Idempotent; safe from any goroutine, a
// signal handler's included; a call during another waits for it.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		c.mu.Lock()
		c.stopped = true
		var ps []*process
		for _, id := range c.ids {
			if m := c.members[id]; m.proc != nil {
				ps = append(ps, m.proc)
				m.paused = false
			}
		}
		c.mu.Unlock()
		var errs []error
		for _, p := range ps {
			if err := p.kill(); err != nil {
				errs = append(errs, err)
			}
		}
		for _, id := range c.ids {
			m := c.members[id]
			for _, p := range []*Proxy{m.peerProxy, m.cliProx} {
				if p != nil {
					p.Close()
				}
			}
			if m.control != nil {
				m.control.Close()
			}
		}
		c.network.Clear()
		c.stopErr = errors.Join(errs...)
		c.logger.Info("realcluster: stopped", "dir", c.dir)
	})
	return c.stopErr
}

// RemoveDir removes the cluster's directory, data and logs, after Stop.
func (c *Cluster) RemoveDir() error {
	c.mu.Lock()
	stopped := c.stopped
	c.mu.Unlock()
	if !stopped {
		return fmt.Errorf("realcluster: remove %s: the cluster runs; Stop it first", c.dir)
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("realcluster: remove %s: %w", c.dir, err)
	}
	return nil
}

// mustMember returns member id; an unknown id is the caller's bug.
func (c *Cluster) mustMember(id uint64) *member {
	m, ok := c.members[id]
	if !ok {
		panic(fmt.Sprintf("realcluster: no member %d (members %v)", id, c.ids))
	}
	return m
}

// logTail returns the end of a log file, for an error message.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(log unreadable: %v)", err)
	}
	if len(b) > logTailBytes {
		b = b[len(b)-logTailBytes:]
	}
	return string(b)
}
