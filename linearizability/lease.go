package linearizability

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// LeaseHistory is everything the lease checker judges. The workload that
// records it attaches keys to leases and never deletes or re-leases those
// keys itself, so every delete of a leased key is a revoke.
type LeaseHistory struct {
	Grants     []LeaseGrant
	KeepAlives []LeaseKeepAlive
	// Reads are discovery reads (ranges over the leased keys) that
	// succeeded, with the revision in their header.
	Reads []LeaseRead
	// TimeToLives are the TimeToLive answers the workload got: a remaining
	// TTL, or "not found".
	TimeToLives []LeaseTimeToLive
	// Sightings are watch responses received during the run; their arrival
	// time is evidence that their events had been committed by then.
	Sightings []LeaseSighting
	// Members are the members' own histories of the leased keys, read from
	// each member at the end of the run (a watch from revision 1).
	Members []MemberHistory
	// CollectedAt is when the member histories were read.
	CollectedAt time.Time
	// Suspect are windows during which a correct leader may legitimately
	// misjudge lease time (its clock drifted, so its ticks ran fast or
	// slow, or it was paused and may have answered keepalives after being
	// deposed). A step of the wall clock is not one: leases are timed on
	// a monotonic clock, in etcd and kvd alike. Timing judgements
	// touching them are skipped and counted in the Detail.
	Suspect []Window
}

// Window is an interval of virtual time.
type Window struct{ From, To time.Time }

// LeaseGrant is one successful grant.
type LeaseGrant struct {
	Lease int64
	// TTL is the granted TTL (the response's, in whole seconds).
	TTL            time.Duration
	Invoke, Return time.Time
}

// LeaseKeepAlive is one keepalive call and its outcome.
type LeaseKeepAlive struct {
	Lease          int64
	Invoke, Return time.Time
	// OK: the leader answered with a positive TTL.
	OK bool
	// TimedOut: no answer came; the keepalive may still reach a leader
	// and renew the lease at any later moment.
	TimedOut bool
	// Term is the raft term in the header of an OK answer: one leader per
	// term, so two answers of one term come from one lessor. 0: unknown.
	Term uint64
}

// LeaseTimeToLive is one answered TimeToLive call.
type LeaseTimeToLive struct {
	Lease          int64
	Invoke, Return time.Time
	// NotFound: the answer was "no such lease" (etcd's TTL -1).
	NotFound bool
	// TTLSeconds is the remaining TTL reported, GrantedTTLSeconds the
	// granted one (both unset when NotFound).
	TTLSeconds, GrantedTTLSeconds int64
	// Term is the raft term in the answer's header; 0: unknown.
	Term uint64
}

// LeaseRead is one successful range over the leased keys.
type LeaseRead struct {
	Return   time.Time
	Revision int64
	Kvs      []*mvccpb.KeyValue
	// Prefix is the range read, [Prefix, prefix end).
	Prefix []byte
}

// LeaseSighting is one watch response on the leased keys.
type LeaseSighting struct {
	At     time.Time
	Events []*mvccpb.Event
}

// MemberHistory is one member's history of the leased keys, every event
// from revision 1 up to Revision.
type MemberHistory struct {
	Member   uint64
	Revision int64
	Events   []*mvccpb.Event
}

