package lease

// Granted is a lease as a backup holds it: its id and the TTL it was
// granted, in seconds. etcd's backend keeps the same two (leasepb.Lease);
// expiries are leader-local and start afresh on whoever restores it.
type Granted struct {
	ID         int64
	TTLSeconds int64
}

// Granted lists every lease with its granted TTL, sorted by id.
func (l *Lessor) Granted() []Granted {
	ids := l.sortedIDs()
	out := make([]Granted, len(ids))
	for i, id := range ids {
		out[i] = Granted{ID: id, TTLSeconds: l.leases[id].ttlSeconds}
	}
	return out
}
