package realdriver

import (
	"context"
	"errors"
	"fmt"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// authenticateMethod is the one call an AdminAuth never adds a token to:
// the call that gets one.
const authenticateMethod = "/etcdserverpb.Auth/Authenticate"

// AdminAuth is the user the harness's own observers (the inspection calls,
// a cluster's status checks) present once a workload has turned auth on:
// etcd then answers Status only to an authenticated caller, and HashKV
// and a range of any key only to root. Until a member asks for a token
// the calls go without one, so the same observer serves a run that never
// enables auth. Safe for concurrent use; one token serves every member.
type AdminAuth struct {
	User, Password string

	mu    sync.Mutex
	token string
}

// DialOption adds a's token to every unary call of a connection, and
// authenticates (once per refused call) when a member refuses the call for
// want of a valid token: none yet, one lost with a restart, or one older
// than the member's auth revision.
func (a *AdminAuth) DialOption() grpc.DialOption {
	return grpc.WithChainUnaryInterceptor(a.intercept)
}

func (a *AdminAuth) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if method == authenticateMethod {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	err := invoker(a.withToken(ctx), method, req, reply, cc, opts...)
	if !refusedForToken(err) {
		return err
	}
	resp, aerr := pb.NewAuthClient(cc).Authenticate(ctx, &pb.AuthenticateRequest{Name: a.User, Password: a.Password})
	if aerr != nil {
		return fmt.Errorf("realdriver: %s refused (%w); authenticating as %q: %w", method, err, a.User, aerr)
	}
	a.mu.Lock()
	a.token = resp.Token
	a.mu.Unlock()
	return invoker(a.withToken(ctx), method, req, reply, cc, opts...)
}

// withToken is ctx carrying a's token as etcd's "token" metadata, when
// there is one.
func (a *AdminAuth) withToken(ctx context.Context) context.Context {
	a.mu.Lock()
	token := a.token
	a.mu.Unlock()
	if token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, rpctypes.TokenFieldNameGRPC, token)
}

// refusedForToken reports the errors a new token cures, as clientv3
// refreshes its own on them.
func refusedForToken(err error) bool {
	if err == nil {
		return false
	}
	e := rpctypes.Error(err)
	return errors.Is(e, rpctypes.ErrUserEmpty) || errors.Is(e, rpctypes.ErrInvalidAuthToken) || errors.Is(e, rpctypes.ErrAuthOldRevision)
}
