package parity

import (
	"context"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/metadata"
)

// TestKVDAuthAnswersAsEtcd runs the auth script against a one-member etcd
// and a one-member kvd: its own clusters, since it ends with auth enabled
// and users changed.
func TestKVDAuthAnswersAsEtcd(t *testing.T) {
	compare(t, authScript(), 1, "-auth")
}

// authScript sets up etcd's usual users and roles through raw gRPC,
// enables auth, and makes every kind of call as each caller: no token, a
// bad token, a read-only user, root. Tokens differ between systems;
// answers say whether one was issued.
func authScript() []step {
	var s []step
	add := func(name string, run func(context.Context, *env) any) { s = append(s, step{name, run}) }
	as := func(user string, ctx context.Context, e *env) context.Context {
		switch user {
		case "":
			return ctx
		case "bad":
			return metadata.AppendToOutgoingContext(ctx, "token", "no.such.token")
		}
		return metadata.AppendToOutgoingContext(ctx, "token", e.vars["token-"+user].(string))
	}
	au := func(e *env) pb.AuthClient { return pb.NewAuthClient(e.m.cli.ActiveConnection()) }
	login := func(user, password string) func(context.Context, *env) any {
		return func(ctx context.Context, e *env) any {
			resp, err := au(e).Authenticate(ctx, &pb.AuthenticateRequest{Name: user, Password: password})
			if err != nil {
				return err
			}
			e.vars["token-"+user] = resp.Token
			return fmt.Sprintf("header=%v token issued=%v", resp.Header, resp.Token != "")
		}
	}
	ro := &authpb.Permission{PermType: authpb.READ, Key: []byte("/a/"), RangeEnd: []byte("/a0")}

	add("auth status, off", func(ctx context.Context, e *env) any { return answer(au(e).AuthStatus(ctx, &pb.AuthStatusRequest{})) })
	add("auth enable without root", func(ctx context.Context, e *env) any { return answer(au(e).AuthEnable(ctx, &pb.AuthEnableRequest{})) })
	add("authenticate while auth is off", func(ctx context.Context, e *env) any {
		return answer(au(e).Authenticate(ctx, &pb.AuthenticateRequest{Name: "root", Password: "x"}))
	})
	add("user add root", func(ctx context.Context, e *env) any {
		return answer(au(e).UserAdd(ctx, &pb.AuthUserAddRequest{Name: "root", Password: "rootpw"}))
	})
	add("user add root again", func(ctx context.Context, e *env) any {
		return answer(au(e).UserAdd(ctx, &pb.AuthUserAddRequest{Name: "root", Password: "rootpw"}))
	})
	add("user add with no name", func(ctx context.Context, e *env) any {
		return answer(au(e).UserAdd(ctx, &pb.AuthUserAddRequest{Password: "x"}))
	})
	add("auth enable without the root role", func(ctx context.Context, e *env) any { return answer(au(e).AuthEnable(ctx, &pb.AuthEnableRequest{})) })
	add("user grant root the root role", func(ctx context.Context, e *env) any {
		return answer(au(e).UserGrantRole(ctx, &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}))
	})
	add("user grant an unknown role", func(ctx context.Context, e *env) any {
		return answer(au(e).UserGrantRole(ctx, &pb.AuthUserGrantRoleRequest{User: "root", Role: "nope"}))
	})
	add("role add ro", func(ctx context.Context, e *env) any {
		return answer(au(e).RoleAdd(ctx, &pb.AuthRoleAddRequest{Name: "ro"}))
	})
	add("role add ro again", func(ctx context.Context, e *env) any {
		return answer(au(e).RoleAdd(ctx, &pb.AuthRoleAddRequest{Name: "ro"}))
	})
	add("role add with no name", func(ctx context.Context, e *env) any { return answer(au(e).RoleAdd(ctx, &pb.AuthRoleAddRequest{})) })
	add("role grant read on /a/", func(ctx context.Context, e *env) any {
		return answer(au(e).RoleGrantPermission(ctx, &pb.AuthRoleGrantPermissionRequest{Name: "ro", Perm: ro}))
	})
	add("role grant a backwards range", func(ctx context.Context, e *env) any {
		return answer(au(e).RoleGrantPermission(ctx, &pb.AuthRoleGrantPermissionRequest{Name: "ro",
			Perm: &authpb.Permission{PermType: authpb.READ, Key: []byte("/z"), RangeEnd: []byte("/a")}}))
	})
	add("role grant with no permission", func(ctx context.Context, e *env) any {
		return answer(au(e).RoleGrantPermission(ctx, &pb.AuthRoleGrantPermissionRequest{Name: "ro"}))
	})
	add("role revoke a permission not granted", func(ctx context.Context, e *env) any {
		return answer(au(e).RoleRevokePermission(ctx, &pb.AuthRoleRevokePermissionRequest{Role: "ro", Key: []byte("/zz")}))
	})
	add("user add alice", func(ctx context.Context, e *env) any {
		return answer(au(e).UserAdd(ctx, &pb.AuthUserAddRequest{Name: "alice", Password: "alicepw"}))
	})
	add("user grant alice ro", func(ctx context.Context, e *env) any {
		return answer(au(e).UserGrantRole(ctx, &pb.AuthUserGrantRoleRequest{User: "alice", Role: "ro"}))
	})
	add("user revoke a role not granted", func(ctx context.Context, e *env) any {
		return answer(au(e).UserRevokeRole(ctx, &pb.AuthUserRevokeRoleRequest{Name: "alice", Role: "root"}))
	})
	add("role get ro", func(ctx context.Context, e *env) any {
		return answer(au(e).RoleGet(ctx, &pb.AuthRoleGetRequest{Role: "ro"}))
	})
	add("role get root", func(ctx context.Context, e *env) any {
		return answer(au(e).RoleGet(ctx, &pb.AuthRoleGetRequest{Role: "root"}))
	})
	add("user get alice", func(ctx context.Context, e *env) any {
		return answer(au(e).UserGet(ctx, &pb.AuthUserGetRequest{Name: "alice"}))
	})
	add("user list", func(ctx context.Context, e *env) any { return answer(au(e).UserList(ctx, &pb.AuthUserListRequest{})) })
	add("role list", func(ctx context.Context, e *env) any { return answer(au(e).RoleList(ctx, &pb.AuthRoleListRequest{})) })
	add("put /a/x before auth", put("/a/x", "1"))
	add("put /b/y before auth", put("/b/y", "1"))
	add("auth enable", func(ctx context.Context, e *env) any { return answer(au(e).AuthEnable(ctx, &pb.AuthEnableRequest{})) })

	add("authenticate with a wrong password", login("alice", "wrong"))
	add("authenticate an unknown user", login("mallory", "x"))
	add("authenticate alice", login("alice", "alicepw"))
	add("authenticate root", login("root", "rootpw"))
	call := func(user string, f func(context.Context, *env) any) func(context.Context, *env) any {
		return func(ctx context.Context, e *env) any { return f(as(user, ctx, e), e) }
	}
	for _, user := range []string{"", "bad", "alice", "root"} {
		who := map[string]string{"": "without a token", "bad": "with a bad token", "alice": "as alice", "root": "as root"}[user]
		add("get /a/x "+who, call(user, rng("/a/x", "")))
		add("get /a/ prefix "+who, call(user, rng("/a/", "/a0")))
		add("get /b/y "+who, call(user, rng("/b/y", "")))
		add("serializable get /a/x "+who, call(user, rng("/a/x", "", func(r *pb.RangeRequest) { r.Serializable = true })))
		add("put /a/x "+who, call(user, put("/a/x", "2")))
		add("txn comparing /b/y "+who, call(user, txn(&pb.TxnRequest{Compare: []*pb.Compare{cmpValue("/b/y", pb.Compare_EQUAL, "1")}})))
		add("user list "+who, call(user, func(ctx context.Context, e *env) any { return answer(au(e).UserList(ctx, &pb.AuthUserListRequest{})) }))
		add("user get alice "+who, call(user, func(ctx context.Context, e *env) any {
			return answer(au(e).UserGet(ctx, &pb.AuthUserGetRequest{Name: "alice"}))
		}))
		add("role get ro "+who, call(user, func(ctx context.Context, e *env) any {
			return answer(au(e).RoleGet(ctx, &pb.AuthRoleGetRequest{Role: "ro"}))
		}))
		add("status "+who, call(user, func(ctx context.Context, e *env) any {
			r, err := e.mt.Status(ctx, &pb.StatusRequest{})
			if err != nil {
				return err
			}
			return fmt.Sprintf("leader known=%v", r.Leader != 0)
		}))
		add("hashkv "+who, call(user, func(ctx context.Context, e *env) any {
			r, err := e.mt.HashKV(ctx, &pb.HashKVRequest{})
			if err != nil {
				return err
			}
			return fmt.Sprintf("revision=%d", r.Header.Revision)
		}))
		add("member list "+who, call(user, func(ctx context.Context, e *env) any {
			r, err := e.clu.MemberList(ctx, &pb.MemberListRequest{})
			if err != nil {
				return err
			}
			return fmt.Sprintf("members=%d", len(r.Members))
		}))
	}
	add("user revoke root from root", call("root", func(ctx context.Context, e *env) any {
		return answer(au(e).UserRevokeRole(ctx, &pb.AuthUserRevokeRoleRequest{Name: "root", Role: "root"}))
	}))
	add("user delete root", call("root", func(ctx context.Context, e *env) any {
		return answer(au(e).UserDelete(ctx, &pb.AuthUserDeleteRequest{Name: "root"}))
	}))
	add("role delete root", call("root", func(ctx context.Context, e *env) any {
		return answer(au(e).RoleDelete(ctx, &pb.AuthRoleDeleteRequest{Role: "root"}))
	}))
	add("change alice's password", call("root", func(ctx context.Context, e *env) any {
		return answer(au(e).UserChangePassword(ctx, &pb.AuthUserChangePasswordRequest{Name: "alice", Password: "newpw"}))
	}))
	add("get /a/x with alice's old token", call("alice", rng("/a/x", "")))
	add("authenticate alice with the old password", login("alice", "alicepw"))
	add("authenticate alice with the new password", login("alice", "newpw"))
	add("get /a/x with alice's new token", call("alice", rng("/a/x", "")))
	add("auth disable as alice", call("alice", func(ctx context.Context, e *env) any {
		return answer(au(e).AuthDisable(ctx, &pb.AuthDisableRequest{}))
	}))
	add("auth disable as root", call("root", func(ctx context.Context, e *env) any {
		return answer(au(e).AuthDisable(ctx, &pb.AuthDisableRequest{}))
	}))
	add("auth status after disable", func(ctx context.Context, e *env) any { return answer(au(e).AuthStatus(ctx, &pb.AuthStatusRequest{})) })
	add("put /b/y after disable", put("/b/y", "3"))
	return s
}
