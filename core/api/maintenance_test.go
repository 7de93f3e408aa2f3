package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvdlabs/kvd/core/node"
)

// TestQuotaRaisesNoSpace fills a member past a small quota: the NOSPACE
// alarm goes up, writes are refused with etcd's error, reads and deletes are
// served, and /health reports the alarm.
func TestQuotaRaisesNoSpace(t *testing.T) {
	const quotaBytes = 64 << 10
	c := newTestCluster(t, clusterOpts{size: 1, quotaBackendBytes: quotaBytes})
	cli := c.client()
	// The WAL reserves a whole 64 MiB segment ahead of its writes, far
	// past the quota; that space holds nothing and must not count.
	if onDisk := dirSizeBytes(c.members[0].srv.cfg.DataDir); onDisk < quotaBytes {
		t.Logf("the data dir is %d bytes: this file system did not preallocate", onDisk)
	}
	if st, err := cli.Status(ctx(t), c.members[0].clientURL); err != nil || st.DbSize >= quotaBytes {
		t.Fatalf("a fresh member's status: %v, err %v: want its db size under the %d-byte quota", st, err, quotaBytes)
	}
	value := strings.Repeat("v", 4<<10)
	var refused error
	for i := 0; i < 400 && refused == nil; i++ { // 1.6 MiB at most; the size is measured every second
		_, refused = cli.Put(ctx(t), "fill", value)
		if refused == nil {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if !errors.Is(refused, rpctypes.ErrNoSpace) {
		t.Fatalf("writes past a %d-byte quota: err %v, want ErrNoSpace", quotaBytes, refused)
	}
	alarms, err := cli.AlarmList(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(alarms.Alarms) != 1 || alarms.Alarms[0].Alarm != pb.AlarmType_NOSPACE || alarms.Alarms[0].MemberID != c.members[0].srv.ID() {
		t.Fatalf("alarms %v, want NOSPACE on member %x", alarms.Alarms, c.members[0].srv.ID())
	}
	if _, err := cli.Grant(ctx(t), 5); !errors.Is(err, rpctypes.ErrNoSpace) {
		t.Fatalf("lease grant under NOSPACE: %v, want ErrNoSpace", err)
	}
	if r, err := cli.Get(ctx(t), "fill"); err != nil || len(r.Kvs) != 1 {
		t.Fatalf("read under NOSPACE: %v, %v", r, err)
	}
	if r, err := cli.Delete(ctx(t), "fill"); err != nil || r.Deleted != 1 {
		t.Fatalf("delete under NOSPACE: %v, %v", r, err)
	}
	body, code := httpGet(t, c.members[0].clientURL+"/health")
	if code != http.StatusServiceUnavailable || body != `{"health":"false","reason":"ALARM NOSPACE"}` {
		t.Fatalf("/health under NOSPACE: %d %s", code, body)
	}
	st, err := cli.Status(ctx(t), c.members[0].clientURL)
	if err != nil || len(st.Errors) != 1 || !strings.Contains(st.Errors[0], "NOSPACE") {
		t.Fatalf("status under NOSPACE: %v, err %v", st, err)
	}
}

// TestAlarmsAcrossMembers: a NOSPACE alarm raised through one member is
// the whole cluster's, as in etcd: every member lists it, refuses puts,
// fails /health and reports it in Status; disarmed through a third member,
// writes pass everywhere again.
func TestAlarmsAcrossMembers(t *testing.T) {
	c := newTestCluster(t, clusterOpts{size: 3})
	a, b, third := c.members[0], c.members[1], c.members[2]
	cliA, cliB, cliThird := c.client(a.clientURL), c.client(b.clientURL), c.client(third.clientURL)
	raised, err := pb.NewMaintenanceClient(cliA.ActiveConnection()).Alarm(ctx(t), &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: a.srv.ID(), Alarm: pb.AlarmType_NOSPACE})
	if err != nil || len(raised.Alarms) != 1 || raised.Header.GetMemberId() != a.srv.ID() {
		t.Fatalf("activate: %v, %v", raised, err)
	}
	for _, m := range c.members {
		cli := c.client(m.clientURL)
		list, err := cli.AlarmList(ctx(t))
		if err != nil || len(list.Alarms) != 1 || list.Alarms[0].MemberID != a.srv.ID() || list.Alarms[0].Alarm != pb.AlarmType_NOSPACE {
			t.Fatalf("alarms listed by %s: %v, %v", m.clientURL, list, err)
		}
		if _, err := cli.Put(ctx(t), "k", "v"); !errors.Is(err, rpctypes.ErrNoSpace) {
			t.Fatalf("put through %s under a NOSPACE alarm of another member: %v", m.clientURL, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			body, code := httpGet(t, m.clientURL+"/health")
			st, err := cli.Status(ctx(t), m.clientURL)
			if code == http.StatusServiceUnavailable && body == `{"health":"false","reason":"ALARM NOSPACE"}` && err == nil && len(st.Errors) == 1 && strings.Contains(st.Errors[0], "NOSPACE") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: /health %d %s, status %v %v", m.clientURL, code, body, st, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if body, code := httpGet(t, m.clientURL+"/health?exclude=NOSPACE"); code != http.StatusOK {
			t.Fatalf("%s: /health?exclude=NOSPACE %d %s", m.clientURL, code, body)
		}
	}
	if _, err := cliThird.AlarmDisarm(ctx(t), &clientv3.AlarmMember{}); err != nil {
		t.Fatal(err)
	}
	for _, cli := range []*clientv3.Client{cliA, cliB, cliThird} {
		if _, err := cli.Put(ctx(t), "k", "after disarm"); err != nil {
			t.Fatalf("put after disarm: %v", err)
		}
	}
}

func httpGet(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b)), resp.StatusCode
}

// TestHeadersStatusAndHTTP checks the response header fields on every
// service, the cluster's view of itself, and /health and /metrics on the
// client port next to gRPC.
func TestHeadersStatusAndHTTP(t *testing.T) {
	c := newTestCluster(t, clusterOpts{size: 3})
	lead := c.waitLeader()
	for _, m := range c.members {
		cli := c.client(m.clientURL)
		put, err := cli.Put(ctx(t), "h", m.clientURL)
		if err != nil {
			t.Fatal(err)
		}
		st, err := cli.Status(ctx(t), m.clientURL)
		if err != nil {
			t.Fatal(err)
		}
		members, err := cli.MemberList(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		lease, err := cli.Grant(ctx(t), 10)
		if err != nil {
			t.Fatal(err)
		}
		hash, err := cli.HashKV(ctx(t), m.clientURL, 0)
		if err != nil {
			t.Fatal(err)
		}
		// etcd's Cluster service names no revision in its header.
		if h := members.Header; h.ClusterId != m.srv.cfg.Node.ClusterID || h.MemberId != m.srv.ID() || h.RaftTerm == 0 || h.Revision != 0 {
			t.Errorf("member list header from %s: %+v; want cluster %x member %x, term set, revision 0", m.clientURL, h, m.srv.cfg.Node.ClusterID, m.srv.ID())
		}
		for what, h := range map[string]*pb.ResponseHeader{"put": put.Header, "status": st.Header, "grant": lease.ResponseHeader, "hashkv": hash.Header} {
			if h.ClusterId != m.srv.cfg.Node.ClusterID || h.MemberId != m.srv.ID() || h.RaftTerm == 0 || h.Revision == 0 {
				t.Errorf("%s header from %s: %+v; want cluster %x member %x, term and revision set", what, m.clientURL, h, m.srv.cfg.Node.ClusterID, m.srv.ID())
			}
		}
		if st.Leader != lead || st.Version != Version || st.RaftIndex == 0 {
			t.Errorf("status from %s: leader %x version %q index %d; want leader %x", m.clientURL, st.Leader, st.Version, st.RaftIndex, lead)
		}
		if len(members.Members) != 3 {
			t.Errorf("member list from %s has %d members, want 3", m.clientURL, len(members.Members))
		}
		for _, mm := range members.Members {
			if mm.Name == "" || len(mm.PeerURLs) != 1 || len(mm.ClientURLs) != 1 {
				t.Errorf("member %+v lacks name or URLs", mm)
			}
		}
		body, code := httpGet(t, m.clientURL+"/health")
		if code != http.StatusOK || body != `{"health":"true","reason":""}` {
			t.Errorf("/health on %s: %d %s", m.clientURL, code, body)
		}
	}
	// A failed call is counted under its own code, beside the cached OK series.
	if _, err := c.client(c.members[0].clientURL).Get(ctx(t), "h", clientv3.WithRev(1<<40)); err == nil {
		t.Fatal("get at a future revision succeeded")
	}
	body, _ := httpGet(t, c.members[0].clientURL+"/metrics")
	for _, want := range []string{
		`grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"} 1`,
		`grpc_server_handled_total{grpc_code="OutOfRange",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 1`,
		"etcd_server_has_leader 1", "etcd_server_proposals_committed_total", "etcd_server_proposals_applied_total",
		"etcd_server_proposals_pending", "etcd_server_proposals_failed_total", "etcd_server_leader_changes_seen_total 1",
		"kvd_raft_term", "etcd_disk_wal_fsync_duration_seconds_count", "etcd_debugging_mvcc_keys_total 1",
		"etcd_debugging_mvcc_watcher_total", "kvd_lease_active ", "etcd_mvcc_db_total_size_in_bytes",
		"grpc_server_handling_seconds_bucket",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestWatchStreamManyWatchesProgressCancel drives one raw watch stream:
// several watches, a progress request, a cancel, a rejected create.
func TestWatchStreamManyWatchesProgressCancel(t *testing.T) {
	c := newTestCluster(t, clusterOpts{size: 1})
	cli := c.client()
	stream, err := pb.NewWatchClient(cli.ActiveConnection()).Watch(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	recv := func() *pb.WatchResponse {
		t.Helper()
		r, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if r.Header.ClusterId == 0 || r.Header.MemberId == 0 || r.Header.RaftTerm == 0 {
			t.Fatalf("watch response header %+v lacks cluster, member or term", r.Header)
		}
		return r
	}
	for _, key := range []string{"a", "b", "c"} {
		if err := stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{Key: []byte(key)}}}); err != nil {
			t.Fatal(err)
		}
	}
	ids := map[int64]bool{}
	for range 3 {
		r := recv()
		if !r.Created || r.Canceled {
			t.Fatalf("create answer %+v", r)
		}
		ids[r.WatchId] = true
	}
	if len(ids) != 3 {
		t.Fatalf("three watches got ids %v, want three distinct", ids)
	}
	put, err := cli.Put(ctx(t), "b", "1")
	if err != nil {
		t.Fatal(err)
	}
	r := recv()
	if len(r.Events) != 1 || string(r.Events[0].Kv.Key) != "b" || r.Header.Revision != put.Header.Revision {
		t.Fatalf("event response %+v, want b at %d", r, put.Header.Revision)
	}
	bID := r.WatchId
	if err := stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}}); err != nil {
		t.Fatal(err)
	}
	if r := recv(); r.WatchId != clientv3.InvalidWatchID || r.Header.Revision != put.Header.Revision || len(r.Events) != 0 {
		t.Fatalf("progress response %+v, want watch id -1 at revision %d", r, put.Header.Revision)
	}
	if err := stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: bID}}}); err != nil {
		t.Fatal(err)
	}
	if r := recv(); !r.Canceled || r.WatchId != bID {
		t.Fatalf("cancel response %+v, want watch %d canceled", r, bID)
	}
	// A canceled watch sees nothing more: the next response must be the
	// answer to the create below, not an event for b.
	if _, err := cli.Put(ctx(t), "b", "2"); err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{Key: []byte("z"), RangeEnd: []byte("a")}}}); err != nil {
		t.Fatal(err)
	}
	if r := recv(); !r.Created || !r.Canceled || r.CancelReason == "" {
		t.Fatalf("create with an empty range: %+v, want created and canceled with a reason", r)
	}
	stream.CloseSend()
}

