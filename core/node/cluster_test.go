package node

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/clock"
	"github.com/kvdlabs/kvd/core/disk"
	"github.com/kvdlabs/kvd/core/watch"
)

// testCluster runs members in one goroutine with synchronous, in-order
// message delivery and a manual clock: a miniature of the simulator, enough
// to test the member on its own. Scenario tests under faults live in sim.
type testCluster struct {
	t       testing.TB
	ids     []uint64
	nodes   map[uint64]*Node
	fs      map[uint64]disk.FS
	clock   *clock.Manual
	results map[uint64]Result
	watch   map[uint64][]watch.Delivery
	// cut[from][to] drops messages on that link.
	cut       map[uint64]map[uint64]bool
	snapsSent int
	mutate    func(*Config)
	// duplicate, when set, picks messages delivered twice, as a network
	// that duplicates packets would.
	duplicate func(*raftpb.Message) bool
	// drop, when set, picks messages the network loses.
	drop func(*raftpb.Message) bool
	// early holds what each member's BeforePersist received during the
	// Process running now; it goes out ahead of what Process returns.
	early map[uint64][]Output
	// events, when not nil, records process boundaries, fsyncs and
	// results in the order they happened.
	events *[]string
}

func newTestCluster(t testing.TB, size int, mutate func(*Config)) *testCluster {
	c := &testCluster{
		t:       t,
		nodes:   map[uint64]*Node{},
		fs:      map[uint64]disk.FS{},
		clock:   &clock.Manual{T: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
		results: map[uint64]Result{},
		watch:   map[uint64][]watch.Delivery{},
		cut:     map[uint64]map[uint64]bool{},
		mutate:  mutate,
		early:   map[uint64][]Output{},
	}
	for i := 1; i <= size; i++ {
		c.ids = append(c.ids, uint64(i))
	}
	for _, id := range c.ids {
		c.fs[id] = disk.OSFS{Root: t.TempDir()}
		c.start(id)
	}
	return c
}

func (c *testCluster) config(id uint64) Config {
	cfg := Config{ID: id, ClusterID: 0xc1, Peers: c.ids, FS: c.fs[id], Dir: "member"}
	// As kvd and the simulator run members.
	cfg.BeforePersist = func(out Output) {
		c.early[id] = append(c.early[id], out)
		c.event("results %d early", id, len(out.Results))
	}
	if c.mutate != nil {
		c.mutate(&cfg)
	}
	return cfg
}

func (c *testCluster) start(id uint64) {
	n, err := Open(c.config(id))
	if err != nil {
		c.t.Fatalf("open member %d: %v", id, err)
	}
	c.nodes[id] = n
}

func (c *testCluster) stop(id uint64) {
	if err := c.nodes[id].Close(); err != nil {
		c.t.Fatalf("close member %d: %v", id, err)
	}
	delete(c.nodes, id)
}

func (c *testCluster) isolate(id uint64) {
	for _, o := range c.ids {
		if o != id {
			c.setCut(id, o, true)
			c.setCut(o, id, true)
		}
	}
}

func (c *testCluster) heal() { clear(c.cut) }

func (c *testCluster) setCut(from, to uint64, cut bool) {
	if c.cut[from] == nil {
		c.cut[from] = map[uint64]bool{}
	}
	c.cut[from][to] = cut
}

// settle processes every member and delivers messages until none are left.
func (c *testCluster) settle() {
	for round := 0; c.step(); round++ {
		if round > 10000 {
			c.t.Fatalf("cluster did not settle")
		}
	}
}

// step processes every member once and delivers what they sent, reporting
// whether anything was sent.
func (c *testCluster) step() bool {
	var queue []*raftpb.Message
	collect := func(id uint64) {
		n := c.nodes[id]
		c.event("process %d", id, 0)
		out, err := n.Process()
		if errors.Is(err, ErrRemoved) {
			// As kvd: what the last round sends leaves, then it stops.
			if cerr := n.Close(); cerr != nil {
				c.t.Fatalf("close removed member %d: %v", id, cerr)
			}
			delete(c.nodes, id)
		} else if err != nil {
			c.t.Fatalf("member %d process: %v", id, err)
		}
		c.event("results %d", id, len(out.Results))
		for _, o := range append(c.early[id], out) {
			queue = append(queue, o.Messages...)
			for _, r := range o.Results {
				if _, dup := c.results[r.ID]; dup {
					c.t.Fatalf("request %x completed twice", r.ID)
				}
				c.results[r.ID] = r
			}
			c.watch[id] = append(c.watch[id], o.Watch...)
		}
		delete(c.early, id)
	}
	for _, id := range c.ids {
		if c.nodes[id] != nil {
			collect(id)
		}
	}
	if len(queue) == 0 {
		return false
	}
	batch := queue
	queue = nil

	if c.duplicate != nil {
		var copies []*raftpb.Message
		for _, m := range batch {
			copies = append(copies, m)
			if c.duplicate(m) {
				copies = append(copies, m)
			}
		}
		batch = copies
	}
	for _, m := range batch {
		to := c.nodes[m.GetTo()]
		if to == nil || c.cut[m.GetFrom()][m.GetTo()] || (c.drop != nil && c.drop(m)) {
			if m.GetType() == raftpb.MsgSnap && c.nodes[m.GetFrom()] != nil {
				c.nodes[m.GetFrom()].ReportSnapshot(m.GetTo(), false)
			}
			continue
		}
		if err := to.Receive(m); err != nil {
			c.t.Fatalf("member %d receive %v: %v", m.GetTo(), m.GetType(), err)
		}
		if m.GetType() == raftpb.MsgSnap {
			c.snapsSent++
			c.nodes[m.GetFrom()].ReportSnapshot(m.GetTo(), true)
		}
	}
	return true
}

// event records what happened when events are being recorded; results
// events with no results are left out.
func (c *testCluster) event(format string, id uint64, results int) {
	if c.events == nil || (strings.HasPrefix(format, "results") && results == 0) {
		return
	}
	*c.events = append(*c.events, fmt.Sprintf(format, id))
}

// settleOnce is settle, which processes every member at least once: for
// work that needs rounds but sends nothing (a snapshot being written).
func (c *testCluster) settleOnce() { c.settle() }

// tick advances the clock by one tick interval on every live member.
func (c *testCluster) tick(n int) {
	for range n {
		c.clock.Advance(100 * time.Millisecond)
		for _, id := range c.ids {
			if c.nodes[id] != nil {
				c.nodes[id].Tick()
			}
		}
		c.settle()
	}
}

func (c *testCluster) leader() uint64 {
	for _, id := range c.ids {
		if n := c.nodes[id]; n != nil && n.Status().IsLeader {
			return id
		}
	}
	return 0
}

func (c *testCluster) waitLeader() uint64 {
	for range 200 {
		if l := c.leader(); l != 0 {
			return l
		}
		c.tick(1)
	}
	c.t.Fatalf("no leader after 200 ticks")
	return 0
}

// do submits r to member id and drives the cluster until it completes.
func (c *testCluster) do(id uint64, r *pb.InternalRaftRequest) Result {
	return c.await(id, c.nodes[id].Submit(r))
}

// await drives the cluster until request rid of member id completes.
func (c *testCluster) await(id, rid uint64) Result {
	c.settle()
	for range 500 {
		if res, ok := c.results[rid]; ok {
			return res
		}
		c.tick(1)
	}
	c.t.Fatalf("request %x on member %d never completed", rid, id)
	return Result{}
}

func put(k, v string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(k), Value: []byte(v)}}
}

