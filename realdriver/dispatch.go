package realdriver

import (
	"context"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// message returns resp as a proto.Message, or nil with any error: a typed
// nil in the interface would let a workload's type assertion succeed on
// nothing.
func message[T proto.Message](resp T, err error) (proto.Message, error) {
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// outgoingRequest is the copy of req a call sends: the exchange runs in a
// goroutine while the caller keeps its request. With serializable, a
// Range goes as a serializable read. A request with no operation set, or
// more than one, is a workload's bug.
func outgoingRequest(req *pb.InternalRaftRequest, serializable bool) *pb.InternalRaftRequest {
	r := proto.Clone(req).(*pb.InternalRaftRequest)
	if n := setFields(r); n != 1 {
		panic(fmt.Sprintf("realdriver: Do takes a request with exactly one operation set, got %d: %s", n, prototext.Format(req)))
	}
	if serializable && r.Range != nil {
		r.Range.Serializable = true
	}
	return r
}

// requestRPC is the gRPC call for r's set field; one this driver has no
// call for is a workload's bug.
func requestRPC(r *pb.InternalRaftRequest) rpc {
	switch {
	case r.Range != nil:
		return kv(func(ctx context.Context, c pb.KVClient) (proto.Message, error) {
			return message(c.Range(ctx, r.Range, callOptions...))
		})
	case r.Put != nil:
		return kv(func(ctx context.Context, c pb.KVClient) (proto.Message, error) {
			return message(c.Put(ctx, r.Put, callOptions...))
		})
	case r.DeleteRange != nil:
		return kv(func(ctx context.Context, c pb.KVClient) (proto.Message, error) {
			return message(c.DeleteRange(ctx, r.DeleteRange, callOptions...))
		})
	case r.Txn != nil:
		return kv(func(ctx context.Context, c pb.KVClient) (proto.Message, error) {
			return message(c.Txn(ctx, r.Txn, callOptions...))
		})
	case r.Compaction != nil:
		return kv(func(ctx context.Context, c pb.KVClient) (proto.Message, error) {
			return message(c.Compact(ctx, r.Compaction, callOptions...))
		})
	case r.LeaseGrant != nil:
		return lease(func(ctx context.Context, c pb.LeaseClient) (proto.Message, error) {
			return message(c.LeaseGrant(ctx, r.LeaseGrant, callOptions...))
		})
	case r.LeaseRevoke != nil:
		return lease(func(ctx context.Context, c pb.LeaseClient) (proto.Message, error) {
			return message(c.LeaseRevoke(ctx, r.LeaseRevoke, callOptions...))
		})
	}
	return authRPC(r)
}

// authRPC is the Auth service call for r's set field.
func authRPC(r *pb.InternalRaftRequest) rpc {
	switch {
	case r.Authenticate != nil:
		a := &pb.AuthenticateRequest{Name: r.Authenticate.Name, Password: r.Authenticate.Password}
		return auth(func(ctx context.Context, c pb.AuthClient) (proto.Message, error) {
			return message(c.Authenticate(ctx, a, callOptions...))
		})
	case r.AuthEnable != nil:
		return auth(func(ctx context.Context, c pb.AuthClient) (proto.Message, error) {
			return message(c.AuthEnable(ctx, r.AuthEnable, callOptions...))
		})
	case r.AuthDisable != nil:
		return auth(func(ctx context.Context, c pb.AuthClient) (proto.Message, error) {
			return message(c.AuthDisable(ctx, r.AuthDisable, callOptions...))
		})
	case r.AuthUserAdd != nil:
		return auth(func(ctx context.Context, c pb.AuthClient) (proto.Message, error) {
			return message(c.UserAdd(ctx, r.AuthUserAdd, callOptions...))
		})
	case r.AuthUserDelete != nil:
		return auth(func(ctx context.Context, c pb.AuthClient) (proto.Message, error) {
			return message(c.UserDelete(ctx, r.AuthUserDelete, callOptions...))
		})
	case r.AuthUserChangePassword != nil:
		return auth(func(ctx context.Context, c pb.AuthClient) (proto.Message, error) {
			return message(c.UserChangePassword(ctx, r.AuthUserChangePassword, callOptions...))
		})
	case r.AuthUserGrantRole != nil:
		return auth(func(ctx context.Context, c pb.AuthClient) (proto.Message, error) {
			return message(c.UserGrantRole(ctx, r.AuthUserGrantRole, callOptions...))
		})
	case r.AuthUserRevokeRole != nil:
		return auth(func(ctx context.Context, c pb.AuthClient) (proto.Message, error) {
			return message(c.UserRevokeRole(ctx, r.AuthUserRevokeRole, callOptions...))
		})
	case r.AuthRoleAdd != nil:
		return auth(func(ctx context.Context, c pb.AuthClient) (proto.Message, error) {
			return message(c.RoleAdd(ctx, r.AuthRoleAdd, callOptions...))
		})
	case r.AuthRoleDelete != nil:
		return auth(func(ctx context.Context, c pb.AuthClient) (proto.Message, error) {
			return message(c.RoleDelete(ctx, r.AuthRoleDelete, callOptions...))
		})
	case r.AuthRoleGrantPermission != nil:
		return auth(func(ctx context.Context, c pb.AuthClient) (proto.Message, error) {
			return message(c.RoleGrantPermission(ctx, r.AuthRoleGrantPermission, callOptions...))
		})
	case r.AuthRoleRevokePermission != nil:
		return auth(func(ctx context.Context, c pb.AuthClient) (proto.Message, error) {
			return message(c.RoleRevokePermission(ctx, r.AuthRoleRevokePermission, callOptions...))
		})
	}
	panic(fmt.Sprintf("realdriver: Do cannot send %s: no gRPC call for that operation here", prototext.Format(r)))
}

// setFields counts r's operation fields that are set (Header and ID are
// not operations).
func setFields(r *pb.InternalRaftRequest) int {
	n := 0
	r.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if fd.Message() != nil && fd.Name() != "header" {
			n++
		}
		return true
	})
	return n
}

func kv(f func(context.Context, pb.KVClient) (proto.Message, error)) rpc {
	return func(ctx context.Context, conn *grpc.ClientConn) (proto.Message, error) {
		return f(ctx, pb.NewKVClient(conn))
	}
}

func lease(f func(context.Context, pb.LeaseClient) (proto.Message, error)) rpc {
	return func(ctx context.Context, conn *grpc.ClientConn) (proto.Message, error) {
		return f(ctx, pb.NewLeaseClient(conn))
	}
}

func auth(f func(context.Context, pb.AuthClient) (proto.Message, error)) rpc {
	return func(ctx context.Context, conn *grpc.ClientConn) (proto.Message, error) {
		return f(ctx, pb.NewAuthClient(conn))
	}
}
