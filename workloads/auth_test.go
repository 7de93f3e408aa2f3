package workloads

import (
	"bytes"
	"testing"

	"github.com/kvdlabs/kvd/linearizability"
	"github.com/kvdlabs/kvd/sim"
)

func TestAuthIsOK(t *testing.T) {
	for _, tc := range []struct {
		seed  uint64
		fault func(*sim.Cluster) func()
	}{{1, nil}, {2, isolateFollower}} {
		wl := NewAuth()
		vs := kvRun(t, wl, tc.seed, sim.ClusterOptions{}, tc.fault)
		if len(vs) != 1 || vs[0].Outcome != linearizability.OK {
			t.Fatalf("seed %d: %+v", tc.seed, vs)
		}
		t.Logf("seed %d: %d ops, %d allowed, %d refused, %d invalid tokens, %d old revisions, %d authentications; %s",
			tc.seed, wl.Ops(), wl.allowed, wl.refused, wl.invalidTokens, wl.oldRevisions, wl.authenticated, vs[0].Detail)
		if !wl.setupDone || wl.allowed < 20 || wl.refused < 20 || vs[0].Operations < 40 || wl.probes < 10 {
			t.Fatalf("seed %d: too little judged (%d boundary probes answered): %s", tc.seed, wl.probes, vs[0].Detail)
		}
	}
}

// A target's edges: range_end is the first key outside, last a key inside
// next to it, past the key right after range_end.
func TestAuthTargetBounds(t *testing.T) {
	for _, c := range []struct {
		t               authTarget
		last, end, past string
	}{
		{authTarget{key: []byte("/auth/p1/"), end: []byte("/auth/p10")}, "/auth/p1/\xff", "/auth/p10", "/auth/p10\x00"},
		{authTarget{key: []byte("/auth/p1/k0")}, "/auth/p1/k0", "/auth/p1/k0\x00", "/auth/p1/k0\x00\x00"},
		{authTarget{key: []byte("/auth/p1/k0"), end: []byte("/auth/p1/k1")}, "/auth/p1/k0\xff", "/auth/p1/k1", "/auth/p1/k1\x00"},
	} {
		last, end, past := c.t.bounds()
		if string(last) != c.last || string(end) != c.end || string(past) != c.past {
			t.Errorf("bounds of [%q, %q) = %q, %q, %q; want %q, %q, %q", c.t.key, c.t.end, last, end, past, c.last, c.end, c.past)
		}
		if bytes.Compare(last, c.t.key) < 0 || bytes.Compare(last, end) >= 0 {
			t.Errorf("last %q is outside [%q, %q)", last, c.t.key, end)
		}
	}
}
