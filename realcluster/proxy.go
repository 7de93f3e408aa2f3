package realcluster

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Proxy limits: memory and goroutines stay bounded whatever the members do.
const (
	// proxyConnsMaxDefault bounds the open connections of one proxy; more
	// are closed as soon as accepted. etcd opens a handful per peer.
	proxyConnsMaxDefault = 256
	// chunkBytesMax is the most one read forwards as a chunk.
	chunkBytesMax = 16 << 10
	// chunksQueuedMax bounds the chunks held back (delayed) per direction:
	// beyond it the reader waits, and TCP's flow control pushes back on
	// the sender, as a slow link would.
	chunksQueuedMax = 64
	// upstreamDialTimeout bounds the dial to the member behind a proxy;
	// a member that is down refuses at once.
	upstreamDialTimeout = 2 * time.Second
)

// Directions of a proxied connection.
const (
	// dirDial carries bytes from the dialer to the proxy's member.
	dirDial = 0
	// dirAnswer carries bytes from the proxy's member back to the dialer.
	dirAnswer = 1
)

// ProxyOptions configures a Proxy.
type ProxyOptions struct {
	// Listen is the proxy's address, host:port (port 0 picks one).
	Listen string
	// Target is the address of the member behind the proxy.
	Target string
	// To is the id of that member: connections to the proxy carry links
	// from their dialer to To and back.
	To uint64
	// Network holds the link rules; required.
	Network *Network
	// Owner names the endpoint that dialed a connection, from the
	// connection's addresses; nil means every dialer is the Harness.
	Owner func(remote, local *net.TCPAddr) uint64
	// ConnsMax bounds the open connections; 0 means 256.
	ConnsMax int
	// Logger gets what the proxy does; nil discards it.
	Logger *slog.Logger
}

// Proxy forwards TCP connections to one member, applying the Network's
// rules to each direction.
type Proxy struct {
	opts ProxyOptions
	ln   net.Listener

	mu     sync.Mutex
	conns  map[*proxyConn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewProxy listens on opts.Listen and starts forwarding.
func NewProxy(opts ProxyOptions) (*Proxy, error) {
	if opts.Network == nil {
		return nil, fmt.Errorf("realcluster: proxy %s to %s: no Network", opts.Listen, opts.Target)
	}
	if opts.ConnsMax <= 0 {
		opts.ConnsMax = proxyConnsMaxDefault
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Owner == nil {
		opts.Owner = func(_, _ *net.TCPAddr) uint64 { return Harness }
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("realcluster: proxy to member %d (%s): listen on %s: %w", opts.To, opts.Target, opts.Listen, err)
	}
	p := &Proxy{opts: opts, ln: ln, conns: map[*proxyConn]struct{}{}}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Close stops listening, resets every connection and returns once every
// goroutine of the proxy has ended.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	conns := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	for _, c := range conns {
		c.reset()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		down, err := p.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.opts.Logger.Warn("proxy: accept failed, proxy stops", "to", p.opts.To, "err", err)
			}
			return
		}
		c := &proxyConn{down: down.(*net.TCPConn), done: make(chan struct{})}
		p.mu.Lock()
		if p.closed || len(p.conns) >= p.opts.ConnsMax {
			p.mu.Unlock()
			p.opts.Logger.Warn("proxy: connection refused, too many open", "to", p.opts.To, "max", p.opts.ConnsMax)
			c.reset()
			continue
		}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(c)
	}
}

// serve finds who dialed, connects to the member and forwards both
// directions until either side ends or the connection is reset.
func (p *Proxy) serve(c *proxyConn) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		p.opts.Network.unregister(c)
		c.close()
	}()
	from := p.opts.Owner(c.down.RemoteAddr().(*net.TCPAddr), c.down.LocalAddr().(*net.TCPAddr))
	c.links = [2]Link{{From: from, To: p.opts.To}, {From: p.opts.To, To: from}}
	if !p.opts.Network.register(c) {
		p.opts.Logger.Debug("proxy: connection refused, blocked both ways", "from", from, "to", p.opts.To)
		return
	}
	up, err := net.DialTimeout("tcp", p.opts.Target, upstreamDialTimeout)
	if err != nil {
		// The member is down: the dialer sees its connection reset, as
		// it would see a refused one.
		return
	}
	if !c.setUp(up.(*net.TCPConn)) {
		return
	}
	var pipes sync.WaitGroup
	pipes.Add(2)
	go func() { defer pipes.Done(); p.pipe(c, dirDial, c.down, c.up) }()
	go func() { defer pipes.Done(); p.pipe(c, dirAnswer, c.up, c.down) }()
	pipes.Wait()
}

// chunk is bytes read in one direction and when they may be written on.
type chunk struct {
	b       []byte
	release time.Time
}

// pipe forwards one direction: it reads chunks, has the Network judge
// each, and hands them to a writer that waits out their delay. At the end
// of the source it half-closes the destination, as the sender did.
func (p *Proxy) pipe(c *proxyConn, dir int, src, dst *net.TCPConn) {
	queue := make(chan chunk, chunksQueuedMax)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		p.write(c, dst, queue)
	}()
	defer func() { <-writerDone }()
	defer close(queue)
	for {
		buf := make([]byte, chunkBytesMax)
		n, err := src.Read(buf)
		if n > 0 {
			v := p.opts.Network.judge(c, dir, time.Now())
			switch {
			case v.reset:
				p.opts.Logger.Debug("proxy: reset, drawn", "from", c.links[dir].From, "to", c.links[dir].To)
				c.reset()
				return
			case !v.discard:
				select {
				case queue <- chunk{b: buf[:n], release: v.release}:
				case <-c.done:
					return
				}
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				c.reset() // a reset or a closed socket: pass it on
			}
			return
		}
	}
}

// write sends queued chunks to dst once their release time has come; when
// the queue closes it half-closes dst.
func (p *Proxy) write(c *proxyConn, dst *net.TCPConn, queue <-chan chunk) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for ch := range queue {
		if wait := time.Until(ch.release); wait > 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case <-timer.C:
			case <-c.done:
				return
			}
		}
		if _, err := dst.Write(ch.b); err != nil {
			c.reset()
			return
		}
	}
	select {
	case <-c.done:
	default:
		dst.CloseWrite()
	}
}

// proxyConn is one proxied connection: down is the dialer's side, up the
// member's.
type proxyConn struct {
	down *net.TCPConn
	// links[dirDial] is dialer to member, links[dirAnswer] back; set
	// before the connection is registered.
	links [2]Link
	// discarded and lastRelease are guarded by the Network's lock.
	discarded   [2]bool
	lastRelease [2]time.Time

	mu   sync.Mutex
	up   *net.TCPConn
	done chan struct{}
}

// setUp attaches the member's side; false when the connection was reset
// meanwhile (up is closed then).
func (c *proxyConn) setUp(up *net.TCPConn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.done:
		up.Close()
		return false
	default:
		c.up = up
		return true
	}
}

// reset ends the connection on both sides with a TCP reset (linger 0), so
// that each end sees it fail rather than end cleanly. Idempotent.
func (c *proxyConn) reset() { c.end(true) }

// close ends the connection cleanly (what was written still arrives),
// unless it was reset already.
func (c *proxyConn) close() { c.end(false) }

func (c *proxyConn) end(reset bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.done:
		return
	default:
	}
	close(c.done)
	for _, conn := range []*net.TCPConn{c.down, c.up} {
		if conn != nil {
			if reset {
				conn.SetLinger(0)
			}
			conn.Close()
		}
	}
}
