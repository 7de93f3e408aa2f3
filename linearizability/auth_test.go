package linearizability

import (
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// at is a virtual time t milliseconds into a run.
func at(ms int) time.Time { return time.Unix(0, 0).Add(time.Duration(ms) * time.Millisecond) }

var authPrefix, authPrefixEnd = []byte("/a/"), []byte("/a0")

func grantPerm(role string, typ authpb.Permission_Type, inv, ret int, e AuthEffect) AuthChange {
	return AuthChange{Kind: GrantPermission, Role: role, Key: authPrefix, RangeEnd: authPrefixEnd, Type: typ, Invoke: at(inv), Return: at(ret), Effect: e}
}

func revokePerm(role string, inv, ret int, e AuthEffect) AuthChange {
	return AuthChange{Kind: RevokePermission, Role: role, Key: authPrefix, RangeEnd: authPrefixEnd, Invoke: at(inv), Return: at(ret), Effect: e}
}

func roleChange(kind AuthChangeKind, user, role string, inv, ret int, e AuthEffect) AuthChange {
	return AuthChange{Kind: kind, User: user, Role: role, Invoke: at(inv), Return: at(ret), Effect: e}
}

func putReq(key string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(key), Value: []byte("v")}}
}

func getReq(key, end string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte(key), RangeEnd: []byte(end)}}
}

func req(user string, r *pb.InternalRaftRequest, inv, ret int, allowed bool) AuthRequest {
	return AuthRequest{User: user, Request: r, Invoke: at(inv), Return: at(ret), Allowed: allowed}
}

// authBase: role r gets READWRITE on /a/ and alice gets r by 20 ms; the
// permission is revoked over [100, 110].
func authBase() AuthHistory {
	return AuthHistory{Changes: []AuthChange{
		grantPerm("r", authpb.READWRITE, 0, 10, Applied),
		roleChange(GrantRole, "alice", "r", 10, 20, Applied),
		revokePerm("r", 100, 110, Applied),
	}}
}

