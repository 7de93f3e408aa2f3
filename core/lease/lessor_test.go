package lease

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"pgregory.net/rapid"

	"github.com/kvdlabs/kvd/core/clock"
)

var testEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// fakeStore is a minimal key store that keeps the Lessor contract the way
// core/mvcc does: it checks LeaseExists, detaches a key from its old lease
// before attaching it to a new one, and detaches every key it deletes.
type fakeStore struct {
	l    *Lessor
	rev  int64
	kv   map[string]int64 // key -> lease id (0: none)
	dels [][]string       // the keys of every DeleteKeys call that deleted something
}

func newFakeStore(l *Lessor) *fakeStore {
	s := &fakeStore{l: l, rev: 1, kv: make(map[string]int64)}
	l.SetDeleter(s)
	return s
}

func (s *fakeStore) put(key string, leaseID int64) error {
	if leaseID != 0 && !s.l.LeaseExists(leaseID) {
		return rpctypes.ErrGRPCLeaseNotFound
	}
	if old, ok := s.kv[key]; ok && old != 0 {
		s.l.Detach(old, []byte(key))
	}
	if leaseID != 0 {
		s.l.Attach(leaseID, []byte(key))
	}
	s.kv[key] = leaseID
	s.rev++
	return nil
}

func (s *fakeStore) del(key string) {
	if old, ok := s.kv[key]; ok {
		if old != 0 {
			s.l.Detach(old, []byte(key))
		}
		delete(s.kv, key)
		s.rev++
	}
}

func (s *fakeStore) DeleteKeys(keys [][]byte) int64 {
	var deleted []string
	for _, k := range keys {
		if old, ok := s.kv[string(k)]; ok {
			if old != 0 {
				s.l.Detach(old, k)
			}
			delete(s.kv, string(k))
			deleted = append(deleted, string(k))
		}
	}
	if len(deleted) > 0 {
		s.rev++
		s.dels = append(s.dels, deleted)
	}
	return s.rev
}

// fataler is what the helpers need from *testing.T and *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

func newTestLessor(t fataler, opts Options) (*Lessor, *clock.Manual) {
	t.Helper()
	clk := &clock.Manual{T: testEpoch}
	opts.Clock = clk
	return New(opts), clk
}

func TestOptionsValidateReportsEveryProblem(t *testing.T) {
	o := Options{TTLMinSeconds: -1, TTLMaxSeconds: MaxLeaseTTLSeconds + 1, LeasesMax: -5}
	err := o.Validate()
	if err == nil {
		t.Fatal("Validate accepted invalid options")
	}
	for _, want := range []string{"Clock is required", "TTLMinSeconds is -1", "TTLMaxSeconds is 9000000001", "LeasesMax is -5, want in [1, 1073741824]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q lacks %q", err, want)
		}
	}

	o = Options{Clock: &clock.Manual{}, TTLMinSeconds: 10, TTLMaxSeconds: 5}
	o.EnsureDefaults()
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "exceeds TTLMaxSeconds") {
		t.Errorf("Validate(min > max) = %v, want an error naming both", err)
	}

	o = Options{Clock: &clock.Manual{}}
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	if o.TTLMinSeconds != 2 || o.TTLMaxSeconds != 9_000_000_000 || o.LeasesMax != 1<<20 {
		t.Errorf("defaults = %+v", o)
	}
}

func TestNewPanicsWithoutClock(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "Clock is required") {
			t.Errorf("New without a clock: recovered %v, want a panic naming the clock", r)
		}
	}()
	New(Options{})
}

