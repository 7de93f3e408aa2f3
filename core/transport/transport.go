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
	"net/url"
	"sync"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// ReportKind says what a Report tells the member loop.
type ReportKind int

const (
	// Unreachable: a message to the peer was dropped; call
	// node.ReportUnreachable.
	Unreachable ReportKind = iota
	// SnapshotOK: a MsgSnap reached the peer; call node.ReportSnapshot(id, true).
	SnapshotOK
	// SnapshotFailed: a MsgSnap did not; call node.ReportSnapshot(id, false).
	SnapshotFailed
)

// Report is feedback for raft about one peer. Reports delivers it as raft's
// own local message for it, so a member loop needs no type of this
// package to take it (Message).
type Report struct {
	PeerID uint64
	Kind   ReportKind
}

// reportsMax bounds undrained reports. Unreachable reports beyond it are
// dropped (raft learns again from the next failure); snapshot reports wait.
const reportsMax = 1024

// Transport sends and receives raft messages for one member. Its methods are
// safe for concurrent use.
type Transport struct {
	opts Options

	received chan *raftpb.Message
	reports  chan *raftpb.Message
	snapSem  chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	peers     map[uint64]*peer
	listeners []net.Listener
	conns     map[net.Conn]struct{}
	closed    bool
}

// New returns a transport; it sends nothing until peers are set and
// receives nothing until Serve.
func New(opts Options) (*Transport, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Transport{
		opts:     opts,
		received: make(chan *raftpb.Message, opts.ReceiveQueueMessagesMax),
		reports:  make(chan *raftpb.Message, reportsMax),
		snapSem:  make(chan struct{}, opts.SnapshotSendsMax),
		ctx:      ctx,
		cancel:   cancel,
		peers:    map[uint64]*peer{},
		conns:    map[net.Conn]struct{}{},
	}, nil
}

// Received delivers messages from peers to the member loop.
func (t *Transport) Received() <-chan *raftpb.Message { return t.received }

// Reports delivers unreachable and snapshot feedback to the member loop.
// The feedback is raft's local messages, From naming the peer:
// MsgUnreachable, or MsgSnapStatus with Reject set when a snapshot failed.
func (t *Transport) Reports() <-chan *raftpb.Message { return t.reports }

// Message is r as raft's local feedback message.
func (r Report) Message() *raftpb.Message {
	m := &raftpb.Message{From: proto.Uint64(r.PeerID)}
	switch r.Kind {
	case Unreachable:
		m.Type = raftpb.MsgUnreachable.Enum()
	case SnapshotOK:
		m.Type = raftpb.MsgSnapStatus.Enum()
	case SnapshotFailed:
		m.Type, m.Reject = raftpb.MsgSnapStatus.Enum(), proto.Bool(true)
	default:
		panic(fmt.Sprintf("transport: report of kind %d", r.Kind))
	}
	return m
}

// ReportOf reads a feedback message back as a Report (tests, logs).
func ReportOf(m *raftpb.Message) Report {
	switch {
	case m.GetType() == raftpb.MsgUnreachable:
		return Report{PeerID: m.GetFrom(), Kind: Unreachable}
	case m.GetType() == raftpb.MsgSnapStatus && m.GetReject():
		return Report{PeerID: m.GetFrom(), Kind: SnapshotFailed}
	case m.GetType() == raftpb.MsgSnapStatus:
		return Report{PeerID: m.GetFrom(), Kind: SnapshotOK}
	}
	panic(fmt.Sprintf("transport: %v is not a feedback message", m.GetType()))
}

// HostPort turns a peer URL ("http://127.0.0.1:2380") or a bare host:port
// into the address to dial.
func HostPort(peerURL string) (string, error) {
	if u, err := url.Parse(peerURL); err == nil && u.Host != "" {
		return u.Host, nil
	}
	if _, _, err := net.SplitHostPort(peerURL); err != nil {
		return "", fmt.Errorf("transport: peer address %q: %w", peerURL, err)
	}
	return peerURL, nil
}

