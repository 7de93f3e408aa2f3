package workloads

import (
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
		if !wl.setupDone || wl.allowed < 20 || wl.refused < 20 || vs[0].Operations < 40 {
			t.Fatalf("seed %d: too little judged: %s", tc.seed, vs[0].Detail)
		}
	}
}