// LeaseOptions tunes the lease checker's timing judgements.
type LeaseOptions struct {
	// Margin is how much earlier than a keepalive's invoke + TTL a revoke
	// may be seen (or a TimeToLive answer "not found" may come back)
	// before it is a violation. A correct leader revokes no earlier than
	// its last keepalive + TTL on its lease clock, which in kvd advances
	// in ticks, so a revoke may come up to one ClockStep early in real
	// time. A leader deposed without knowing it may have answered a
	// keepalive its successor never heard of, but raft's CheckQuorum
	// bounds that overlap to about one election timeout after the
	// successor's election, and the successor restarts every lease at
	// promote + TTL + one election timeout, which covers it. Clock
	// steps do not reach lease time (it is monotonic), and drift and
	// pauses are suspect windows, judged not at all. What is left is the
	// tick and the randomness of raft's timers around the overlap bound,
	// so default 500 ms: five ticks of the default node config, well
	// below the one second a lease expiring early or a new leader not
	// extending its leases would show by, and above the one tick plus
	// overlap jitter correct runs need.
	Margin time.Duration
	// ClockStep is the resolution of the leader's lease clock: kvd times
	// leases in ticks (100 ms by default), so between a renewal and a
	// TimeToLive the lease clock may have advanced one step less than
	// real time did, and the remaining TTL reads up to one step high.
	// Default 100 ms.
	ClockStep time.Duration
	// PromoteExtension is what a new leader adds to every lease's TTL
	// when it is promoted: an election timeout (1 s with the default node
	// config), in kvd and in etcd alike. Default 1 s.
	PromoteExtension time.Duration
	// ExpiryLatenessMax is how long after its last keepalive + TTL a lease
	// nobody keeps alive may take to be revoked: a tick, the revoke's raft
	// round, and a leader election's promote extension. Default 5 s.
	ExpiryLatenessMax time.Duration
	// SuspectLookback widens each suspect window backwards: a paused
	// stale leader answers keepalives sent up to a client timeout before
	// it resumed. Default 5 s.
	SuspectLookback time.Duration
}

// EnsureDefaults fills zero fields with their documented defaults.
func (o *LeaseOptions) EnsureDefaults() {
	if o.Margin == 0 {
		o.Margin = 500 * time.Millisecond
	}
	if o.ClockStep == 0 {
		o.ClockStep = 100 * time.Millisecond
	}
	if o.PromoteExtension == 0 {
		o.PromoteExtension = time.Second
	}
	if o.ExpiryLatenessMax == 0 {
		o.ExpiryLatenessMax = 5 * time.Second
	}
	if o.SuspectLookback == 0 {
		o.SuspectLookback = 5 * time.Second
	}
}

// Validate reports every problem at once.
func (o *LeaseOptions) Validate() error {
	var errs []error
	if o.Margin < 0 {
		errs = append(errs, fmt.Errorf("lease checker: Margin %v is negative", o.Margin))
	}
	if o.ClockStep < 0 || o.PromoteExtension < 0 {
		errs = append(errs, fmt.Errorf("lease checker: ClockStep %v or PromoteExtension %v is negative", o.ClockStep, o.PromoteExtension))
	}
	if o.ExpiryLatenessMax < 0 {
		errs = append(errs, fmt.Errorf("lease checker: ExpiryLatenessMax %v is negative", o.ExpiryLatenessMax))
	}
	if o.SuspectLookback < 0 {
		errs = append(errs, fmt.Errorf("lease checker: SuspectLookback %v is negative", o.SuspectLookback))
	}
	return errors.Join(errs...)
}

// CheckLease judges a lease history:
//
//   - every member saw the same events at the same revisions, so a lease's
//     keys vanish at one revision on every member;
//   - all keys of a lease are deleted at that one revision, none survives
//     it and none is attached to the lease afterwards;
//   - no read at or after a lease's revoke revision returns its keys, and a
//     read at revision H lists exactly the keys live at H;
//   - a revoke is not seen earlier than Margin before a successful
//     keepalive's (or the grant's) invoke + TTL;
//   - a TimeToLive answer reports the granted TTL as granted and a
//     remaining TTL no larger than it, nor larger than the TTL minus the
//     time since the lease's last renewal on the answering leader (see
//     checkTimeToLives);
//   - a TimeToLive answering "not found" names a lease that was revoked
//     (if its keys are in the history) and that no keepalive or grant
//     still protected, by the same Margin as revokes;
//   - a lease nobody keeps alive any more is revoked within
//     ExpiryLatenessMax after its last keepalive + TTL, unless a suspect
//     window meets the time since its last successful renewal.
func CheckLease(h LeaseHistory, opts LeaseOptions) Verdict {
	start := time.Now()
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	v := Verdict{Checker: "lease", Outcome: OK, Operations: len(h.Grants) + len(h.KeepAlives) + len(h.Reads) + len(h.TimeToLives)}
	skipped, err := checkLease(h, opts)
	switch {
	case err != nil:
		v.Outcome = Violation
		v.Detail = err.Error()
	case len(h.Members) == 0:
		v.Outcome = Unknown
		v.Detail = "no member history was collected: revokes cannot be judged"
	case skipped > 0:
		v.Detail = fmt.Sprintf("%d timing judgements skipped inside suspect windows", skipped)
	}
	v.CheckDuration = time.Since(start)
	return v
}

