package transport

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/transport/tlstest"
	"github.com/kvdlabs/kvd/internal/procs"
)

// tlsMember is what one member's TLS flags amount to: its certificate,
// the CA it trusts, and peers required to show a certificate from it.
func tlsMember(t *testing.T, ca *tlstest.CA, name string) (server *tls.Config, client func() (*tls.Config, error)) {
	cert := ca.Issue(t, tlstest.Loopback(name)).TLS(t)
	server = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}
	client = func() (*tls.Config, error) {
		return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: ca.Pool()}, nil
	}
	return server, client
}

func startTLS(t *testing.T, id uint64, server *tls.Config, client func() (*tls.Config, error), log *procs.Output) (*Transport, string) {
	t.Helper()
	opts := Options{ID: id, ClusterID: testClusterID, ServerTLS: server, ClientTLS: client,
		Members: func() []byte { return []byte(`{"members":[]}`) }}
	if log != nil {
		opts.Logger = slog.New(slog.NewTextHandler(log, nil))
	}
	tr, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go tr.ServeTLS(ln)
	t.Cleanup(func() { tr.Close() })
	return tr, "https://" + ln.Addr().String()
}

// TestTLSPeers: members with certificates from the cluster's CA exchange
// stream and snapshot messages over https peer URLs and answer the
// membership query; a member whose certificate comes from another CA is
// refused at the handshake, and the refusing member says so.
func TestTLSPeers(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	sa, ca1 := tlsMember(t, ca, "m1")
	sb, cb := tlsMember(t, ca, "m2")
	var logB procs.Output
	a, urlA := startTLS(t, 1, sa, ca1, nil)
	b, urlB := startTLS(t, 2, sb, cb, &logB)
	if err := a.SetPeer(2, urlB); err != nil {
		t.Fatal(err)
	}
	if err := b.SetPeer(1, urlA); err != nil {
		t.Fatal(err)
	}
	a.Send([]*raftpb.Message{{Type: raftpb.MsgApp.Enum(), From: proto.Uint64(1), To: proto.Uint64(2), Index: proto.Uint64(7)}})
	if m := receive(t, b); m.GetIndex() != 7 {
		t.Fatalf("got %v index %d, want MsgApp 7", m.GetType(), m.GetIndex())
	}
	b.Send([]*raftpb.Message{{Type: raftpb.MsgSnap.Enum(), From: proto.Uint64(2), To: proto.Uint64(1),
		Snapshot: &raftpb.Snapshot{Data: []byte("state"), Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(9), Term: proto.Uint64(1)}}}})
	if m := receive(t, a); m.GetSnapshot().GetMetadata().GetIndex() != 9 {
		t.Fatalf("got %v, want the snapshot at 9", m.GetType())
	}
	if r := report(t, b); r != (Report{PeerID: 1, Kind: SnapshotOK}) {
		t.Fatalf("report %+v, want SnapshotOK for 1", r)
	}

	good, _ := ca1()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got, err := FetchMembers(ctx, urlB, good); err != nil || string(got) != `{"members":[]}` {
		t.Fatalf("FetchMembers over TLS = %q, %v", got, err)
	}
	if _, err := FetchMembers(ctx, urlB, nil); err == nil {
		t.Fatal("FetchMembers trusting only the system roots accepted the cluster CA's certificate")
	}

	// A member with another CA's certificate, trusting the cluster's CA.
	other := tlstest.NewCA(t, "other CA")
	stranger := other.Issue(t, tlstest.Loopback("m3")).TLS(t)
	bad := &tls.Config{Certificates: []tls.Certificate{stranger}, RootCAs: ca.Pool()}
	if _, err := FetchMembers(ctx, urlB, bad); err == nil {
		t.Fatal("FetchMembers with a certificate from another CA was answered")
	}
	c, _ := startTLS(t, 3, &tls.Config{Certificates: []tls.Certificate{stranger}}, func() (*tls.Config, error) { return bad, nil }, nil)
	if err := c.SetPeer(2, urlB); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logB.String(), "TLS handshake failed") && time.Now().Before(deadline) {
		c.Send([]*raftpb.Message{{Type: raftpb.MsgHeartbeat.Enum(), From: proto.Uint64(3), To: proto.Uint64(2)}})
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logB.String(), "TLS handshake failed") {
		t.Fatalf("member 2 logged no refused handshake:\n%s", logB.String())
	}
	select {
	case m := <-b.Received():
		t.Fatalf("member 2 received %v from %x over a refused connection", m.GetType(), m.GetFrom())
	case <-time.After(50 * time.Millisecond):
	}
}

func TestServeTLSWithoutConfigFails(t *testing.T) {
	tr, err := New(Options{ID: 1, ClusterID: testClusterID})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.ServeTLS(ln); err == nil || !strings.Contains(err.Error(), "ServerTLS") {
		t.Fatalf("ServeTLS without ServerTLS = %v, want an error naming it", err)
	}
}
