package auth

import (
	"bytes"
	"testing"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/proto"
)

func apply(t *testing.T, s *Store, h *pb.RequestHeader, r *pb.InternalRaftRequest, want error) any {
	t.Helper()
	r.Header = h
	resp, err, ok := s.Apply(r, 7)
	if !ok {
		t.Fatalf("%v: not an auth request", r)
	}
	if err != want {
		t.Fatalf("%v: %v, want %v", r, err, want)
	}
	return resp
}

func hashed(t *testing.T, pw string) string {
	h, err := HashPassword(pw, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestStoreAsEtcd walks etcd's usual setup and its errors: root needed to
// enable, admin requests refused to others, a read-only role on a prefix.
func TestStoreAsEtcd(t *testing.T) {
	s := New(Options{})
	none := &pb.RequestHeader{}
	apply(t, s, none, &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}}, rpctypes.ErrGRPCRootUserNotExist)
	apply(t, s, none, &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "root", HashedPassword: hashed(t, "rootpw")}}, nil)
	apply(t, s, none, &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}}, rpctypes.ErrGRPCRootRoleNotExist)
	apply(t, s, none, &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}}, nil)
	apply(t, s, none, &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "alice", HashedPassword: hashed(t, "alicepw")}}, nil)
	apply(t, s, none, &pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "ro-a"}}, nil)
	apply(t, s, none, &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "ro-a",
		Perm: &authpb.Permission{PermType: authpb.READ, Key: []byte("/a/"), RangeEnd: []byte("/a0")}}}, nil)
	apply(t, s, none, &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "alice", Role: "ro-a"}}, nil)
	apply(t, s, none, &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}}, nil)
	if !s.Enabled() {
		t.Fatal("auth not enabled")
	}

	// Authenticate hands out a token; it resolves to the user at the
	// store's revision.
	tok := apply(t, s, none, &pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: "alice", SimpleToken: "prefix"}}, nil).(*pb.AuthenticateResponse).Token
	alice, err := s.Resolve(tok, 0)
	if err != nil || alice.Username != "alice" || alice.AuthRevision != s.Revision() {
		t.Fatalf("resolve %q: %v, %v", tok, alice, err)
	}
	if _, err := s.Resolve("nope", 0); err != rpctypes.ErrGRPCInvalidAuthToken {
		t.Fatalf("unknown token: %v", err)
	}
	for _, c := range []struct {
		key, end string
		write    bool
		want     error
	}{
		{"/a/x", "", false, nil},
		{"/a/", "/a0", false, nil},
		{"/a/x", "/a/y", false, nil},
		{"/a/x", "", true, rpctypes.ErrGRPCPermissionDenied},
		{"/b/x", "", false, rpctypes.ErrGRPCPermissionDenied},
		{"/a/", "/b", false, rpctypes.ErrGRPCPermissionDenied},
		{"/a/", "\x00", false, rpctypes.ErrGRPCPermissionDenied},
	} {
		if err := s.Permitted(alice, []byte(c.key), []byte(c.end), c.write); err != c.want {
			t.Errorf("alice %q..%q write=%v: %v, want %v", c.key, c.end, c.write, err, c.want)
		}
	}
	if err := s.Permitted(none, []byte("/a/x"), nil, false); err != rpctypes.ErrGRPCUserEmpty {
		t.Fatalf("no user: %v", err)
	}
	// Lease calls ask only for a user.
	if err := s.IsUser(alice); err != nil {
		t.Errorf("IsUser(alice): %v", err)
	}
	if err := s.IsUser(none); err != rpctypes.ErrGRPCUserEmpty {
		t.Errorf("IsUser(no user): %v, want %v", err, rpctypes.ErrGRPCUserEmpty)
	}
	if err := s.IsUser(&pb.RequestHeader{Username: "mallory", AuthRevision: alice.AuthRevision}); err != rpctypes.ErrGRPCUserNotFound {
		t.Errorf("IsUser(unknown user): %v, want %v", err, rpctypes.ErrGRPCUserNotFound)
	}
	// Admin requests: refused to alice, who may still read herself.
	apply(t, s, alice, &pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "x"}}, rpctypes.ErrGRPCPermissionDenied)
	apply(t, s, alice, &pb.InternalRaftRequest{AuthUserGet: &pb.AuthUserGetRequest{Name: "alice"}}, nil)
	apply(t, s, alice, &pb.InternalRaftRequest{AuthRoleGet: &pb.AuthRoleGetRequest{Role: "ro-a"}}, nil)
	apply(t, s, alice, &pb.InternalRaftRequest{AuthUserGet: &pb.AuthUserGetRequest{Name: "root"}}, rpctypes.ErrGRPCPermissionDenied)

	// A change moves the revision: a header from before it is too old;
	// a password change ends the user's tokens.
	root := &pb.RequestHeader{Username: "root", AuthRevision: s.Revision()}
	apply(t, s, root, &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "ro-a",
		Perm: &authpb.Permission{PermType: authpb.READWRITE, Key: []byte("/a/"), RangeEnd: []byte("/a0")}}}, nil)
	if err := s.Permitted(alice, []byte("/a/x"), nil, true); err != rpctypes.ErrGRPCAuthOldRevision {
		t.Fatalf("old header: %v", err)
	}
	alice, _ = s.Resolve(tok, 0)
	if err := s.Permitted(alice, []byte("/a/x"), nil, true); err != nil {
		t.Fatalf("after grant of readwrite: %v", err)
	}
	apply(t, s, root, &pb.InternalRaftRequest{AuthUserChangePassword: &pb.AuthUserChangePasswordRequest{Name: "alice", HashedPassword: hashed(t, "new")}}, nil)
	if _, err := s.Resolve(tok, 0); err != rpctypes.ErrGRPCInvalidAuthToken {
		t.Fatalf("token after password change: %v", err)
	}
	apply(t, s, root, &pb.InternalRaftRequest{AuthUserDelete: &pb.AuthUserDeleteRequest{Name: "root"}}, rpctypes.ErrGRPCInvalidAuthMgmt)
	apply(t, s, root, &pb.InternalRaftRequest{AuthUserRevokeRole: &pb.AuthUserRevokeRoleRequest{Name: "root", Role: "root"}}, rpctypes.ErrGRPCInvalidAuthMgmt)
	apply(t, s, root, &pb.InternalRaftRequest{AuthRoleRevokePermission: &pb.AuthRoleRevokePermissionRequest{Role: "ro-a", Key: []byte("/zz")}}, rpctypes.ErrGRPCPermissionNotGranted)

	// The durable part survives a snapshot; tokens do not.
	b := s.Snapshot()
	r := New(Options{})
	if err := r.Restore(b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Snapshot(), b) || r.Revision() != s.Revision() || !r.Enabled() || r.String() != s.String() {
		t.Fatalf("restored %v, want %v", r, s)
	}
	hash, ok := r.PasswordHash("alice")
	if !ok || CheckPassword(hash, "new") != nil || CheckPassword(hash, "alicepw") == nil {
		t.Fatal("restored password hash does not check")
	}
}

