package workloads

import (
	"fmt"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/kvdlabs/kvd/linearizability"
	"github.com/kvdlabs/kvd/workloads/driver"
)

// The auth workload's world: users, roles, and the key ranges their
// permissions name. Roles' permissions and users' roles change over the
// run on the churned prefixes; nobody but root is ever granted anything on
// the secret prefix.
var (
	authUsers         = []string{"alice", "bob", "carol"}
	authRoles         = []string{"r0", "r1", "r2"}
	authPrefixes      = []string{"/auth/p0/", "/auth/p1/", "/auth/p2/", "/auth/p3/"}
	authSecretPrefix  = "/auth/secret/"
	authKeysPerPrefix = 2
	authTypes         = []authpb.Permission_Type{authpb.READ, authpb.WRITE, authpb.READWRITE}
)

const (
	// authSetupAttemptsMax bounds the tries of each set-up step (the
	// run's end bounds them too): enough to outlast a long partition.
	authSetupAttemptsMax = 200
	// authRetryDelay is the pause before a set-up step or an
	// authentication is tried again.
	authRetryDelay = 300 * time.Millisecond
)

// authRoot is the user, and the role, that the set-up makes the admin: root
// holds every permission.
const authRoot = "root"

func authPassword(user string) string { return "pw-" + user }

// authKey is key k of prefix p.
func authKey(p string, k int) string { return fmt.Sprintf("%sk%d", p, k) }

// authTarget is a range a permission names: a churned prefix, or one key
// in it.
type authTarget struct{ key, end []byte }

// authTargets are every permission range the admin grants or revokes:
// each churned prefix, then each key of each.
func authTargets() []authTarget {
	var ts []authTarget
	for _, p := range authPrefixes {
		ts = append(ts, authTarget{key: []byte(p), end: prefixEnd([]byte(p))})
	}
	for _, p := range authPrefixes {
		for k := range authKeysPerPrefix {
			ts = append(ts, authTarget{key: []byte(authKey(p, k))})
		}
	}
	return ts
}

// Auth is the "auth" workload (etcd's Auth API: users, roles, permissions
// checked on every KV request). An admin session sets up root, users and
// roles with permissions on key prefixes and enables auth, then keeps
// granting and revoking permissions (READ, WRITE, READWRITE on prefixes
// and single keys) and roles; user sessions, each authenticated as one
// user (again whenever a member does not know the token: tokens are learned
// through the log and die with a restart), make linearizable reads, puts,
// deletes and txns on keys they may or may not access. The checker judges
// by real time that no request was allowed after the change that surely
// removed its permission, and none refused while it was surely granted.
type Auth struct {
	env       Env
	ops       int
	finishing bool
	hist      linearizability.AuthHistory
	admin     driver.Session
	targets   []authTarget
	// setupDone: auth is on and the admin holds root's token.
	setupDone bool
	setupFail string
	// believed is what the admin believes of its own changes (those that
	// answered OK), to pick revokes that revoke something: by role, by
	// target, the permission type (authNone when none); by user, by role,
	// held.
	believed     [][]authpb.Permission_Type
	believedHeld [][]bool
	valueSeq     int

	// Counts for tests and reports.
	allowed, refused, invalidTokens, oldRevisions, authenticated int
}

// NewAuth returns the auth workload.
func NewAuth() *Auth { return &Auth{} }

// Name implements Workload.
func (*Auth) Name() string { return "auth" }

// Credentials implements Admin: the root user its set-up adds.
func (*Auth) Credentials() (user, password string) { return authRoot, authPassword(authRoot) }

// Ops implements Workload.
func (a *Auth) Ops() int { return a.ops }

func (a *Auth) running() bool {
	return !a.finishing && a.ops < a.env.OpsMax && a.env.Cluster.Now().Before(a.env.End)
}

func (a *Auth) after(d time.Duration, fn func()) { a.env.Cluster.After(d, fn) }

// between is a uniform duration in [lo, hi), from the workload's stream.
func (a *Auth) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(a.env.Rand.Int64N(int64(hi-lo)))
}

