package linearizability

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// CheckerAuth names the auth checker's verdicts.
const CheckerAuth = "auth"

// AuthHistory is what the auth checker judges: the changes an admin made
// to roles' permissions and to users' roles, and the KV requests users made
// with the answers they got, each with the virtual times of its invoke and
// return. Auth changes and KV requests go through one raft log, so each
// takes effect (or is checked) at one point of the log between its invoke
// and its return: real time orders what returned before another was
// invoked.
type AuthHistory struct {
	// Changes are the admin's permission and role changes, in any order.
	Changes []AuthChange
	// Requests are the users' KV requests that got an answer that speaks
	// to their permissions: allowed (applied or read) or refused with
	// permission denied.
	Requests []AuthRequest
}

// AuthChangeKind is what an admin change does.
type AuthChangeKind int

const (
	// GrantPermission sets a role's permission on [Key, RangeEnd) to Type
	// (etcd replaces the type of a permission granted again).
	GrantPermission AuthChangeKind = iota + 1
	// RevokePermission drops a role's permission on [Key, RangeEnd).
	RevokePermission
	// GrantRole gives User the role Role.
	GrantRole
	// RevokeRole takes the role Role from User.
	RevokeRole
)

// AuthEffect is what is known of a change's effect.
type AuthEffect int

const (
	// Applied: the change answered OK; it took effect once, between its
	// invoke and its return.
	Applied AuthEffect = iota + 1
	// NotApplied: the change was refused (before the log, or by its apply:
	// a revoke of what was not granted); the state is as it was.
	NotApplied
	// MaybeApplied: indeterminate (a timeout, a lost leader): it may take
	// effect at any time after its invoke, even after later changes
	// returned, or never.
	MaybeApplied
)

func (e AuthEffect) String() string {
	switch e {
	case Applied:
		return "ok"
	case NotApplied:
		return "refused"
	case MaybeApplied:
		return "indeterminate"
	}
	return fmt.Sprintf("effect(%d)", int(e))
}

// AuthChange is one admin change and what is known of its effect.
type AuthChange struct {
	Kind AuthChangeKind
	Role string
	// User is the user of a GrantRole or RevokeRole.
	User string
	// Key and RangeEnd name a permission's range as etcd does: RangeEnd
	// empty for the key alone, "\x00" for every key from Key on.
	Key, RangeEnd []byte
	// Type is a GrantPermission's type.
	Type           authpb.Permission_Type
	Invoke, Return time.Time
	Effect         AuthEffect
}

func (c AuthChange) String() string {
	var what string
	switch c.Kind {
	case GrantPermission:
		what = fmt.Sprintf("grant %s on %s to role %s", c.Type, describeRange(c.Key, c.RangeEnd), c.Role)
	case RevokePermission:
		what = fmt.Sprintf("revoke the permission on %s from role %s", describeRange(c.Key, c.RangeEnd), c.Role)
	case GrantRole:
		what = fmt.Sprintf("grant role %s to %s", c.Role, c.User)
	case RevokeRole:
		what = fmt.Sprintf("revoke role %s from %s", c.Role, c.User)
	default:
		what = fmt.Sprintf("change kind %d", int(c.Kind))
	}
	return fmt.Sprintf("%s [%s, %s] %s", what, stamp(c.Invoke), stamp(c.Return), c.Effect)
}

// AuthRequest is one user's KV request and its answer.
type AuthRequest struct {
	User string
	// Request is what was asked (a Range, Put, DeleteRange or Txn).
	Request        *pb.InternalRaftRequest
	Invoke, Return time.Time
	// Allowed: the request was applied (or read); else it was refused
	// with permission denied.
	Allowed bool
	// Probe marks a boundary probe (a request on the edges of a
	// permission's range): judged as any other, counted apart so a report
	// shows that boundaries were judged and not only asked.
	Probe bool
}

// AuthNeed is one permission a request needs: read or write on a range
// (RangeEnd as in AuthChange).
type AuthNeed struct {
	Key, RangeEnd []byte
	Write         bool
}