func get(k string, serializable bool) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte(k), Serializable: serializable}}
}

func mustOK(t testing.TB, r Result) Result {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("request %x: %v", r.ID, r.Err)
	}
	return r
}

// converged asserts every live member has applied the same state.
func (c *testCluster) converged() {
	c.t.Helper()
	var want *pb.HashKVResponse
	var from uint64
	for _, id := range c.ids {
		n := c.nodes[id]
		if n == nil {
			continue
		}
		h, err := n.HashKV(0)
		if err != nil {
			c.t.Fatalf("member %d hash: %v", id, err)
		}
		if want == nil {
			want, from = h, id
			continue
		}
		if h.Hash != want.Hash || h.Header.Revision != want.Header.Revision {
			c.t.Fatalf("member %d at rev %d hash %x differs from member %d at rev %d hash %x",
				id, h.Header.Revision, h.Hash, from, want.Header.Revision, want.Hash)
		}
	}
}

func TestElectionAndReplication(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	for i := range 200 {
		r := mustOK(t, c.do(l, put(fmt.Sprintf("k%03d", i), fmt.Sprintf("v%d", i))))
		if got := r.Response.(*pb.PutResponse).Header; got.Revision != int64(i+2) || got.MemberId != l || got.ClusterId != 0xc1 || got.RaftTerm == 0 {
			t.Fatalf("put %d header %v", i, got)
		}
	}
	c.tick(3)
	c.converged()
	for _, id := range c.ids {
		if rev := c.nodes[id].Status().Revision; rev != 201 {
			t.Fatalf("member %d revision %d, want 201", id, rev)
		}
	}
}

