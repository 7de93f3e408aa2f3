package node

import (
	"fmt"
	"slices"
	"testing"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/disk"
)

// change submits a membership change to member id and drives the cluster
// until it completes.
func (c *testCluster) change(id uint64, mc MemberChange) Result {
	return c.await(id, c.nodes[id].ChangeMembership(mc))
}

// join starts member id as one added to the running cluster: empty disk,
// no bootstrap.
func (c *testCluster) join(id uint64) {
	c.ids = append(c.ids, id)
	c.fs[id] = disk.OSFS{Root: c.t.TempDir()}
	prev := c.mutate
	c.mutate = func(cfg *Config) {
		if prev != nil {
			prev(cfg)
		}
		if cfg.ID == id {
			cfg.Peers, cfg.Join = nil, true
		}
	}
	c.start(id)
}

func (c *testCluster) publishAll() {
	for _, id := range c.ids {
		if c.nodes[id] == nil {
			continue
		}
		mustOK(c.t, c.do(id, &pb.InternalRaftRequest{ClusterMemberAttrSet: &membershippb.ClusterMemberAttrSetRequest{
			Member_ID: id, MemberAttributes: &membershippb.Attributes{Name: fmt.Sprintf("m%d", id)},
		}}))
	}
}

func memberIDs(ms []Member) []uint64 {
	var ids []uint64
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	return ids
}

// TestMembershipGrowPromoteRemove walks etcd's usual sequence: add a
// learner, let it catch up (by snapshot: the log behind was compacted),
// promote it, remove an old member; every member agrees on the
// configuration and the data at each step.
func TestMembershipGrowPromoteRemove(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.SnapshotEntries, cfg.SnapshotCatchUpEntries = 20, 5 })
	l := c.waitLeader()
	c.publishAll()
	c.tick(60) // a member adds others only after 5 s in a working cluster
	for i := range 60 {
		mustOK(t, c.do(l, put(fmt.Sprintf("k%02d", i), "v")))
	}
	c.tick(3)

	r := mustOK(t, c.change(l, MemberChange{Kind: MemberAddLearner, ID: 4, PeerURLs: []string{"http://127.0.0.1:4"}}))
	if got := memberIDs(r.Members); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Fatalf("members after adding a learner: %v", got)
	}
	if !r.Members[3].IsLearner || !slices.Equal(r.Members[3].PeerURLs, []string{"http://127.0.0.1:4"}) {
		t.Fatalf("new member listed as %+v", r.Members[3])
	}
	// etcd's errors for what apply refuses: a second learner, the same
	// peer URL again, the same id again.
	for _, tc := range []struct {
		mc   MemberChange
		want error
	}{
		{MemberChange{Kind: MemberAddLearner, ID: 5, PeerURLs: []string{"http://127.0.0.1:5"}}, rpctypes.ErrGRPCTooManyLearners},
		{MemberChange{Kind: MemberAddVoter, ID: 6, PeerURLs: []string{"http://127.0.0.1:4"}}, rpctypes.ErrGRPCPeerURLExist},
		{MemberChange{Kind: MemberAddVoter, ID: 4, PeerURLs: []string{"http://127.0.0.1:7"}}, rpctypes.ErrGRPCMemberExist},
		{MemberChange{Kind: MemberRemove, ID: 99}, rpctypes.ErrGRPCMemberNotFound},
		{MemberChange{Kind: MemberPromote, ID: 2}, rpctypes.ErrGRPCMemberNotLearner},
		{MemberChange{Kind: MemberPromote, ID: 99}, rpctypes.ErrGRPCMemberNotFound},
		{MemberChange{Kind: MemberUpdate, ID: 2, PeerURLs: []string{"http://127.0.0.1:4"}}, rpctypes.ErrGRPCPeerURLExist},
		// Not caught up: member 4 has not even started.
		{MemberChange{Kind: MemberPromote, ID: 4}, rpctypes.ErrGRPCLearnerNotReady},
	} {
		if got := c.change(l, tc.mc); got.Err != tc.want {
			t.Fatalf("%v of %x: %v, want %v", tc.mc.Kind, tc.mc.ID, got.Err, tc.want)
		}
	}
	if err := c.nodes[l].MoveLeader(4); err != rpctypes.ErrGRPCBadLeaderTransferee {
		t.Fatalf("move leader to a learner: %v", err)
	}
	follower := c.ids[0]
	if follower == l {
		follower = c.ids[1]
	}
	if got := c.change(follower, MemberChange{Kind: MemberPromote, ID: 4}); got.Err != rpctypes.ErrGRPCNotLeader {
		t.Fatalf("promote on a follower: %v, want not-leader (kvd forwards it)", got.Err)
	}

	c.join(4)
	c.tick(5)
	if c.snapsSent == 0 {
		t.Fatalf("the learner caught up without a snapshot; the test means to cover catching up by one")
	}
	c.converged()
	if !c.nodes[4].Status().IsLearner {
		t.Fatalf("member 4 does not know it is a learner")
	}
	r = mustOK(t, c.change(l, MemberChange{Kind: MemberPromote, ID: 4}))
	if r.Members[3].IsLearner {
		t.Fatalf("member 4 still a learner after promote")
	}
	mustOK(t, c.change(4, MemberChange{Kind: MemberUpdate, ID: 4, PeerURLs: []string{"http://127.0.0.1:40"}}))

	// Remove an old member (not the leader): it stops, the others go on.
	gone := c.ids[0]
	if gone == l {
		gone = c.ids[1]
	}
	r = mustOK(t, c.change(l, MemberChange{Kind: MemberRemove, ID: gone}))
	if slices.Contains(memberIDs(r.Members), gone) {
		t.Fatalf("removed member %x still listed: %v", gone, memberIDs(r.Members))
	}
	c.tick(3)
	if c.nodes[gone] != nil {
		t.Fatalf("member %x runs on after its removal", gone)
	}
	mustOK(t, c.do(l, put("after", "remove")))
	c.tick(2)
	c.converged()
	for id, n := range c.nodes {
		if got := memberIDs(n.Members()); len(got) != 3 || slices.Contains(got, gone) {
			t.Fatalf("member %x sees members %v", id, got)
		}
		if !proto.Equal(n.ConfState(), c.nodes[l].ConfState()) {
			t.Fatalf("member %x configuration %v, leader's %v", id, n.ConfState(), c.nodes[l].ConfState())
		}
		if m := n.Members()[2]; m.ID != 4 || !slices.Equal(m.PeerURLs, []string{"http://127.0.0.1:40"}) {
			t.Fatalf("member %x sees member 4 as %+v", id, m)
		}
	}
	// A removed id never comes back; the configuration survives restart.
	if got := c.change(l, MemberChange{Kind: MemberAddLearner, ID: gone, PeerURLs: []string{"http://127.0.0.1:77"}}); got.Err != rpctypes.ErrGRPCMemberNotFound {
		t.Fatalf("re-adding removed member %x: %v", gone, got.Err)
	}
	for _, id := range c.ids {
		if c.nodes[id] != nil {
			c.stop(id)
			c.start(id)
		}
	}
	c.waitLeader()
	for id, n := range c.nodes {
		if got := memberIDs(n.Members()); len(got) != 3 || slices.Contains(got, gone) {
			t.Fatalf("after restart member %x sees members %v", id, got)
		}
	}
}