// Start implements Workload: the admin sets up, then the user sessions
// and the admin's changes start.
func (a *Auth) Start(env Env) {
	a.env = env
	a.targets = authTargets()
	a.believed = make([][]authpb.Permission_Type, len(authRoles))
	for i := range a.believed {
		a.believed[i] = make([]authpb.Permission_Type, len(a.targets))
		for t := range a.believed[i] {
			a.believed[i][t] = authNone
		}
	}
	a.believedHeld = make([][]bool, len(authUsers))
	for i := range a.believedHeld {
		a.believedHeld[i] = make([]bool, len(authRoles))
	}
	a.admin = env.Cluster.NewSession(driver.SessionOptions{})
	a.setup(a.setupSteps(), 0, func() {
		a.setupDone = true
		a.adminLoop()
		for i := range max(env.Clients, 1) {
			s := &authSession{cl: env.Cluster.NewSession(driver.SessionOptions{}), user: authUsers[i%len(authUsers)]}
			a.after(time.Duration(i)*50*time.Millisecond, func() { a.userLoop(s) })
		}
	})
}

// authStep is one set-up request, retried until it is done: answered OK
// or with an error that says its effect is there already.
type authStep struct {
	req *pb.InternalRaftRequest
	// fine are errors that count as done (e.g. the user exists already).
	fine []error
	// change is the step's permission or role change, recorded with each
	// attempt's effect.
	change *linearizability.AuthChange
}

func (a *Auth) setupSteps() []authStep {
	var steps []authStep
	add := func(req *pb.InternalRaftRequest, fine ...error) {
		steps = append(steps, authStep{req: req, fine: fine})
	}
	add(&pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: authRoot, Password: authPassword(authRoot)}}, rpctypes.ErrGRPCUserAlreadyExist)
	add(&pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: authRoot, Role: authRoot}})
	for _, u := range authUsers {
		add(&pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: u, Password: authPassword(u)}}, rpctypes.ErrGRPCUserAlreadyExist)
	}
	for _, r := range authRoles {
		add(&pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: r}}, rpctypes.ErrGRPCRoleAlreadyExist)
	}
	// Initial permissions: targets are the prefixes p0..p3 here.
	perm := func(role, target int, typ authpb.Permission_Type) {
		req, change := a.permChange(role, target, typ)
		steps = append(steps, authStep{req: req, change: &change})
	}
	perm(0, 0, authpb.READWRITE)
	perm(0, 1, authpb.READ)
	perm(1, 2, authpb.READ)
	perm(1, 1, authpb.WRITE)
	perm(2, 3, authpb.READWRITE)
	role := func(user, role int) {
		req, change := a.roleChange(user, role, true)
		steps = append(steps, authStep{req: req, change: &change})
	}
	role(0, 0)
	role(1, 1)
	role(2, 2)
	role(2, 1)
	return steps
}

// authNone is a permission type meaning no permission (etcd's READ is 0).
const authNone authpb.Permission_Type = -1

// permChange is a request granting typ (or revoking, typ authNone) on
// target to role, and its change as the checker sees it.
func (a *Auth) permChange(role, target int, typ authpb.Permission_Type) (*pb.InternalRaftRequest, linearizability.AuthChange) {
	t := a.targets[target]
	if typ == authNone {
		return &pb.InternalRaftRequest{AuthRoleRevokePermission: &pb.AuthRoleRevokePermissionRequest{Role: authRoles[role], Key: t.key, RangeEnd: t.end}},
			linearizability.AuthChange{Kind: linearizability.RevokePermission, Role: authRoles[role], Key: t.key, RangeEnd: t.end}
	}
	return &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: authRoles[role], Perm: &authpb.Permission{PermType: typ, Key: t.key, RangeEnd: t.end}}},
		linearizability.AuthChange{Kind: linearizability.GrantPermission, Role: authRoles[role], Key: t.key, RangeEnd: t.end, Type: typ}
}