// leaseFate is what the reference history says about one lease.
type leaseFate struct {
	revokeRev int64
	keys      map[string]bool
}

func checkLease(h LeaseHistory, opts LeaseOptions) (skipped int, err error) {
	if len(h.Members) == 0 {
		return 0, nil
	}
	ref, err := agreeingHistory(h.Members)
	if err != nil {
		return 0, err
	}
	fates, states, err := replayLeases(ref)
	if err != nil {
		return 0, err
	}
	if err := checkLeaseReads(h.Reads, fates, states, ref.Revision); err != nil {
		return 0, err
	}
	ttl := map[int64]time.Duration{}
	for _, g := range h.Grants {
		ttl[g.Lease] = g.TTL
	}
	ttlSkipped, err := checkTimeToLives(h, fates, ttl, opts)
	skipped += ttlSkipped
	if err != nil {
		return skipped, err
	}
	seen := revokeSeen(h, fates)
	ids := sortedLeaseIDs(fates)
	for _, id := range ids {
		f := fates[id]
		t, ok := ttl[id]
		if !ok {
			continue // a lease the history did not grant: nothing to time
		}
		protectors := protectorsOf(h, id)
		if f.revokeRev != 0 {
			w, ok := seen[id]
			if !ok {
				continue
			}
			for _, p := range protectors {
				if w.Add(opts.Margin).Sub(p) >= t {
					continue
				}
				if suspect(h.Suspect, p.Add(-opts.SuspectLookback), w) {
					skipped++
					continue
				}
				return skipped, fmt.Errorf("lease %d revoked at revision %d (seen at %v) only %v after a successful keepalive or grant invoked at %v: TTL %v, margin %v",
					id, f.revokeRev, w, w.Sub(p), p, t, opts.Margin)
			}
			continue
		}
		if len(f.keys) == 0 {
			continue
		}
		last := lastTouch(h, id)
		due := last.Add(t + opts.ExpiryLatenessMax)
		if h.CollectedAt.Before(due) {
			continue
		}
		// The leader's expiry was last set by the final renewal that took
		// effect, which may be any confirmed one or a later unconfirmed
		// one: a suspect window after the last confirmed renewal may have
		// moved it, even if a failed keepalive came later.
		if suspect(h.Suspect, lastRenewal(h, id), h.CollectedAt) {
			skipped++
			continue
		}
		return skipped, fmt.Errorf("lease %d with keys %v was never revoked: last kept alive at %v, TTL %v, history read at %v (lateness allowed %v)",
			id, sortedKeys(f.keys), last, t, h.CollectedAt, opts.ExpiryLatenessMax)
	}
	return skipped, nil
}

