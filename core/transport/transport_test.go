package transport

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

const testClusterID = 0xc1

// pair starts two transports (ids 1 and 2) serving on loopback and peered.
func pair(t testing.TB) (a, b *Transport) {
	t.Helper()
	a, b = start(t, 1), start(t, 2)
	if err := a.SetPeer(2, "http://"+listenAddr(t, b)); err != nil {
		t.Fatal(err)
	}
	if err := b.SetPeer(1, listenAddr(t, a)); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func start(t testing.TB, id uint64) *Transport {
	t.Helper()
	return startWith(t, Options{ID: id, ClusterID: testClusterID, ReceiveQueueMessagesMax: 1 << 16, QueueMessagesMax: 1 << 16})
}

// startWith starts a transport with opts serving a loopback listener.
func startWith(t testing.TB, opts Options) *Transport {
	t.Helper()
	tr, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go tr.Serve(ln)
	t.Cleanup(func() { tr.Close() })
	tr.mu.Lock()
	for len(tr.listeners) == 0 { // Serve registers the listener before accepting
		tr.mu.Unlock()
		time.Sleep(time.Millisecond)
		tr.mu.Lock()
	}
	tr.mu.Unlock()
	return tr
}

func listenAddr(t testing.TB, tr *Transport) string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.listeners[0].Addr().String()
}

func receive(t testing.TB, tr *Transport) *raftpb.Message {
	t.Helper()
	select {
	case m := <-tr.Received():
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message received within 5s")
		return nil
	}
}

func report(t testing.TB, tr *Transport) Report {
	t.Helper()
	select {
	case m := <-tr.Reports():
		return ReportOf(m)
	case <-time.After(5 * time.Second):
		t.Fatal("no report within 5s")
		return Report{}
	}
}

func TestMessagesArriveInOrderBothWays(t *testing.T) {
	a, b := pair(t)
	const n = 500
	for i := range uint64(n) {
		a.Send([]*raftpb.Message{{Type: raftpb.MsgApp.Enum(), From: proto.Uint64(1), To: proto.Uint64(2), Index: proto.Uint64(i)}})
		b.Send([]*raftpb.Message{{Type: raftpb.MsgHeartbeat.Enum(), From: proto.Uint64(2), To: proto.Uint64(1), Commit: proto.Uint64(i)}})
	}
	for i := range uint64(n) {
		if m := receive(t, b); m.GetIndex() != i || m.GetType() != raftpb.MsgApp {
			t.Fatalf("b got %v index %d, want MsgApp index %d", m.GetType(), m.GetIndex(), i)
		}
		if m := receive(t, a); m.GetCommit() != i || m.GetType() != raftpb.MsgHeartbeat {
			t.Fatalf("a got %v commit %d, want MsgHeartbeat commit %d", m.GetType(), m.GetCommit(), i)
		}
	}
}

func TestSnapshotIsAcknowledged(t *testing.T) {
	a, b := pair(t)
	data := bytes.Repeat([]byte("snapshot"), 1<<18) // 2 MiB
	a.Send([]*raftpb.Message{{
		Type: raftpb.MsgSnap.Enum(), From: proto.Uint64(1), To: proto.Uint64(2),
		Snapshot: &raftpb.Snapshot{Data: data, Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(77), Term: proto.Uint64(3)}},
	}})
	m := receive(t, b)
	if m.GetType() != raftpb.MsgSnap || m.GetSnapshot().GetMetadata().GetIndex() != 77 || !bytes.Equal(m.GetSnapshot().GetData(), data) {
		t.Fatalf("got %v index %d with %d bytes, want the 2 MiB snapshot at 77", m.GetType(), m.GetSnapshot().GetMetadata().GetIndex(), len(m.GetSnapshot().GetData()))
	}
	if r := report(t, a); r != (Report{PeerID: 2, Kind: SnapshotOK}) {
		t.Fatalf("report %+v, want SnapshotOK for 2", r)
	}
}

