package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// peer is the outgoing side towards one member: a bounded queue drained by
// one goroutine over one connection.
type peer struct {
	t     *Transport
	id    uint64
	queue chan *raftpb.Message

	ctx    context.Context
	cancel context.CancelFunc
	// wake cuts a reconnect backoff short: the peer just connected to us,
	// so it is up again (kvd restarted it) and waiting out a backoff of
	// up to BackoffMax would leave it deaf to this member meanwhile.
	wake chan struct{}

	mu   sync.Mutex
	ep   endpoint
	conn net.Conn
	// probeConn is the probe connection (Options.Metrics), if one is up.
	probeConn net.Conn
}

func newPeer(t *Transport, id uint64, ep endpoint) *peer {
	ctx, cancel := context.WithCancel(t.ctx)
	return &peer{
		t:      t,
		id:     id,
		queue:  make(chan *raftpb.Message, t.opts.QueueMessagesMax),
		wake:   make(chan struct{}, 1),
		ctx:    ctx,
		cancel: cancel,
		ep:     ep,
	}
}

// heardFrom tells the peer's dial loop that the peer just connected to
// this member: a pending reconnect goes now rather than after its backoff.
func (p *peer) heardFrom() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *peer) endpoint() endpoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ep
}

// setAddr changes the address; the current connection is dropped so the next
// message dials the new one.
func (p *peer) setAddr(ep endpoint) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ep == ep {
		return
	}
	p.ep = ep
	if p.conn != nil {
		p.conn.Close()
	}
	if p.probeConn != nil {
		p.probeConn.Close()
	}
}

func (p *peer) stop() {
	p.cancel()
	p.mu.Lock()
	if p.conn != nil {
		p.conn.Close()
	}
	if p.probeConn != nil {
		p.probeConn.Close()
	}
	p.mu.Unlock()
}

// run connects and writes queued messages until stopped. While the peer is
// unreachable, queued messages are dropped and reported, so the queue never
// holds stale heartbeats for long.
func (p *peer) run() {
	backoff := p.t.opts.BackoffMin
	var lastDialErr string
	for p.ctx.Err() == nil {
		c, err := p.dial()
		if err != nil {
			// A refused TLS handshake is a configuration problem an
			// operator must see; a peer that is down is not news. Each
			// distinct error is logged once, not once per retry.
			if worthLogging(err) && err.Error() != lastDialErr && p.ctx.Err() == nil {
				p.t.opts.Logger.Warn("cannot connect to peer", "peer", fmt.Sprintf("%x", p.id), "err", err.Error())
			}
			lastDialErr = err.Error()
			p.dropQueued()
			select {
			case <-time.After(backoff):
				backoff = min(2*backoff, p.t.opts.BackoffMax)
			case <-p.wake:
				backoff = p.t.opts.BackoffMin
			case <-p.ctx.Done():
				return
			}
			continue
		}
		backoff = p.t.opts.BackoffMin
		lastDialErr = ""
		p.active(true)
		err = p.stream(c)
		c.Close()
		p.active(false)
		if p.ctx.Err() == nil {
			p.t.opts.Logger.Debug("peer stream lost", "peer", fmt.Sprintf("%x", p.id), "err", err)
			p.t.report(Report{PeerID: p.id, Kind: Unreachable})
		}
	}
}

func (p *peer) dial() (net.Conn, error) { return p.dialKind(kindStream, &p.conn) }

