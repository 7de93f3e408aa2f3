package workloads

import (
	"testing"
	"time"

	"github.com/kvdlabs/kvd/linearizability"
	"github.com/kvdlabs/kvd/sim"
)

// kvRun runs wl for duration of virtual time on a fresh 3-member cluster,
// with fault (may be nil) applied to the cluster at a quarter of the run
// and healed at three quarters, then Finish, then Check.
func kvRun(t *testing.T, wl Workload, seed uint64, opts sim.ClusterOptions, fault func(c *sim.Cluster) (heal func())) []linearizability.Verdict {
	t.Helper()
	restore := sim.InstallCryptoRand(seed)
	defer restore()
	w := sim.New(seed, sim.Options{Network: sim.NetworkOptions{Link: sim.LinkOptions{LatencyBase: time.Millisecond, LatencyJitter: 2 * time.Millisecond}}})
	c := sim.NewCluster(w, opts)
	const duration = 6 * time.Second
	env := Env{Cluster: c.Driver(), Rand: w.Rand("workload"), Clients: 4, OpsMax: 400, End: w.Now().Add(duration)}
	w.RunFor(2 * time.Second) // elect a leader first
	env.End = w.Now().Add(duration)
	wl.Start(env)
	if fault != nil {
		w.RunFor(duration / 4)
		heal := fault(c)
		w.RunFor(duration / 2)
		heal()
	}
	w.RunUntil(env.End.Add(3 * time.Second))
	wl.Finish()
	w.RunFor(60 * time.Second)
	return wl.Check(20 * time.Second)
}

func outcomes(vs []linearizability.Verdict) map[string]linearizability.Verdict {
	m := map[string]linearizability.Verdict{}
	for _, v := range vs {
		m[v.Checker] = v
	}
	return m
}