func TestUnreachablePeerIsReported(t *testing.T) {
	a := start(t, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now
	if err := a.SetPeer(2, dead); err != nil {
		t.Fatal(err)
	}
	a.Send([]*raftpb.Message{{Type: raftpb.MsgApp.Enum(), From: proto.Uint64(1), To: proto.Uint64(2)}})
	if r := report(t, a); r != (Report{PeerID: 2, Kind: Unreachable}) {
		t.Fatalf("report %+v, want Unreachable for 2", r)
	}
	a.Send([]*raftpb.Message{{Type: raftpb.MsgApp.Enum(), From: proto.Uint64(1), To: proto.Uint64(9)}})
	if r := report(t, a); r != (Report{PeerID: 9, Kind: Unreachable}) {
		t.Fatalf("report %+v, want Unreachable for unknown peer 9", r)
	}
	a.Send([]*raftpb.Message{{Type: raftpb.MsgSnap.Enum(), From: proto.Uint64(1), To: proto.Uint64(2), Snapshot: &raftpb.Snapshot{}}})
	for {
		r := report(t, a)
		if r.Kind == SnapshotFailed && r.PeerID == 2 {
			break
		}
		if r.Kind == SnapshotOK {
			t.Fatalf("snapshot to a dead peer reported OK")
		}
	}
}

func TestReconnectsAfterPeerRestarts(t *testing.T) {
	a, b := pair(t)
	addr := listenAddr(t, b)
	b.Close()
	b2, err := New(Options{ID: 2, ClusterID: testClusterID})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	deadline := time.Now().Add(10 * time.Second)
	var ln net.Listener
	for ln == nil { // the port may linger briefly
		if ln, err = net.Listen("tcp", addr); err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("relisten on %s: %v", addr, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	go b2.Serve(ln)
	if !heartbeatsReach(t, a, b2, deadline) {
		t.Fatal("no message reached the restarted peer within 10s")
	}
}

// heartbeatsReach sends heartbeats from a (member 1) to member 2 until
// one arrives at b or deadline passes, and reports whether one arrived.
func heartbeatsReach(t *testing.T, a, b *Transport, deadline time.Time) bool {
	t.Helper()
	for time.Now().Before(deadline) {
		a.Send([]*raftpb.Message{{Type: raftpb.MsgHeartbeat.Enum(), From: proto.Uint64(1), To: proto.Uint64(2)}})
		select {
		case m := <-b.Received():
			if m.GetFrom() != 1 {
				t.Fatalf("from %x, want 1", m.GetFrom())
			}
			return true
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}

func TestForeignClusterIsRefused(t *testing.T) {
	b := start(t, 2)
	c, err := net.Dial("tcp", listenAddr(t, b))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg, _ := appendFrame(appendHello(nil, hello{kind: kindStream, clusterID: testClusterID + 1, fromID: 1}),
		&raftpb.Message{Type: raftpb.MsgApp.Enum(), From: proto.Uint64(1), To: proto.Uint64(2)})
	c.Write(msg)
	select {
	case m := <-b.Received():
		t.Fatalf("message %v from a foreign cluster was delivered", m.GetType())
	case <-time.After(100 * time.Millisecond):
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection from a foreign cluster stayed open")
	}
}

func TestFrameRoundTripAndLimits(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &raftpb.Message{
			Type:    raftpb.MessageType(rapid.IntRange(0, 20).Draw(t, "type")).Enum(),
			From:    proto.Uint64(rapid.Uint64().Draw(t, "from")),
			To:      proto.Uint64(rapid.Uint64().Draw(t, "to")),
			Term:    proto.Uint64(rapid.Uint64().Draw(t, "term")),
			Context: rapid.SliceOfN(rapid.Byte(), 0, 4096).Draw(t, "context"),
		}
		b, err := appendFrame(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := readFrame(bytes.NewReader(b), 1<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, m) {
			t.Fatalf("round trip changed the message: %v != %v", got, m)
		}
		limit := uint64(len(b) - 8 - 1)
		if _, _, err := readFrame(bytes.NewReader(b), limit, nil); !errors.Is(err, ErrBadFrame) {
			t.Fatalf("frame of %d bytes under a %d limit: err %v, want ErrBadFrame", len(b)-8, limit, err)
		}
		cut := rapid.IntRange(0, len(b)-1).Draw(t, "cut")
		if _, _, err := readFrame(bytes.NewReader(b[:cut]), 1<<20, nil); err == nil {
			t.Fatalf("a frame cut at %d of %d bytes decoded", cut, len(b))
		}
	})
}

func TestOptionsValidateReportsEverything(t *testing.T) {
	o := Options{QueueMessagesMax: -1, BackoffMin: time.Second, BackoffMax: time.Millisecond}
	o.EnsureDefaults()
	err := o.Validate()
	for _, want := range []string{"ID", "ClusterID", "QueueMessagesMax", "BackoffMax"} {
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("Validate() = %v, want a complaint about %s", err, want)
		}
	}
}

func BenchmarkSend(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run(fmt.Sprintf("bytes=%d", size), func(b *testing.B) {
			a, c := pair(b)
			payload := bytes.Repeat([]byte{'x'}, size)
			b.SetBytes(int64(size))
			b.ResetTimer()
			done := make(chan struct{})
			go func() {
				for range b.N {
					<-c.Received()
				}
				close(done)
			}()
			for i := range b.N {
				m := &raftpb.Message{Type: raftpb.MsgApp.Enum(), From: proto.Uint64(1), To: proto.Uint64(2), Index: proto.Uint64(uint64(i)),
					Entries: []*raftpb.Entry{{Data: payload}}}
				for a.queued(2) == cap(a.peers[2].queue) {
					time.Sleep(10 * time.Microsecond) // keep the benchmark lossless
				}
				a.Send([]*raftpb.Message{m})
			}
			<-done
		})
	}
}

func (t *Transport) queued(id uint64) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.peers[id].queue)
}

