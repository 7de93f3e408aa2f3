package node

import (
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

func TestJudgeHashes(t *testing.T) {
	hash := func(h uint32, rev, hashRev, compactRev int64) *pb.HashKVResponse {
		return &pb.HashKVResponse{Header: &pb.ResponseHeader{Revision: rev}, Hash: h, HashRevision: hashRev, CompactRevision: compactRev}
	}
	own := hash(0xaa, 10, 10, 4)
	after := hash(0xaa, 12, 12, 4)
	cases := []struct {
		name     string
		ownAfter *pb.HashKVResponse
		peers    []PeerHash
		want     uint64
	}{
		{"all agree", after, []PeerHash{{2, hash(0xaa, 11, 10, 4)}, {3, hash(0xaa, 12, 10, 4)}}, 0},
		{"silent or lagging peers are not judged", after, []PeerHash{{2, nil}, {3, nil}}, 0},
		{"a peer hashes differently", after, []PeerHash{{2, hash(0xaa, 11, 10, 4)}, {3, hash(0xbb, 11, 10, 4)}}, 3},
		{"a peer compacted elsewhere is not compared", after, []PeerHash{{2, hash(0xbb, 11, 10, 2)}}, 0},
		{"a peer ahead of the leader", after, []PeerHash{{2, hash(0xaa, 13, 10, 4)}}, 2},
		{"a peer compacted past the leader", after, []PeerHash{{2, hash(0xcc, 12, 10, 6)}}, 2},
		{"the leader's own hash changed", hash(0xab, 12, 10, 4), []PeerHash{{2, hash(0xbb, 11, 10, 4)}}, 1},
	}
	for _, c := range cases {
		got, why := JudgeHashes(1, own, c.ownAfter, c.peers)
		if got != c.want || (got != 0) != (why != "") {
			t.Errorf("%s: member %d (%q), want %d", c.name, got, why, c.want)
		}
	}
}

// TestCorruptMemberServesNoLinearizableRead: a member a CORRUPT alarm
// names refuses linearizable reads; the others serve them, and it still
// serves serializable ones.
func TestCorruptMemberServesNoLinearizableRead(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	f := c.ids[0]
	if f == l {
		f = c.ids[1]
	}
	mustOK(t, c.do(l, put("k", "v")))
	mustOK(t, c.do(l, &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: f, Alarm: pb.AlarmType_CORRUPT}}))
	c.tick(2)
	if r := c.do(f, get("k", false)); !errors.Is(r.Err, rpctypes.ErrGRPCCorrupt) {
		t.Fatalf("linearizable read on the corrupt member %d: %v", f, r.Err)
	}
	mustOK(t, c.do(f, get("k", true)))
	mustOK(t, c.do(l, get("k", false)))
}