// TestDefragmentShrinksInUse: after overwrites and a compaction, Defragment
// leaves the member's in-use size at its live data, and the member serves
// the same keys after it.
func TestDefragmentShrinksInUse(t *testing.T) {
	c := newTestCluster(t, clusterOpts{size: 1})
	m := c.members[0]
	cli := c.client()
	value := strings.Repeat("v", 4<<10)
	var rev int64
	for round := range 5 {
		for k := range 20 {
			resp, err := cli.Put(ctx(t), fmt.Sprintf("k%02d", k), fmt.Sprintf("%d%s", round, value))
			if err != nil {
				t.Fatal(err)
			}
			rev = resp.Header.Revision
		}
	}
	if _, err := cli.Compact(ctx(t), rev); err != nil {
		t.Fatal(err)
	}
	before, err := cli.Status(ctx(t), m.clientURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Defragment(ctx(t), m.clientURL); err != nil {
		t.Fatal(err)
	}
	after, err := cli.Status(ctx(t), m.clientURL)
	if err != nil {
		t.Fatal(err)
	}
	// 100 puts of 4 KiB were in use before; 20 live keys after.
	if before.DbSizeInUse < 300<<10 || after.DbSizeInUse > 120<<10 || after.DbSize == 0 {
		t.Fatalf("in use %d bytes before, %d after (db %d then %d): want at least 300 KiB, then at most the 80 live KiB and a little",
			before.DbSizeInUse, after.DbSizeInUse, before.DbSize, after.DbSize)
	}
	t.Logf("db size %d -> %d bytes, in use %d -> %d", before.DbSize, after.DbSize, before.DbSizeInUse, after.DbSizeInUse)
	got, err := cli.Get(ctx(t), "k", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || got.Count != 20 {
		t.Fatalf("after defragment: %v, %v", got, err)
	}
}

// TestInitialCorruptCheck: a member restarted with etcd's initial
// corruption check passes when its data matches its peers', and refuses
// to serve when it diverged (followers that applied puts a NOSPACE alarm
// refused, a known-unsafe variant).
func TestInitialCorruptCheck(t *testing.T) {
	c := newTestCluster(t, clusterOpts{size: 3, unsafe: node.Unsafe{FollowerIgnoresAlarms: true}})
	lead := c.waitLeader()
	follower := slices.IndexFunc(c.members, func(m *testMember) bool { return m.srv.ID() != lead })
	leader := slices.IndexFunc(c.members, func(m *testMember) bool { return m.srv.ID() == lead })
	cli := c.client(c.members[leader].clientURL)
	for i := range 10 {
		if _, err := cli.Put(ctx(t), fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *Server) error { return s.InitialCorruptCheck(context.Background()) }
	if err := c.restart(follower, check); err != nil {
		t.Fatalf("a healthy member's initial check: %v", err)
	}
	c.waitLeader()
	lead = c.waitLeader()
	leader = slices.IndexFunc(c.members, func(m *testMember) bool { return m.srv.ID() == lead })
	follower = slices.IndexFunc(c.members, func(m *testMember) bool { return m.srv.ID() != lead })
	cli = c.client(c.members[leader].clientURL)
	if _, err := pb.NewMaintenanceClient(cli.ActiveConnection()).Alarm(ctx(t), &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: lead, Alarm: pb.AlarmType_NOSPACE}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx(t), "k0", "diverged"); !errors.Is(err, rpctypes.ErrNoSpace) {
		t.Fatalf("put under NOSPACE: %v", err)
	}
	// Wait until the follower has applied what the leader refused.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := c.client(c.members[follower].clientURL).Get(ctx(t), "k0", clientv3.WithSerializable())
		if err == nil && len(r.Kvs) == 1 && string(r.Kvs[0].Value) == "diverged" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the unsafe follower never applied the refused put: %v %v", r, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The unsafe followers are a revision ahead. One restarts as a safe
	// member: replaying its log it refuses the put as the leader did, and
	// after the alarm is gone and one more put, it and the leader hold
	// revision R with the same contents, the other follower has another
	// history there.
	if _, err := pb.NewMaintenanceClient(cli.ActiveConnection()).Alarm(ctx(t), &pb.AlarmRequest{Action: pb.AlarmRequest_DEACTIVATE, MemberID: lead, Alarm: pb.AlarmType_NOSPACE}); err != nil {
		t.Fatal(err)
	}
	// Two puts: the second's append carries the first's commit, so the
	// member to restart has "other" committed in its WAL, and checks at a
	// revision past the divergence.
	for _, k := range []string{"other", "more"} {
		if _, err := cli.Put(ctx(t), k, "x"); err != nil {
			t.Fatal(err)
		}
	}
	// The diverged peer must hold the revision the restarted member will
	// ask about, or it answers "future revision" and is skipped.
	other := slices.IndexFunc(c.members, func(m *testMember) bool { return m.srv.ID() != lead && m != c.members[follower] })
	for deadline := time.Now().Add(5 * time.Second); ; {
		r, err := c.client(c.members[other].clientURL).Get(ctx(t), "more", clientv3.WithSerializable())
		if err == nil && len(r.Kvs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other follower never applied the last put: %v %v", r, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.members[follower].cfg.Node.Unsafe = node.Unsafe{}
	err := c.restart(follower, check)
	if !errors.Is(err, ErrInconsistent) {
		t.Fatalf("a diverged member's initial check: %v, want %v", err, ErrInconsistent)
	}
	t.Log(err)
}

// TestCorruptionCheckRaisesCorrupt: members made to diverge (followers
// that apply puts a NOSPACE alarm refuses, a known-unsafe variant) are
// found by the leader's periodic corruption check, which raises CORRUPT
// for one of them; that member then serves no linearizable read.
func TestCorruptionCheckRaisesCorrupt(t *testing.T) {
	c := newTestCluster(t, clusterOpts{size: 3, corruptCheck: 50 * time.Millisecond, unsafe: node.Unsafe{FollowerIgnoresAlarms: true}})
	lead := c.waitLeader()
	var leadURL string
	for _, m := range c.members {
		if m.srv.ID() == lead {
			leadURL = m.clientURL
		}
	}
	cli := c.client(leadURL) // the leader answers with its own refusal
	if _, err := cli.Put(ctx(t), "k", "before"); err != nil {
		t.Fatal(err)
	}
	if _, err := pb.NewMaintenanceClient(cli.ActiveConnection()).Alarm(ctx(t), &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: lead, Alarm: pb.AlarmType_NOSPACE}); err != nil {
		t.Fatal(err)
	}
	// The leader refuses it; the unsafe followers apply it.
	if _, err := cli.Put(ctx(t), "k", "diverged"); !errors.Is(err, rpctypes.ErrNoSpace) {
		t.Fatalf("put under NOSPACE: %v", err)
	}
	var corrupt *pb.AlarmMember
	deadline := time.Now().Add(10 * time.Second)
	for corrupt == nil && time.Now().Before(deadline) {
		list, err := cli.AlarmList(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range list.Alarms {
			if a.Alarm == pb.AlarmType_CORRUPT {
				corrupt = a
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if corrupt == nil || corrupt.MemberID == lead {
		t.Fatalf("corruption check raised %v, want CORRUPT for a diverged follower (leader %x)", corrupt, lead)
	}
	for _, m := range c.members {
		if m.srv.ID() != corrupt.MemberID {
			continue
		}
		if _, err := c.client(m.clientURL).Get(ctx(t), "k"); !errors.Is(err, rpctypes.ErrCorrupt) {
			t.Fatalf("linearizable read on the corrupt member %x: %v", m.srv.ID(), err)
		}
	}
}

// TestGracefulStopSavesASnapshot: a member stopped (its Run context done)
// with more than SnapshotEntries applied since its newest snapshot, which
// the log's pacing had not yet retaken, saves one before it stops, so it
// comes back on that snapshot with nothing to replay.
func TestGracefulStopSavesASnapshot(t *testing.T) {
	c := newTestCluster(t, clusterOpts{size: 1, snapshotEntries: 20})
	m := c.members[0]
	cli := c.client()
	big := strings.Repeat("v", 8<<10)
	for k := range 20 {
		if _, err := cli.Put(ctx(t), fmt.Sprintf("big%02d", k), big); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); m.srv.Status().SnapshotIndex == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no snapshot after 20 writes with SnapshotEntries 20")
		}
	}
	first := m.srv.Status().SnapshotIndex
	// 60 small writes log a few KiB, far from a quarter of the ~160 KiB
	// state: the pacing takes no snapshot of them.
	for i := range 60 {
		if _, err := cli.Put(ctx(t), "small", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	before := m.srv.Status()
	if before.SnapshotIndex != first || before.AppliedIndex-first < 60 {
		t.Fatalf("setup: snapshot at %d (first %d), applied %d", before.SnapshotIndex, first, before.AppliedIndex)
	}
	if err := c.restart(0, nil); err != nil {
		t.Fatal(err)
	}
	after := c.members[0].srv.Status()
	if after.SnapshotIndex < before.AppliedIndex {
		t.Fatalf("restarted on the snapshot at %d; the stop should have saved one at %d or later", after.SnapshotIndex, before.AppliedIndex)
	}
	got, err := c.client().Get(ctx(t), "small")
	if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "59" {
		t.Fatalf("after the restart: %v, %v; want small = 59", got, err)
	}
}

// TestGracefulStopHandsLeadershipOff: a leader stopped gracefully hands
// its leadership to another member before it exits, as etcd's does: the
// others lead and take writes sooner than any election could give them a
// leader (elections of 1–2 s here).
func TestGracefulStopHandsLeadershipOff(t *testing.T) {
	c := newTestCluster(t, clusterOpts{size: 3, electionTicks: 100})
	lead := c.waitLeader()
	var old int
	var eps []string
	for i, m := range c.members {
		if m.srv.ID() == lead {
			old = i
		} else {
			eps = append(eps, m.clientURL)
		}
	}
	cli := c.client(eps...)
	if _, err := cli.Put(ctx(t), "before", "stop"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.members[old].stopMember()
	var newLead uint64
	for _, m := range c.members {
		if m.srv.ID() != lead {
			newLead = cmp.Or(newLead, m.srv.Status().Leader)
		}
	}
	putCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := cli.Put(putCtx, "after", "stop")
	took := time.Since(start)
	election := time.Duration(c.members[old].cfg.Node.ElectionTicks) * c.members[old].cfg.Node.TickInterval
	if newLead == 0 || newLead == lead || err != nil || took >= election {
		t.Fatalf("the old leader's stop returned with leader %x known (was %x), and a put then gave %v %v after the stop began; want a new leader at once and the put within an election timeout (%v)",
			newLead, lead, err, took, election)
	}
}