// roleChange is a request granting (or revoking) role to user.
func (a *Auth) roleChange(user, role int, grant bool) (*pb.InternalRaftRequest, linearizability.AuthChange) {
	u, r := authUsers[user], authRoles[role]
	if grant {
		return &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: u, Role: r}},
			linearizability.AuthChange{Kind: linearizability.GrantRole, User: u, Role: r}
	}
	return &pb.InternalRaftRequest{AuthUserRevokeRole: &pb.AuthUserRevokeRoleRequest{Name: u, Role: r}},
		linearizability.AuthChange{Kind: linearizability.RevokeRole, User: u, Role: r}
}

// changeEffect is what a call's answer says of its effect: OK took effect;
// an error the member gave before proposing, or one the apply gave, took
// none; anything else (a timeout, a lost leader, a stopped member) may
// have taken effect or may yet.
func changeEffect(call driver.Call) linearizability.AuthEffect {
	switch {
	case call.TimedOut || call.Indeterminate():
		return linearizability.MaybeApplied
	case call.Err == nil:
		return linearizability.Applied
	}
	switch call.Err {
	case rpctypes.ErrGRPCPermissionNotGranted, rpctypes.ErrGRPCRoleNotGranted, rpctypes.ErrGRPCRoleNotFound,
		rpctypes.ErrGRPCUserNotFound, rpctypes.ErrGRPCInvalidAuthToken, rpctypes.ErrGRPCUserEmpty,
		rpctypes.ErrGRPCPermissionDenied, rpctypes.ErrGRPCInvalidAuthMgmt, rpctypes.ErrGRPCAuthFailed,
		rpctypes.ErrGRPCRequestTooManyRequests:
		return linearizability.NotApplied
	}
	return linearizability.MaybeApplied
}

// record adds an attempt of change to the history, with its call's
// times and effect, and updates the admin's beliefs.
func (a *Auth) record(change linearizability.AuthChange, call driver.Call) {
	change.Invoke, change.Return, change.Effect = call.Invoke, call.Return, changeEffect(call)
	a.hist.Changes = append(a.hist.Changes, change)
	if change.Effect != linearizability.Applied {
		return
	}
	role := slices.Index(authRoles, change.Role)
	switch change.Kind {
	case linearizability.GrantPermission, linearizability.RevokePermission:
		t := slices.IndexFunc(a.targets, func(t authTarget) bool {
			return string(t.key) == string(change.Key) && string(t.end) == string(change.RangeEnd)
		})
		a.believed[role][t] = change.Type
		if change.Kind == linearizability.RevokePermission {
			a.believed[role][t] = authNone
		}
	case linearizability.GrantRole, linearizability.RevokeRole:
		a.believedHeld[slices.Index(authUsers, change.User)][role] = change.Kind == linearizability.GrantRole
	}
}

// setup runs steps[i:] one after another, each until it is done, then
// authenticates the admin as root.
func (a *Auth) setup(steps []authStep, attempt int, done func()) {
	if a.finishing || !a.env.Cluster.Now().Before(a.env.End) {
		a.setupFail = "the run ended before the set-up"
		return
	}
	if attempt == authSetupAttemptsMax {
		a.setupFail = fmt.Sprintf("gave up after %d attempts at step %d of the set-up", attempt, len(a.setupSteps())-len(steps))
		return
	}
	retry := func() { a.after(authRetryDelay, func() { a.setup(steps, attempt+1, done) }) }
	if len(steps) == 0 {
		a.enable(attempt, done)
		return
	}
	st := steps[0]
	a.ops++
	a.admin.Do(st.req, func(call driver.Call) {
		if st.change != nil {
			a.record(*st.change, call)
		}
		if !call.TimedOut && (call.Err == nil || slices.Contains(st.fine, call.Err)) {
			a.setup(steps[1:], 0, done)
			return
		}
		retry()
	})
}

