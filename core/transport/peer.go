package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
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

	mu   sync.Mutex
	ep   endpoint
	conn net.Conn
}

func newPeer(t *Transport, id uint64, ep endpoint) *peer {
	ctx, cancel := context.WithCancel(t.ctx)
	return &peer{
		t:      t,
		id:     id,
		queue:  make(chan *raftpb.Message, t.opts.QueueMessagesMax),
		ctx:    ctx,
		cancel: cancel,
		ep:     ep,
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
}

func (p *peer) stop() {
	p.cancel()
	p.mu.Lock()
	if p.conn != nil {
		p.conn.Close()
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
			case <-p.ctx.Done():
				return
			}
			backoff = min(2*backoff, p.t.opts.BackoffMax)
			continue
		}
		backoff = p.t.opts.BackoffMin
		lastDialErr = ""
		err = p.stream(c)
		c.Close()
		if p.ctx.Err() == nil {
			p.t.opts.Logger.Debug("peer stream lost", "peer", fmt.Sprintf("%x", p.id), "err", err)
			p.t.report(Report{PeerID: p.id, Kind: Unreachable})
		}
	}
}

func (p *peer) dial() (net.Conn, error) {
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
	p.conn = c
	p.mu.Unlock()
	c.SetWriteDeadline(time.Now().Add(p.t.opts.WriteTimeout))
	if _, err := c.Write(appendHello(nil, hello{kind: kindStream, clusterID: p.t.opts.ClusterID, fromID: p.t.opts.ID})); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
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
	dropped := false
	for {
		select {
		case <-p.queue:
			dropped = true
		default:
			if dropped {
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
		for m != nil {
			var err error
			buf, err = appendFrame(buf[:0], m)
			if err != nil {
				return err
			}
			if _, err := w.Write(buf); err != nil {
				return err
			}
			select {
			case m = <-p.queue:
			default:
				m = nil
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if cap(buf) > 1<<20 {
			buf = nil
		}
	}
}
