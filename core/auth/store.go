package auth

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"golang.org/x/crypto/bcrypt"

	"github.com/kvdlabs/kvd/core/bugs"
)

// The names etcd reserves: the user that may enable auth, and the role
// that may do everything.
const (
	RootUser = "root"
	RootRole = "root"
)

// Store is the replicated auth state: whether auth is enabled, users,
// roles and their permissions, the auth revision (bumped by every change),
// and the simple tokens handed out (not durable: as etcd's, they die with
// the member, and clients authenticate again). Every member applies the
// same requests in log order and holds the same state. Not safe for
// concurrent use: the node's caller owns it.
type Store struct {
	opts     Options
	enabled  bool
	revision uint64
	users    map[string]*authpb.User
	roles    map[string]*authpb.Role
	// perms caches each user's merged permissions, rebuilt on change.
	perms  map[string]*userPerms
	tokens tokens
}

// Options configure a Store; zero fields take the documented defaults.
type Options struct {
	// TokenTTLTicks is how long a simple token lives unused, in the
	// node's ticks; default 3000 (etcd's 300 s at 100 ms ticks).
	TokenTTLTicks uint64
	// TokensMax bounds the simple tokens held; the oldest unused goes
	// first beyond it; default 65536.
	TokensMax int
}

// New returns an empty store with auth disabled.
func New(opts Options) *Store {
	if opts.TokenTTLTicks == 0 {
		opts.TokenTTLTicks = 3000
	}
	if opts.TokensMax == 0 {
		opts.TokensMax = 1 << 16
	}
	// etcd's store starts at auth revision 1: 0 means "no user" in a header.
	s := &Store{opts: opts, revision: 1, users: map[string]*authpb.User{}, roles: map[string]*authpb.Role{}}
	s.tokens = newTokens(opts)
	s.refresh()
	return s
}

// Enabled reports whether auth is on.
func (s *Store) Enabled() bool { return s.enabled }

// Revision is the auth revision: it moves with every change of users,
// roles, permissions or the enabled flag.
func (s *Store) Revision() uint64 { return s.revision }

// IsAdmin is the check for requests only root may make (etcd's
// IsAdminPermitted): nil while auth is off.
func (s *Store) IsAdmin(h *pb.RequestHeader) error {
	if !s.enabled {
		return nil
	}
	if h.GetUsername() == "" {
		return rpctypes.ErrGRPCUserEmpty
	}
	u := s.users[h.GetUsername()]
	if u == nil {
		return rpctypes.ErrGRPCUserNotFound
	}
	if !hasRootRole(u) {
		return rpctypes.ErrGRPCPermissionDenied
	}
	return nil
}

// IsUser is the check for requests any user may make once auth is on
// (etcd's lease calls): the caller must name a user at the current auth
// revision. Nil while auth is off.
func (s *Store) IsUser(h *pb.RequestHeader) error {
	switch {
	case !s.enabled:
		return nil
	case h.GetUsername() == "" || h.GetAuthRevision() == 0:
		return rpctypes.ErrGRPCUserEmpty
	case h.GetAuthRevision() < s.revision:
		return rpctypes.ErrGRPCAuthOldRevision
	case s.users[h.GetUsername()] == nil:
		return rpctypes.ErrGRPCUserNotFound
	}
	return nil
}

// Permitted is etcd's isOpPermitted: may the caller h do write (or read)
// on [key, end)? A nil end names the key alone, "\x00" every key from key
// on. Nil while auth is off.
func (s *Store) Permitted(h *pb.RequestHeader, key, end []byte, write bool) error {
	if !s.enabled {
		return nil
	}
	if h.GetAuthRevision() == 0 {
		return rpctypes.ErrGRPCUserEmpty // no token, or none that resolved
	}
	if h.GetAuthRevision() < s.revision {
		return rpctypes.ErrGRPCAuthOldRevision
	}
	u := s.users[h.GetUsername()]
	if u == nil {
		return rpctypes.ErrGRPCPermissionDenied
	}
	if hasRootRole(u) {
		return nil
	}
	p := s.perms[h.GetUsername()]
	set := p.read
	if write {
		set = p.write
	}
	if set.covers(key, end) {
		return nil
	}
	return rpctypes.ErrGRPCPermissionDenied
}

func hasRootRole(u *authpb.User) bool {
	_, found := slices.BinarySearch(u.Roles, RootRole)
	return found
}

// changed bumps the revision and rebuilds the permission cache.
func (s *Store) changed() {
	s.revision++
	s.refresh()
}

