package realdriver

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/kvdlabs/kvd/linearizability"
	"github.com/kvdlabs/kvd/workloads"
	"github.com/kvdlabs/kvd/workloads/driver"
)

// The register workload runs on the loop unchanged and its checkers pass
// a healthy cluster: the driver is what the simulator's is, to a
// workload. A cluster of its own, so the committed history it reads back
// from revision 1 is not cut by other tests' compactions.
func TestRegisterWorkloadPasses(t *testing.T) {
	c, err := startCluster(filepath.Join(t.TempDir(), "register"), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	l := newLoop(t, Options{Members: c.members()})
	var calls int
	l.Observe(func(driver.Call) { calls++ })
	wl := workloads.NewRegister(workloads.RegisterOptions{Keys: 3})
	end := time.Now().Add(2 * time.Second)
	wl.Start(workloads.Env{Cluster: l, Rand: rand.New(rand.NewPCG(1, 2)), Clients: 3, OpsMax: 300, End: end})
	l.RunUntil(end)
	wl.Finish()
	if !l.RunWhile(func() bool { return !wl.Finished() }, time.Now().Add(15*time.Second)) {
		t.Fatal("the register's final writes and committed-history read did not finish within 15 s")
	}
	if calls < 20 {
		t.Fatalf("only %d calls in 2 s", calls)
	}
	for _, v := range wl.Check(10 * time.Second) {
		if v.Outcome != linearizability.OK {
			t.Errorf("%s: %s: %s", v.Checker, v.Outcome, v.Detail)
		}
	}
}
