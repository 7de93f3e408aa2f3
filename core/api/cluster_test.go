package api

import (
	"cmp"
	"context"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvdlabs/kvd/core/disk"
	"github.com/kvdlabs/kvd/core/node"
	"github.com/kvdlabs/kvd/core/transport"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// testMember is one in-process kvd member on loopback ports.
type testMember struct {
	// cfg is what the member was made with (restart makes it again).
	cfg       Config
	srv       *Server
	tr        *transport.Transport
	clientURL string
	peerLn    net.Listener
	clientLn  net.Listener
	cancel    context.CancelFunc
	stopped   chan struct{}
}

// testCluster starts size members with short timeouts (10 ms ticks, 100 ms
// elections) and waits for a leader.
type testCluster struct {
	t       testing.TB
	members []*testMember
}

type clusterOpts struct {
	size              int
	quotaBackendBytes int64
	requestBytesMax   int
	txnOpsMax         int
	corruptCheck      time.Duration
	unsafe            node.Unsafe
	// snapshotEntries is node.Config.SnapshotEntries (half of it caught
	// up from); 0: the default.
	snapshotEntries uint64
	// electionTicks is node.Config.ElectionTicks of 10 ms ticks; 0: 10.
	electionTicks int
	// metered wires each member for metrics as cmd/kvd does: a registry
	// of its own, fed by its transport's PeerMetrics, which probes the
	// peers every 20 ms.
	metered bool
}

func newTestCluster(t testing.TB, o clusterOpts) *testCluster {
	t.Helper()
	if o.size == 0 {
		o.size = 1
	}
	c := &testCluster{t: t}
	infos := map[uint64]MemberInfo{}
	var ids []uint64
	type lns struct{ peer, client net.Listener }
	all := make([]lns, o.size)
	for i := range o.size {
		p, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		all[i] = lns{p, cl}
		info := MemberInfo{
			Name:       fmt.Sprintf("m%d", i),
			PeerURLs:   []string{"http://" + p.Addr().String()},
			ClientURLs: []string{"http://" + cl.Addr().String()},
		}
		id := MemberID(info.PeerURLs, "test")
		infos[id] = info
		ids = append(ids, id)
	}
	clusterID := ClusterID(ids)
	// As kvd does from --initial-cluster: each member knows the others'
	// names and peer URLs, and only its own client URLs.
	bootstrap := map[uint64]MemberInfo{}
	for id, info := range infos {
		bootstrap[id] = MemberInfo{Name: info.Name, PeerURLs: info.PeerURLs}
	}
	dir := t.TempDir()
	for i, id := range ids {
		// As kvd wires them: peers ask each other for HashKV on the
		// peer port (corruption checks).
		var srv *Server
		topts := transport.Options{ID: id, ClusterID: clusterID,
			HashKV: func(rev int64) ([]byte, error) { return srv.HashKVBytes(rev) }}
		var reg *prometheus.Registry
		if o.metered {
			reg = prometheus.NewRegistry()
			topts.Metrics, topts.ProbeInterval = NewPeerMetrics(reg, id), 20*time.Millisecond
		}
		tr, err := transport.New(topts)
		if err != nil {
			t.Fatal(err)
		}
		dataDir := filepath.Join(dir, infos[id].Name)
		cfg := Config{
			Node: node.Config{
				ID: id, ClusterID: clusterID, Peers: ids,
				FS: disk.OSFS{}, Dir: dataDir,
				TickInterval: 10 * time.Millisecond, ElectionTicks: cmp.Or(o.electionTicks, 10), HeartbeatTicks: 1,
				RequestBytesMax: o.requestBytesMax, TxnOpsMax: o.txnOpsMax,
				SnapshotEntries: o.snapshotEntries, SnapshotCatchUpEntries: o.snapshotEntries / 2,
				Unsafe: o.unsafe,
			},
			Transport:            tr,
			Self:                 infos[id],
			Bootstrap:            bootstrap,
			QuotaBackendBytes:    o.quotaBackendBytes,
			CorruptCheckInterval: o.corruptCheck,
			Registry:             reg,
			Logger:               testLogger(),
		}
		srv, err = New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		m := &testMember{cfg: cfg, srv: srv, tr: tr, clientURL: infos[id].ClientURLs[0], peerLn: all[i].peer, clientLn: all[i].client, cancel: cancel, stopped: make(chan struct{})}
		go tr.Serve(all[i].peer)
		go srv.Run(ctx)
		go func() {
			srv.ServeClient(ctx, all[i].client, 100*time.Millisecond)
			close(m.stopped)
		}()
		c.members = append(c.members, m)
	}
	t.Cleanup(c.stop)
	c.waitLeader()
	c.waitPublished()
	return c
}

// restart stops member i and starts it again on its data, on the same
// addresses; its loop runs, its client listener serves once ready returns
// (a nil ready serves at once), or not at all when ready fails.
func (c *testCluster) restart(i int, ready func(*Server) error) error {
	c.t.Helper()
	old := c.members[i]
	old.stopMember()
	peerLn, err := net.Listen("tcp", old.peerLn.Addr().String())
	if err != nil {
		c.t.Fatal(err)
	}
	clientLn, err := net.Listen("tcp", old.clientLn.Addr().String())
	if err != nil {
		c.t.Fatal(err)
	}
	cfg := old.cfg
	var srv *Server
	tr, err := transport.New(transport.Options{ID: cfg.Node.ID, ClusterID: cfg.Node.ClusterID,
		HashKV: func(rev int64) ([]byte, error) { return srv.HashKVBytes(rev) }})
	if err != nil {
		c.t.Fatal(err)
	}
	cfg.Transport = tr
	srv, err = New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &testMember{cfg: cfg, srv: srv, tr: tr, clientURL: old.clientURL, peerLn: peerLn, clientLn: clientLn, cancel: cancel, stopped: make(chan struct{})}
	c.members[i] = m
	go tr.Serve(peerLn)
	go srv.Run(ctx)
	if ready != nil {
		if err := ready(srv); err != nil {
			clientLn.Close()
			close(m.stopped)
			return err
		}
	}
	go func() {
		srv.ServeClient(ctx, clientLn, 100*time.Millisecond)
		close(m.stopped)
	}()
	return nil
}

// waitPublished waits until every member lists every member's name and
// client URL, as published through raft: etcd's members are ready to
// serve once they have published theirs.
func (c *testCluster) waitPublished() {
	c.t.Helper()
	want := map[uint64]string{}
	for _, m := range c.members {
		want[m.srv.ID()] = m.clientURL
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, ep := range c.endpoints() {
		cli := c.client(ep)
		for {
			resp, err := cli.MemberList(context.Background())
			got := map[uint64]string{}
			var members []*pb.Member
			if err == nil {
				members = resp.Members
				for _, m := range resp.Members {
					if len(m.ClientURLs) == 1 && m.Name != "" {
						got[m.ID] = m.ClientURLs[0]
					}
				}
			}
			if maps.Equal(got, want) {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("member list via %s never showed every member's client URL: %v %v (want %v)", ep, members, err, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("KVD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

func (c *testCluster) stop() {
	for _, m := range c.members {
		m.stopMember()
	}
}

func (m *testMember) stopMember() {
	m.cancel()
	<-m.srv.Done()
	<-m.stopped
	m.tr.Close()
}

// waitLeader waits until every member knows the same leader.
func (c *testCluster) waitLeader() uint64 {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		lead := c.members[0].srv.Status().Leader
		same := lead != 0
		for _, m := range c.members[1:] {
			same = same && m.srv.Status().Leader == lead
		}
		if same {
			return lead
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatal("no leader within 10s")
	return 0
}

func (c *testCluster) endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.clientURL)
	}
	return eps
}

func (c *testCluster) client(eps ...string) *clientv3.Client {
	c.t.Helper()
	if len(eps) == 0 {
		eps = c.endpoints()
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cli.Close() })
	return cli
}

func ctx(t testing.TB) context.Context {
	cx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return cx
}

func TestSmokePutGet(t *testing.T) {
	c := newTestCluster(t, clusterOpts{size: 1})
	cli := c.client()
	if _, err := cli.Put(ctx(t), "/a", "1"); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx(t), "/a")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "1" {
		t.Fatalf("got %v", resp.Kvs)
	}
}

// Members publish their name and client URLs through raft; the cluster
// harness waits for it, so here every member lists all of them at once.
func TestMemberListShowsPublishedClientURLs(t *testing.T) {
	c := newTestCluster(t, clusterOpts{size: 3})
	for _, ep := range c.endpoints() {
		resp, err := c.client(ep).MemberList(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range resp.Members {
			if m.Name == "" || len(m.ClientURLs) != 1 || len(m.PeerURLs) != 1 {
				t.Fatalf("member list via %s: member %x is %v", ep, m.ID, m)
			}
		}
	}
}