func (s *Store) refresh() {
	s.perms = make(map[string]*userPerms, len(s.users))
	for name, u := range s.users {
		p := &userPerms{}
		for _, rn := range u.Roles {
			r := s.roles[rn]
			if r == nil {
				continue
			}
			for _, perm := range r.KeyPermission {
				iv := permInterval(perm.Key, perm.RangeEnd)
				switch perm.PermType {
				case authpb.READ:
					p.read = append(p.read, iv)
				case authpb.WRITE:
					p.write = append(p.write, iv)
				case authpb.READWRITE:
					p.read = append(p.read, iv)
					p.write = append(p.write, iv)
				default:
					panic(fmt.Sprintf("auth: role %q has a permission of type %v", rn, perm.PermType))
				}
			}
		}
		p.read, p.write = p.read.merged(), p.write.merged()
		s.perms[name] = p
	}
}

// Apply applies one auth request in log order and answers it as etcd's
// auth store does; every member computes the same answer. h is the
// caller (admin requests need root once auth is on); index is the
// request's raft index (it names a simple token, as etcd's does). The
// boolean is false when r is not an auth request.
func (s *Store) Apply(r *pb.InternalRaftRequest, index uint64) (resp any, err error, ok bool) {
	h := r.GetHeader()
	admin := func() error { return s.IsAdmin(h) }
	switch {
	case r.AuthEnable != nil:
		if err := admin(); err != nil {
			return nil, err, true
		}
		return s.enable()
	case r.AuthDisable != nil:
		if err := admin(); err != nil {
			return nil, err, true
		}
		if s.enabled {
			s.enabled = false
			s.tokens.clear()
			s.changed()
		}
		return &pb.AuthDisableResponse{}, nil, true
	case r.AuthStatus != nil:
		return &pb.AuthStatusResponse{Enabled: s.enabled, AuthRevision: s.revision}, nil, true
	case r.Authenticate != nil:
		return s.authenticate(r.Authenticate, index)
	case r.AuthUserAdd != nil:
		if err := admin(); err != nil {
			return nil, err, true
		}
		return s.userAdd(r.AuthUserAdd)
	case r.AuthUserDelete != nil:
		if err := admin(); err != nil {
			return nil, err, true
		}
		return s.userDelete(r.AuthUserDelete)
	case r.AuthUserChangePassword != nil:
		if err := admin(); err != nil {
			return nil, err, true
		}
		return s.userChangePassword(r.AuthUserChangePassword)
	case r.AuthUserGrantRole != nil:
		if err := admin(); err != nil {
			return nil, err, true
		}
		return s.userGrantRole(r.AuthUserGrantRole)
	case r.AuthUserRevokeRole != nil:
		if err := admin(); err != nil {
			return nil, err, true
		}
		return s.userRevokeRole(r.AuthUserRevokeRole)
	case r.AuthUserGet != nil:
		// A user may read itself.
		if err := admin(); err != nil && r.AuthUserGet.Name != h.GetUsername() {
			return nil, err, true
		}
		u := s.users[r.AuthUserGet.Name]
		if u == nil {
			return nil, rpctypes.ErrGRPCUserNotFound, true
		}
		return &pb.AuthUserGetResponse{Roles: slices.Clone(u.Roles)}, nil, true
	case r.AuthUserList != nil:
		if err := admin(); err != nil {
			return nil, err, true
		}
		return &pb.AuthUserListResponse{Users: sortedKeys(s.users)}, nil, true
	case r.AuthRoleAdd != nil:
		if err := admin(); err != nil {
			return nil, err, true
		}
		return s.roleAdd(r.AuthRoleAdd)
	case r.AuthRoleDelete != nil:
		if err := admin(); err != nil {
			return nil, err, true
		}
		return s.roleDelete(r.AuthRoleDelete)
	case r.AuthRoleGet != nil:
		// A user may read the roles it holds.
		if err := admin(); err != nil && !s.hasRole(h.GetUsername(), r.AuthRoleGet.Role) {
			return nil, err, true
		}
		return s.roleGet(r.AuthRoleGet)
	case r.AuthRoleList != nil:
		if err := admin(); err != nil {
			return nil, err, true
		}
		return &pb.AuthRoleListResponse{Roles: sortedKeys(s.roles)}, nil, true
	case r.AuthRoleGrantPermission != nil:
		if err := admin(); err != nil {
			return nil, err, true
		}
		return s.roleGrantPermission(r.AuthRoleGrantPermission)
	case r.AuthRoleRevokePermission != nil:
		if err := admin(); err != nil {
			return nil, err, true
		}
		return s.roleRevokePermission(r.AuthRoleRevokePermission)
	}
	return nil, nil, false
}