// AuthNeeds lists the permissions etcd's auth applier checks for r: read
// on a range's keys, write on a put's key (and read too with prev_kv),
// write on a delete's range (and read with prev_kv), and for a txn read on
// every compare and the needs of every operation of both branches. Leases
// attached to puts are not modelled (a request with one panics).
func AuthNeeds(r *pb.InternalRaftRequest) []AuthNeed {
	var needs []AuthNeed
	read := func(k, e []byte) { needs = append(needs, AuthNeed{Key: k, RangeEnd: e}) }
	write := func(k, e []byte) { needs = append(needs, AuthNeed{Key: k, RangeEnd: e, Write: true}) }
	put := func(p *pb.PutRequest) {
		if p.Lease != 0 {
			panic("linearizability: auth needs of a put with a lease are not modelled")
		}
		write(p.Key, nil)
		if p.PrevKv {
			read(p.Key, nil)
		}
	}
	del := func(d *pb.DeleteRangeRequest) {
		write(d.Key, d.RangeEnd)
		if d.PrevKv {
			read(d.Key, d.RangeEnd)
		}
	}
	var txn func(t *pb.TxnRequest)
	txn = func(t *pb.TxnRequest) {
		for _, c := range t.Compare {
			read(c.Key, c.RangeEnd)
		}
		for _, op := range slices.Concat(t.Success, t.Failure) {
			switch {
			case op.GetRequestRange() != nil:
				read(op.GetRequestRange().Key, op.GetRequestRange().RangeEnd)
			case op.GetRequestPut() != nil:
				put(op.GetRequestPut())
			case op.GetRequestDeleteRange() != nil:
				del(op.GetRequestDeleteRange())
			case op.GetRequestTxn() != nil:
				txn(op.GetRequestTxn())
			}
		}
	}
	switch {
	case r.Range != nil:
		read(r.Range.Key, r.Range.RangeEnd)
	case r.Put != nil:
		put(r.Put)
	case r.DeleteRange != nil:
		del(r.DeleteRange)
	case r.Txn != nil:
		txn(r.Txn)
	default:
		panic(fmt.Sprintf("linearizability: auth needs of a request that is no KV request: %v", r))
	}
	return needs
}

// CheckAuth judges that no request was allowed while a permission it needed
// was definitely absent, and none refused while every permission it needed
// was definitely present. A request is judged against every state the
// auth store may have had at some point of its [invoke, return] window: a
// role's permission on a range (or a user's holding of a role) may have
// any value set by a change invoked before the request returned, unless an
// applied change that returned before the request was invoked definitely
// overwrote it; an indeterminate change's value stays possible forever
// (it may be applied late), a refused change sets nothing. Roles' and
// users' permissions start empty; users never hold the root role. The
// permissions definitely held are those every possible state grants, the
// possible ones those some possible state grants: an allowed request must
// be covered by the possible ones, a refused one must miss some permission
// the definite ones give. Requests on a member that may be stale
// (serializable reads) must not be in the history.
func CheckAuth(h AuthHistory) Verdict {
	start := time.Now()
	v := Verdict{Checker: CheckerAuth, Outcome: OK}
	st := newAuthStates(h.Changes)
	var allowed, refused, undecided, probes int
	reqs := slices.Clone(h.Requests)
	slices.SortStableFunc(reqs, func(a, b AuthRequest) int { return a.Invoke.Compare(b.Invoke) })
	for _, r := range reqs {
		needs := AuthNeeds(r.Request)
		lower, upper := st.perms(r.User, r.Invoke, r.Return)
		switch {
		case r.Allowed:
			if n, ok := uncovered(upper, needs); !ok {
				v.Outcome = Violation
				v.Detail = fmt.Sprintf("%s allowed, but %s %s definitely lacked %s; %s",
					describeAuthRequest(r), r.User, windowOf(r), describeNeed(n), st.explain(r, n))
			} else if _, ok := uncovered(lower, needs); ok {
				allowed++
				probes += btoi(r.Probe)
			} else {
				undecided++
			}
		default:
			if _, ok := uncovered(lower, needs); ok {
				v.Outcome = Violation
				v.Detail = fmt.Sprintf("%s refused with permission denied, but %s %s definitely held every permission it needs (%s); %s",
					describeAuthRequest(r), r.User, windowOf(r), describeNeeds(needs), st.explain(r, needs...))
			} else if _, ok := uncovered(upper, needs); !ok {
				refused++
				probes += btoi(r.Probe)
			} else {
				undecided++
			}
		}
		if v.Outcome != OK {
			break
		}
	}
	v.Operations = allowed + refused
	if v.Outcome == OK {
		v.Detail = fmt.Sprintf("%d requests judged (%d allowed, %d refused; %d of them boundary probes), %d undecided by concurrent or indeterminate changes; %d changes", allowed+refused, allowed, refused, probes, undecided, len(h.Changes))
	}
	v.CheckDuration = time.Since(start)
	return v
}

