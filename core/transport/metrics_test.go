package transport

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// recorder is a Metrics that remembers what it was told.
type recorder struct {
	mu                           sync.Mutex
	sent, received, sendFailed   map[uint64]int
	recvFailed, rtts, ups, downs map[uint64]int
	active                       map[uint64]bool
	rttMax                       time.Duration
}

func newRecorder() *recorder {
	return &recorder{sent: map[uint64]int{}, received: map[uint64]int{}, sendFailed: map[uint64]int{},
		recvFailed: map[uint64]int{}, rtts: map[uint64]int{}, ups: map[uint64]int{}, downs: map[uint64]int{}, active: map[uint64]bool{}}
}

func (r *recorder) PeerSent(to uint64, n int)       { r.add(r.sent, to, n) }
func (r *recorder) PeerReceived(from uint64, n int) { r.add(r.received, from, n) }
func (r *recorder) PeerSendFailed(to uint64, n int) { r.add(r.sendFailed, to, n) }
func (r *recorder) PeerReceiveFailed(from uint64)   { r.add(r.recvFailed, from, 1) }
func (r *recorder) add(m map[uint64]int, id uint64, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m[id] += n
}
func (r *recorder) PeerActive(id uint64, up bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active[id] = up
	if up {
		r.ups[id]++
	} else {
		r.downs[id]++
	}
}
func (r *recorder) PeerRoundTrip(to uint64, rtt time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rtts[to]++
	r.rttMax = max(r.rttMax, rtt)
}

// get reads one of the recorder's figures under its lock.
func (r *recorder) get(f func(*recorder) int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return f(r)
}

func startMetered(t *testing.T, id uint64, r *recorder) *Transport {
	t.Helper()
	return startWith(t, Options{ID: id, ClusterID: testClusterID, Metrics: r, ProbeInterval: 10 * time.Millisecond})
}

// eventually waits up to 5 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The Metrics hook sees every frame's bytes on both sides (stream and
// snapshot), dropped messages, the stream connection going up and down,
// and a probe's round trip every ProbeInterval.
func TestMetricsSeeBytesFailuresConnectionsAndRoundTrips(t *testing.T) {
	ra, rb := newRecorder(), newRecorder()
	a, b := startMetered(t, 1, ra), startMetered(t, 2, rb)
	if err := a.SetPeer(2, "http://"+listenAddr(t, b)); err != nil {
		t.Fatal(err)
	}
	if err := b.SetPeer(1, listenAddr(t, a)); err != nil {
		t.Fatal(err)
	}
	frames := 0
	for i := range uint64(100) {
		m := &raftpb.Message{Type: raftpb.MsgApp.Enum(), From: proto.Uint64(1), To: proto.Uint64(2), Index: proto.Uint64(i),
			Entries: []*raftpb.Entry{{Data: bytes.Repeat([]byte{'x'}, int(i))}}}
		frames += frameHeaderBytes + proto.Size(m)
		a.Send([]*raftpb.Message{m})
	}
	snap := &raftpb.Message{Type: raftpb.MsgSnap.Enum(), From: proto.Uint64(1), To: proto.Uint64(2),
		Snapshot: &raftpb.Snapshot{Data: bytes.Repeat([]byte("s"), 1<<16), Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(7), Term: proto.Uint64(1)}}}
	frames += frameHeaderBytes + proto.Size(snap)
	a.Send([]*raftpb.Message{snap})
	for range 101 {
		receive(t, b)
	}
	if r := report(t, a); r != (Report{PeerID: 2, Kind: SnapshotOK}) {
		t.Fatalf("report %+v, want SnapshotOK for 2", r)
	}
	eventually(t, "a counts every frame's bytes sent to 2", func() bool { return ra.get(func(r *recorder) int { return r.sent[2] }) == frames })
	eventually(t, "b counts every frame's bytes received from 1", func() bool { return rb.get(func(r *recorder) int { return r.received[1] }) == frames })
	eventually(t, "a probes 2 more than once", func() bool { return ra.get(func(r *recorder) int { return r.rtts[2] }) >= 3 })
	eventually(t, "b probes 1", func() bool { return rb.get(func(r *recorder) int { return r.rtts[1] }) >= 1 })
	ra.mu.Lock()
	if !ra.active[2] || ra.ups[2] != 1 || ra.downs[2] != 0 || ra.sendFailed[2] != 0 || ra.rttMax <= 0 || ra.rttMax > 5*time.Second {
		t.Errorf("a: active %v ups %d downs %d failures %d max rtt %v; want one connection up, no failure, a round trip",
			ra.active[2], ra.ups[2], ra.downs[2], ra.sendFailed[2], ra.rttMax)
	}
	ra.mu.Unlock()

	// A message for a peer the transport does not know is a send failure.
	a.Send([]*raftpb.Message{{Type: raftpb.MsgApp.Enum(), From: proto.Uint64(1), To: proto.Uint64(9)}})
	if got := ra.get(func(r *recorder) int { return r.sendFailed[9] }); got != 1 {
		t.Errorf("failures to unknown peer 9: %d, want 1", got)
	}
	// Once 2 is gone, the stream goes down at the next writes, and what
	// is sent to 2 meanwhile is dropped.
	b.Close()
	eventually(t, "a's stream to 2 goes down and messages to 2 fail", func() bool {
		a.Send([]*raftpb.Message{{Type: raftpb.MsgApp.Enum(), From: proto.Uint64(1), To: proto.Uint64(2)}})
		return ra.get(func(r *recorder) int { return r.downs[2] }) >= 1 && ra.get(func(r *recorder) int { return r.sendFailed[2] }) > 0
	})
	if ra.get(func(r *recorder) int { return b2i(r.active[2]) }) != 0 {
		t.Error("a's stream to 2 still active after 2 closed")
	}
}

// Without Metrics the transport opens no probe connection.
func TestNoProbeWithoutMetrics(t *testing.T) {
	a, b := pair(t)
	a.Send([]*raftpb.Message{{Type: raftpb.MsgApp.Enum(), From: proto.Uint64(1), To: proto.Uint64(2)}})
	receive(t, b)
	time.Sleep(50 * time.Millisecond)
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.conns) != 1 {
		t.Fatalf("b has %d incoming connections, want only a's stream", len(b.conns))
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
