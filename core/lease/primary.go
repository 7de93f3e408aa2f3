package lease

import (
	"time"

	"github.com/kvdlabs/kvd/core/bugs"
)

// Promote makes the lessor primary (this member became raft leader) and
// restarts every lease's clock at now+TTL+extend. The new leader cannot
// know how long the old one had let a lease run, so it gives each lease its
// full TTL again; extend (etcd passes about an election timeout) covers the
// time clients needed to find the new leader and resume keepalives.
//
// Unlike etcd, Promote does not spread out leases that would expire in the
// same second; Expired's max already bounds how many revokes the leader
// proposes at once.
func (l *Lessor) Promote(extend time.Duration) {
	assert(extend >= 0, "Promote with a negative extension")
	now := l.opts.Clock.Now()
	if bugs.On(bugs.LeasePromoteKeepsDeadline) {
		// planted bug (kvdbugs builds only): the election-time extension is dropped
		extend = 0
	}
	l.primary = true
	l.expiries.clear()
	for _, ls := range l.leases {
		// Map order does not matter: every lease gets its own expiry and
		// the queue orders them.
		ls.expiry = now.Add(ttlDuration(ls.ttlSeconds)).Add(extend)
		l.expiries.insert(ls.expiry, ls.id)
	}
	assert(l.expiries.len() == len(l.leases), "expiry queue out of step with leases")
}

// Demote makes the lessor non-primary (leadership lost): every lease lives
// forever again until a later Promote.
func (l *Lessor) Demote() {
	l.primary = false
	l.expiries.clear()
	for _, ls := range l.leases {
		ls.expiry = time.Time{}
	}
}

// IsPrimary reports whether the lessor tracks expiry (is on the leader).
func (l *Lessor) IsPrimary() bool { return l.primary }

// Expired lists up to max ids of leases whose expiry is at or before now,
// ordered by (expiry, id); nothing when not primary or max <= 0. It does
// not revoke: the raft leader proposes the revokes, and until they are
// applied the same leases are reported again, so the caller remembers
// which revokes it already has in flight.
func (l *Lessor) Expired(max int) []int64 {
	if !l.primary || max <= 0 {
		return nil
	}
	return l.expiries.due(l.opts.Clock.Now(), max, nil)
}

// setExpiry moves a lease to a new place in the expiry order. Only the
// primary tracks expiry.
func (l *Lessor) setExpiry(ls *lease, expiry time.Time) {
	assert(l.primary, "setExpiry on a non-primary lessor")
	if !ls.expiry.IsZero() {
		l.expiries.remove(ls.expiry, ls.id)
	}
	ls.expiry = expiry
	l.expiries.insert(expiry, ls.id)
}
