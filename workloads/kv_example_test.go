package workloads_test

import (
	"fmt"
	"time"

	"github.com/kvdlabs/kvd/sim"
	"github.com/kvdlabs/kvd/workloads"
)

// Run the register workload on a fault-free three-member cluster: start
// it, run the World to the end of the workload, let Finish write every key
// once more, run the World again so the final state is captured, and judge.
func ExampleRegister() {
	const seed = 7
	restore := sim.InstallCryptoRand(seed)
	defer restore()
	w := sim.New(seed, sim.Options{})
	cluster := sim.NewCluster(w, sim.ClusterOptions{Members: 3})
	w.RunFor(2 * time.Second) // elect a leader

	wl := workloads.NewRegister(workloads.RegisterOptions{Keys: 10})
	wl.Start(workloads.Env{Cluster: cluster.Driver(), Rand: w.Rand("workload"), Clients: 3, OpsMax: 200, End: w.Now().Add(5 * time.Second)})
	w.RunFor(6 * time.Second)
	wl.Finish()
	w.RunFor(30 * time.Second)
	for _, v := range wl.Check(10 * time.Second) {
		fmt.Println(v.Checker, v.Outcome)
	}
	// Output:
	// kv-linearizable ok
	// kv-serializable-reads ok
	// kv-durability ok
	// convergence ok
	// register-final-writes ok
}