func TestGrant(t *testing.T) {
	tests := []struct {
		name    string
		id, ttl int64
		wantID  int64
		wantTTL int64
		wantErr error
	}{
		{name: "chosen id", id: 7, ttl: 10, wantID: 7, wantTTL: 10},
		{name: "negative id is allowed as in etcd", id: -3, ttl: 10, wantID: -3, wantTTL: 10},
		{name: "ttl raised to minimum", id: 8, ttl: 1, wantID: 8, wantTTL: 2},
		{name: "negative ttl raised to minimum", id: 9, ttl: -100, wantID: 9, wantTTL: 2},
		{name: "ttl at maximum", id: 10, ttl: MaxLeaseTTLSeconds, wantID: 10, wantTTL: MaxLeaseTTLSeconds},
		{name: "ttl too large", id: 11, ttl: MaxLeaseTTLSeconds + 1, wantErr: rpctypes.ErrGRPCLeaseTTLTooLarge},
		{name: "existing id", id: 1, ttl: 10, wantErr: rpctypes.ErrGRPCLeaseExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newTestLessor(t, Options{})
			if _, err := l.Grant(1, 5); err != nil {
				t.Fatal(err)
			}
			resp, err := l.Grant(tc.id, tc.ttl)
			if tc.wantErr != nil {
				// Exactly etcd's error value, so gRPC sends etcd's code and message.
				if err != tc.wantErr {
					t.Fatalf("Grant(%d, %d) error = %v, want %v", tc.id, tc.ttl, err, tc.wantErr)
				}
				if l.Len() != 1 {
					t.Fatalf("failed Grant changed the lease count to %d", l.Len())
				}
				return
			}
			if err != nil {
				t.Fatalf("Grant(%d, %d): %v", tc.id, tc.ttl, err)
			}
			if resp.ID != tc.wantID || resp.TTL != tc.wantTTL || resp.Header != nil {
				t.Fatalf("Grant(%d, %d) = %v, want ID %d TTL %d and no header", tc.id, tc.ttl, resp, tc.wantID, tc.wantTTL)
			}
			if !l.LeaseExists(tc.wantID) || l.Len() != 2 {
				t.Fatalf("granted lease %d missing (Len %d)", tc.wantID, l.Len())
			}
		})
	}
}

