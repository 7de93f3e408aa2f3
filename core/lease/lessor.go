package lease

import (
	"errors"
	"fmt"
	"slices"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/kvdlabs/kvd/core/bugs"
)

// ErrLeasesMax is wrapped by the error Grant returns when Options.LeasesMax
// leases already exist. etcd has no such limit, hence no rpctypes error.
var ErrLeasesMax = errors.New("lease: too many leases")

// lease is one granted lease.
type lease struct {
	id         int64
	ttlSeconds int64
	// expiry is when the lease expires; the zero time means never, which
	// is every lease's state while the lessor is not primary.
	expiry time.Time
	// keys attached to the lease. A map gives O(1) attach and detach;
	// every output sorts it first.
	keys map[string]struct{}
}

// sortedKeys returns the attached keys in byte order.
func (ls *lease) sortedKeys() []string {
	keys := make([]string, 0, len(ls.keys))
	for k := range ls.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Lessor owns leases: it grants, revokes and renews them, tracks which keys
// are attached to which lease and, while primary, when each lease expires.
// It is not safe for concurrent use.
type Lessor struct {
	opts Options

	leases map[int64]*lease
	// keyLease maps each attached key to its one lease.
	keyLease map[string]int64
	ids      idGenerator

	primary bool
	// expiries orders the leases by (expiry, id) while primary and is
	// empty otherwise.
	expiries *expiryQueue

	// revokingID is the lease being revoked while the deleter runs (0
	// otherwise); the deleter calls back into Detach, and a nested Revoke
	// would be a bug.
	revokingID int64
}

// New returns an empty, non-primary lessor. It panics if the options are
// invalid after defaults: wiring a lessor without a clock is a bug.
func New(opts Options) *Lessor {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		panic(fmt.Sprintf("lease.New: %v", err))
	}
	return &Lessor{
		opts:     opts,
		leases:   make(map[int64]*lease),
		keyLease: make(map[string]int64),
		ids:      newIDGenerator(),
		expiries: newExpiryQueue(),
	}
}

// SetDeleter sets the deleter used by Revoke.
func (l *Lessor) SetDeleter(d KeyDeleter) { l.opts.Deleter = d }

// Grant creates a lease of ttlSeconds (raised to Options.TTLMinSeconds).
// id 0 lets the lessor pick a positive id deterministically. It fails with
// rpctypes.ErrGRPCLeaseExist for an existing id, rpctypes.ErrGRPCLeaseTTLTooLarge
// for a TTL above Options.TTLMaxSeconds and an error wrapping ErrLeasesMax
// when the lessor is full.
func (l *Lessor) Grant(id int64, ttlSeconds int64) (*pb.LeaseGrantResponse, error) {
	if ttlSeconds > l.opts.TTLMaxSeconds {
		return nil, rpctypes.ErrGRPCLeaseTTLTooLarge
	}
	if id != 0 {
		if _, ok := l.leases[id]; ok {
			return nil, rpctypes.ErrGRPCLeaseExist
		}
	}
	if len(l.leases) >= l.opts.LeasesMax {
		return nil, fmt.Errorf("lease: grant id %d ttl %ds: %d leases exist, LeasesMax is %d: %w",
			id, ttlSeconds, len(l.leases), l.opts.LeasesMax, ErrLeasesMax)
	}
	if id == 0 {
		id = l.nextFreeID()
	}
	ttlSeconds = max(ttlSeconds, l.opts.TTLMinSeconds)

	ls := &lease{id: id, ttlSeconds: ttlSeconds, keys: make(map[string]struct{})}
	l.leases[id] = ls
	if l.primary {
		l.setExpiry(ls, l.opts.Clock.Now().Add(ttlDuration(ttlSeconds)))
	}
	assert(len(l.leases) <= l.opts.LeasesMax, "more leases than LeasesMax")
	return &pb.LeaseGrantResponse{ID: id, TTL: ttlSeconds}, nil
}

