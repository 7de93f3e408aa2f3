package realdriver

import (
	"errors"
	"path/filepath"
	"testing"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/kvdlabs/kvd/workloads/driver"
)

// Auth calls reach the Auth service, and the token goes as the "token"
// metadata. On a member of its own: enabling auth would disturb the other
// tests.
func TestAuthAndToken(t *testing.T) {
	c, err := startCluster(filepath.Join(t.TempDir(), "auth"), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	l := newLoop(t, Options{Members: c.members()})
	admin := l.NewSession(driver.SessionOptions{})
	ok := func(s driver.Session, req *pb.InternalRaftRequest) driver.Call {
		t.Helper()
		call := do(t, l, s, req)
		if call.Err != nil || call.TimedOut || call.Response == nil {
			t.Fatalf("%v: err %v, timed out %v", req, call.Err, call.TimedOut)
		}
		return call
	}
	mustOK[*pb.AuthUserAddResponse](t, ok(admin, &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "root", Password: "rootpw"}}))
	mustOK[*pb.AuthUserGrantRoleResponse](t, ok(admin, &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}}))
	mustOK[*pb.AuthRoleAddResponse](t, ok(admin, &pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "reader"}}))
	mustOK[*pb.AuthRoleGrantPermissionResponse](t, ok(admin, &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{
		Name: "reader", Perm: &authpb.Permission{PermType: authpb.READ, Key: []byte("a")},
	}}))
	mustOK[*pb.AuthUserAddResponse](t, ok(admin, &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "alice", Password: "old"}}))
	mustOK[*pb.AuthUserChangePasswordResponse](t, ok(admin, &pb.InternalRaftRequest{AuthUserChangePassword: &pb.AuthUserChangePasswordRequest{Name: "alice", Password: "alicepw"}}))
	mustOK[*pb.AuthUserGrantRoleResponse](t, ok(admin, &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "alice", Role: "reader"}}))
	mustOK[*pb.AuthEnableResponse](t, ok(admin, &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}}))

	put := &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("a"), Value: []byte("1")}}
	if call := do(t, l, admin, put); call.Err != rpctypes.ErrGRPCUserEmpty {
		t.Fatalf("put without a token: err %v (%T), want exactly ErrGRPCUserEmpty", call.Err, call.Err)
	}
	if call := do(t, l, admin, &pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: "root", Password: "wrong"}}); call.Err != rpctypes.ErrGRPCAuthFailed {
		t.Fatalf("authenticate with a wrong password: err %v, want exactly ErrGRPCAuthFailed", call.Err)
	}
	root := mustOK[*pb.AuthenticateResponse](t, ok(admin, &pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: "root", Password: "rootpw"}}))
	admin.SetToken(root.Token)
	mustOK[*pb.PutResponse](t, ok(admin, put))

	// A reader's token: reads of its key pass, a write is denied, and so
	// is a watch outside its permission (created and canceled at once).
	reader := l.NewSession(driver.SessionOptions{})
	alice := mustOK[*pb.AuthenticateResponse](t, ok(reader, &pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: "alice", Password: "alicepw"}}))
	reader.SetToken(alice.Token)
	if rng := mustOK[*pb.RangeResponse](t, ok(reader, &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("a")}})); len(rng.Kvs) != 1 {
		t.Fatalf("reader's range: %v", rng)
	}
	if call := do(t, l, reader, put); call.Err != rpctypes.ErrGRPCPermissionDenied {
		t.Fatalf("reader's put: err %v, want exactly ErrGRPCPermissionDenied", call.Err)
	}
	denied := await(t, l, func(done func(driver.Call)) { reader.Watch(&pb.WatchCreateRequest{Key: []byte("b")}, done) })
	if resp, _ := denied.Response.(*pb.WatchResponse); denied.Err != rpctypes.ErrGRPCPermissionDenied || resp == nil || !resp.Canceled {
		t.Fatalf("reader's watch outside its permission: err %v, response %v", denied.Err, denied.Response)
	}
	reader.SetToken("")
	if call := do(t, l, reader, &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("a")}}); call.Err != rpctypes.ErrGRPCUserEmpty {
		t.Fatalf("range after SetToken(\"\"): err %v, want exactly ErrGRPCUserEmpty", call.Err)
	}

	// The harness's own observers: refused without a token once auth is
	// on; with AdminAuth they authenticate as root when refused, and a
	// wrong password is reported, not hidden.
	id := c.members()[0].ID
	if _, ok := l.Revision(id); ok {
		t.Fatal("Revision without a token answered with auth on")
	}
	if _, err := l.HashKV(id, 0); err == nil {
		t.Fatal("HashKV without a token answered with auth on")
	}
	observer := newLoop(t, Options{Members: c.members(), Admin: &AdminAuth{User: "root", Password: "rootpw"}})
	if rev, ok := observer.Revision(id); !ok || rev == 0 {
		t.Fatalf("Revision as root: revision %d, answered %v", rev, ok)
	}
	if _, err := observer.HashKV(id, 0); err != nil {
		t.Fatalf("HashKV as root: %v", err)
	}
	if rng, err := observer.LocalRange(id, &pb.RangeRequest{Key: []byte("a")}); err != nil || len(rng.Kvs) != 1 {
		t.Fatalf("LocalRange as root: %v, %v", rng, err)
	}
	wrong := newLoop(t, Options{Members: c.members(), Admin: &AdminAuth{User: "root", Password: "wrong"}})
	if _, err := wrong.HashKV(id, 0); !errors.Is(err, rpctypes.ErrGRPCAuthFailed) {
		t.Fatalf("HashKV with a wrong admin password: err %v, want ErrGRPCAuthFailed", err)
	}

	// The rest of the Auth calls, undoing the setup.
	mustOK[*pb.AuthRoleRevokePermissionResponse](t, ok(admin, &pb.InternalRaftRequest{AuthRoleRevokePermission: &pb.AuthRoleRevokePermissionRequest{Role: "reader", Key: []byte("a")}}))
	mustOK[*pb.AuthUserRevokeRoleResponse](t, ok(admin, &pb.InternalRaftRequest{AuthUserRevokeRole: &pb.AuthUserRevokeRoleRequest{Name: "alice", Role: "reader"}}))
	mustOK[*pb.AuthUserDeleteResponse](t, ok(admin, &pb.InternalRaftRequest{AuthUserDelete: &pb.AuthUserDeleteRequest{Name: "alice"}}))
	mustOK[*pb.AuthRoleDeleteResponse](t, ok(admin, &pb.InternalRaftRequest{AuthRoleDelete: &pb.AuthRoleDeleteRequest{Role: "reader"}}))
	mustOK[*pb.AuthDisableResponse](t, ok(admin, &pb.InternalRaftRequest{AuthDisable: &pb.AuthDisableRequest{}}))
	admin.SetToken("")
	mustOK[*pb.PutResponse](t, ok(admin, put))
}