func TestGrantLeasesMax(t *testing.T) {
	l, _ := newTestLessor(t, Options{LeasesMax: 3})
	for i := range 3 {
		if _, err := l.Grant(0, 5); err != nil {
			t.Fatalf("grant %d: %v", i, err)
		}
	}
	_, err := l.Grant(0, 5)
	if !errors.Is(err, ErrLeasesMax) || !strings.Contains(err.Error(), "LeasesMax is 3") {
		t.Fatalf("fourth Grant error = %v, want ErrLeasesMax naming the limit", err)
	}
	// An existing id is still reported as such, even when full.
	if _, err := l.Grant(l.Leases().Leases[0].ID, 5); err != rpctypes.ErrGRPCLeaseExist {
		t.Fatalf("Grant(existing) when full = %v, want ErrGRPCLeaseExist", err)
	}
	ids := l.Leases().Leases
	if _, err := l.Revoke(ids[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Grant(0, 5); err != nil {
		t.Fatalf("Grant after a revoke freed room: %v", err)
	}
}

func TestGeneratedIDsAreDeterministicPositiveAndFree(t *testing.T) {
	a, _ := newTestLessor(t, Options{})
	b, _ := newTestLessor(t, Options{})
	// Occupy the first ids the generator would pick: it must skip them.
	g := newIDGenerator()
	first, second := g.next(), g.next()
	for _, l := range []*Lessor{a, b} {
		for _, id := range []int64{first, second} {
			if _, err := l.Grant(id, 5); err != nil {
				t.Fatal(err)
			}
		}
	}
	seen := map[int64]bool{first: true, second: true}
	for i := range 2000 {
		ra, err := a.Grant(0, 5)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := b.Grant(0, 5)
		if err != nil {
			t.Fatal(err)
		}
		if ra.ID != rb.ID {
			t.Fatalf("grant %d: members picked ids %d and %d", i, ra.ID, rb.ID)
		}
		if ra.ID <= 0 || seen[ra.ID] {
			t.Fatalf("grant %d: id %d is not positive or was taken", i, ra.ID)
		}
		seen[ra.ID] = true
	}
}

func TestMix63IsInjective(t *testing.T) {
	seen := make(map[uint64]uint64, 1<<16)
	for _, base := range []uint64{0, 1 << 20, idMask - 1<<15} {
		for x := base; x < base+1<<15; x++ {
			y := mix63(x)
			if y > idMask {
				t.Fatalf("mix63(%d) = %d leaves 63 bits", x, y)
			}
			if prev, dup := seen[y]; dup {
				t.Fatalf("mix63(%d) = mix63(%d) = %d", x, prev, y)
			}
			seen[y] = x
		}
	}
}

func TestNotFoundErrors(t *testing.T) {
	l, _ := newTestLessor(t, Options{})
	l.Promote(0)
	tests := []struct {
		name string
		call func() error
	}{
		{"Revoke", func() error { _, err := l.Revoke(42); return err }},
		{"KeepAlive", func() error { _, err := l.KeepAlive(42); return err }},
		{"TimeToLive", func() error { _, err := l.TimeToLive(42, true); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err != rpctypes.ErrGRPCLeaseNotFound {
				t.Fatalf("%s(unknown) = %v, want ErrGRPCLeaseNotFound", tc.name, err)
			}
		})
	}
	if l.LeaseExists(42) {
		t.Fatal("LeaseExists(42) after no grant")
	}
}

func TestNonPrimaryErrors(t *testing.T) {
	l, _ := newTestLessor(t, Options{})
	if _, err := l.Grant(1, 10); err != nil {
		t.Fatal(err)
	}
	if ttl, err := l.KeepAlive(1); err != rpctypes.ErrGRPCNotLeader || ttl != -1 {
		t.Errorf("KeepAlive on non-primary = %d, %v; want -1, ErrGRPCNotLeader", ttl, err)
	}
	if _, err := l.TimeToLive(1, false); err != rpctypes.ErrGRPCLeaderChanged {
		t.Errorf("TimeToLive on non-primary = %v, want ErrGRPCLeaderChanged", err)
	}
	if got := l.Expired(10); len(got) != 0 {
		t.Errorf("Expired on non-primary = %v, want none", got)
	}
}

func TestKeepAlive(t *testing.T) {
	l, clk := newTestLessor(t, Options{})
	l.Promote(0)
	if _, err := l.Grant(1, 10); err != nil {
		t.Fatal(err)
	}
	clk.Advance(9 * time.Second)
	if ttl, err := l.KeepAlive(1); err != nil || ttl != 10 {
		t.Fatalf("KeepAlive inside the TTL = %d, %v; want 10, nil", ttl, err)
	}
	clk.Advance(9 * time.Second)
	if got := l.Expired(10); len(got) != 0 {
		t.Fatalf("Expired 9 s after a keepalive of a 10 s lease = %v", got)
	}
	clk.Advance(time.Second)
	if got := l.Expired(10); !slices.Equal(got, []int64{1}) {
		t.Fatalf("Expired at the TTL = %v, want [1]", got)
	}
	// Past expiry the revoke may already be in flight: no revival.
	if ttl, err := l.KeepAlive(1); err != rpctypes.ErrGRPCLeaseNotFound || ttl != -1 {
		t.Fatalf("KeepAlive past expiry = %d, %v; want -1, ErrGRPCLeaseNotFound", ttl, err)
	}
	if !l.LeaseExists(1) {
		t.Fatal("KeepAlive past expiry removed the lease; only a revoke may")
	}
}

func TestTimeToLiveRounding(t *testing.T) {
	// etcd reports int64(Remaining().Seconds()): truncation toward zero.
	tests := []struct {
		elapsed time.Duration
		want    int64
	}{
		{0, 10},
		{1, 9},
		{500 * time.Millisecond, 9},
		{time.Second, 9},
		{9*time.Second + 999*time.Millisecond, 0},
		{10 * time.Second, 0},
		{10*time.Second + 500*time.Millisecond, 0},
		{11*time.Second + 500*time.Millisecond, -1},
	}
	for _, tc := range tests {
		t.Run(tc.elapsed.String(), func(t *testing.T) {
			l, clk := newTestLessor(t, Options{})
			l.Promote(0)
			if _, err := l.Grant(5, 10); err != nil {
				t.Fatal(err)
			}
			clk.Advance(tc.elapsed)
			resp, err := l.TimeToLive(5, false)
			if err != nil {
				t.Fatal(err)
			}
			if resp.ID != 5 || resp.TTL != tc.want || resp.GrantedTTL != 10 || resp.Keys != nil {
				t.Fatalf("TimeToLive after %v = %v, want TTL %d granted 10 no keys", tc.elapsed, resp, tc.want)
			}
		})
	}
}

func TestRevokeDeletesAttachedKeysInOneRevision(t *testing.T) {
	l, _ := newTestLessor(t, Options{})
	s := newFakeStore(l)
	for _, id := range []int64{1, 2} {
		if _, err := l.Grant(id, 10); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range []struct {
		key   string
		lease int64
	}{{"c", 1}, {"a", 1}, {"b", 2}, {"d", 1}, {"d", 0}, {"e", 0}} {
		if err := s.put(kv.key, kv.lease); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := l.TimeToLive(1, true)
	if err != rpctypes.ErrGRPCLeaderChanged || resp != nil {
		t.Fatalf("TimeToLive on a follower = %v, %v", resp, err)
	}
	l.Promote(0)
	resp, err = l.TimeToLive(1, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%q", resp.Keys); got != `["a" "c"]` {
		t.Fatalf("lease 1 keys = %s, want [a c] (d was re-put without a lease)", got)
	}
	rev := s.rev
	if _, err := l.Revoke(1); err != nil {
		t.Fatal(err)
	}
	if s.rev != rev+1 || len(s.dels) != 1 || !slices.Equal(s.dels[0], []string{"a", "c"}) {
		t.Fatalf("revoke: rev %d -> %d, deletions %v; want one revision deleting [a c]", rev, s.rev, s.dels)
	}
	if l.LeaseExists(1) || l.Len() != 1 {
		t.Fatal("revoked lease still known")
	}
	for _, k := range []string{"b", "d", "e"} {
		if _, ok := s.kv[k]; !ok {
			t.Fatalf("revoke of lease 1 deleted %q", k)
		}
	}
	// A lease without keys is forgotten without a store revision.
	if _, err := l.Grant(3, 10); err != nil {
		t.Fatal(err)
	}
	rev = s.rev
	if _, err := l.Revoke(3); err != nil || s.rev != rev {
		t.Fatalf("revoke of an empty lease: err %v, rev %d -> %d", err, rev, s.rev)
	}
	checkInvariants(t, l)
}

func TestInvariantViolationsPanic(t *testing.T) {
	tests := []struct {
		name string
		do   func(l *Lessor)
		want string
	}{
		{"attach to unknown lease", func(l *Lessor) { l.Attach(99, []byte("k")) }, "unknown lease 99"},
		{"attach key owned by another lease", func(l *Lessor) {
			l.Attach(1, []byte("k"))
			l.Attach(2, []byte("k"))
		}, "while attached to lease 1"},
		{"detach key not attached", func(l *Lessor) { l.Detach(1, []byte("k")) }, "not attached"},
		{"detach from the wrong lease", func(l *Lessor) {
			l.Attach(1, []byte("k"))
			l.Detach(2, []byte("k"))
		}, "not attached"},
		{"revoke with keys and no deleter", func(l *Lessor) {
			l.Attach(1, []byte("k"))
			l.Revoke(1)
		}, "no Deleter"},
		{"deleter that leaves keys attached", func(l *Lessor) {
			l.SetDeleter(deleterFunc(func([][]byte) int64 { return 0 }))
			l.Attach(1, []byte("k"))
			l.Revoke(1)
		}, "still attached"},
		{"promote with negative extension", func(l *Lessor) { l.Promote(-time.Second) }, "negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newTestLessor(t, Options{})
			for _, id := range []int64{1, 2} {
				if _, err := l.Grant(id, 10); err != nil {
					t.Fatal(err)
				}
			}
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), tc.want) {
					t.Fatalf("recovered %v, want a panic containing %q", r, tc.want)
				}
			}()
			tc.do(l)
		})
	}
}