// nextFreeID draws generated ids until one is not taken by a client-chosen
// id. Generated ids are distinct, so each rejected draw matches a different
// existing lease and the loop ends within len(l.leases)+1 draws.
func (l *Lessor) nextFreeID() int64 {
	for range len(l.leases) + 1 {
		id := l.ids.next()
		if _, taken := l.leases[id]; !taken {
			assert(id > 0, "generated lease id not positive")
			return id
		}
	}
	panic("lease: invariant violated: id generator repeated an id")
}

// Revoke deletes every key attached to the lease through the deleter, in
// one revision, and then forgets the lease. A lease without keys creates no
// revision. Unknown id: rpctypes.ErrGRPCLeaseNotFound.
//
// The deleter calls back into Detach for every key it deletes; the lease
// stays known until it returns so those calls find it.
func (l *Lessor) Revoke(id int64) (*pb.LeaseRevokeResponse, error) {
	assert(l.revokingID == 0, "Revoke called from inside Revoke")
	ls, ok := l.leases[id]
	if !ok {
		return nil, rpctypes.ErrGRPCLeaseNotFound
	}
	if len(ls.keys) > 0 {
		if l.opts.Deleter == nil {
			panic(fmt.Sprintf("lease: Revoke(%d) with %d attached keys but no Deleter set", id, len(ls.keys)))
		}
		sorted := ls.sortedKeys()
		if bugs.On(bugs.LeaseRevokeKeepsLastKey) {
			// planted bug (kvdbugs builds only): the key loop stops one short
			sorted = sorted[:len(sorted)-1]
		}
		keys := make([][]byte, len(sorted))
		for i, k := range sorted {
			keys[i] = []byte(k)
		}
		l.revokingID = id
		l.opts.Deleter.DeleteKeys(keys)
		l.revokingID = 0
		// Every attached key exists in the store (it was attached by a
		// write), so deleting it must have detached it.
		assert(len(ls.keys) == 0, "keys still attached after the deleter deleted them")
	}
	if l.primary {
		l.expiries.remove(ls.expiry, id)
	}
	delete(l.leases, id)
	return &pb.LeaseRevokeResponse{}, nil
}

// KeepAlive renews the lease's expiry to now+TTL and returns the TTL. Only
// the primary tracks expiry, so elsewhere it fails with
// rpctypes.ErrGRPCNotLeader (the caller forwards to the leader). Unknown id:
// rpctypes.ErrGRPCLeaseNotFound. A lease already past its expiry is not
// revived: its revoke may be in flight, so it is reported as not found,
// which is what etcd answers once that revoke lands.
func (l *Lessor) KeepAlive(id int64) (ttlSeconds int64, err error) {
	if !l.primary {
		return -1, rpctypes.ErrGRPCNotLeader
	}
	ls, ok := l.leases[id]
	if !ok {
		return -1, rpctypes.ErrGRPCLeaseNotFound
	}
	now := l.opts.Clock.Now()
	if !ls.expiry.After(now) {
		return -1, rpctypes.ErrGRPCLeaseNotFound
	}
	l.setExpiry(ls, now.Add(ttlDuration(ls.ttlSeconds)))
	return ls.ttlSeconds, nil
}

// TimeToLive reports the lease's granted TTL, its remaining TTL in whole
// seconds truncated toward zero (as etcd computes int64(Remaining().Seconds()),
// so it goes negative once past expiry) and, with withKeys, its keys in byte
// order. Unknown id: rpctypes.ErrGRPCLeaseNotFound, which etcd's gRPC layer
// answers as TTL -1. Only the primary knows the remaining TTL; elsewhere it
// fails with rpctypes.ErrGRPCLeaderChanged, the retryable error etcd returns
// when its lessor is demoted during the lookup.
// Keys lists the keys attached to lease id in order, on any member (it
// reads replicated state only); false if there is no such lease.
func (l *Lessor) Keys(id int64) ([]string, bool) {
	ls, ok := l.leases[id]
	if !ok {
		return nil, false
	}
	return ls.sortedKeys(), true
}