// SetPeer adds a peer or changes its address (URL or host:port).
func (t *Transport) SetPeer(id uint64, addr string) error {
	if id == 0 || id == t.opts.ID {
		return fmt.Errorf("transport: SetPeer %x: not a remote member id", id)
	}
	ep, err := parseEndpoint(addr)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return fmt.Errorf("transport: SetPeer %x: closed", id)
	}
	if p := t.peers[id]; p != nil {
		p.setAddr(ep)
		return nil
	}
	p := newPeer(t, id, ep)
	t.peers[id] = p
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		p.run()
	}()
	if t.opts.Metrics != nil {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			p.probe()
		}()
	}
	return nil
}

// RemovePeer stops sending to a peer and drops its queue.
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	p := t.peers[id]
	delete(t.peers, id)
	t.mu.Unlock()
	if p != nil {
		p.stop()
	}
}

// Send queues messages for their recipients without blocking. A message to
// an unknown peer or a full queue is dropped and reported unreachable; a
// MsgSnap goes on its own connection and is reported SnapshotOK/Failed.
func (t *Transport) Send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		t.mu.Lock()
		p := t.peers[m.GetTo()]
		closed := t.closed
		t.mu.Unlock()
		switch {
		case closed:
			return
		case p == nil:
			t.sendFailed(m.GetTo(), 1)
			t.report(Report{PeerID: m.GetTo(), Kind: Unreachable})
		case m.GetType() == raftpb.MsgSnap:
			t.sendSnapshot(p, m)
		default:
			select {
			case p.queue <- m:
			default:
				t.sendFailed(m.GetTo(), 1)
				t.report(Report{PeerID: m.GetTo(), Kind: Unreachable})
			}
		}
	}
}

// sendFailed counts messages to a peer that were dropped.
func (t *Transport) sendFailed(to uint64, messages int) {
	if t.opts.Metrics != nil && messages > 0 {
		t.opts.Metrics.PeerSendFailed(to, messages)
	}
}

// report queues feedback; unreachable reports are dropped rather than block.
func (t *Transport) report(r Report) {
	if r.Kind == Unreachable {
		select {
		case t.reports <- r.Message():
		default:
		}
		return
	}
	select {
	case t.reports <- r.Message():
	case <-t.ctx.Done():
	}
}

// Serve accepts peer connections on ln until Close. It returns nil after
// Close and the accept error otherwise.
func (t *Transport) Serve(ln net.Listener) error { return t.serve(ln, false) }

