package workloads

import (
	"bytes"
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

// The boundary prober: a user holding one role only, which the admin keeps
// at (believed) one permission at a time, moving it over every target. Its
// session probes that permission's edges: the range_end key itself, the
// last key inside, ranges ending just past, exactly at and just inside
// range_end. The churned users hold several overlapping permissions, so
// an edge probe of theirs would often be decided by another permission;
// the prober's answers are decided by the one. Boundaries are where real
// auth bugs live (an inclusive range_end, an off-by-one in a merge).
const (
	authEdgeUser = "dave"
	authEdgeRole = "edge"
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
// each churned prefix, then each key of each, then the span [k0, k1) of
// each: a range_end that is itself a key the sessions read and write.
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
	for _, p := range authPrefixes {
		ts = append(ts, authTarget{key: []byte(authKey(p, 0)), end: []byte(authKey(p, 1))})
	}
	return ts
}

// bounds are the edges of t's range [start, end) as etcd reads it (a
// single key k is [k, k+"\x00")): end, the first key outside; last, a key
// inside as close to end as a key can be (the key itself for a single
// key; for other ends, end's last byte lowered with "\xff" after it, as
// "/p/\xff" for [/p/, /p0)); past, the key just after end.
func (t authTarget) bounds() (last, end, past []byte) {
	end = t.end
	if len(end) == 0 {
		end = append(bytes.Clone(t.key), 0)
	}
	past = append(bytes.Clone(end), 0)
	n := len(end) - 1
	if end[n] == 0 {
		last = bytes.Clone(end[:n]) // k is the key right before k+"\x00"
	} else {
		last = append(bytes.Clone(end[:n]), end[n]-1, 0xff)
	}
	if bytes.Compare(last, t.key) < 0 {
		last = bytes.Clone(t.key)
	}
	return last, end, past
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
	pace      *pacer
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
	// edgeTarget is the target the admin believes the edge role holds its
	// one permission on, -1 for none.
	edgeTarget int
	valueSeq   int

	// Counts for tests and reports.
	allowed, refused, invalidTokens, oldRevisions, authenticated int
	// probes counts the boundary prober's requests that got an answer
	// judged by the checker.
	probes int
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
	a.edgeTarget = -1
	a.admin = env.Cluster.NewSession(driver.SessionOptions{})
	a.setup(a.setupSteps(), 0, func() {
		a.setupDone = true
		a.adminLoop()
		n := max(env.Clients, 1)
		a.pace = newPacer(env, n+1, authUserPauseMax)
		for i := range n {
			s := &authSession{idx: i, cl: env.Cluster.NewSession(driver.SessionOptions{}), user: authUsers[i%len(authUsers)]}
			a.after(time.Duration(i)*50*time.Millisecond, func() { a.userLoop(s) })
		}
		// The boundary prober is a session of its own, on top of the
		// clients (it shares the ops budget: about a fifth of the requests
		// with four clients), so every run probes boundaries whatever
		// the client count.
		s := &authSession{idx: n, cl: env.Cluster.NewSession(driver.SessionOptions{}), user: authEdgeUser, probe: true}
		a.after(time.Duration(n)*50*time.Millisecond, func() { a.userLoop(s) })
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
	for _, u := range append(slices.Clone(authUsers), authEdgeUser) {
		add(&pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: u, Password: authPassword(u)}}, rpctypes.ErrGRPCUserAlreadyExist)
	}
	for _, r := range append(slices.Clone(authRoles), authEdgeRole) {
		add(&pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: r}}, rpctypes.ErrGRPCRoleAlreadyExist)
	}
	// Initial permissions: targets are the prefixes p0..p3 here.
	perm := func(role, target int, typ authpb.Permission_Type) {
		req, change := a.permChange(authRoles[role], target, typ)
		steps = append(steps, authStep{req: req, change: &change})
	}
	perm(0, 0, authpb.READWRITE)
	perm(0, 1, authpb.READ)
	perm(1, 2, authpb.READ)
	perm(1, 1, authpb.WRITE)
	perm(2, 3, authpb.READWRITE)
	role := func(user, role int) {
		req, change := a.grantRole(authUsers[user], authRoles[role], true)
		steps = append(steps, authStep{req: req, change: &change})
	}
	role(0, 0)
	role(1, 1)
	role(2, 2)
	role(2, 1)
	// The prober starts on prefix p1's edges; the admin moves it on.
	edgePerm, edgeChange := a.permChange(authEdgeRole, 1, authpb.READWRITE)
	steps = append(steps, authStep{req: edgePerm, change: &edgeChange})
	edgeRole, edgeRoleChange := a.grantRole(authEdgeUser, authEdgeRole, true)
	steps = append(steps, authStep{req: edgeRole, change: &edgeRoleChange})
	return steps
}

// authNone is a permission type meaning no permission (etcd's READ is 0).
const authNone authpb.Permission_Type = -1

// permChange is a request granting typ (or revoking, typ authNone) on
// target to role, and its change as the checker sees it.
func (a *Auth) permChange(role string, target int, typ authpb.Permission_Type) (*pb.InternalRaftRequest, linearizability.AuthChange) {
	t := a.targets[target]
	if typ == authNone {
		return &pb.InternalRaftRequest{AuthRoleRevokePermission: &pb.AuthRoleRevokePermissionRequest{Role: role, Key: t.key, RangeEnd: t.end}},
			linearizability.AuthChange{Kind: linearizability.RevokePermission, Role: role, Key: t.key, RangeEnd: t.end}
	}
	return &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: role, Perm: &authpb.Permission{PermType: typ, Key: t.key, RangeEnd: t.end}}},
		linearizability.AuthChange{Kind: linearizability.GrantPermission, Role: role, Key: t.key, RangeEnd: t.end, Type: typ}
}