func TestFollowerProposalAndReads(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	f := c.ids[0]
	if f == l {
		f = c.ids[1]
	}
	mustOK(t, c.do(f, put("a", "1")))
	for _, serializable := range []bool{false, true} {
		r := mustOK(t, c.do(f, get("a", serializable)))
		kvs := r.Response.(*pb.RangeResponse).Kvs
		if len(kvs) != 1 || string(kvs[0].Value) != "1" {
			t.Fatalf("serializable=%v: read %v", serializable, kvs)
		}
	}
}

func TestRequestTooLarge(t *testing.T) {
	c := newTestCluster(t, 1, func(cfg *Config) { cfg.RequestBytesMax = 1024 })
	l := c.waitLeader()
	r := c.do(l, put("big", string(make([]byte, 2048))))
	if r.Err == nil || r.Err.Error() != "rpc error: code = InvalidArgument desc = etcdserver: request is too large" {
		t.Fatalf("oversize put: %v", r.Err)
	}
	mustOK(t, c.do(l, put("small", "ok")))
}

func TestRestartRecoversFromDisk(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.SnapshotEntries, cfg.SnapshotCatchUpEntries = 50, 10 })
	l := c.waitLeader()
	for i := range 120 {
		mustOK(t, c.do(l, put(fmt.Sprintf("k%d", i%30), fmt.Sprintf("v%d", i))))
	}
	c.tick(2)
	c.restartAllKeepsState(l, "k0")
}

// restartAllKeepsState stops and restarts every member, and demands the
// state leader l had is what the new leader serves (read through key, so
// a leader exists and applied), with every member converged on it.
func (c *testCluster) restartAllKeepsState(l uint64, key string) {
	c.t.Helper()
	before, _ := c.nodes[l].HashKV(0)
	for _, id := range c.ids {
		c.stop(id)
	}
	for _, id := range c.ids {
		c.start(id)
	}
	l = c.waitLeader()
	mustOK(c.t, c.do(l, get(key, false)))
	after, _ := c.nodes[l].HashKV(before.Header.Revision)
	if after.Hash != before.Hash {
		c.t.Fatalf("hash at rev %d after restart %x, before %x", before.Header.Revision, after.Hash, before.Hash)
	}
	c.converged()
}

func TestLaggingFollowerCatchesUpBySnapshot(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.SnapshotEntries, cfg.SnapshotCatchUpEntries = 20, 5 })
	l := c.waitLeader()
	lag := c.ids[0]
	if lag == l {
		lag = c.ids[1]
	}
	c.isolate(lag)
	for i := range 100 {
		mustOK(t, c.do(l, put(fmt.Sprintf("k%d", i), "v")))
	}
	c.heal()
	c.tick(30)
	if c.snapsSent == 0 {
		t.Fatalf("no snapshot was sent to the lagging member %d", lag)
	}
	c.converged()
	if got := c.nodes[lag].Status().Revision; got != 101 {
		t.Fatalf("lagging member at revision %d, want 101", got)
	}
}

func TestLeaseExpiryRevokesEverywhere(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	g := mustOK(t, c.do(l, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: 3}}))
	id := g.Response.(*pb.LeaseGrantResponse).ID
	mustOK(t, c.do(l, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("svc/a"), Value: []byte("x"), Lease: id}}))
	mustOK(t, c.do(l, put("plain", "y")))
	// Keepalives within the TTL keep it.
	for range 5 {
		c.tick(20)
		if _, err := c.nodes[l].LeaseKeepAlive(id); err != nil {
			t.Fatalf("keepalive: %v", err)
		}
	}
	r := mustOK(t, c.do(l, get("svc/a", true)))
	if len(r.Response.(*pb.RangeResponse).Kvs) != 1 {
		t.Fatalf("leased key gone while kept alive")
	}
	c.tick(40) // 4 s without keepalive: past TTL 3 s plus nothing
	for _, m := range c.ids {
		r := mustOK(t, c.do(m, get("svc/a", true)))
		if n := len(r.Response.(*pb.RangeResponse).Kvs); n != 0 {
			t.Fatalf("member %d still has the expired lease's key", m)
		}
	}
	c.converged()
}