func TestCheckAuth(t *testing.T) {
	cases := []struct {
		name     string
		changes  []AuthChange // appended to authBase's
		requests []AuthRequest
		detail   string // "" for OK, else a part of the violation's detail
		judged   int
	}{
		{"granted then revoked", nil, []AuthRequest{
			req("alice", putReq("/a/k"), 30, 40, true),
			req("alice", getReq("/a/", "/a0"), 50, 60, true),
			req("alice", putReq("/a/k"), 120, 130, false),
			req("bob", putReq("/a/k"), 30, 40, false),
		}, "", 4},
		{"allowed after the revoke returned", nil, []AuthRequest{
			req("alice", putReq("/a/k"), 111, 130, true),
		}, `alice's put of key "/a/k" allowed, but alice throughout [00:00:00.111000, 00:00:00.130000] definitely lacked write on key "/a/k"`, 0},
		{"refused while granted", nil, []AuthRequest{
			req("alice", getReq("/a/k", ""), 30, 40, false),
		}, `refused with permission denied, but alice throughout`, 0},
		{"allowed and refused across the revoke", nil, []AuthRequest{
			req("alice", putReq("/a/k"), 90, 105, true),
			req("alice", putReq("/a/k"), 105, 120, false),
			req("alice", putReq("/a/k"), 111, 120, false),
		}, "", 1},
		{"never granted", nil, []AuthRequest{
			req("alice", putReq("/secret/k"), 30, 40, true),
		}, `definitely lacked write on key "/secret/k"`, 0},
		{"a prefix read needs the prefix, not a key in it", []AuthChange{
			{Kind: GrantPermission, Role: "k", Key: []byte("/b/k"), Type: authpb.READ, Invoke: at(0), Return: at(5), Effect: Applied},
			roleChange(GrantRole, "alice", "k", 5, 8, Applied),
		}, []AuthRequest{
			req("alice", getReq("/b/k", ""), 30, 40, true),
			req("alice", getReq("/b/", "/b0"), 30, 40, false),
			req("alice", getReq("/b/", "/b0"), 30, 40, true),
		}, `definitely lacked read on ["/b/", "/b0")`, 0},
		{"a regrant of another type replaces the type", []AuthChange{
			grantPerm("r", authpb.READ, 40, 50, Applied),
		}, []AuthRequest{
			req("alice", getReq("/a/k", ""), 60, 70, true),
			req("alice", putReq("/a/k"), 60, 70, true),
		}, `definitely lacked write on key "/a/k"`, 0},
		{"role revoked from the user", []AuthChange{
			roleChange(RevokeRole, "alice", "r", 40, 50, Applied),
		}, []AuthRequest{
			req("alice", putReq("/a/k"), 60, 70, true),
		}, `definitely lacked write`, 0},
		{"a refused revoke changes nothing", []AuthChange{
			roleChange(RevokeRole, "alice", "r", 40, 50, NotApplied),
		}, []AuthRequest{
			req("alice", putReq("/a/k"), 60, 70, false),
		}, `refused with permission denied`, 0},
		{"an indeterminate revoke may land late", []AuthChange{
			roleChange(RevokeRole, "alice", "r", 40, 50, MaybeApplied),
			roleChange(GrantRole, "alice", "r", 60, 65, Applied),
		}, []AuthRequest{
			req("alice", putReq("/a/k"), 80, 90, false),
			req("alice", putReq("/a/k"), 80, 90, true),
		}, "", 0},
		{"an indeterminate grant may land late", []AuthChange{
			grantPerm("r", authpb.READWRITE, 120, 130, MaybeApplied),
		}, []AuthRequest{
			req("alice", putReq("/a/k"), 200, 210, true),
			req("alice", putReq("/a/k"), 115, 119, false),
		}, "", 1},
		{"an indeterminate grant of read gives no write", []AuthChange{
			grantPerm("r", authpb.READ, 120, 130, MaybeApplied),
		}, []AuthRequest{
			req("alice", getReq("/a/k", ""), 200, 210, true),
			req("alice", putReq("/a/k"), 200, 210, true),
		}, `definitely lacked write on key "/a/k"`, 0},
		{"a txn needs read on its compares", []AuthChange{
			grantPerm("w", authpb.WRITE, 0, 5, Applied),
			roleChange(GrantRole, "bob", "w", 5, 8, Applied),
		}, []AuthRequest{
			req("bob", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
				Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("/a/k")}}}},
			}}, 30, 40, true),
			req("bob", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
				Compare: []*pb.Compare{{Key: []byte("/a/k"), Target: pb.Compare_VERSION}},
				Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("/a/k")}}}},
			}}, 30, 40, true),
		}, `bob's txn (read on key "/a/k", write on key "/a/k") allowed, but bob`, 0},
		{"prev_kv needs read", []AuthChange{
			grantPerm("w", authpb.WRITE, 0, 5, Applied),
			roleChange(GrantRole, "bob", "w", 5, 8, Applied),
		}, []AuthRequest{
			req("bob", &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: authPrefix, RangeEnd: authPrefixEnd}}, 30, 40, true),
			req("bob", &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: authPrefix, RangeEnd: authPrefixEnd, PrevKv: true}}, 30, 40, false),
			req("bob", &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("/a/x"), PrevKv: true}}, 30, 40, true),
		}, `definitely lacked read on key "/a/x"`, 0},
		{"two roles, one revoked", []AuthChange{
			grantPerm("s", authpb.READ, 0, 5, Applied),
			roleChange(GrantRole, "alice", "s", 5, 8, Applied),
		}, []AuthRequest{
			req("alice", getReq("/a/", "/a0"), 200, 210, true),
			req("alice", putReq("/a/k"), 200, 210, false),
		}, "", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := authBase()
			h.Changes = append(h.Changes, c.changes...)
			h.Requests = c.requests
			v := CheckAuth(h)
			if c.detail == "" {
				if v.Outcome != OK {
					t.Fatalf("%s: %s", v.Outcome, v.Detail)
				}
				if v.Operations != c.judged {
					t.Fatalf("judged %d requests, want %d: %s", v.Operations, c.judged, v.Detail)
				}
				return
			}
			if v.Outcome != Violation || !strings.Contains(v.Detail, c.detail) {
				t.Fatalf("%s: %s\nwant a violation with %q", v.Outcome, v.Detail, c.detail)
			}
			t.Log(v.Detail)
		})
	}
}

func TestAuthCovers(t *testing.T) {
	r := func(k, e string) authRange { return rangeOf([]byte(k), []byte(e)) }
	set := []authRange{r("/a/", "/a0"), r("/b/k", ""), r("/c", "/d"), r("/d", "/e"), r("/z", "\x00")}
	for _, c := range []struct {
		want authRange
		ok   bool
	}{
		{r("/a/x", ""), true},
		{r("/a/", "/a0"), true},
		{r("/a", "/a0"), false},
		{r("/b/k", ""), true},
		{r("/b/k2", ""), false},
		{r("/b/", "/b0"), false},
		{r("/c1", "/d5"), true}, // touching ranges join
		{r("/c1", "/e1"), false},
		{r("/zz", "\x00"), true},
		{r("/y", "\x00"), false},
		{r("/q", "/p"), true}, // empty
	} {
		if got := covers(set, c.want); got != c.ok {
			t.Errorf("covers(%q, %q) = %v, want %v", c.want.start, c.want.end, got, c.ok)
		}
	}
}