func TestTokensExpireUnused(t *testing.T) {
	s := New(Options{TokenTTLTicks: 10})
	s.enabled = true
	s.users["u"] = &authpb.User{Name: []byte("u")}
	s.Tick(100)
	s.tokens.assign("t", "u")
	if _, err := s.Resolve("t", 105); err != nil {
		t.Fatal(err)
	}
	s.Tick(114) // used at 105: alive until 115
	if _, err := s.Resolve("t", 114); err != nil {
		t.Fatalf("token used 9 ticks ago: %v", err)
	}
	s.Tick(125)
	if _, err := s.Resolve("t", 125); err != rpctypes.ErrGRPCInvalidAuthToken {
		t.Fatalf("token unused for 11 ticks: %v", err)
	}
}

func FuzzRestore(f *testing.F) {
	s := New(Options{})
	s.users["root"] = &authpb.User{Name: []byte("root"), Roles: []string{"root"}}
	s.roles["r"] = &authpb.Role{Name: []byte("r"), KeyPermission: []*authpb.Permission{{Key: []byte("a")}}}
	f.Add(s.Snapshot())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := New(Options{})
		if r.Restore(b) == nil {
			if again := New(Options{}); again.Restore(r.Snapshot()) != nil {
				t.Fatal("a restored store's snapshot does not restore")
			}
		}
	})
}

// FuzzApply feeds arbitrary auth requests (as a member decodes them from
// the log) and tokens to a store with users and auth on: no input panics
// it, and what it answers keeps its snapshot decodable.
func FuzzApply(f *testing.F) {
	seed := func(r *pb.InternalRaftRequest) []byte {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(seed(&pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "r",
		Perm: &authpb.Permission{Key: []byte("a"), RangeEnd: []byte{0}}}}), "tok.1")
	f.Add(seed(&pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: "root", SimpleToken: "p"}}), "p.7")
	f.Add([]byte{}, "")
	f.Fuzz(func(t *testing.T, b []byte, token string) {
		s := New(Options{})
		s.users["root"] = &authpb.User{Name: []byte("root"), Roles: []string{RootRole}, Password: []byte("x")}
		s.roles["r"] = &authpb.Role{Name: []byte("r")}
		s.enabled = true
		s.refresh()
		var r pb.InternalRaftRequest
		if proto.Unmarshal(b, &r) != nil {
			return
		}
		r.Header = &pb.RequestHeader{Username: "root", AuthRevision: s.Revision()}
		s.Apply(&r, 7)
		if hdr, err := s.Resolve(token, 1); err == nil && hdr != nil {
			s.Permitted(hdr, []byte(token), nil, true)
		}
		if New(Options{}).Restore(s.Snapshot()) != nil {
			t.Fatal("snapshot does not restore")
		}
	})
}