func TestLeaderChangeCompletesPending(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	c.isolate(l)
	rid := c.nodes[l].Submit(put("lost", "x"))
	for range 100 {
		if _, ok := c.results[rid]; ok {
			break
		}
		c.tick(1)
	}
	r, ok := c.results[rid]
	if !ok {
		t.Fatalf("proposal on an isolated leader never completed")
	}
	if r.Err == nil {
		t.Fatalf("proposal on an isolated leader succeeded")
	}
	c.heal()
	c.tick(20)
	nl := c.waitLeader()
	if nl == 0 {
		t.Fatal("no leader after heal")
	}
}

func TestWatchThroughNode(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	f := c.ids[0]
	if f == l {
		f = c.ids[1]
	}
	if _, err := c.nodes[f].Watch(7, &pb.WatchCreateRequest{Key: []byte("w/"), RangeEnd: []byte("w0")}, nil); err != nil {
		t.Fatal(err)
	}
	mustOK(t, c.do(l, put("w/1", "a")))
	mustOK(t, c.do(l, put("x", "b")))
	mustOK(t, c.do(l, put("w/2", "c")))
	c.tick(2)
	var keys []string
	for _, d := range c.watch[f] {
		if d.StreamID != 7 {
			t.Fatalf("delivery for stream %d", d.StreamID)
		}
		for _, ev := range d.Response.Events {
			keys = append(keys, string(ev.Kv.Key))
		}
	}
	if !slices.Equal(keys, []string{"w/1", "w/2"}) {
		t.Fatalf("watched events %v", keys)
	}
}

func TestMemberAttributesReplicateAndSurviveRestart(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.SnapshotEntries, cfg.SnapshotCatchUpEntries = 10, 2 })
	l := c.waitLeader()
	epoch := c.nodes[l].MembersEpoch()
	for _, id := range c.ids {
		mustOK(t, c.do(id, &pb.InternalRaftRequest{ClusterMemberAttrSet: &membershippb.ClusterMemberAttrSetRequest{
			Member_ID: id, MemberAttributes: &membershippb.Attributes{Name: fmt.Sprintf("m%d", id), ClientUrls: []string{fmt.Sprintf("http://127.0.0.1:%d", 2379+id)}},
		}}))
		if next := c.nodes[l].MembersEpoch(); next == epoch {
			t.Fatalf("members epoch still %d after member %d published its attributes", epoch, id)
		} else {
			epoch = next
		}
	}
	mustOK(t, c.do(l, put("unrelated", "v")))
	if got := c.nodes[l].MembersEpoch(); got != epoch {
		t.Fatalf("members epoch moved from %d to %d on a put", epoch, got)
	}
	r := c.do(l, &pb.InternalRaftRequest{ClusterMemberAttrSet: &membershippb.ClusterMemberAttrSetRequest{Member_ID: 99, MemberAttributes: &membershippb.Attributes{Name: "ghost"}}})
	if r.Err != rpctypes.ErrGRPCMemberNotFound {
		t.Fatalf("attributes of an unknown member: %v", r.Err)
	}
	for i := range 30 { // past a snapshot, so restart restores attributes from it
		mustOK(t, c.do(l, put(fmt.Sprintf("k%d", i), "v")))
	}
	c.tick(2)
	check := func() {
		t.Helper()
		for _, id := range c.ids {
			ms := c.nodes[id].Members()
			if len(ms) != 3 {
				t.Fatalf("member %d knows %d members", id, len(ms))
			}
			for _, m := range ms {
				if m.Name != fmt.Sprintf("m%d", m.ID) || len(m.ClientURLs) != 1 || m.ClientURLs[0] != fmt.Sprintf("http://127.0.0.1:%d", 2379+m.ID) {
					t.Fatalf("member %d sees member %d as %q %v", id, m.ID, m.Name, m.ClientURLs)
				}
			}
		}
	}
	check()
	for _, id := range c.ids {
		c.stop(id)
	}
	for _, id := range c.ids {
		c.start(id)
	}
	c.waitLeader()
	check()
}

