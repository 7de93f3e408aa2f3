package linearizability

import (
	"fmt"
	"time"
)

// checkTimeToLives judges every TimeToLive answer against what etcd
// promises about a lease's remaining TTL:
//
//   - the granted TTL reported is the one granted;
//   - the remaining TTL is at most the granted TTL, except just after
//     the answering leader's promotion: a new leader restarts every lease
//     at promote + TTL + PromoteExtension, and kvd's lease clock, in
//     ticks, may not have advanced at all yet, so TTL + extension can be
//     reported (etcd's clock always has moved on, and truncation hides the
//     extension there; with many leases etcd spreads their expiries and
//     extends further);
//   - when the answering leader is the one that acknowledged the
//     lease's last keepalive before the call was sent (same raft term:
//     one leader per term, and a leader is promoted once per term, so no
//     promote extension lies in between), the remaining TTL is at most
//     TTL - (call invoke - latest renewal that leader may have applied) +
//     ClockStep. Every slack there points the safe way: the renewal
//     counted is the latest one possible (an acknowledged keepalive
//     was applied by its return; one still in flight or timed out may
//     have been applied up to the answer); the answer is taken at the
//     call's invoke, the earliest it can have been computed; the reported
//     value is truncated toward zero, which only lowers it, so whole
//     seconds need no slack. Only the lease clock's step does: it may
//     have advanced one step less than real time did. Clock steps do not
//     move lease time; drift and pauses do and are suspect windows.
//   - "not found" names a lease whose keys (if the history has any) were
//     revoked, and that no grant or successful keepalive still protected
//     at the answer, with the Margin revokes get.
func checkTimeToLives(h LeaseHistory, fates map[int64]*leaseFate, granted map[int64]time.Duration, opts LeaseOptions) (skipped int, err error) {
	firstAnswers := firstLeaderAnswers(h)
	for _, q := range h.TimeToLives {
		ttl, ok := granted[q.Lease]
		if !ok {
			continue // not granted in this history: nothing to compare with
		}
		if q.NotFound {
			s, err := checkNotFound(h, q, fates[q.Lease], ttl, opts)
			skipped += s
			if err != nil {
				return skipped, err
			}
			continue
		}
		if got := time.Duration(q.GrantedTTLSeconds) * time.Second; got != ttl {
			return skipped, fmt.Errorf("TimeToLive of lease %d (invoked %v, term %d) reports granted TTL %ds, but %v was granted",
				q.Lease, q.Invoke, q.Term, q.GrantedTTLSeconds, ttl)
		}
		remaining := time.Duration(q.TTLSeconds) * time.Second
		anchor, ok := lastAckedKeepAlive(h, q)
		if !ok || anchor.Term == 0 || anchor.Term != q.Term {
			// The answering leader may have been promoted since the
			// lease's last renewal it knows of, restarting the lease at
			// promote + TTL + extension: at most the granted TTL, or
			// more within the extension after that promotion.
			bound := promotedBound(q, ttl, firstAnswers, opts)
			if remaining <= bound {
				continue
			}
			// A paused or drifting leader's lease clock lags the world's.
			if from, ok := firstAnswers[q.Term]; suspect(h.Suspect, from.Add(-opts.SuspectLookback), q.Return) || !ok {
				skipped++
				continue
			}
			return skipped, fmt.Errorf("TimeToLive of lease %d (invoked %v, term %d) reports %ds remaining, more than its granted TTL %v allows (at most %v: the term's leader answered first at %v, promote extension %v, clock step %v)",
				q.Lease, q.Invoke, q.Term, q.TTLSeconds, ttl, bound, firstAnswers[q.Term], opts.PromoteExtension, opts.ClockStep)
		}
		renewed := latestRenewal(h, q, anchor)
		bound := ttl - q.Invoke.Sub(renewed) + opts.ClockStep
		if q.TTLSeconds <= 0 || remaining <= bound {
			continue
		}
		if suspect(h.Suspect, anchor.Invoke, q.Return) {
			skipped++
			continue
		}
		return skipped, fmt.Errorf("TimeToLive of lease %d (invoked %v, term %d) reports %ds remaining, but its leader's latest renewal was by %v: at most TTL %v - %v elapsed + clock step %v = %v can remain",
			q.Lease, q.Invoke, q.Term, q.TTLSeconds, renewed, ttl, q.Invoke.Sub(renewed), opts.ClockStep, bound)
	}
	return skipped, nil
}