// enable turns auth on and authenticates as root: AuthEnable until an
// Authenticate says auth is on.
func (a *Auth) enable(attempt int, done func()) {
	if attempt >= authSetupAttemptsMax || a.finishing || !a.env.Cluster.Now().Before(a.env.End) {
		a.setupFail = "auth was not enabled within the set-up's attempts"
		return
	}
	a.ops++
	a.admin.Do(&pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}}, func(call driver.Call) {
		// An indeterminate enable is settled by the authentication.
		// (ErrGRPCAuthNotEnabled, or a failure to learn nothing from:
		// enable again, which is idempotent).
		a.authenticate(a.admin, authRoot, func(ok bool, _ error) {
			if ok {
				done()
				return
			}
			a.after(authRetryDelay, func() { a.enable(attempt+1, done) })
		})
	})
}

// authenticate gets a token for user on cl and makes cl carry it.
func (a *Auth) authenticate(cl driver.Session, user string, done func(ok bool, err error)) {
	cl.SetToken("") // a stale token would be refused before the request is read
	a.ops++
	cl.Do(&pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: user, Password: authPassword(user)}}, func(call driver.Call) {
		resp, ok := call.Response.(*pb.AuthenticateResponse)
		if call.TimedOut || call.Err != nil || !ok || resp.Token == "" {
			if call.Err == rpctypes.ErrGRPCAuthFailed {
				// This member does not know the user yet (it lags): ask
				// another.
				a.nextMember(cl)
			}
			done(false, call.Err)
			return
		}
		a.authenticated++
		cl.SetToken(resp.Token)
		done(true, nil)
	})
}

// nextMember points cl at the member after its current one.
func (a *Auth) nextMember(cl driver.Session) {
	ids := a.env.Cluster.IDs()
	i := slices.Index(ids, cl.Target())
	cl.SetTarget(ids[(i+1)%len(ids)])
}

// adminLoop makes one change after another while the run lasts.
func (a *Auth) adminLoop() {
	a.after(a.between(150*time.Millisecond, 500*time.Millisecond), func() {
		if !a.running() {
			return
		}
		req, change := a.pickChange()
		a.ops++
		a.admin.Do(req, func(call driver.Call) {
			a.record(change, call)
			if call.Err == rpctypes.ErrGRPCInvalidAuthToken || call.Err == rpctypes.ErrGRPCUserEmpty {
				// The member lost or never learned the token (or an
				// authentication failed): authenticate again before the
				// next change.
				a.invalidTokens++
				a.authenticate(a.admin, authRoot, func(bool, error) { a.adminLoop() })
				return
			}
			a.adminLoop()
		})
	})
}

// pickChange draws the admin's next change: a permission granted or
// revoked on a role, or a role granted to or revoked from a user.
func (a *Auth) pickChange() (*pb.InternalRaftRequest, linearizability.AuthChange) {
	rnd := a.env.Rand
	if rnd.IntN(10) < 6 {
		role := rnd.IntN(len(authRoles))
		var held []int
		for t, typ := range a.believed[role] {
			if typ != authNone {
				held = append(held, t)
			}
		}
		if rnd.IntN(100) < 45 {
			t := rnd.IntN(len(a.targets))
			if len(held) > 0 && rnd.IntN(4) != 0 {
				t = held[rnd.IntN(len(held))]
			}
			return a.permChange(role, t, authNone)
		}
		t := rnd.IntN(len(authPrefixes)) // a prefix
		if rnd.IntN(10) < 3 {
			t = len(authPrefixes) + rnd.IntN(len(a.targets)-len(authPrefixes)) // a key
		}
		return a.permChange(role, t, authTypes[rnd.IntN(len(authTypes))])
	}
	user, role := rnd.IntN(len(authUsers)), rnd.IntN(len(authRoles))
	return a.roleChange(user, role, !a.believedHeld[user][role])
}

// authSession is one user's client session.
type authSession struct {
	cl     driver.Session
	user   string
	authed bool
}