// authVar is one piece of auth state: a role's permission on a range
// (value: its type, or none) or a user's holding of a role.
type authVar struct {
	role, user string
	key, end   string
}

// permNone is a permission's value when the role does not have it; a
// held role's value is permHeld, an unheld one's permNone.
const (
	permNone = authpb.Permission_Type(-1)
	permHeld = authpb.READWRITE
)

type authStates struct {
	// changes by variable, and the variables in first-change order (the
	// checker's iteration order: never a map's).
	changes map[authVar][]AuthChange
	order   []authVar
}

func newAuthStates(changes []AuthChange) *authStates {
	s := &authStates{changes: map[authVar][]AuthChange{}}
	for _, c := range changes {
		var v authVar
		switch c.Kind {
		case GrantPermission, RevokePermission:
			v = authVar{role: c.Role, key: string(c.Key), end: string(c.RangeEnd)}
		case GrantRole, RevokeRole:
			v = authVar{role: c.Role, user: c.User}
		default:
			panic(fmt.Sprintf("linearizability: auth change of kind %d", int(c.Kind)))
		}
		if _, seen := s.changes[v]; !seen {
			s.order = append(s.order, v)
		}
		s.changes[v] = append(s.changes[v], c)
	}
	return s
}

func (c AuthChange) value() authpb.Permission_Type {
	switch c.Kind {
	case GrantPermission:
		return c.Type
	case GrantRole:
		return permHeld
	}
	return permNone
}

// possible is the set of values v may have at some point of [from, to].
func (s *authStates) possible(v authVar, from, to time.Time) []authpb.Permission_Type {
	cs := s.changes[v]
	var vals []authpb.Permission_Type
	add := func(x authpb.Permission_Type) {
		if !slices.Contains(vals, x) {
			vals = append(vals, x)
		}
	}
	// overwritten: an applied change d definitely applied after c and
	// before from.
	overwritten := func(c AuthChange) bool {
		return slices.ContainsFunc(cs, func(d AuthChange) bool {
			return d.Effect == Applied && c.Return.Before(d.Invoke) && d.Return.Before(from)
		})
	}
	if !slices.ContainsFunc(cs, func(d AuthChange) bool { return d.Effect == Applied && d.Return.Before(from) }) {
		add(permNone) // the initial state may still hold
	}
	for _, c := range cs {
		if c.Invoke.After(to) {
			continue
		}
		switch c.Effect {
		case MaybeApplied:
			add(c.value())
		case Applied:
			if !overwritten(c) {
				add(c.value())
			}
		}
	}
	return vals
}

// authRange is [start, end); a nil end is the open end.
type authRange struct{ start, end []byte }

func rangeOf(key, end []byte) authRange {
	switch {
	case len(end) == 0:
		return authRange{start: key, end: append(bytes.Clone(key), 0)}
	case len(end) == 1 && end[0] == 0:
		return authRange{start: key}
	default:
		return authRange{start: key, end: end}
	}
}

// userRanges are the ranges a user may read and write.
type userRanges struct{ read, write []authRange }

// perms are the ranges user definitely (lower) and possibly (upper) had
// read and write permission on at some point of [from, to].
func (s *authStates) perms(user string, from, to time.Time) (lower, upper userRanges) {
	for _, hv := range s.order {
		if hv.user != user {
			continue
		}
		held := s.possible(hv, from, to)
		surelyHeld := !slices.Contains(held, permNone)
		maybeHeld := slices.Contains(held, permHeld)
		if !maybeHeld {
			continue
		}
		for _, pv := range s.order {
			if pv.user != "" || pv.role != hv.role {
				continue
			}
			vals := s.possible(pv, from, to)
			r := rangeOf([]byte(pv.key), []byte(pv.end))
			for _, write := range []bool{false, true} {
				grants := func(t authpb.Permission_Type) bool {
					if write {
						return t == authpb.WRITE || t == authpb.READWRITE
					}
					return t == authpb.READ || t == authpb.READWRITE
				}
				into := func(u *userRanges) {
					if write {
						u.write = append(u.write, r)
					} else {
						u.read = append(u.read, r)
					}
				}
				if slices.ContainsFunc(vals, grants) {
					into(&upper)
				}
				if surelyHeld && !slices.ContainsFunc(vals, func(t authpb.Permission_Type) bool { return !grants(t) }) {
					into(&lower)
				}
			}
		}
	}
	return lower, upper
}