func TestStateRoundTrip(t *testing.T) {
	in := state{
		mvcc:    []byte("mvcc"),
		lease:   []byte("lease"),
		members: map[uint64][]byte{1: []byte("a"), 2: nil},
		attrs:   map[uint64]*membershippb.Attributes{1: {Name: "a", ClientUrls: []string{"http://x"}}},
		applied: []uint64{7, 3, 9},
		alarms:  alarms{{MemberID: 1, Alarm: pb.AlarmType_NOSPACE}, {MemberID: 2, Alarm: pb.AlarmType_NOSPACE}, {MemberID: 2, Alarm: pb.AlarmType_CORRUPT}},
		removed: map[uint64]bool{5: true, 9: true},
		auth:    []byte("auth"),
		index:   42,
	}
	b := encodeState(in)
	out, err := decodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encodeState(out), b) || out.attrs[1].GetName() != "a" || out.attrs[2] != nil || !maps.Equal(out.removed, in.removed) || string(out.auth) != "auth" || out.index != 42 ||
		!slices.Equal(out.applied, in.applied) || !slices.EqualFunc(out.alarms, in.alarms, func(a, b *pb.AlarmMember) bool { return proto.Equal(a, b) }) {
		t.Fatalf("round trip changed the state: %+v", out)
	}
	// Older states still read: version 4 (before removed members were
	// kept) with none removed, version 3 (before alarms were replicated)
	// with no alarms either: an upgraded member opens its old data
	// directory.
	in.alarms, in.removed, in.auth = nil, nil, nil
	v5 := encodeState(in)
	older := func(version uint32, cut int) []byte {
		b := slices.Clone(v5[:len(v5)-cut]) // without the trailing counts and the checksum
		binary.BigEndian.PutUint32(b[len(stateMagic):], version)
		return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	}
	if old, err := decodeState(older(stateVersionNoIndex, 12)); err != nil || old.index != 0 || string(old.auth) != "" || !slices.Equal(old.applied, in.applied) {
		t.Fatalf("version 6 state: %+v, %v", old, err)
	}
	if old, err := decodeState(older(stateVersionNoAuth, 20)); err != nil || old.auth != nil || !slices.Equal(old.applied, in.applied) {
		t.Fatalf("version 5 state: %+v, %v", old, err)
	}
	if old, err := decodeState(older(stateVersionNoRemoved, 24)); err != nil || len(old.removed) != 0 || !slices.Equal(old.applied, in.applied) {
		t.Fatalf("version 4 state: %+v, %v", old, err)
	}
	if old, err := decodeState(older(stateVersionNoAlarms, 28)); err != nil || old.alarms != nil || !slices.Equal(old.applied, in.applied) {
		t.Fatalf("version 3 state: %+v, %v", old, err)
	}
	for i := range b {
		bad := slices.Clone(b)
		bad[i] ^= 0x40
		if _, err := decodeState(bad); err == nil {
			t.Fatalf("a flipped byte at %d decoded", i)
		}
	}
}

func FuzzDecodeState(f *testing.F) {
	f.Add(encodeState(state{mvcc: []byte("m"), lease: []byte("l"), members: map[uint64][]byte{1: []byte("ctx")}, index: 3}))
	f.Add([]byte(stateMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeState(b)
		// A version 3 state is read and written back as the current one.
		if err == nil && binary.BigEndian.Uint32(b[len(stateMagic):]) == stateVersion && !bytes.Equal(encodeState(s), b) {
			t.Fatalf("accepted a non-canonical state")
		}
	})
}

