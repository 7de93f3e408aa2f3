package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/auth"
)

// authServer is etcd's Auth service. Every request goes through raft
// (the auth state is replicated, core/auth) with the caller named by its
// token; passwords are hashed, or checked, here, outside the member loop,
// and never reach the log.
type authServer struct {
	pb.UnimplementedAuthServer
	s *Server
}

// Limits on Authenticate: a password guesser is slowed, not served at
// bcrypt's full speed on every core.
const (
	// authenticateConcurrentMax bounds password checks running at once.
	authenticateConcurrentMax = 4
	// authenticateFailureDelay is added to every failed check.
	authenticateFailureDelay = 200 * time.Millisecond
	// authNameBytesMax bounds user and role names.
	authNameBytesMax = 256
	// authPasswordBytesMax is what bcrypt reads of a password.
	authPasswordBytesMax = 72
)

// caller is who a call says it is: the token it sent in its metadata, as
// clientv3 sends it ("token"; "authorization" from etcd's JSON gateway,
// which forwards the HTTP Authorization header), and the common name of
// its verified client certificate, if any.
type caller struct{ token, certUser string }

func callerFrom(ctx context.Context) caller {
	var c caller
	// One key at a time: FromIncomingContext copies every header of the
	// call, 7 % of the bytes a member allocated under a read load.
	for _, k := range []string{rpctypes.TokenFieldNameGRPC, rpctypes.TokenFieldNameSwagger} {
		if v := metadata.ValueFromIncomingContext(ctx, k); len(v) > 0 {
			// As etcd's AuthInfoFromCtx: "Bearer TOKEN" (what the
			// gateway's websocket proxy makes of its subprotocol
			// header) names TOKEN.
			c.token = strings.TrimPrefix(v[0], "Bearer ")
			break
		}
	}
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 && len(ti.State.VerifiedChains[0]) > 0 {
			c.certUser = ti.State.VerifiedChains[0][0].Subject.CommonName
		}
	}
	return c
}