func (s *Store) enable() (any, error, bool) {
	if s.enabled {
		return &pb.AuthEnableResponse{}, nil, true
	}
	u := s.users[RootUser]
	if u == nil {
		return nil, rpctypes.ErrGRPCRootUserNotExist, true
	}
	if !hasRootRole(u) {
		return nil, rpctypes.ErrGRPCRootRoleNotExist, true
	}
	// As etcd: enabling does not move the revision (disabling does).
	s.enabled = true
	s.refresh()
	return &pb.AuthEnableResponse{}, nil, true
}

func (s *Store) authenticate(r *pb.InternalAuthenticateRequest, index uint64) (any, error, bool) {
	if !s.enabled {
		return nil, rpctypes.ErrGRPCAuthNotEnabled, true
	}
	u := s.users[r.Name]
	if u == nil || u.GetOptions().GetNoPassword() || r.SimpleToken == "" {
		return nil, rpctypes.ErrGRPCAuthFailed, true
	}
	token := fmt.Sprintf("%s.%d", r.SimpleToken, index)
	s.tokens.assign(token, r.Name)
	return &pb.AuthenticateResponse{Token: token}, nil, true
}

func (s *Store) userAdd(r *pb.AuthUserAddRequest) (any, error, bool) {
	if r.Name == "" {
		return nil, rpctypes.ErrGRPCUserEmpty, true
	}
	if s.users[r.Name] != nil {
		return nil, rpctypes.ErrGRPCUserAlreadyExist, true
	}
	opts := r.Options
	if opts == nil {
		opts = &authpb.UserAddOptions{}
	}
	u := &authpb.User{Name: []byte(r.Name), Options: opts}
	if !opts.NoPassword {
		if r.HashedPassword == "" {
			// Passwords are hashed before they are proposed (HashPassword):
			// the log never holds one in clear.
			return nil, rpctypes.ErrGRPCAuthFailed, true
		}
		u.Password = []byte(r.HashedPassword)
	}
	s.users[r.Name] = u
	s.changed()
	return &pb.AuthUserAddResponse{}, nil, true
}

func (s *Store) userDelete(r *pb.AuthUserDeleteRequest) (any, error, bool) {
	if s.enabled && r.Name == RootUser {
		return nil, rpctypes.ErrGRPCInvalidAuthMgmt, true
	}
	if s.users[r.Name] == nil {
		return nil, rpctypes.ErrGRPCUserNotFound, true
	}
	delete(s.users, r.Name)
	s.tokens.invalidateUser(r.Name)
	s.changed()
	return &pb.AuthUserDeleteResponse{}, nil, true
}

func (s *Store) userChangePassword(r *pb.AuthUserChangePasswordRequest) (any, error, bool) {
	u := s.users[r.Name]
	if u == nil {
		return nil, rpctypes.ErrGRPCUserNotFound, true
	}
	if !u.GetOptions().GetNoPassword() {
		if r.HashedPassword == "" {
			return nil, rpctypes.ErrGRPCAuthFailed, true
		}
		u.Password = []byte(r.HashedPassword)
	}
	s.tokens.invalidateUser(r.Name)
	s.changed()
	return &pb.AuthUserChangePasswordResponse{}, nil, true
}

func (s *Store) userGrantRole(r *pb.AuthUserGrantRoleRequest) (any, error, bool) {
	u := s.users[r.User]
	if u == nil {
		return nil, rpctypes.ErrGRPCUserNotFound, true
	}
	if r.Role != RootRole && s.roles[r.Role] == nil {
		return nil, rpctypes.ErrGRPCRoleNotFound, true
	}
	i, found := slices.BinarySearch(u.Roles, r.Role)
	if found {
		return &pb.AuthUserGrantRoleResponse{}, nil, true
	}
	u.Roles = slices.Insert(u.Roles, i, r.Role)
	s.changed()
	return &pb.AuthUserGrantRoleResponse{}, nil, true
}

