package lease

import (
	"maps"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"pgregory.net/rapid"
)

// kvHarness is the key store the property test drives next to the lessor.
type kvHarness interface {
	put(key string, leaseID int64) error
	del(key string)
	rev() int64
	// live returns every live key with the lease it was last written with.
	live() map[string]int64
	// commits returns, for every write revision since the last call, the
	// keys it deleted (nil for a revision that deleted nothing).
	commits() map[int64][]string
}

// modelLease is the reference model of one lease.
type modelLease struct {
	ttlSeconds int64
	expiry     time.Time // zero while not primary
	keys       map[string]bool
}

// model is a plain reference implementation: maps and sorting, no clever
// indexes, written from etcd's documented behaviour.
type model struct {
	leases  map[int64]*modelLease
	kv      map[string]int64
	primary bool
}

func (m *model) expired(now time.Time) []int64 {
	if !m.primary {
		return nil
	}
	var ids []int64
	for id, ml := range m.leases {
		if !ml.expiry.After(now) {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b int64) int {
		if c := m.leases[a].expiry.Compare(m.leases[b].expiry); c != 0 {
			return c
		}
		return int(sign(a - b))
	})
	return ids
}

func sign(x int64) int64 {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

func sortedKeys(set map[string]bool) []string {
	return slices.Sorted(maps.Keys(set))
}

// runLeaseModel drives a lessor and a store with random operations and
// compares them after every step with the model.
func runLeaseModel(t *rapid.T, newHarness func(*Lessor) kvHarness) {
	const ttlMinSeconds = 2
	l, clk := newTestLessor(t, Options{TTLMinSeconds: ttlMinSeconds, TTLMaxSeconds: 1000, LeasesMax: 8})
	h := newHarness(l)
	h.commits()
	m := &model{leases: map[int64]*modelLease{}, kv: map[string]int64{}}

	keyGen := rapid.SampledFrom([]string{"a", "b", "c", "d", "e", "f"})
	// Small client-chosen ids collide with each other; 0 asks for a
	// generated id.
	idGen := rapid.Int64Range(0, 5)
	knownID := func(t *rapid.T) int64 {
		ids := slices.Sorted(maps.Keys(m.leases))
		ids = append(ids, 3, 77) // sometimes an unknown id
		return rapid.SampledFrom(ids).Draw(t, "lease")
	}

	t.Repeat(map[string]func(*rapid.T){
		"": func(t *rapid.T) { checkAgainstModel(t, l, h, m, clk.Now()) },
		"grant": func(t *rapid.T) {
			id, ttl := idGen.Draw(t, "id"), rapid.Int64Range(-1, 1001).Draw(t, "ttl")
			resp, err := l.Grant(id, ttl)
			_, exists := m.leases[id]
			switch {
			case ttl > 1000:
				if err != rpctypes.ErrGRPCLeaseTTLTooLarge {
					t.Fatalf("Grant(%d, %d) = %v, want ErrGRPCLeaseTTLTooLarge", id, ttl, err)
				}
				return
			case id != 0 && exists:
				if err != rpctypes.ErrGRPCLeaseExist {
					t.Fatalf("Grant(%d, %d) = %v, want ErrGRPCLeaseExist", id, ttl, err)
				}
				return
			case len(m.leases) == 8:
				if err == nil {
					t.Fatalf("Grant beyond LeasesMax succeeded")
				}
				return
			case err != nil:
				t.Fatalf("Grant(%d, %d): %v", id, ttl, err)
			}
			if id == 0 {
				if _, taken := m.leases[resp.ID]; taken || resp.ID <= 0 {
					t.Fatalf("generated id %d is taken or not positive", resp.ID)
				}
			} else if resp.ID != id {
				t.Fatalf("Grant(%d) granted id %d", id, resp.ID)
			}
			want := max(ttl, ttlMinSeconds)
			if resp.TTL != want {
				t.Fatalf("Grant ttl %d -> %d, want %d", ttl, resp.TTL, want)
			}
			ml := &modelLease{ttlSeconds: want, keys: map[string]bool{}}
			if m.primary {
				ml.expiry = clk.Now().Add(time.Duration(want) * time.Second)
			}
			m.leases[resp.ID] = ml
		},
		"put with lease": func(t *rapid.T) {
			key, id := keyGen.Draw(t, "key"), knownID(t)
			rev := h.rev()
			err := h.put(key, id)
			if _, ok := m.leases[id]; !ok {
				if err != rpctypes.ErrGRPCLeaseNotFound || h.rev() != rev {
					t.Fatalf("put %q with unknown lease %d: err %v, rev %d -> %d", key, id, err, rev, h.rev())
				}
				return
			}
			if err != nil {
				t.Fatalf("put %q lease %d: %v", key, id, err)
			}
			if old := m.kv[key]; old != 0 {
				delete(m.leases[old].keys, key)
			}
			m.kv[key] = id
			m.leases[id].keys[key] = true
		},
		"put without lease": func(t *rapid.T) {
			key := keyGen.Draw(t, "key")
			if err := h.put(key, 0); err != nil {
				t.Fatalf("put %q: %v", key, err)
			}
			if old := m.kv[key]; old != 0 {
				delete(m.leases[old].keys, key)
			}
			m.kv[key] = 0
		},
		"delete": func(t *rapid.T) {
			key := keyGen.Draw(t, "key")
			h.del(key)
			if old, ok := m.kv[key]; ok {
				if old != 0 {
					delete(m.leases[old].keys, key)
				}
				delete(m.kv, key)
			}
		},
		"revoke": func(t *rapid.T) {
			id := knownID(t)
			h.commits()
			rev := h.rev()
			_, err := l.Revoke(id)
			ml, ok := m.leases[id]
			if !ok {
				if err != rpctypes.ErrGRPCLeaseNotFound {
					t.Fatalf("Revoke(unknown %d) = %v", id, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Revoke(%d): %v", id, err)
			}
			want := sortedKeys(ml.keys)
			commits := h.commits()
			if len(want) == 0 {
				if h.rev() != rev || len(commits) != 0 {
					t.Fatalf("revoke of keyless lease %d wrote: rev %d -> %d, %v", id, rev, h.rev(), commits)
				}
			} else if h.rev() != rev+1 || len(commits) != 1 || !slices.Equal(commits[rev+1], want) {
				t.Fatalf("revoke %d: rev %d -> %d, commits %v; want one revision deleting %q", id, rev, h.rev(), commits, want)
			}
			for _, k := range want {
				delete(m.kv, k)
			}
			delete(m.leases, id)
		},
		"keepalive": func(t *rapid.T) {
			id := knownID(t)
			ttl, err := l.KeepAlive(id)
			ml, ok := m.leases[id]
			switch {
			case !m.primary:
				if err != rpctypes.ErrGRPCNotLeader {
					t.Fatalf("KeepAlive(%d) on follower = %v", id, err)
				}
			case !ok || !ml.expiry.After(clk.Now()):
				if err != rpctypes.ErrGRPCLeaseNotFound {
					t.Fatalf("KeepAlive(%d) of unknown or expired lease = %d, %v", id, ttl, err)
				}
			default:
				if err != nil || ttl != ml.ttlSeconds {
					t.Fatalf("KeepAlive(%d) = %d, %v; want %d", id, ttl, err, ml.ttlSeconds)
				}
				ml.expiry = clk.Now().Add(time.Duration(ml.ttlSeconds) * time.Second)
			}
		},
		"advance clock": func(t *rapid.T) {
			clk.Advance(time.Duration(rapid.IntRange(0, 12).Draw(t, "quarterSeconds")) * 250 * time.Millisecond)
		},
		"promote": func(t *rapid.T) {
			extend := time.Duration(rapid.IntRange(0, 4).Draw(t, "extendSeconds")) * time.Second
			l.Promote(extend)
			m.primary = true
			for _, ml := range m.leases {
				ml.expiry = clk.Now().Add(time.Duration(ml.ttlSeconds)*time.Second + extend)
			}
		},
		"demote": func(t *rapid.T) {
			l.Demote()
			m.primary = false
			for _, ml := range m.leases {
				ml.expiry = time.Time{}
			}
		},
		"snapshot round trip": func(t *rapid.T) {
			snap := l.Snapshot()
			other, _ := newTestLessor(t, Options{TTLMinSeconds: ttlMinSeconds, TTLMaxSeconds: 1000, LeasesMax: 8})
			if err := other.Restore(snap); err != nil {
				t.Fatalf("Restore(Snapshot()): %v", err)
			}
			if got := other.Snapshot(); string(got) != string(snap) {
				t.Fatalf("snapshot changed across Restore")
			}
			// The restored lessor generates the same next id.
			a, errA := l.clone(t).Grant(0, 5)
			b, errB := other.Grant(0, 5)
			if (errA == nil) != (errB == nil) || (errA == nil && a.ID != b.ID) {
				t.Fatalf("restored lessor's next id %v/%v differs from %v/%v", b, errB, a, errA)
			}
		},
	})
}

// checkAgainstModel compares everything observable with the model.
func checkAgainstModel(t *rapid.T, l *Lessor, h kvHarness, m *model, now time.Time) {
	checkInvariants(t, l)
	ids := slices.Sorted(maps.Keys(m.leases))
	var got []int64
	for _, st := range l.Leases().Leases {
		got = append(got, st.ID)
	}
	if !slices.Equal(got, ids) || l.Len() != len(ids) {
		t.Fatalf("Leases() = %v (Len %d), want %v", got, l.Len(), ids)
	}
	if live := h.live(); !maps.Equal(live, m.kv) {
		t.Fatalf("store keys %v, want %v", live, m.kv)
	}
	if l.IsPrimary() != m.primary {
		t.Fatalf("IsPrimary %v, want %v", l.IsPrimary(), m.primary)
	}
	for _, id := range ids {
		ml := m.leases[id]
		resp, err := l.TimeToLive(id, true)
		if !m.primary {
			if err != rpctypes.ErrGRPCLeaderChanged {
				t.Fatalf("TimeToLive(%d) on follower = %v", id, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("TimeToLive(%d): %v", id, err)
		}
		var keys []string
		for _, k := range resp.Keys {
			keys = append(keys, string(k))
		}
		wantTTL := int64(ml.expiry.Sub(now).Seconds())
		if !slices.Equal(keys, sortedKeys(ml.keys)) || resp.TTL != wantTTL || resp.GrantedTTL != ml.ttlSeconds {
			t.Fatalf("TimeToLive(%d) = keys %q TTL %d granted %d; want %q %d %d",
				id, keys, resp.TTL, resp.GrantedTTL, sortedKeys(ml.keys), wantTTL, ml.ttlSeconds)
		}
	}
	if got, want := l.Expired(100), m.expired(now); !slices.Equal(got, want) {
		t.Fatalf("Expired = %v, want %v (primary %v)", got, want, m.primary)
	}
}

// clone copies a lessor through its snapshot, keeping the primary role.
func (l *Lessor) clone(t fataler) *Lessor {
	c := New(l.opts)
	if err := c.Restore(l.Snapshot()); err != nil {
		t.Fatalf("clone: %v", err)
	}
	return c
}