// dialKind connects to the peer and says hello for a connection of kind;
// *slot holds the connection, so setAddr and stop can close it.
func (p *peer) dialKind(kind byte, slot *net.Conn) (net.Conn, error) {
	ep := p.endpoint()
	var cfg *tls.Config
	if ep.secure {
		var err error
		if cfg, err = p.t.clientTLS(); err != nil {
			return nil, err
		}
	}
	c, err := dialEndpoint(p.ctx, ep, cfg, p.t.opts.DialTimeout, p.t.opts.HandshakeTimeout)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	*slot = c
	p.mu.Unlock()
	if p.ctx.Err() != nil { // stopped while dialing: stop closed the previous one
		c.Close()
		return nil, p.ctx.Err()
	}
	c.SetWriteDeadline(time.Now().Add(p.t.opts.WriteTimeout))
	if _, err := c.Write(appendHello(nil, hello{kind: kind, clusterID: p.t.opts.ClusterID, fromID: p.t.opts.ID})); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// active reports the stream connection up or down to Options.Metrics.
func (p *peer) active(up bool) {
	if p.t.opts.Metrics != nil {
		p.t.opts.Metrics.PeerActive(p.id, up)
	}
}

// probe measures the round trip to the peer every ProbeInterval, over a
// connection of its own (kindProbe), while the peer is set: it writes
// probeBytes and times their echo. The first probe goes as soon as the
// connection is up; a failed connection is retried at the next interval.
func (p *peer) probe() {
	interval := time.NewTimer(0)
	defer interval.Stop()
	var c net.Conn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	var out, in [probeBytes]byte
	for seq := uint64(1); ; seq++ {
		select {
		case <-interval.C:
		case <-p.ctx.Done():
			return
		}
		interval.Reset(p.t.opts.ProbeInterval)
		if c == nil {
			var err error
			if c, err = p.dialKind(kindProbe, &p.probeConn); err != nil {
				c = nil
				continue
			}
		}
		binary.BigEndian.PutUint64(out[:], seq)
		start := time.Now()
		c.SetDeadline(start.Add(p.t.opts.ProbeInterval))
		_, err := c.Write(out[:])
		if err == nil {
			_, err = io.ReadFull(c, in[:])
		}
		rtt := time.Since(start)
		if err != nil || in != out {
			c.Close() // a late echo must not be taken for the next probe's
			c = nil
			continue
		}
		p.t.opts.Metrics.PeerRoundTrip(p.id, rtt)
	}
}

// worthLogging tells a failed TLS handshake or TLS configuration from a
// peer that is merely down (a connect error).
func worthLogging(dialErr error) bool {
	if _, ok := errors.AsType[*tlsDialError](dialErr); ok {
		return true
	}
	_, connectErr := errors.AsType[*net.OpError](dialErr)
	return !connectErr && !errors.Is(dialErr, context.Canceled)
}

// dropQueued reports everything queued as unreachable and empties the queue.
func (p *peer) dropQueued() {
	dropped := 0
	for {
		select {
		case <-p.queue:
			dropped++
		default:
			if dropped > 0 {
				p.t.sendFailed(p.id, dropped)
				p.t.report(Report{PeerID: p.id, Kind: Unreachable})
			}
			return
		}
	}
}

// stream writes queued messages, batching whatever is queued into one flush.
func (p *peer) stream(c net.Conn) error {
	w := bufio.NewWriterSize(c, 64<<10)
	var buf []byte
	for {
		var m *raftpb.Message
		select {
		case m = <-p.queue:
		case <-p.ctx.Done():
			return p.ctx.Err()
		}
		c.SetWriteDeadline(time.Now().Add(p.t.opts.WriteTimeout))
		// sent counts the batch's bytes once flushed; a failed write
		// loses the batch (raft retransmits), counted as one failure.
		sent := 0
		for m != nil {
			var err error
			buf, err = appendFrame(buf[:0], m)
			if err != nil {
				p.t.sendFailed(p.id, 1)
				return err
			}
			if _, err := w.Write(buf); err != nil {
				p.t.sendFailed(p.id, 1)
				return err
			}
			sent += len(buf)
			select {
			case m = <-p.queue:
			default:
				m = nil
			}
		}
		if err := w.Flush(); err != nil {
			p.t.sendFailed(p.id, 1)
			return err
		}
		if p.t.opts.Metrics != nil {
			p.t.opts.Metrics.PeerSent(p.id, sent)
		}
		if cap(buf) > 1<<20 {
			buf = nil
		}
	}
}