func (s *Store) userRevokeRole(r *pb.AuthUserRevokeRoleRequest) (any, error, bool) {
	if s.enabled && r.Name == RootUser && r.Role == RootRole {
		return nil, rpctypes.ErrGRPCInvalidAuthMgmt, true
	}
	u := s.users[r.Name]
	if u == nil {
		return nil, rpctypes.ErrGRPCUserNotFound, true
	}
	i, found := slices.BinarySearch(u.Roles, r.Role)
	if !found {
		return nil, rpctypes.ErrGRPCRoleNotGranted, true
	}
	u.Roles = slices.Delete(u.Roles, i, i+1)
	s.changed()
	return &pb.AuthUserRevokeRoleResponse{}, nil, true
}

func (s *Store) roleAdd(r *pb.AuthRoleAddRequest) (any, error, bool) {
	if r.Name == "" {
		return nil, rpctypes.ErrGRPCRoleEmpty, true
	}
	if s.roles[r.Name] != nil {
		return nil, rpctypes.ErrGRPCRoleAlreadyExist, true
	}
	s.roles[r.Name] = &authpb.Role{Name: []byte(r.Name)}
	s.changed()
	return &pb.AuthRoleAddResponse{}, nil, true
}

func (s *Store) roleDelete(r *pb.AuthRoleDeleteRequest) (any, error, bool) {
	if s.enabled && r.Role == RootRole {
		return nil, rpctypes.ErrGRPCInvalidAuthMgmt, true
	}
	if s.roles[r.Role] == nil {
		return nil, rpctypes.ErrGRPCRoleNotFound, true
	}
	delete(s.roles, r.Role)
	for _, u := range s.users {
		if i, found := slices.BinarySearch(u.Roles, r.Role); found {
			u.Roles = slices.Delete(u.Roles, i, i+1)
		}
	}
	s.changed()
	return &pb.AuthRoleDeleteResponse{}, nil, true
}

// rootPerm is what etcd lists for the root role: everything.
func rootPerm() *authpb.Permission {
	return &authpb.Permission{PermType: authpb.READWRITE, Key: []byte{}, RangeEnd: []byte{0}}
}

func (s *Store) roleGet(r *pb.AuthRoleGetRequest) (any, error, bool) {
	role := s.roles[r.Role]
	if role == nil {
		return nil, rpctypes.ErrGRPCRoleNotFound, true
	}
	resp := &pb.AuthRoleGetResponse{}
	if r.Role == RootRole {
		resp.Perm = []*authpb.Permission{rootPerm()}
		return resp, nil, true
	}
	for _, p := range role.KeyPermission {
		resp.Perm = append(resp.Perm, &authpb.Permission{PermType: p.PermType, Key: bytes.Clone(p.Key), RangeEnd: bytes.Clone(p.RangeEnd)})
	}
	return resp, nil, true
}

func (s *Store) roleGrantPermission(r *pb.AuthRoleGrantPermissionRequest) (any, error, bool) {
	if r.Perm == nil {
		return nil, rpctypes.ErrGRPCPermissionNotGiven, true
	}
	if !validPermissionRange(r.Perm.Key, r.Perm.RangeEnd) {
		return nil, rpctypes.ErrGRPCInvalidAuthMgmt, true
	}
	role := s.roles[r.Name]
	if role == nil {
		return nil, rpctypes.ErrGRPCRoleNotFound, true
	}
	i, found := slices.BinarySearchFunc(role.KeyPermission, r.Perm, comparePerms)
	if found {
		role.KeyPermission[i].PermType = r.Perm.PermType
	} else {
		p := &authpb.Permission{Key: bytes.Clone(r.Perm.Key), RangeEnd: bytes.Clone(r.Perm.RangeEnd), PermType: r.Perm.PermType}
		role.KeyPermission = slices.Insert(role.KeyPermission, i, p)
	}
	s.changed()
	return &pb.AuthRoleGrantPermissionResponse{}, nil, true
}

func (s *Store) roleRevokePermission(r *pb.AuthRoleRevokePermissionRequest) (any, error, bool) {
	role := s.roles[r.Role]
	if role == nil {
		return nil, rpctypes.ErrGRPCRoleNotFound, true
	}
	probe := &authpb.Permission{Key: []byte(r.Key), RangeEnd: []byte(r.RangeEnd)}
	i, found := slices.BinarySearchFunc(role.KeyPermission, probe, comparePerms)
	if !found {
		return nil, rpctypes.ErrGRPCPermissionNotGranted, true
	}
	role.KeyPermission = slices.Delete(role.KeyPermission, i, i+1)
	if bugs.On(bugs.AuthRevisionNotBumped) {
		// planted bug (kvdbugs builds only): forgets changed(): no revision bump, no permission cache rebuild
		return &pb.AuthRoleRevokePermissionResponse{}, nil, true
	}
	s.changed()
	return &pb.AuthRoleRevokePermissionResponse{}, nil, true
}