type deleterFunc func([][]byte) int64

func (f deleterFunc) DeleteKeys(keys [][]byte) int64 { return f(keys) }

func TestAttachIsIdempotentForTheSameLease(t *testing.T) {
	l, _ := newTestLessor(t, Options{})
	if _, err := l.Grant(1, 10); err != nil {
		t.Fatal(err)
	}
	l.Attach(1, []byte("k"))
	l.Attach(1, []byte("k"))
	l.Detach(1, []byte("k"))
	if len(l.leases[1].keys) != 0 || len(l.keyLease) != 0 {
		t.Fatal("one Detach did not undo a repeated Attach")
	}
}

func TestExpiredOrderAndLimit(t *testing.T) {
	l, clk := newTestLessor(t, Options{})
	// Same TTL granted at the same time: ordered by id. Shorter TTL first.
	for _, g := range []struct{ id, ttl int64 }{{30, 5}, {10, 5}, {20, 3}, {40, 100}} {
		if _, err := l.Grant(g.id, g.ttl); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.Expired(10); got != nil {
		t.Fatalf("Expired before Promote = %v", got)
	}
	l.Promote(2 * time.Second)
	clk.Advance(4 * time.Second)
	if got := l.Expired(10); len(got) != 0 {
		t.Fatalf("Expired inside TTL+extend = %v", got)
	}
	clk.Advance(3 * time.Second)
	if got := l.Expired(10); !slices.Equal(got, []int64{20, 10, 30}) {
		t.Fatalf("Expired = %v, want [20 10 30] ((expiry, id) order)", got)
	}
	if got := l.Expired(2); !slices.Equal(got, []int64{20, 10}) {
		t.Fatalf("Expired(2) = %v, want [20 10]", got)
	}
	if got := l.Expired(0); len(got) != 0 {
		t.Fatalf("Expired(0) = %v", got)
	}
	l.Demote()
	if got := l.Expired(10); len(got) != 0 || l.IsPrimary() {
		t.Fatalf("after Demote: Expired = %v, primary %v", got, l.IsPrimary())
	}
	// A new leader restarts every clock.
	l.Promote(0)
	if got := l.Expired(10); len(got) != 0 {
		t.Fatalf("Expired right after Promote = %v", got)
	}
	checkInvariants(t, l)
}

// checkInvariants cross-checks the lessor's redundant indexes.
func checkInvariants(t fataler, l *Lessor) {
	t.Helper()
	attached := 0
	for id, ls := range l.leases {
		if ls.id != id {
			t.Fatalf("lease %d stored under id %d", ls.id, id)
		}
		for k := range ls.keys {
			if l.keyLease[k] != id {
				t.Fatalf("key %q in lease %d but indexed under %d", k, id, l.keyLease[k])
			}
		}
		attached += len(ls.keys)
		if l.primary == ls.expiry.IsZero() {
			t.Fatalf("lease %d expiry %v on primary=%v", id, ls.expiry, l.primary)
		}
	}
	if attached != len(l.keyLease) {
		t.Fatalf("%d keys in leases, %d in the key index", attached, len(l.keyLease))
	}
	want := 0
	if l.primary {
		want = len(l.leases)
	}
	if l.expiries.len() != want {
		t.Fatalf("expiry queue holds %d, want %d", l.expiries.len(), want)
	}
}

// fakeHarness adapts fakeStore to the property test.
type fakeHarness struct {
	*fakeStore
	seen int
}

func (h *fakeHarness) put(key string, leaseID int64) error { return h.fakeStore.put(key, leaseID) }
func (h *fakeHarness) del(key string)                      { h.fakeStore.del(key) }
func (h *fakeHarness) rev() int64                          { return h.fakeStore.rev }
func (h *fakeHarness) live() map[string]int64              { return maps.Clone(h.kv) }
func (h *fakeHarness) commits() map[int64][]string {
	// The fake records deletions only; each was one revision ending at
	// the current one when it was recorded, which is all Revoke checks.
	out := map[int64][]string{}
	for i := h.seen; i < len(h.dels); i++ {
		out[h.fakeStore.rev-int64(len(h.dels)-1-i)] = h.dels[i]
	}
	h.seen = len(h.dels)
	return out
}

func TestPropertyLeaseModelFakeStore(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		runLeaseModel(t, func(l *Lessor) kvHarness { return &fakeHarness{fakeStore: newFakeStore(l)} })
	})
}