// userLoop makes one KV request after another as the session's user,
// authenticating first and again whenever the token is refused.
func (a *Auth) userLoop(s *authSession) {
	if !a.running() {
		return
	}
	next := func() { a.after(a.between(40*time.Millisecond, 250*time.Millisecond), func() { a.userLoop(s) }) }
	if !s.authed {
		a.authenticate(s.cl, s.user, func(ok bool, _ error) {
			s.authed = ok
			if !ok {
				a.after(authRetryDelay, func() { a.userLoop(s) })
				return
			}
			next()
		})
		return
	}
	req := a.pickRequest(s.user)
	a.ops++
	s.cl.Do(req, func(call driver.Call) {
		switch {
		case call.TimedOut:
		case call.Err == nil && call.Response != nil:
			a.allowed++
			a.hist.Requests = append(a.hist.Requests, linearizability.AuthRequest{User: s.user, Request: req, Invoke: call.Invoke, Return: call.Return, Allowed: true})
		case call.Err == rpctypes.ErrGRPCPermissionDenied:
			a.refused++
			a.hist.Requests = append(a.hist.Requests, linearizability.AuthRequest{User: s.user, Request: req, Invoke: call.Invoke, Return: call.Return})
		case call.Err == rpctypes.ErrGRPCInvalidAuthToken, call.Err == rpctypes.ErrGRPCUserEmpty:
			// Unknown here (not applied yet, or lost in a restart) or
			// expired: authenticate again.
			a.invalidTokens++
			s.authed = false
		case call.Err == rpctypes.ErrGRPCAuthOldRevision:
			a.oldRevisions++ // auth changed between the token's check and the apply
		}
		next()
	})
}

// pickKey draws a key: mostly in a churned prefix, sometimes a secret one.
func (a *Auth) pickKey() []byte {
	rnd := a.env.Rand
	p := authSecretPrefix
	if rnd.IntN(10) != 0 {
		p = authPrefixes[rnd.IntN(len(authPrefixes))]
	}
	return []byte(authKey(p, rnd.IntN(authKeysPerPrefix)))
}

// pickPrefix draws a prefix the same way.
func (a *Auth) pickPrefix() []byte {
	rnd := a.env.Rand
	if rnd.IntN(10) == 0 {
		return []byte(authSecretPrefix)
	}
	return []byte(authPrefixes[rnd.IntN(len(authPrefixes))])
}

// pickRequest draws a user's KV request: linearizable reads of a key or a
// prefix, puts, deletes (with prev_kv, which needs read too), and txns
// comparing one key, putting another and reading a third.
func (a *Auth) pickRequest(user string) *pb.InternalRaftRequest {
	rnd := a.env.Rand
	a.valueSeq++
	value := fmt.Appendf(nil, "%s-%d", user, a.valueSeq)
	switch n := rnd.IntN(100); {
	case n < 35:
		return &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: a.pickKey()}}
	case n < 45:
		p := a.pickPrefix()
		return &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: p, RangeEnd: prefixEnd(p)}}
	case n < 70:
		return &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: a.pickKey(), Value: value, PrevKv: rnd.IntN(5) == 0}}
	case n < 80:
		return &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: a.pickKey(), PrevKv: rnd.IntN(3) == 0}}
	case n < 85:
		p := a.pickPrefix()
		return &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: p, RangeEnd: prefixEnd(p)}}
	default:
		return &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
			Compare: []*pb.Compare{{Key: a.pickKey(), Target: pb.Compare_VERSION, Result: pb.Compare_GREATER, TargetUnion: &pb.Compare_Version{Version: 0}}},
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: a.pickKey(), Value: value}}}},
			Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: a.pickKey()}}}},
		}}
	}
}

// FinishDuration is how much virtual time Finish's operations need: none.
func (a *Auth) FinishDuration() time.Duration { return 0 }

// Finish implements Workload: sessions stop; there is nothing to settle.
func (a *Auth) Finish() { a.finishing = true }

// Check implements Workload.
func (a *Auth) Check(time.Duration) []linearizability.Verdict {
	v := linearizability.CheckAuth(a.hist)
	if !a.setupDone {
		v.Detail = fmt.Sprintf("set-up not done (%s): nothing judged; %s", a.setupFail, v.Detail)
	}
	return []linearizability.Verdict{v}
}