// TestMembershipStrictChecks: etcd refuses, before proposing, what could
// leave the cluster without a quorum of started members.
func TestMembershipStrictChecks(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	// Nobody has published: only the asked member counts as started.
	if got := c.change(l, MemberChange{Kind: MemberAddVoter, ID: 4, PeerURLs: []string{"http://x:4"}}); got.Err != rpctypes.ErrGRPCMemberNotEnoughStarted {
		t.Fatalf("add voter with one started member of three: %v", got.Err)
	}
	c.publishAll()
	learner := MemberChange{Kind: MemberAddLearner, ID: 5, PeerURLs: []string{"http://x:5"}}
	if got := c.change(l, learner); got.Err != rpctypes.ErrGRPCUnhealthy {
		t.Fatalf("add a learner before 5 s of a working cluster: %v, want unhealthy", got.Err)
	}
	c.tick(51)
	mustOK(t, c.change(l, learner))
	mustOK(t, c.change(l, MemberChange{Kind: MemberRemove, ID: 5}))
	others := slices.DeleteFunc(slices.Clone(c.ids), func(id uint64) bool { return id == l })
	c.stop(others[0])
	c.tick(c.nodes[l].cfg.ElectionTicks + 1)
	if got := c.change(l, MemberChange{Kind: MemberRemove, ID: others[1]}); got.Err != rpctypes.ErrGRPCUnhealthy {
		t.Fatalf("removing the only other live voter: %v, want unhealthy", got.Err)
	}
	// Removing the dead one is safe.
	mustOK(t, c.change(l, MemberChange{Kind: MemberRemove, ID: others[0]}))
}

// TestLeaseExpiresWithAuthOn: the leader revokes an expired lease as root,
// so its keys go with it while auth is on (a revoke made as nobody was
// refused: the keys stayed for ever).
func TestLeaseExpiresWithAuthOn(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	for _, r := range []*pb.InternalRaftRequest{
		{AuthUserAdd: &pb.AuthUserAddRequest{Name: "root", Options: &authpb.UserAddOptions{NoPassword: true}}},
		{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}},
	} {
		mustOK(t, c.do(l, r))
	}
	g := mustOK(t, c.do(l, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: 3}}))
	id := g.Response.(*pb.LeaseGrantResponse).ID
	mustOK(t, c.do(l, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("svc/a"), Value: []byte("x"), Lease: id}}))
	mustOK(t, c.do(l, &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}}))
	root := &pb.RequestHeader{Username: "root", AuthRevision: c.nodes[l].AuthRevision()}
	c.tick(50)
	r := mustOK(t, c.do(l, &pb.InternalRaftRequest{Header: root, Range: &pb.RangeRequest{Key: []byte("svc/a")}}))
	if n := len(r.Response.(*pb.RangeResponse).Kvs); n != 0 {
		t.Fatalf("the expired lease's key is still there under auth")
	}
}