func (l *Lessor) TimeToLive(id int64, withKeys bool) (*pb.LeaseTimeToLiveResponse, error) {
	ls, ok := l.leases[id]
	if !ok {
		return nil, rpctypes.ErrGRPCLeaseNotFound
	}
	if !l.primary {
		return nil, rpctypes.ErrGRPCLeaderChanged
	}
	remaining := ls.expiry.Sub(l.opts.Clock.Now())
	resp := &pb.LeaseTimeToLiveResponse{
		ID:         id,
		TTL:        int64(remaining / time.Second),
		GrantedTTL: ls.ttlSeconds,
	}
	if bugs.On(bugs.LeaseTTLGranted) {
		// planted bug (kvdbugs builds only): the granted TTL is reported as the remaining one
		resp.TTL = ls.ttlSeconds
	}
	if withKeys {
		sorted := ls.sortedKeys()
		resp.Keys = make([][]byte, len(sorted))
		for i, k := range sorted {
			resp.Keys[i] = []byte(k)
		}
	}
	return resp, nil
}

// Leases lists every lease, sorted by ID.
func (l *Lessor) Leases() *pb.LeaseLeasesResponse {
	ids := l.sortedIDs()
	resp := &pb.LeaseLeasesResponse{Leases: make([]*pb.LeaseStatus, len(ids))}
	for i, id := range ids {
		resp.Leases[i] = &pb.LeaseStatus{ID: id}
	}
	return resp
}

func (l *Lessor) sortedIDs() []int64 {
	ids := make([]int64, 0, len(l.leases))
	for id := range l.leases {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// LeaseExists reports whether the lease exists.
func (l *Lessor) LeaseExists(id int64) bool {
	_, ok := l.leases[id]
	return ok
}

// Attach records that key is written with lease id. The store checks
// LeaseExists first and detaches a key from its old lease before attaching
// it to a new one, so an unknown lease, or a key still attached to another
// lease, is a bug and panics. Attaching a key again to its own lease is a
// no-op.
func (l *Lessor) Attach(id int64, key []byte) {
	ls, ok := l.leases[id]
	assert(ok, fmt.Sprintf("Attach key %q to unknown lease %d", key, id))
	assert(l.revokingID == 0, "Attach during Revoke")
	if owner, attached := l.keyLease[string(key)]; attached {
		assert(owner == id, fmt.Sprintf("Attach key %q to lease %d while attached to lease %d", key, id, owner))
		return
	}
	ls.keys[string(key)] = struct{}{}
	l.keyLease[string(key)] = id
}

// Detach records that key no longer belongs to lease id (it was deleted or
// overwritten). The key must be attached to that lease.
func (l *Lessor) Detach(id int64, key []byte) {
	ls, ok := l.leases[id]
	assert(ok, fmt.Sprintf("Detach key %q from unknown lease %d", key, id))
	owner, attached := l.keyLease[string(key)]
	assert(attached && owner == id, fmt.Sprintf("Detach key %q from lease %d it is not attached to", key, id))
	assert(l.revokingID == 0 || l.revokingID == id, "Detach from another lease during Revoke")
	delete(ls.keys, string(key))
	delete(l.keyLease, string(key))
}

// Len returns the number of leases.
func (l *Lessor) Len() int { return len(l.leases) }

// ttlDuration converts a TTL, bounded by MaxLeaseTTLSeconds so it cannot
// overflow, to a duration.
func ttlDuration(ttlSeconds int64) time.Duration {
	assert(ttlSeconds > 0 && ttlSeconds <= MaxLeaseTTLSeconds, "TTL out of range")
	return time.Duration(ttlSeconds) * time.Second
}