// lastAckedKeepAlive is the successful keepalive of q's lease that
// returned last before q was invoked.
func lastAckedKeepAlive(h LeaseHistory, q LeaseTimeToLive) (LeaseKeepAlive, bool) {
	var last LeaseKeepAlive
	found := false
	for _, k := range h.KeepAlives {
		if k.Lease != q.Lease || !k.OK || k.Return.After(q.Invoke) {
			continue
		}
		if !found || k.Return.After(last.Return) {
			last, found = k, true
		}
	}
	return last, found
}

// latestRenewal is the latest moment a keepalive of q's lease may have
// been applied before q was answered: an answered keepalive by its return
// (capped at q's return), a timed-out one up to q's return, and none
// invoked after q returned.
func latestRenewal(h LeaseHistory, q LeaseTimeToLive, anchor LeaseKeepAlive) time.Time {
	latest := anchor.Return
	for _, k := range h.KeepAlives {
		if k.Lease != q.Lease || !k.Invoke.Before(q.Return) {
			continue
		}
		at := k.Return
		if k.TimedOut || at.After(q.Return) {
			at = q.Return
		}
		if at.After(latest) {
			latest = at
		}
	}
	return latest
}

// checkNotFound judges a "not found" answer: the lease must be revoked in
// the history (when the history knows its keys) and no longer protected by
// a grant or successful keepalive, give or take Margin.
func checkNotFound(h LeaseHistory, q LeaseTimeToLive, f *leaseFate, ttl time.Duration, opts LeaseOptions) (skipped int, err error) {
	if f != nil && len(f.keys) > 0 && f.revokeRev == 0 {
		return 0, fmt.Errorf("TimeToLive of lease %d (invoked %v, returned %v) answered not found, but the lease's keys %v were never revoked",
			q.Lease, q.Invoke, q.Return, sortedKeys(f.keys))
	}
	for _, p := range protectorsOf(h, q.Lease) {
		if p.After(q.Return) {
			// Sent after the answer: it protected nothing the answer saw.
			// Judging it would also open its suspect window after q.
			break
		}
		if q.Return.Add(opts.Margin).Sub(p) >= ttl {
			continue
		}
		if suspect(h.Suspect, p.Add(-opts.SuspectLookback), q.Return) {
			skipped++
			continue
		}
		return skipped, fmt.Errorf("TimeToLive of lease %d answered not found by %v, only %v after a successful keepalive or grant invoked at %v: TTL %v, margin %v",
			q.Lease, q.Return, q.Return.Sub(p), p, ttl, opts.Margin)
	}
	return skipped, nil
}

// firstLeaderAnswers maps a raft term to the earliest return of an answer
// only that term's leader gives (a successful keepalive, a TimeToLive
// with a remaining TTL): that leader was promoted by then.
func firstLeaderAnswers(h LeaseHistory) map[uint64]time.Time {
	first := map[uint64]time.Time{}
	note := func(term uint64, at time.Time) {
		if t, ok := first[term]; term != 0 && (!ok || at.Before(t)) {
			first[term] = at
		}
	}
	for _, k := range h.KeepAlives {
		if k.OK {
			note(k.Term, k.Return)
		}
	}
	for _, q := range h.TimeToLives {
		if !q.NotFound {
			note(q.Term, q.Return)
		}
	}
	return first
}

// promotedBound is the most a leader of q's term may report when it may
// have been promoted since the lease's last renewal: the granted TTL (a
// renewal on it leaves at most that, truncated), or TTL + extension less
// the time since its promotion, which happened no later than the term's
// first leader answer, plus the lease clock's step.
func promotedBound(q LeaseTimeToLive, ttl time.Duration, firstAnswers map[uint64]time.Time, opts LeaseOptions) time.Duration {
	sincePromote := time.Duration(0)
	if first, ok := firstAnswers[q.Term]; ok && q.Invoke.After(first) {
		sincePromote = q.Invoke.Sub(first)
	}
	return max(ttl, ttl+opts.PromoteExtension-sincePromote+opts.ClockStep)
}