// comparePerms orders a role's permissions by key, then range end.
func comparePerms(a, b *authpb.Permission) int {
	if c := bytes.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	return bytes.Compare(a.RangeEnd, b.RangeEnd)
}

// validPermissionRange is etcd's: an empty key only with the open end.
func validPermissionRange(key, end []byte) bool {
	if len(key) == 0 {
		return len(end) == 1 && end[0] == 0
	}
	return len(end) == 0 || (len(end) == 1 && end[0] == 0) || bytes.Compare(key, end) < 0
}

func (s *Store) hasRole(user, role string) bool {
	u := s.users[user]
	if u == nil {
		return false
	}
	_, found := slices.BinarySearch(u.Roles, role)
	return found
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// PasswordHash returns a user's stored password hash, for a caller that
// checks a password before proposing Authenticate (CheckPassword); false
// if there is no such user or it has no password.
func (s *Store) PasswordHash(user string) ([]byte, bool) {
	u := s.users[user]
	if u == nil || u.GetOptions().GetNoPassword() || len(u.Password) == 0 {
		return nil, false
	}
	return u.Password, true
}

// HashPassword hashes a password with bcrypt at cost (etcd's
// --bcrypt-cost), as a member does before proposing a user or a new
// password: the log and snapshots hold the hash, never the password.
func HashPassword(password string, cost int) (string, error) {
	if len(password) > 72 {
		// bcrypt reads 72 bytes; refusing more is clearer than ignoring it.
		return "", fmt.Errorf("auth: password of %d bytes exceeds bcrypt's 72", len(password))
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword compares a password with a stored hash: nil when it
// matches, etcd's authentication failure otherwise. It costs what the
// hash's bcrypt cost says: call it outside the member loop.
func CheckPassword(hash []byte, password string) error {
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return rpctypes.ErrGRPCAuthFailed
	}
	return nil
}

// Resolve turns a simple token into the caller's header: its user and the
// store's current revision (a simple token is as new as the store, as
// etcd's). It renews the token's lease on life, as a use does in etcd.
// ErrGRPCInvalidAuthToken when the token is unknown or expired.
func (s *Store) Resolve(token string, nowTick uint64) (*pb.RequestHeader, error) {
	if !s.enabled {
		return nil, nil
	}
	user, ok := s.tokens.use(token, nowTick)
	if !ok {
		return nil, rpctypes.ErrGRPCInvalidAuthToken
	}
	return &pb.RequestHeader{Username: user, AuthRevision: s.revision}, nil
}

// RootHeader names root at the current revision, for what a member does
// on its own (a lease's expiry), as etcd's WithRoot; nil while auth is off.
func (s *Store) RootHeader() *pb.RequestHeader {
	if !s.enabled {
		return nil
	}
	return &pb.RequestHeader{Username: RootUser, AuthRevision: s.revision}
}

// Tick expires simple tokens unused for TokenTTLTicks; tokens handed out
// until the next Tick count their life from nowTick.
func (s *Store) Tick(nowTick uint64) { s.tokens.expire(nowTick) }

// String names the users and roles, for tests and debugging.
func (s *Store) String() string {
	return fmt.Sprintf("auth{enabled=%v revision=%d users=%s roles=%s}", s.enabled, s.revision,
		strings.Join(sortedKeys(s.users), ","), strings.Join(sortedKeys(s.roles), ","))
}

// HashRequestPasswords readies an admin request for the log, as a member
// does before proposing it: a new user's or a changed password is hashed
// at cost and the password itself dropped, so the log and snapshots never
// hold one in clear. It costs what bcrypt at cost costs: call it outside
// the member loop.
func HashRequestPasswords(r *pb.InternalRaftRequest, cost int) error {
	hash := func(pw *string, into *string) error {
		if *pw == "" || *into != "" {
			*pw = ""
			return nil
		}
		h, err := HashPassword(*pw, cost)
		if err != nil {
			return err
		}
		*pw, *into = "", h
		return nil
	}
	switch {
	case r.AuthUserAdd != nil && !r.AuthUserAdd.GetOptions().GetNoPassword():
		return hash(&r.AuthUserAdd.Password, &r.AuthUserAdd.HashedPassword)
	case r.AuthUserChangePassword != nil:
		return hash(&r.AuthUserChangePassword.Password, &r.AuthUserChangePassword.HashedPassword)
	}
	return nil
}
