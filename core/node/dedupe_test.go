package node

import (
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"
	"pgregory.net/rapid"
)

// A follower forwards its proposals to the leader as MsgProp; a network that
// delivers one twice makes the leader append the entry twice. kvsim found
// puts rewritten at the next revision and a bank txn answered "not
// succeeded" (its second run failed the compares) for a write that happened.
// Every member applies each request once.
func TestDuplicatedProposalAppliesOnce(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	f := c.ids[0]
	if f == l {
		f = c.ids[1]
	}
	appended := 0
	c.duplicate = func(m *raftpb.Message) bool {
		if m.GetType() == raftpb.MsgProp {
			appended++
			return true
		}
		return false
	}
	before := c.nodes[l].Status().Revision
	const puts = 10
	for i := range puts {
		r := mustOK(t, c.do(f, put("k", fmt.Sprintf("v%d", i))))
		if got, want := r.Response.(*pb.PutResponse).Header.Revision, before+int64(i)+1; got != want {
			t.Fatalf("put %d acknowledged at revision %d, want %d", i, got, want)
		}
	}
	// Txn: the second run of a guarded txn would fail its compare and answer
	// succeeded=false for the first run's write.
	r := mustOK(t, c.do(f, &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: []byte("k"), Target: pb.Compare_VERSION, Result: pb.Compare_EQUAL,
			TargetUnion: &pb.Compare_Version{Version: puts}}},
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("k"), Value: []byte("txn")}}}},
	}}))
	if !r.Response.(*pb.TxnResponse).Succeeded {
		t.Fatalf("guarded txn answered not succeeded: it ran twice")
	}
	if appended == 0 {
		t.Fatalf("no MsgProp was duplicated: the test exercised nothing")
	}
	c.duplicate = nil
	c.tick(5)
	c.converged()
	for _, id := range c.ids {
		got := mustOK(t, c.do(id, get("k", true))).Response.(*pb.RangeResponse)
		if len(got.Kvs) != 1 || got.Kvs[0].Version != puts+1 || string(got.Kvs[0].Value) != "txn" {
			t.Fatalf("member %d: k = %v, want version %d value txn", id, got.Kvs, puts+1)
		}
		if got.Header.Revision != before+puts+1 {
			t.Fatalf("member %d at revision %d, want %d: a duplicate was applied", id, got.Header.Revision, before+puts+1)
		}
	}
}

// The applied-id window travels in snapshots: a member restored from a
// snapshot taken between a proposal and its late copy skips the copy as the
// others do, so the members never diverge.
func TestAppliedIDsSurviveSnapshot(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.SnapshotEntries, cfg.SnapshotCatchUpEntries = 5, 2 })
	l := c.waitLeader()
	f := c.ids[0]
	if f == l {
		f = c.ids[1]
	}
	// Hold back a copy of the first MsgProp and deliver it after snapshots
	// were taken and a restarted member recovered from one.
	var held *raftpb.Message
	c.duplicate = func(m *raftpb.Message) bool {
		if m.GetType() == raftpb.MsgProp && held == nil {
			held = m
		}
		return false
	}
	mustOK(t, c.do(f, put("k", "first")))
	c.duplicate = nil
	for i := range 12 {
		mustOK(t, c.do(l, put(fmt.Sprintf("other%d", i), "v")))
	}
	c.stop(f)
	c.start(f)
	c.tick(5)
	if held == nil {
		t.Fatalf("no MsgProp to hold back")
	}
	rev := c.nodes[l].Status().Revision
	if err := c.nodes[l].Receive(held); err != nil {
		t.Fatalf("leader receives the late copy: %v", err)
	}
	c.tick(5)
	c.converged()
	if got := c.nodes[f].Status().Revision; got != rev {
		t.Fatalf("restarted member at revision %d after the late copy, want %d", got, rev)
	}
}

// The window remembers exactly the last appliedIDsMax ids, and its
// snapshot form restores the same window.
func TestAppliedIDsWindow(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, appliedIDsMax+300).Draw(t, "n")
		a := newAppliedIDs()
		for i := range n {
			a.add(uint64(i) + 1)
		}
		ordered := a.ordered()
		if want := min(n, appliedIDsMax); len(ordered) != want {
			t.Fatalf("window holds %d ids, want %d", len(ordered), want)
		}
		for i, id := range ordered {
			if want := uint64(n-len(ordered)+i) + 1; id != want {
				t.Fatalf("ordered[%d] = %d, want %d", i, id, want)
			}
		}
		probe := uint64(rapid.IntRange(1, n+1).Draw(t, "probe"))
		want := probe <= uint64(n) && probe > uint64(n-len(ordered))
		if a.contains(probe) != want {
			t.Fatalf("contains(%d) = %v, want %v (n=%d)", probe, !want, want, n)
		}
		b, err := restoreAppliedIDs(ordered)
		if err != nil {
			t.Fatal(err)
		}
		if b.contains(probe) != want {
			t.Fatalf("restored window: contains(%d) = %v, want %v", probe, !want, want)
		}
		b.add(uint64(n) + 1)
		a.add(uint64(n) + 1)
		if fmt.Sprint(a.ordered()) != fmt.Sprint(b.ordered()) {
			t.Fatalf("restored window evolves differently")
		}
	})
}