// TestMoveLeader checks etcd's MoveLeader rules on the node: only the
// leader may move leadership, only to a member; the named follower then
// leads, and writes go on.
func TestMoveLeader(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	var to, other uint64
	for _, id := range c.ids {
		switch {
		case id == l:
		case to == 0:
			to = id
		default:
			other = id
		}
	}
	if err := c.nodes[to].MoveLeader(other); !errors.Is(err, rpctypes.ErrGRPCNotLeader) {
		t.Fatalf("MoveLeader on follower %d: %v, want not leader", to, err)
	}
	if err := c.nodes[l].MoveLeader(99); !errors.Is(err, rpctypes.ErrGRPCBadLeaderTransferee) {
		t.Fatalf("MoveLeader to a stranger: %v, want bad leader transferee", err)
	}
	if err := c.nodes[l].MoveLeader(l); err != nil {
		t.Fatalf("MoveLeader to itself: %v", err)
	}
	if err := c.nodes[l].MoveLeader(to); err != nil {
		t.Fatalf("MoveLeader to %d: %v", to, err)
	}
	for range 50 {
		if c.leader() == to {
			break
		}
		c.tick(1)
	}
	if got := c.leader(); got != to {
		t.Fatalf("leader %d after moving it to %d", got, to)
	}
	mustOK(t, c.do(other, put("after", "move")))
}

// TestAlarmsAreReplicated: an alarm raised through one member is active on
// every member at the same index, so each refuses what etcd's capped or
// corrupt applier refuses, also for writes proposed before it showed; it
// survives a restart (WAL replay) and disarming lets writes through again.
func TestAlarmsAreReplicated(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	f := c.ids[0]
	if f == l {
		f = c.ids[1]
	}
	alarm := func(id uint64, action pb.AlarmRequest_AlarmAction, at pb.AlarmType) *pb.AlarmResponse {
		t.Helper()
		r := mustOK(t, c.do(id, &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{Action: action, MemberID: f, Alarm: at}}))
		return r.Response.(*pb.AlarmResponse)
	}
	if got := alarm(f, pb.AlarmRequest_ACTIVATE, pb.AlarmType_NOSPACE); len(got.Alarms) != 1 || got.Alarms[0].MemberID != f {
		t.Fatalf("activate answered %v", got)
	}
	c.tick(2)
	for _, id := range c.ids {
		if as := c.nodes[id].Alarms(); len(as) != 1 || as[0].Alarm != pb.AlarmType_NOSPACE || as[0].MemberID != f {
			t.Fatalf("member %d holds alarms %v", id, as)
		}
	}
	if r := c.do(l, put("k", "v")); !errors.Is(r.Err, rpctypes.ErrGRPCNoSpace) {
		t.Fatalf("put under NOSPACE: %v", r.Err)
	}
	grant := &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: 5, TTL: 10}}
	if r := c.do(f, grant); !errors.Is(r.Err, rpctypes.ErrGRPCNoSpace) {
		t.Fatalf("lease grant under NOSPACE: %v", r.Err)
	}
	del := &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("k")}}}}}}
	mustOK(t, c.do(f, del))
	if got := alarm(l, pb.AlarmRequest_GET, pb.AlarmType_NONE); len(got.Alarms) != 1 {
		t.Fatalf("get answered %v", got)
	}

	// CORRUPT refuses deletes too; NONE is never raised.
	alarm(l, pb.AlarmRequest_ACTIVATE, pb.AlarmType_CORRUPT)
	if r := c.do(f, del); !errors.Is(r.Err, rpctypes.ErrGRPCCorrupt) {
		t.Fatalf("delete under CORRUPT: %v", r.Err)
	}
	if got := alarm(l, pb.AlarmRequest_ACTIVATE, pb.AlarmType_NONE); len(got.Alarms) != 0 {
		t.Fatalf("activating NONE answered %v", got)
	}
	alarm(l, pb.AlarmRequest_DEACTIVATE, pb.AlarmType_CORRUPT)

	// Restarted from its log, a member holds the alarm still.
	c.stop(f)
	c.start(f)
	c.tick(20)
	if as := c.nodes[f].Alarms(); len(as) != 1 || as[0].Alarm != pb.AlarmType_NOSPACE {
		t.Fatalf("restarted member %d holds alarms %v", f, as)
	}
	if got := alarm(l, pb.AlarmRequest_DEACTIVATE, pb.AlarmType_NOSPACE); len(got.Alarms) != 1 {
		t.Fatalf("deactivate answered %v", got)
	}
	if got := alarm(l, pb.AlarmRequest_DEACTIVATE, pb.AlarmType_NOSPACE); len(got.Alarms) != 0 {
		t.Fatalf("deactivating an inactive alarm answered %v", got)
	}
	mustOK(t, c.do(f, put("k", "after")))
}
