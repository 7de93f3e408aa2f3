package node

import (
	"errors"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/raft/v3/raftpb"
)

// leasedKeyCount reads key on member m (serializably) and returns how many
// keys came back.
func leasedKeyCount(t *testing.T, c *testCluster, m uint64, key string) int {
	t.Helper()
	r := mustOK(t, c.do(m, get(key, true)))
	return len(r.Response.(*pb.RangeResponse).Kvs)
}

// grantWithKey grants a lease of ttlSeconds on the leader and writes key
// under it.
func grantWithKey(t *testing.T, c *testCluster, l uint64, ttlSeconds int64, key string) int64 {
	t.Helper()
	g := mustOK(t, c.do(l, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: ttlSeconds}}))
	id := g.Response.(*pb.LeaseGrantResponse).ID
	mustOK(t, c.do(l, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(key), Value: []byte("addr"), Lease: id}}))
	return id
}

// The leader's wall clock stepping back must not keep an abandoned lease
// alive: kvsim seed 2312's leader had its clock jumped back 21 s after a
// lease's last keepalive and kept the lease 21 s past its TTL. etcd
// measures TTLs on the monotonic clock, which no step moves.
func TestLeaseExpiresOnTimeWhenTheLeaderClockStepsBack(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	id := grantWithKey(t, c, l, 3, "svc/back")
	if _, err := c.nodes[l].LeaseKeepAlive(id); err != nil {
		t.Fatalf("keepalive: %v", err)
	}
	c.clock.T = c.clock.T.Add(-time.Minute)
	c.tick(40) // 4 s of ticks: past the TTL of 3 s
	if c.leader() != l {
		t.Fatalf("leadership moved from %d to %d: the test wants one leader's clock", l, c.leader())
	}
	for _, m := range c.ids {
		if n := leasedKeyCount(t, c, m, "svc/back"); n != 0 {
			t.Fatalf("member %d still has the key of lease %d 1 s past its TTL: the leader's clock step back delayed the revoke", m, id)
		}
	}
	c.converged()
}

// The leader's wall clock stepping forward must not revoke a lease its
// client keeps alive.
func TestLeaseSurvivesTheLeaderClockSteppingForward(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	id := grantWithKey(t, c, l, 3, "svc/fwd")
	for range 5 {
		if _, err := c.nodes[l].LeaseKeepAlive(id); err != nil {
			t.Fatalf("keepalive: %v", err)
		}
		c.clock.T = c.clock.T.Add(time.Minute)
		c.tick(10) // 1 s, a third of the TTL
	}
	if c.leader() != l {
		t.Fatalf("leadership moved from %d to %d: the test wants one leader's clock", l, c.leader())
	}
	for _, m := range c.ids {
		if n := leasedKeyCount(t, c, m, "svc/fwd"); n != 1 {
			t.Fatalf("member %d lost the key of lease %d kept alive every second: the leader's clock step forward revoked it", m, id)
		}
	}
	// Once the keepalives stop, the lease still ends on time.
	c.tick(40)
	for _, m := range c.ids {
		if n := leasedKeyCount(t, c, m, "svc/fwd"); n != 0 {
			t.Fatalf("member %d kept the key of lease %d 1 s past its TTL", m, id)
		}
	}
}

// Lease time is tick time: TimeToLive counts down with ticks, whatever the
// wall clock does.
func TestLeaseTimeToLiveFollowsTicks(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	l := c.waitLeader()
	id := grantWithKey(t, c, l, 10, "svc/ttl")
	if _, err := c.nodes[l].LeaseKeepAlive(id); err != nil {
		t.Fatalf("keepalive: %v", err)
	}
	c.clock.T = c.clock.T.Add(-time.Hour)
	c.tick(30)
	r, err := c.nodes[l].LeaseTimeToLive(id, false)
	if err != nil {
		t.Fatalf("time to live: %v", err)
	}
	// 3 s of ticks since the keepalive, maybe a tick more from c.do.
	if r.TTL < 6 || r.TTL > 7 {
		t.Fatalf("TTL remaining %d s after 3 s of ticks on a 10 s lease, want 6 or 7", r.TTL)
	}
}

// A leader that inherits a lease revoke in its log must not renew that
// lease: the revoke commits with the leader's first entry, so a keepalive
// answered meanwhile promises a TTL the lease will not live (kvsim seed
// 29: a revoke proposed just before its leader lost quorum committed 2.7 s
// after the re-elected leader had renewed the lease for 5 s).
func TestLeaseWithAnInheritedRevokeIsNotRenewed(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	id := grantWithKey(t, c, l, 3, "svc/inherited")
	// Followers hear the leader and append what it sends, but it never
	// learns they did: it keeps leading and commits nothing more.
	c.drop = func(m *raftpb.Message) bool { return m.GetType() == raftpb.MsgAppResp }
	c.tick(40) // past the TTL: the leader proposes the revoke
	// The leader goes; a follower with the revoke in its log takes over
	// and, still without acknowledgements, cannot commit it yet.
	c.isolate(l)
	var next uint64
	for range 200 {
		c.tick(1)
		if ld := c.leader(); ld != 0 && ld != l {
			next = ld
			break
		}
	}
	if next == 0 {
		t.Fatalf("no new leader after member %d was isolated", l)
	}
	if !c.nodes[next].lessor.LeaseExists(id) {
		t.Fatalf("lease %d already revoked on new leader %d: the test missed the window it is about", id, next)
	}
	if _, err := c.nodes[next].LeaseKeepAlive(id); !errors.Is(err, rpctypes.ErrGRPCLeaseNotFound) {
		t.Fatalf("keepalive of lease %d on new leader %d with its revoke in the log: err %v, want %v", id, next, err, rpctypes.ErrGRPCLeaseNotFound)
	}
	c.drop = nil
	c.heal()
	c.tick(20)
	for _, m := range c.ids {
		if n := leasedKeyCount(t, c, m, "svc/inherited"); n != 0 {
			t.Fatalf("member %d still has the key of lease %d after its revoke committed", m, id)
		}
	}
	c.converged()
}

// A renewal read during tick k may have arrived as late as the end of that
// tick, so the lease must outlive TTL's worth of ticks after k: never
// revoked before its TTL has passed since the keepalive, as etcd promises.
func TestLeaseLivesItsWholeTTLAfterTheTickOfItsRenewal(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	id := grantWithKey(t, c, l, 3, "svc/whole")
	if _, err := c.nodes[l].LeaseKeepAlive(id); err != nil {
		t.Fatalf("keepalive: %v", err)
	}
	c.tick(30) // exactly the TTL of 3 s of ticks
	for _, m := range c.ids {
		if n := leasedKeyCount(t, c, m, "svc/whole"); n != 1 {
			t.Fatalf("member %d lost the key of lease %d after 30 ticks: less than the TTL after a keepalive that arrived late in its tick", m, id)
		}
	}
	c.tick(2)
	for _, m := range c.ids {
		if n := leasedKeyCount(t, c, m, "svc/whole"); n != 0 {
			t.Fatalf("member %d kept the key of lease %d two ticks past its TTL", m, id)
		}
	}
}