// grantRole is a request granting (or revoking) role r to user u.
func (a *Auth) grantRole(u, r string, grant bool) (*pb.InternalRaftRequest, linearizability.AuthChange) {
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
	t := slices.IndexFunc(a.targets, func(t authTarget) bool {
		return string(t.key) == string(change.Key) && string(t.end) == string(change.RangeEnd)
	})
	if change.Role == authEdgeRole {
		// The edge user's role is granted once; only its permission moves.
		switch change.Kind {
		case linearizability.GrantPermission:
			a.edgeTarget = t
		case linearizability.RevokePermission:
			a.edgeTarget = -1
		}
		return
	}
	role := slices.Index(authRoles, change.Role)
	switch change.Kind {
	case linearizability.GrantPermission, linearizability.RevokePermission:
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
	if a.edgeTarget < 0 || rnd.IntN(8) == 0 {
		// The edge role gets a permission back at once: the prober's
		// probes judge boundaries only while it holds one.
		return a.pickEdgeChange()
	}
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
			return a.permChange(authRoles[role], t, authNone)
		}
		t := rnd.IntN(len(authPrefixes)) // a prefix
		if rnd.IntN(10) < 3 {
			t = len(authPrefixes) + rnd.IntN(len(a.targets)-len(authPrefixes)) // a key or a span
		}
		return a.permChange(authRoles[role], t, authTypes[rnd.IntN(len(authTypes))])
	}
	user, role := rnd.IntN(len(authUsers)), rnd.IntN(len(authRoles))
	return a.grantRole(authUsers[user], authRoles[role], !a.believedHeld[user][role])
}

// pickEdgeChange draws a change to the edge role's one permission: with
// none, a grant on any target; else a regrant of another type (etcd
// replaces it: still one permission) or a revoke. Moving it by revoke then
// grant, never grant then revoke, keeps the role at one permission.
func (a *Auth) pickEdgeChange() (*pb.InternalRaftRequest, linearizability.AuthChange) {
	rnd := a.env.Rand
	t := a.edgeTarget
	if t >= 0 && rnd.IntN(2) == 0 {
		return a.permChange(authEdgeRole, t, authNone)
	}
	if t < 0 {
		t = rnd.IntN(len(a.targets))
	}
	return a.permChange(authEdgeRole, t, authTypes[rnd.IntN(len(authTypes))])
}

// authSession is one user's client session.
// A user session's own pause between operations.
const (
	authUserPauseMin = 40 * time.Millisecond
	authUserPauseMax = 250 * time.Millisecond
)

type authSession struct {
	// idx numbers the session among the user sessions (the prober last).
	idx    int
	cl     driver.Session
	user   string
	authed bool
	// probe: the boundary prober's session, which draws edge probes.
	probe bool
}

// userLoop makes one KV request after another as the session's user,
// authenticating first and again whenever the token is refused.
func (a *Auth) userLoop(s *authSession) {
	if !a.running() {
		return
	}
	next := func() {
		a.after(a.pace.pause(s.idx, a.ops, a.between(authUserPauseMin, authUserPauseMax)), func() { a.userLoop(s) })
	}
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
	var req *pb.InternalRaftRequest
	if s.probe {
		req = a.pickProbe()
	} else {
		req = a.pickRequest(s.user)
	}
	a.ops++
	s.cl.Do(req, func(call driver.Call) {
		switch {
		case call.TimedOut:
		case call.Err == nil && call.Response != nil:
			a.allowed++
			a.probes += btoi(s.probe)
			a.hist.Requests = append(a.hist.Requests, linearizability.AuthRequest{User: s.user, Request: req, Invoke: call.Invoke, Return: call.Return, Allowed: true, Probe: s.probe})
		case call.Err == rpctypes.ErrGRPCPermissionDenied:
			a.refused++
			a.probes += btoi(s.probe)
			a.hist.Requests = append(a.hist.Requests, linearizability.AuthRequest{User: s.user, Request: req, Invoke: call.Invoke, Return: call.Return, Probe: s.probe})
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

// pickProbe draws the boundary prober's request on the edges of the
// permission the edge role is believed to hold (now and then of another
// target, which it should not hold: edges of a permission it lacks must be
// refused too): single-key reads and puts of range_end itself (outside)
// and of the last key inside, and reads and deletes of [from, e) with from
// the range's start or its last key and e just past range_end (one key
// outside), exactly range_end (all inside) or just inside it.
func (a *Auth) pickProbe() *pb.InternalRaftRequest {
	rnd := a.env.Rand
	t := a.edgeTarget
	if t < 0 || rnd.IntN(10) == 0 {
		t = rnd.IntN(len(a.targets))
	}
	last, end, past := a.targets[t].bounds()
	a.valueSeq++
	value := fmt.Appendf(nil, "%s-%d", authEdgeUser, a.valueSeq)
	key := end // range_end: the first key outside
	if rnd.IntN(2) == 0 {
		key = last
	}
	from := a.targets[t].key
	if rnd.IntN(3) == 0 {
		from = last
	}
	to := [][]byte{past, end, last}[rnd.IntN(3)]
	if bytes.Compare(from, to) >= 0 {
		// [last, last) is empty (etcd answers it without a check): ask
		// for [from, range_end) instead.
		to = end
	}
	switch rnd.IntN(10) {
	case 0, 1, 2:
		return &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: key}}
	case 3, 4, 5:
		return &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: key, Value: value, PrevKv: rnd.IntN(5) == 0}}
	case 6, 7, 8:
		return &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: from, RangeEnd: to}}
	default:
		return &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: from, RangeEnd: to, PrevKv: rnd.IntN(3) == 0}}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
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