// isAuthError reports errors that mean "the caller may not", as opposed
// to the request failing.
func isAuthError(err error) bool {
	for _, e := range []error{
		rpctypes.ErrGRPCPermissionDenied, rpctypes.ErrGRPCUserEmpty, rpctypes.ErrGRPCInvalidAuthToken,
		rpctypes.ErrGRPCAuthOldRevision, rpctypes.ErrGRPCUserNotFound,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// authorize names a token's caller, on the member loop: a jwt is verified
// here, a simple token resolved by the node (Node.Authorize).
func (s *Server) authorize(who caller) (*pb.RequestHeader, error) {
	if !s.n.AuthEnabled() {
		return nil, nil
	}
	if who.token == "" && who.certUser != "" {
		// As etcd with --client-cert-auth: a verified client certificate
		// with no token names its user by its common name.
		return &pb.RequestHeader{Username: who.certUser, AuthRevision: s.n.AuthRevision()}, nil
	}
	if s.jwt != nil && who.token != "" {
		return s.jwt.verify(who.token)
	}
	return s.n.Authorize(who.token)
}

// requireAdmin is etcd's check for maintenance and membership calls once
// auth is on: the caller must hold the root role.
func (s *Server) requireAdmin(ctx context.Context) error {
	who := callerFrom(ctx)
	var err error
	if cerr := s.control(ctx, func() {
		var hdr *pb.RequestHeader
		if hdr, err = s.authorize(who); err == nil {
			err = s.n.IsAdmin(hdr)
		}
	}); cerr != nil {
		return cerr
	}
	return err
}

// requireUser is etcd's check for calls any authenticated user may make
// (MemberList, the lease calls) once auth is on.
func (s *Server) requireUser(ctx context.Context) error {
	who := callerFrom(ctx)
	var err error
	if cerr := s.control(ctx, func() { err = s.isUser(who) }); cerr != nil {
		return cerr
	}
	return err
}

// isUser is requireUser's check, on the member loop.
func (s *Server) isUser(who caller) error {
	hdr, err := s.authorize(who)
	if err != nil {
		return err
	}
	return s.n.IsUser(hdr)
}

func (a *authServer) raft(ctx context.Context, r *pb.InternalRaftRequest) (proto.Message, error) {
	if err := auth.HashRequestPasswords(r, a.s.cfg.BcryptCost); err != nil {
		return nil, err
	}
	return a.s.do(ctx, r, true)
}

func (a *authServer) AuthEnable(ctx context.Context, r *pb.AuthEnableRequest) (*pb.AuthEnableResponse, error) {
	return answerAs[*pb.AuthEnableResponse](a.raft(ctx, &pb.InternalRaftRequest{AuthEnable: r}))
}

func (a *authServer) AuthDisable(ctx context.Context, r *pb.AuthDisableRequest) (*pb.AuthDisableResponse, error) {
	return answerAs[*pb.AuthDisableResponse](a.raft(ctx, &pb.InternalRaftRequest{AuthDisable: r}))
}

func (a *authServer) AuthStatus(ctx context.Context, r *pb.AuthStatusRequest) (*pb.AuthStatusResponse, error) {
	return answerAs[*pb.AuthStatusResponse](a.raft(ctx, &pb.InternalRaftRequest{AuthStatus: r}))
}

// checkPassword is Authenticate's password check, for every caller that
// names a user by password (Authenticate, the dashboard's basic
// credentials): ErrGRPCAuthNotEnabled while auth is off,
// ErrGRPCAuthFailed (after a delay) for a wrong name or password. At most
// authenticateConcurrentMax checks run at once.
func (s *Server) checkPassword(ctx context.Context, name, password string) error {
	if len(name) > authNameBytesMax || len(password) > authPasswordBytesMax {
		return rpctypes.ErrGRPCAuthFailed
	}
	select {
	case s.authSem <- struct{}{}:
		defer func() { <-s.authSem }()
	case <-ctx.Done():
		return ctxErr(ctx)
	}
	var hash []byte
	var known, enabled bool
	if err := s.control(ctx, func() {
		enabled = s.n.AuthEnabled()
		hash, known = s.n.PasswordHash(name)
	}); err != nil {
		return err
	}
	if !enabled {
		return rpctypes.ErrGRPCAuthNotEnabled
	}
	if !known || auth.CheckPassword(hash, password) != nil {
		time.Sleep(authenticateFailureDelay)
		return rpctypes.ErrGRPCAuthFailed
	}
	return nil
}

func (a *authServer) Authenticate(ctx context.Context, r *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	if err := a.s.checkPassword(ctx, r.Name, r.Password); err != nil {
		return nil, err
	}
	if a.s.jwt != nil {
		// A jwt names the auth revision it was issued at: read it
		// through raft, so it is at least as new as the password checked.
		st, err := answerAs[*pb.AuthStatusResponse](a.s.do(ctx, &pb.InternalRaftRequest{AuthStatus: &pb.AuthStatusRequest{}}, false))
		if err != nil {
			return nil, err
		}
		if !st.Enabled {
			return nil, rpctypes.ErrGRPCAuthNotEnabled
		}
		token, err := a.s.jwt.sign(r.Name, st.AuthRevision, time.Now())
		if err != nil {
			return nil, err
		}
		return &pb.AuthenticateResponse{Header: st.Header, Token: token}, nil
	}
	prefix := make([]byte, 8)
	if _, err := rand.Read(prefix); err != nil {
		return nil, err
	}
	return answerAs[*pb.AuthenticateResponse](a.s.do(ctx, &pb.InternalRaftRequest{
		Authenticate: &pb.InternalAuthenticateRequest{Name: r.Name, SimpleToken: hex.EncodeToString(prefix)},
	}, true))
}

func (a *authServer) UserAdd(ctx context.Context, r *pb.AuthUserAddRequest) (*pb.AuthUserAddResponse, error) {
	if len(r.Name) > authNameBytesMax || len(r.Password) > authPasswordBytesMax {
		return nil, rpctypes.ErrGRPCInvalidAuthMgmt
	}
	return answerAs[*pb.AuthUserAddResponse](a.raft(ctx, &pb.InternalRaftRequest{AuthUserAdd: r}))
}

func (a *authServer) UserGet(ctx context.Context, r *pb.AuthUserGetRequest) (*pb.AuthUserGetResponse, error) {
	return answerAs[*pb.AuthUserGetResponse](a.raft(ctx, &pb.InternalRaftRequest{AuthUserGet: r}))
}

func (a *authServer) UserList(ctx context.Context, r *pb.AuthUserListRequest) (*pb.AuthUserListResponse, error) {
	return answerAs[*pb.AuthUserListResponse](a.raft(ctx, &pb.InternalRaftRequest{AuthUserList: r}))
}

func (a *authServer) UserDelete(ctx context.Context, r *pb.AuthUserDeleteRequest) (*pb.AuthUserDeleteResponse, error) {
	return answerAs[*pb.AuthUserDeleteResponse](a.raft(ctx, &pb.InternalRaftRequest{AuthUserDelete: r}))
}

func (a *authServer) UserChangePassword(ctx context.Context, r *pb.AuthUserChangePasswordRequest) (*pb.AuthUserChangePasswordResponse, error) {
	if len(r.Password) > authPasswordBytesMax {
		return nil, rpctypes.ErrGRPCInvalidAuthMgmt
	}
	return answerAs[*pb.AuthUserChangePasswordResponse](a.raft(ctx, &pb.InternalRaftRequest{AuthUserChangePassword: r}))
}

func (a *authServer) UserGrantRole(ctx context.Context, r *pb.AuthUserGrantRoleRequest) (*pb.AuthUserGrantRoleResponse, error) {
	return answerAs[*pb.AuthUserGrantRoleResponse](a.raft(ctx, &pb.InternalRaftRequest{AuthUserGrantRole: r}))
}

func (a *authServer) UserRevokeRole(ctx context.Context, r *pb.AuthUserRevokeRoleRequest) (*pb.AuthUserRevokeRoleResponse, error) {
	return answerAs[*pb.AuthUserRevokeRoleResponse](a.raft(ctx, &pb.InternalRaftRequest{AuthUserRevokeRole: r}))
}

func (a *authServer) RoleAdd(ctx context.Context, r *pb.AuthRoleAddRequest) (*pb.AuthRoleAddResponse, error) {
	if len(r.Name) > authNameBytesMax {
		return nil, rpctypes.ErrGRPCInvalidAuthMgmt
	}
	return answerAs[*pb.AuthRoleAddResponse](a.raft(ctx, &pb.InternalRaftRequest{AuthRoleAdd: r}))
}

func (a *authServer) RoleGet(ctx context.Context, r *pb.AuthRoleGetRequest) (*pb.AuthRoleGetResponse, error) {
	return answerAs[*pb.AuthRoleGetResponse](a.raft(ctx, &pb.InternalRaftRequest{AuthRoleGet: r}))
}

func (a *authServer) RoleList(ctx context.Context, r *pb.AuthRoleListRequest) (*pb.AuthRoleListResponse, error) {
	return answerAs[*pb.AuthRoleListResponse](a.raft(ctx, &pb.InternalRaftRequest{AuthRoleList: r}))
}

func (a *authServer) RoleDelete(ctx context.Context, r *pb.AuthRoleDeleteRequest) (*pb.AuthRoleDeleteResponse, error) {
	return answerAs[*pb.AuthRoleDeleteResponse](a.raft(ctx, &pb.InternalRaftRequest{AuthRoleDelete: r}))
}

func (a *authServer) RoleGrantPermission(ctx context.Context, r *pb.AuthRoleGrantPermissionRequest) (*pb.AuthRoleGrantPermissionResponse, error) {
	return answerAs[*pb.AuthRoleGrantPermissionResponse](a.raft(ctx, &pb.InternalRaftRequest{AuthRoleGrantPermission: r}))
}

func (a *authServer) RoleRevokePermission(ctx context.Context, r *pb.AuthRoleRevokePermissionRequest) (*pb.AuthRoleRevokePermissionResponse, error) {
	return answerAs[*pb.AuthRoleRevokePermissionResponse](a.raft(ctx, &pb.InternalRaftRequest{AuthRoleRevokePermission: r}))
}

// answerAs types a node result as the service's response.
func answerAs[T proto.Message](resp proto.Message, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	return resp.(T), nil
}
