package realdriver

import (
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/kvdlabs/kvd/workloads/driver"
)

func TestLeaseRoundTrips(t *testing.T) {
	l := newLoop(t, Options{Members: shared.members()})
	s := l.NewSession(driver.SessionOptions{})
	grant := mustOK[*pb.LeaseGrantResponse](t, do(t, l, s, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: 5}}))
	if grant.ID == 0 || grant.TTL != 5 {
		t.Fatalf("grant: %v", grant)
	}
	key := []byte(t.Name())
	mustOK[*pb.PutResponse](t, do(t, l, s, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: key, Lease: grant.ID}}))

	call := await(t, l, func(done func(driver.Call)) { s.KeepAlive(grant.ID, done) })
	if call.KeepAlive != grant.ID || call.Req != nil {
		t.Fatalf("keepalive call names lease %d, req %v", call.KeepAlive, call.Req)
	}
	if ka := mustOK[*pb.LeaseKeepAliveResponse](t, call); ka.ID != grant.ID || ka.TTL <= 0 {
		t.Fatalf("keepalive: %v", ka)
	}

	ttl := mustOK[*pb.LeaseTimeToLiveResponse](t, await(t, l, func(done func(driver.Call)) { s.TimeToLive(grant.ID, done) }))
	if ttl.ID != grant.ID || ttl.TTL <= 0 || ttl.GrantedTTL != 5 || len(ttl.Keys) != 1 || string(ttl.Keys[0]) != string(key) {
		t.Fatalf("time to live (keys asked): %v", ttl)
	}

	mustOK[*pb.LeaseRevokeResponse](t, do(t, l, s, &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: grant.ID}}))
	if rng := mustOK[*pb.RangeResponse](t, do(t, l, s, &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: key}})); len(rng.Kvs) != 0 {
		t.Fatalf("key of a revoked lease still there: %v", rng.Kvs)
	}

	// A lease the member does not know: as the simulator answers it.
	for name, issue := range map[string]func(func(driver.Call)){
		"keepalive":    func(done func(driver.Call)) { s.KeepAlive(grant.ID, done) },
		"time to live": func(done func(driver.Call)) { s.TimeToLive(grant.ID, done) },
	} {
		call := await(t, l, issue)
		if call.Err != rpctypes.ErrGRPCLeaseNotFound || call.Response != nil || call.TimedOut {
			t.Errorf("%s of a revoked lease: err %v, response %v, timed out %v; want exactly ErrGRPCLeaseNotFound and no response", name, call.Err, call.Response, call.TimedOut)
		}
	}
}