// A peer that comes back and connects to us is redialled at once, not after
// the reconnect backoff: a restarted follower would otherwise hear nothing
// from the leader (and serve no linearizable read) for up to BackoffMax.
func TestPeerThatConnectsCutsTheBackoffShort(t *testing.T) {
	const backoff = time.Minute
	a := startWith(t, Options{ID: 1, ClusterID: testClusterID, BackoffMin: backoff, BackoffMax: backoff})
	// b's address is reserved but nothing serves it yet: a's first dial
	// is refused and a waits out its backoff.
	port := reservePort(t)
	if err := a.SetPeer(2, port.addr); err != nil {
		t.Fatal(err)
	}
	a.Send([]*raftpb.Message{{Type: raftpb.MsgHeartbeat.Enum(), From: proto.Uint64(1), To: proto.Uint64(2)}})
	if r := report(t, a); r.PeerID != 2 || r.Kind != Unreachable {
		t.Fatalf("report %+v, want peer 2 unreachable", r)
	}
	b, err := New(Options{ID: 2, ClusterID: testClusterID})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ln := port.listen(t)
	go b.Serve(ln)
	if err := b.SetPeer(1, listenAddr(t, a)); err != nil { // b dials a: the hello wakes a's dial loop
		t.Fatal(err)
	}
	if !heartbeatsReach(t, a, b, time.Now().Add(10*time.Second)) {
		t.Fatalf("no message reached the returned peer within 10 s: a waited out its %v backoff", backoff)
	}
}

// reservedPort is a loopback TCP port bound but not listening: dials to
// it are refused, and no other process can take it, until listen turns
// the same socket into a listener. Freeing a port and listening on it
// again later would let anything on the machine take it in between.
type reservedPort struct {
	fd   int
	addr string
}

func reservePort(t *testing.T) *reservedPort {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		t.Fatalf("bind 127.0.0.1:0: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		t.Fatalf("getsockname: %v", err)
	}
	p := &reservedPort{fd: fd, addr: fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)}
	t.Cleanup(func() {
		if p.fd >= 0 {
			syscall.Close(p.fd)
		}
	})
	return p
}

// listen starts listening on the reserved port and hands its socket to
// the returned listener.
func (p *reservedPort) listen(t *testing.T) net.Listener {
	t.Helper()
	if err := syscall.Listen(p.fd, syscall.SOMAXCONN); err != nil {
		t.Fatalf("listen on %s: %v", p.addr, err)
	}
	f := os.NewFile(uintptr(p.fd), p.addr)
	p.fd = -1       // f owns it now
	defer f.Close() // FileListener dups the socket
	ln, err := net.FileListener(f)
	if err != nil {
		t.Fatalf("listener on %s: %v", p.addr, err)
	}
	return ln
}