// uncovered returns the first need the ranges do not cover, and whether
// all are covered.
func uncovered(u userRanges, needs []AuthNeed) (AuthNeed, bool) {
	for _, n := range needs {
		set := u.read
		if n.Write {
			set = u.write
		}
		if !covers(set, rangeOf(n.Key, n.RangeEnd)) {
			return n, false
		}
	}
	return AuthNeed{}, true
}

// covers reports whether the union of set holds all of want, ranges that
// touch joining as etcd's interval tree joins them. An empty range is
// always covered (etcd answers it without keys).
func covers(set []authRange, want authRange) bool {
	if want.end != nil && bytes.Compare(want.start, want.end) >= 0 {
		return true
	}
	set = slices.Clone(set)
	slices.SortFunc(set, func(a, b authRange) int { return bytes.Compare(a.start, b.start) })
	cur := want.start
	for _, r := range set {
		if bytes.Compare(r.start, cur) > 0 {
			break
		}
		if r.end == nil {
			return true
		}
		if bytes.Compare(r.end, cur) > 0 {
			cur = r.end
			if want.end != nil && bytes.Compare(cur, want.end) >= 0 {
				return true
			}
		}
	}
	return false
}

// explain lists the changes that bear on the needs of r: those to the
// user's roles and to permissions overlapping the needs.
func (s *authStates) explain(r AuthRequest, needs ...AuthNeed) string {
	var lines []string
	for _, v := range s.order {
		relevant := false
		if v.user != "" {
			relevant = v.user == r.User
		} else {
			pr := rangeOf([]byte(v.key), []byte(v.end))
			for _, n := range needs {
				if overlaps(pr, rangeOf(n.Key, n.RangeEnd)) {
					relevant = true
				}
			}
		}
		if !relevant {
			continue
		}
		for _, c := range s.changes[v] {
			if !c.Invoke.After(r.Return) {
				lines = append(lines, c.String())
			}
		}
	}
	if len(lines) == 0 {
		return "no change bears on it"
	}
	const shown = 12
	if len(lines) > shown {
		lines = append([]string{fmt.Sprintf("(%d earlier changes left out)", len(lines)-shown)}, lines[len(lines)-shown:]...)
	}
	return "changes that bear on it: " + strings.Join(lines, "; ")
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func overlaps(a, b authRange) bool {
	return (a.end == nil || bytes.Compare(b.start, a.end) < 0) && (b.end == nil || bytes.Compare(a.start, b.end) < 0)
}

func describeRange(key, end []byte) string {
	switch {
	case len(end) == 0:
		return fmt.Sprintf("key %q", key)
	case len(end) == 1 && end[0] == 0:
		return fmt.Sprintf("keys from %q", key)
	default:
		return fmt.Sprintf("[%q, %q)", key, end)
	}
}

func describeNeed(n AuthNeed) string {
	kind := "read"
	if n.Write {
		kind = "write"
	}
	return kind + " on " + describeRange(n.Key, n.RangeEnd)
}

func describeNeeds(ns []AuthNeed) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = describeNeed(n)
	}
	return strings.Join(parts, ", ")
}

func describeAuthRequest(r AuthRequest) string {
	q := r.Request
	var what string
	switch {
	case q.Range != nil:
		what = "read of " + describeRange(q.Range.Key, q.Range.RangeEnd)
	case q.Put != nil:
		what = "put of " + describeRange(q.Put.Key, nil)
	case q.DeleteRange != nil:
		what = "delete of " + describeRange(q.DeleteRange.Key, q.DeleteRange.RangeEnd)
	case q.Txn != nil:
		what = "txn (" + describeNeeds(AuthNeeds(q)) + ")"
	}
	if r.Probe {
		what += " (a boundary probe)"
	}
	return fmt.Sprintf("%s's %s", r.User, what)
}

func windowOf(r AuthRequest) string {
	return fmt.Sprintf("throughout [%s, %s]", stamp(r.Invoke), stamp(r.Return))
}

// stamp names a virtual time by its offset from the simulator's epoch
// when it has one, else in full.
func stamp(t time.Time) string {
	return t.UTC().Format("15:04:05.000000")
}
