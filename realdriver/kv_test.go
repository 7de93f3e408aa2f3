package realdriver

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/kvdlabs/kvd/workloads/driver"
)

// newLoop is a loop over members, closed when the test ends.
func newLoop(t *testing.T, opts Options) *Loop {
	t.Helper()
	l, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// await runs l until issue's call completes (10 s at most) and returns it.
func await(t *testing.T, l *Loop, issue func(done func(driver.Call))) driver.Call {
	t.Helper()
	var got *driver.Call
	issue(func(c driver.Call) { got = &c })
	if !l.RunWhile(func() bool { return got == nil }, time.Now().Add(10*time.Second)) {
		t.Fatal("call not completed within 10 s")
	}
	return *got
}

// do runs req through s and returns the completed call.
func do(t *testing.T, l *Loop, s driver.Session, req *pb.InternalRaftRequest) driver.Call {
	t.Helper()
	return await(t, l, func(done func(driver.Call)) { s.Do(req, done) })
}

// mustOK fails the test unless call succeeded with a response of type T.
func mustOK[T any](t *testing.T, call driver.Call) T {
	t.Helper()
	if call.Err != nil || call.TimedOut {
		t.Fatalf("call %d to member %d: err %v, timed out %v", call.Seq, call.Member, call.Err, call.TimedOut)
	}
	resp, ok := call.Response.(T)
	if !ok {
		t.Fatalf("call %d: response %T, want %T", call.Seq, call.Response, *new(T))
	}
	return resp
}

func TestKVRoundTrips(t *testing.T) {
	l := newLoop(t, Options{Members: shared.members()})
	s := l.NewSession(driver.SessionOptions{})
	if s.ID() < sessionIDBase {
		t.Fatalf("session id %d below %d", s.ID(), uint64(sessionIDBase))
	}
	key := []byte(t.Name())

	putReq := &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: key, Value: []byte("v1")}}
	call := do(t, l, s, putReq)
	put := mustOK[*pb.PutResponse](t, call)
	if call.Client != s.ID() || call.Seq != 1 || call.Member != s.Target() || call.Req != putReq {
		t.Fatalf("call fields: client %d seq %d member %d (session %d at %d), req %p want %p", call.Client, call.Seq, call.Member, s.ID(), s.Target(), call.Req, putReq)
	}
	if call.Return.Before(call.Invoke) || call.Invoke.Before(l.Epoch()) {
		t.Fatalf("invoke %v, return %v, epoch %v", call.Invoke, call.Return, l.Epoch())
	}
	rev := put.Header.Revision

	call = do(t, l, s, &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: key}})
	rng := mustOK[*pb.RangeResponse](t, call)
	if call.Seq != 2 || len(rng.Kvs) != 1 || string(rng.Kvs[0].Value) != "v1" || rng.Kvs[0].ModRevision != rev {
		t.Fatalf("range seq %d: %v", call.Seq, rng)
	}

	txn := mustOK[*pb.TxnResponse](t, do(t, l, s, &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: key, Target: pb.Compare_MOD, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_ModRevision{ModRevision: rev}}},
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: key, Value: []byte("v2")}}}},
	}}))
	if !txn.Succeeded {
		t.Fatalf("txn on mod revision %d did not succeed: %v", rev, txn)
	}

	del := mustOK[*pb.DeleteRangeResponse](t, do(t, l, s, &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: key, PrevKv: true}}))
	if del.Deleted != 1 || !bytes.Equal(del.PrevKvs[0].Value, []byte("v2")) {
		t.Fatalf("delete: %v", del)
	}
	mustOK[*pb.CompactionResponse](t, do(t, l, s, &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: del.Header.Revision}}))
}

// Each session starts one member further, as in simulation, and the
// observers see every call before its callback.
func TestSessionsRoundRobinAndObserved(t *testing.T) {
	l := newLoop(t, Options{Members: shared.members()})
	var seen []uint64
	l.Observe(func(c driver.Call) { seen = append(seen, c.Seq) })
	ids := l.IDs()
	for i := range 2 * len(ids) {
		s := l.NewSession(driver.SessionOptions{})
		if want := ids[i%len(ids)]; s.Target() != want {
			t.Fatalf("session %d starts at member %d, want %d", i, s.Target(), want)
		}
	}
	s := l.NewSession(driver.SessionOptions{})
	s.SetTarget(ids[2])
	var observedFirst bool
	await(t, l, func(done func(driver.Call)) {
		s.Do(&pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("x")}}, func(c driver.Call) {
			observedFirst = len(seen) == 1 && seen[0] == c.Seq
			done(c)
		})
	})
	if !observedFirst {
		t.Fatalf("observer saw %v before the callback", seen)
	}
}

// Errors come back as the identical rpctypes values, so workloads may
// compare with ==; and they do not move the session unless they say the
// member cannot serve.
func TestErrorsAreEtcdValues(t *testing.T) {
	l := newLoop(t, Options{Members: shared.members()})
	s := l.NewSession(driver.SessionOptions{})
	target := s.Target()
	var ops []*pb.RequestOp
	for i := range 129 { // kvd's default --max-txn-ops is 128
		ops = append(ops, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: fmt.Appendf(nil, "%s/%d", t.Name(), i)}}})
	}
	for _, tc := range []struct {
		name string
		req  *pb.InternalRaftRequest
		want error
	}{
		{"too many ops", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: ops}}, rpctypes.ErrGRPCTooManyOps},
		{"future compaction", &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 1 << 40}}, rpctypes.ErrGRPCFutureRev},
		{"empty key", &pb.InternalRaftRequest{Put: &pb.PutRequest{}}, rpctypes.ErrGRPCEmptyKey},
		{"revoke unknown lease", &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 12345}}, rpctypes.ErrGRPCLeaseNotFound},
		{"auth not enabled", &pb.InternalRaftRequest{AuthDisable: &pb.AuthDisableRequest{}}, nil},
	} {
		call := do(t, l, s, tc.req)
		if call.Err != tc.want || call.TimedOut || (tc.want != nil && call.Response != nil) {
			t.Errorf("%s: err %v (%T), timed out %v, response %v; want exactly %v", tc.name, call.Err, call.Err, call.TimedOut, call.Response, tc.want)
		}
	}
	if s.Target() != target {
		t.Fatalf("the session moved from member %d to %d on errors that do not say the member cannot serve", target, s.Target())
	}
}

// SerializableReads sends Ranges as serializable reads: they are served
// by a member alone, which is what the option is for.
func TestSerializableReads(t *testing.T) {
	l := newLoop(t, Options{Members: shared.members(), SerializableReads: true})
	s := l.NewSession(driver.SessionOptions{})
	req := &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("x")}}
	mustOK[*pb.RangeResponse](t, do(t, l, s, req))
	if req.Range.Serializable {
		t.Fatal("the caller's request was changed")
	}
	if !outgoingRequest(req, true).Range.Serializable || outgoingRequest(req, false).Range.Serializable {
		t.Fatal("SerializableReads is not what makes a Range serializable")
	}
}