func (t *Transport) serve(ln net.Listener, secure bool) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		ln.Close()
		return nil
	}
	t.listeners = append(t.listeners, ln)
	t.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("transport: accept on %s: %w", ln.Addr(), err)
		}
		if !t.track(c) {
			c.Close()
			return nil
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			defer t.untrack(c)
			var conn net.Conn = c
			if secure {
				tc, err := t.handshake(c)
				if err != nil {
					if t.ctx.Err() == nil {
						t.opts.Logger.Warn("rejected peer connection: TLS handshake failed", "remote", c.RemoteAddr().String(), "err", err.Error())
					}
					return
				}
				conn = tc
			}
			if err := t.serveConn(conn); err != nil && t.ctx.Err() == nil {
				t.opts.Logger.Debug("peer connection ended", "remote", c.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

func (t *Transport) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

func (t *Transport) untrack(c net.Conn) {
	c.Close()
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

// serveConn reads one incoming connection until it fails or Close.
func (t *Transport) serveConn(c net.Conn) error {
	r := bufio.NewReaderSize(c, 64<<10)
	c.SetReadDeadline(time.Now().Add(t.opts.DialTimeout))
	h, err := readHello(r)
	if err != nil {
		return err
	}
	c.SetReadDeadline(time.Time{})
	if h.kind == kindMembers {
		return t.answerMembers(c)
	}
	if h.kind == kindHashKV {
		return t.answerHashKV(c, r, h)
	}
	if h.kind == kindProbe {
		return t.answerProbes(c, r, h)
	}
	if h.clusterID != t.opts.ClusterID {
		return fmt.Errorf("transport: hello from %x with cluster id %x, want %x", h.fromID, h.clusterID, t.opts.ClusterID)
	}
	if h.kind == kindStream {
		t.mu.Lock()
		p := t.peers[h.fromID]
		t.mu.Unlock()
		if p != nil {
			p.heardFrom()
		}
	}
	var buf []byte
	smallFrames := 0
	for {
		m, b, err := readFrame(r, t.opts.FrameBytesMax, buf)
		buf = b
		if err != nil {
			return err
		}
		if m.GetTo() != t.opts.ID || m.GetFrom() != h.fromID {
			return fmt.Errorf("%w: message %v from %x to %x on a connection of %x to %x",
				ErrBadFrame, m.GetType(), m.GetFrom(), m.GetTo(), h.fromID, t.opts.ID)
		}
		if t.opts.Metrics != nil {
			t.opts.Metrics.PeerReceived(h.fromID, frameHeaderBytes+len(b))
		}
		if h.kind == kindSnapshot {
			return t.deliverSnapshot(c, m)
		}
		select {
		case t.received <- m:
		default:
			// The member loop is behind; raft retransmits what matters.
			if t.opts.Metrics != nil {
				t.opts.Metrics.PeerReceiveFailed(h.fromID)
			}
		}
		// A large buffer is kept while large frames keep coming (appends
		// of big values: a fresh one per frame spent more time faulting in
		// pages than decoding) and dropped once frameBufferSmallRun small
		// frames in a row say the load has gone.
		if len(b) > frameBufferKeepBytes {
			smallFrames = 0
		} else if smallFrames++; cap(buf) > frameBufferKeepBytes && smallFrames >= frameBufferSmallRun {
			buf = nil
		}
	}
}

// A connection's read buffer above frameBufferKeepBytes is dropped after
// frameBufferSmallRun consecutive frames that fit below it.
const (
	frameBufferKeepBytes = 1 << 20
	frameBufferSmallRun  = 64
)

// queryAnswerBytesMax bounds the answer to a peer query (membership,
// HashKV): a few members' JSON, one hash.
const queryAnswerBytesMax = 1 << 20

// Answers to peer queries start with a status byte.
const (
	queryOK    byte = 0
	queryError byte = 1
)

// answerProbes echoes a peer's probes (kindProbe) until the connection
// ends, from this connection's goroutine: what the prober times is the
// network's round trip, not this member's loop.
func (t *Transport) answerProbes(c net.Conn, r io.Reader, h hello) error {
	if h.clusterID != t.opts.ClusterID {
		return fmt.Errorf("transport: probe from %x with cluster id %x, want %x", h.fromID, h.clusterID, t.opts.ClusterID)
	}
	var b [probeBytes]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return err
		}
		c.SetWriteDeadline(time.Now().Add(t.opts.WriteTimeout))
		if _, err := c.Write(b[:]); err != nil {
			return err
		}
	}
}

func (t *Transport) answerMembers(c net.Conn) error {
	if t.opts.Members == nil {
		return fmt.Errorf("transport: membership query from %s: this member does not answer them", c.RemoteAddr())
	}
	return t.answer(c, t.opts.Members(), nil)
}

func (t *Transport) answerHashKV(c net.Conn, r io.Reader, h hello) error {
	if h.clusterID != t.opts.ClusterID {
		return fmt.Errorf("transport: HashKV query from %x with cluster id %x, want %x", h.fromID, h.clusterID, t.opts.ClusterID)
	}
	var rb [8]byte
	c.SetReadDeadline(time.Now().Add(t.opts.DialTimeout))
	if _, err := io.ReadFull(r, rb[:]); err != nil {
		return fmt.Errorf("transport: HashKV query from %x: %w", h.fromID, err)
	}
	if t.opts.HashKV == nil {
		return t.answer(c, nil, errors.New("this member does not answer HashKV queries"))
	}
	b, err := t.opts.HashKV(int64(binary.BigEndian.Uint64(rb[:])))
	return t.answer(c, b, err)
}

// answer writes a query's answer: status, length, bytes (or the error's
// text).
func (t *Transport) answer(c net.Conn, b []byte, qerr error) error {
	status := queryOK
	if qerr != nil {
		status, b = queryError, []byte(qerr.Error())
	}
	if len(b) > queryAnswerBytesMax {
		return fmt.Errorf("transport: query answer of %d bytes exceeds %d", len(b), queryAnswerBytesMax)
	}
	c.SetWriteDeadline(time.Now().Add(t.opts.WriteTimeout))
	_, err := c.Write(append(binary.BigEndian.AppendUint32([]byte{status}, uint32(len(b))), b...))
	return err
}

// FetchMembers asks the member at peerURL for the cluster's membership, as
// a member joining a running cluster does before it knows its own id or
// the cluster's. An https peerURL is dialed with tlsConfig (nil: Go's
// defaults); ctx bounds the handshake too.
func FetchMembers(ctx context.Context, peerURL string, tlsConfig *tls.Config) ([]byte, error) {
	return query(ctx, peerURL, tlsConfig, appendHello(nil, hello{kind: kindMembers}), "the membership")
}

// FetchHashKV asks the member at peerURL, of cluster clusterID, for its
// HashKV at rev (an encoded etcdserverpb.HashKVResponse), over the peer
// port as etcd's corruption checks do; from is the asking member's id.
func FetchHashKV(ctx context.Context, peerURL string, tlsConfig *tls.Config, clusterID, from uint64, rev int64) ([]byte, error) {
	req := appendHello(nil, hello{kind: kindHashKV, clusterID: clusterID, fromID: from})
	return query(ctx, peerURL, tlsConfig, binary.BigEndian.AppendUint64(req, uint64(rev)), "HashKV")
}

// FetchHashKV asks the peer at peerURL for its HashKV at rev as this
// member, with the transport's own TLS configuration.
func (t *Transport) FetchHashKV(ctx context.Context, peerURL string, rev int64) ([]byte, error) {
	cfg, err := t.clientTLS()
	if err != nil {
		return nil, err
	}
	return FetchHashKV(ctx, peerURL, cfg, t.opts.ClusterID, t.opts.ID, rev)
}

// query dials peerURL, sends req and reads one answer.
func query(ctx context.Context, peerURL string, tlsConfig *tls.Config, req []byte, what string) ([]byte, error) {
	ep, err := parseEndpoint(peerURL)
	if err != nil {
		return nil, err
	}
	handshakeTimeout := 5 * time.Second
	if deadline, ok := ctx.Deadline(); ok {
		handshakeTimeout = time.Until(deadline)
	}
	c, err := dialEndpoint(ctx, ep, tlsConfig, 0, handshakeTimeout)
	if err != nil {
		return nil, fmt.Errorf("transport: dial %s for %s: %w", peerURL, what, err)
	}
	defer c.Close()
	if deadline, ok := ctx.Deadline(); ok {
		c.SetDeadline(deadline)
	}
	if _, err := c.Write(req); err != nil {
		return nil, fmt.Errorf("transport: ask %s for %s: %w", peerURL, what, err)
	}
	var head [5]byte
	if _, err := io.ReadFull(c, head[:]); err != nil {
		// Over TLS 1.3 a server that refuses this member's certificate
		// says so here, on the first read, not in the handshake.
		return nil, fmt.Errorf("transport: %s from %s: %w", what, peerURL, err)
	}
	n := binary.BigEndian.Uint32(head[1:])
	if n > queryAnswerBytesMax || head[0] > queryError {
		return nil, fmt.Errorf("%w: %s answer of %d bytes, status %d, from %s", ErrBadFrame, what, n, head[0], peerURL)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		return nil, fmt.Errorf("transport: %s from %s: %w", what, peerURL, err)
	}
	if head[0] == queryError {
		return nil, fmt.Errorf("transport: %s from %s: %s", what, peerURL, b)
	}
	return b, nil
}

func (t *Transport) deliverSnapshot(c net.Conn, m *raftpb.Message) error {
	timer := time.NewTimer(t.opts.SnapshotTimeout)
	defer timer.Stop()
	select {
	case t.received <- m:
	case <-timer.C:
		return fmt.Errorf("transport: snapshot %d from %x not taken within %v", m.GetSnapshot().GetMetadata().GetIndex(), m.GetFrom(), t.opts.SnapshotTimeout)
	case <-t.ctx.Done():
		return t.ctx.Err()
	}
	c.SetWriteDeadline(time.Now().Add(t.opts.WriteTimeout))
	_, err := c.Write([]byte{snapshotAck})
	return err
}

// sendSnapshot sends one MsgSnap on its own connection in the background.
func (t *Transport) sendSnapshot(p *peer, m *raftpb.Message) {
	select {
	case t.snapSem <- struct{}{}:
	default:
		t.sendFailed(p.id, 1)
		t.report(Report{PeerID: p.id, Kind: SnapshotFailed})
		return
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer func() { <-t.snapSem }()
		kind := SnapshotOK
		if err := t.writeSnapshot(p.endpoint(), m); err != nil {
			kind = SnapshotFailed
			t.sendFailed(p.id, 1)
			t.opts.Logger.Warn("sending snapshot failed", "peer", fmt.Sprintf("%x", p.id),
				"index", m.GetSnapshot().GetMetadata().GetIndex(), "err", err)
		}
		t.report(Report{PeerID: p.id, Kind: kind})
	}()
}

func (t *Transport) writeSnapshot(addr endpoint, m *raftpb.Message) error {
	ctx, cancel := context.WithTimeout(t.ctx, t.opts.SnapshotTimeout)
	defer cancel()
	var cfg *tls.Config
	if addr.secure {
		var err error
		if cfg, err = t.clientTLS(); err != nil {
			return err
		}
	}
	c, err := dialEndpoint(ctx, addr, cfg, t.opts.DialTimeout, t.opts.HandshakeTimeout)
	if err != nil {
		return fmt.Errorf("transport: dial %s for snapshot: %w", addr, err)
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	b := appendHello(nil, hello{kind: kindSnapshot, clusterID: t.opts.ClusterID, fromID: t.opts.ID})
	b, err = appendFrame(b, m)
	if err != nil {
		return err
	}
	if _, err := c.Write(b); err != nil {
		return fmt.Errorf("transport: write snapshot of %d bytes to %s: %w", len(b), addr, err)
	}
	var ack [1]byte
	if _, err := c.Read(ack[:]); err != nil {
		return fmt.Errorf("transport: snapshot ack from %s: %w", addr, err)
	}
	if ack[0] != snapshotAck {
		return fmt.Errorf("%w: snapshot ack byte %d from %s", ErrBadFrame, ack[0], addr)
	}
	if t.opts.Metrics != nil {
		t.opts.Metrics.PeerSent(m.GetTo(), len(b)-helloBytes)
	}
	return nil
}

// Close stops every goroutine and connection; it waits for them.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.cancel()
	var errs []error
	for _, ln := range t.listeners {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for c := range t.conns {
		c.Close()
	}
	peers := make([]*peer, 0, len(t.peers))
	for _, p := range t.peers {
		peers = append(peers, p)
	}
	t.mu.Unlock()
	for _, p := range peers {
		p.stop()
	}
	t.wg.Wait()
	return errors.Join(errs...)
}