// agreeingHistory checks that every member saw the same events at every
// revision two of them cover, and returns the longest history.
func agreeingHistory(ms []MemberHistory) (MemberHistory, error) {
	byRev := make([]map[int64][]*mvccpb.Event, len(ms))
	ref := 0
	for i, m := range ms {
		byRev[i] = map[int64][]*mvccpb.Event{}
		for _, e := range m.Events {
			r := e.GetKv().GetModRevision()
			if r > m.Revision {
				return MemberHistory{}, fmt.Errorf("member %d: event %s beyond its history revision %d", m.Member, describeEvent(e), m.Revision)
			}
			byRev[i][r] = append(byRev[i][r], e)
		}
		if m.Revision > ms[ref].Revision {
			ref = i
		}
	}
	for i, m := range ms {
		if i == ref {
			continue
		}
		for r := int64(1); r <= m.Revision; r++ {
			a, b := byRev[ref][r], byRev[i][r]
			if !sameEvents(a, b) {
				return MemberHistory{}, fmt.Errorf("members %d and %d disagree at revision %d: %s vs %s: a revoke must delete the same keys at one revision everywhere",
					ms[ref].Member, m.Member, r, describeEvents(a), describeEvents(b))
			}
		}
	}
	return ms[ref], nil
}

// replayLeases walks the reference history: which keys each lease had and
// the one revision its keys were deleted at. states maps a revision to the
// live keys after it (only revisions that changed something are stored).
func replayLeases(ref MemberHistory) (map[int64]*leaseFate, []liveAt, error) {
	fates := map[int64]*leaseFate{}
	fate := func(id int64) *leaseFate {
		f := fates[id]
		if f == nil {
			f = &leaseFate{keys: map[string]bool{}}
			fates[id] = f
		}
		return f
	}
	live := map[string]int64{} // key -> lease
	var states []liveAt
	evs := sortedWithinRevision(ref.Events)
	for i := 0; i < len(evs); {
		rev := evs[i].GetKv().GetModRevision()
		j := i
		revoked := map[int64]bool{}
		for ; j < len(evs) && evs[j].GetKv().GetModRevision() == rev; j++ {
			e := evs[j]
			k := string(e.GetKv().GetKey())
			if e.GetType() == mvccpb.PUT {
				id := e.GetKv().GetLease()
				if id != 0 {
					if f := fate(id); f.revokeRev != 0 {
						return nil, nil, fmt.Errorf("key %q attached at revision %d to lease %d, which was revoked at revision %d", k, rev, id, f.revokeRev)
					}
					fate(id).keys[k] = true
				}
				live[k] = id
				continue
			}
			id, ok := live[k]
			if !ok {
				return nil, nil, fmt.Errorf("revision %d deletes key %q, which was not live", rev, k)
			}
			delete(live, k)
			if id == 0 {
				continue
			}
			f := fate(id)
			if f.revokeRev != 0 && f.revokeRev != rev {
				return nil, nil, fmt.Errorf("keys of lease %d deleted at two revisions, %d and %d: a revoke deletes all of a lease's keys at one revision", id, f.revokeRev, rev)
			}
			f.revokeRev = rev
			revoked[id] = true
		}
		for _, k := range sortedKeys(keysOf(live)) {
			if id := live[k]; revoked[id] {
				return nil, nil, fmt.Errorf("key %q of lease %d survived the lease's revoke at revision %d", k, id, rev)
			}
		}
		states = append(states, liveAt{rev: rev, keys: cloneLive(live)})
		i = j
	}
	return fates, states, nil
}

type liveAt struct {
	rev  int64
	keys map[string]int64
}