// Permission boundaries, by etcd's rule: a request is allowed only if its
// whole [key, range_end) lies within what the user holds, a single key k
// being [k, k+"\x00"). Range ends are exclusive: the key that is exactly a
// permission's range_end is outside it, and so is a range ending one key
// past it. Alice holds READWRITE on ["/a/", "/a0") over [20, 100] only
// (authBase), and on the single key "/b/k" from 8 ms on.
func TestCheckAuthBoundaries(t *testing.T) {
	single := []AuthChange{
		{Kind: GrantPermission, Role: "k", Key: []byte("/b/k"), Type: authpb.READWRITE, Invoke: at(0), Return: at(5), Effect: Applied},
		roleChange(GrantRole, "alice", "k", 5, 8, Applied),
	}
	probe := func(r AuthRequest) AuthRequest { r.Probe = true; return r }
	cases := []struct {
		name     string
		requests []AuthRequest
		detail   string // "" for OK, else a part of the violation's detail
		judged   int
	}{
		{"inside and at range_end, judged right", []AuthRequest{
			probe(req("alice", getReq("/a/\xff", ""), 30, 40, true)),      // the last key inside
			probe(req("alice", putReq("/a/\xff"), 30, 40, true)),          // written too
			probe(req("alice", getReq("/a/", "/a0"), 30, 40, true)),       // ending exactly at range_end
			probe(req("alice", getReq("/a/x", "/a/\xff"), 30, 40, true)),  // ending just inside
			probe(req("alice", getReq("/a0", ""), 30, 40, false)),         // range_end itself: outside
			probe(req("alice", putReq("/a0"), 30, 40, false)),             // nor writable
			probe(req("alice", getReq("/a/", "/a0\x00"), 30, 40, false)),  // one key past
			probe(req("alice", getReq("/a/k", "/a0\x00"), 30, 40, false)), // from inside, one key past
			probe(req("alice", getReq("/b/k", "/b/k\x00"), 30, 40, true)), // a single key as a range
			probe(req("alice", getReq("/b/k\x00", ""), 30, 40, false)),    // the key right after it
			probe(req("alice", getReq("/b/k", "/b/k\x00\x00"), 30, 40, false)),
		}, "", 11},
		{"the range_end key allowed", []AuthRequest{
			probe(req("alice", getReq("/a0", ""), 30, 40, true)),
		}, `alice's read of key "/a0" (a boundary probe) allowed, but alice throughout [00:00:00.030000, 00:00:00.040000] definitely lacked read on key "/a0"`, 0},
		{"a write of the range_end key allowed", []AuthRequest{
			probe(req("alice", putReq("/a0"), 30, 40, true)),
		}, `definitely lacked write on key "/a0"`, 0},
		{"a range one key past range_end allowed", []AuthRequest{
			probe(req("alice", &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("/a/k"), RangeEnd: []byte("/a0\x00")}}, 30, 40, true)),
		}, `definitely lacked write on ["/a/k", "/a0\x00")`, 0},
		{"the key after a single-key permission allowed", []AuthRequest{
			probe(req("alice", putReq("/b/k\x00"), 30, 40, true)),
		}, `definitely lacked write on key "/b/k\x00"`, 0},
		{"the last key inside refused", []AuthRequest{
			probe(req("alice", putReq("/a/\xff"), 30, 40, false)),
		}, `alice's put of key "/a/\xff" (a boundary probe) refused with permission denied, but alice throughout`, 0},
		{"a range ending exactly at range_end refused", []AuthRequest{
			probe(req("alice", getReq("/a/\xff", "/a0"), 30, 40, false)),
		}, `refused with permission denied, but alice throughout [00:00:00.030000, 00:00:00.040000] definitely held every permission it needs (read on ["/a/\xff", "/a0"))`, 0},
		{"a single key as a range refused", []AuthRequest{
			probe(req("alice", getReq("/b/k", "/b/k\x00"), 30, 40, false)),
		}, `definitely held every permission it needs (read on ["/b/k", "/b/k\x00"))`, 0},
		{"at range_end while the permission may be revoked: undecided", []AuthRequest{
			probe(req("alice", getReq("/a/", "/a0"), 105, 120, false)),
			probe(req("alice", getReq("/a0", ""), 105, 120, false)), // outside whatever the state
		}, "", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := authBase()
			h.Changes = append(h.Changes, single...)
			h.Requests = c.requests
			v := CheckAuth(h)
			if c.detail == "" {
				if v.Outcome != OK {
					t.Fatalf("%s: %s", v.Outcome, v.Detail)
				}
				if v.Operations != c.judged || !strings.Contains(v.Detail, "boundary probes") {
					t.Fatalf("judged %d requests, want %d: %s", v.Operations, c.judged, v.Detail)
				}
				return
			}
			if v.Outcome != Violation || !strings.Contains(v.Detail, c.detail) {
				t.Fatalf("%s: %s\nwant a violation with %q", v.Outcome, v.Detail, c.detail)
			}
			t.Log(v.Detail)
		})
	}
}