func cloneLive(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// checkLeaseReads holds each discovery read against the revoke revisions
// and the reference state at the read's revision.
func checkLeaseReads(reads []LeaseRead, fates map[int64]*leaseFate, states []liveAt, refRev int64) error {
	for _, r := range reads {
		for _, kv := range r.Kvs {
			if f := fates[kv.GetLease()]; kv.GetLease() != 0 && f != nil && f.revokeRev != 0 && f.revokeRev <= r.Revision {
				return fmt.Errorf("read at revision %d (returned %v) lists key %q of lease %d, revoked at revision %d",
					r.Revision, r.Return, kv.GetKey(), kv.GetLease(), f.revokeRev)
			}
		}
		if r.Revision > refRev {
			continue
		}
		i := sort.Search(len(states), func(i int) bool { return states[i].rev > r.Revision })
		want := map[string]int64{}
		if i > 0 {
			want = states[i-1].keys
		}
		got := map[string]bool{}
		for _, kv := range r.Kvs {
			got[string(kv.GetKey())] = true
			if _, ok := want[string(kv.GetKey())]; !ok {
				return fmt.Errorf("read at revision %d lists key %q, not live at that revision in the committed history", r.Revision, kv.GetKey())
			}
		}
		for _, k := range sortedKeys(keysOf(want)) {
			if !got[k] && hasPrefix(k, r.Prefix) {
				return fmt.Errorf("read at revision %d misses key %q, live at that revision in the committed history", r.Revision, k)
			}
		}
	}
	return nil
}

func hasPrefix(k string, p []byte) bool { return len(k) >= len(p) && k[:len(p)] == string(p) }

func keysOf(m map[string]int64) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// revokeSeen is, per revoked lease, the earliest time the run had evidence
// of the revoke: a watch response carrying the delete, or a read at or
// after the revoke revision. Both can only follow the commit.
func revokeSeen(h LeaseHistory, fates map[int64]*leaseFate) map[int64]time.Time {
	byRev := map[int64][]int64{}
	for id, f := range fates {
		if f.revokeRev != 0 {
			byRev[f.revokeRev] = append(byRev[f.revokeRev], id)
		}
	}
	seen := map[int64]time.Time{}
	note := func(id int64, at time.Time) {
		if t, ok := seen[id]; !ok || at.Before(t) {
			seen[id] = at
		}
	}
	for _, s := range h.Sightings {
		for _, e := range s.Events {
			if e.GetType() != mvccpb.DELETE {
				continue
			}
			for _, id := range byRev[e.GetKv().GetModRevision()] {
				note(id, s.At)
			}
		}
	}
	for _, r := range h.Reads {
		for id, f := range fates {
			if f.revokeRev != 0 && f.revokeRev <= r.Revision {
				note(id, r.Return)
			}
		}
	}
	return seen
}

// protectorsOf lists the invoke times of the grant and the successful
// keepalives of lease id: each promises the lease lives until invoke + TTL.
func protectorsOf(h LeaseHistory, id int64) []time.Time {
	var ps []time.Time
	for _, g := range h.Grants {
		if g.Lease == id {
			ps = append(ps, g.Invoke)
		}
	}
	for _, k := range h.KeepAlives {
		if k.Lease == id && k.OK {
			ps = append(ps, k.Invoke)
		}
	}
	slices.SortFunc(ps, func(a, b time.Time) int { return a.Compare(b) })
	return ps
}

// lastTouch is the latest moment anything may have renewed lease id: the
// return of its grant or of any keepalive, answered or not (a timed-out
// keepalive may still have reached the leader).
func lastTouch(h LeaseHistory, id int64) time.Time {
	var last time.Time
	for _, g := range h.Grants {
		if g.Lease == id && g.Return.After(last) {
			last = g.Return
		}
	}
	for _, k := range h.KeepAlives {
		if k.Lease == id && k.Return.After(last) {
			last = k.Return
		}
	}
	return last
}

// lastRenewal is the invoke of the latest grant or successful keepalive
// of lease id: the earliest moment the renewal the leader last acted on
// can have happened.
func lastRenewal(h LeaseHistory, id int64) time.Time {
	ps := protectorsOf(h, id)
	if len(ps) == 0 {
		return time.Time{}
	}
	return ps[len(ps)-1]
}

// suspect reports whether [from, to] meets a suspect window.
func suspect(ws []Window, from, to time.Time) bool {
	for _, w := range ws {
		if !w.To.Before(from) && !w.From.After(to) {
			return true
		}
	}
	return false
}

func sortedLeaseIDs(m map[int64]*leaseFate) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func sortedKeys(m map[string]bool) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
