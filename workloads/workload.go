// Package workloads generates client operations for clusters, simulated
// or real processes alike (through package driver), shaped so that the
// checkers in package linearizability can judge them.
package workloads

import (
	"math/rand/v2"
	"time"

	"github.com/kvdlabs/kvd/core/node"
	"github.com/kvdlabs/kvd/linearizability"
	"github.com/kvdlabs/kvd/workloads/driver"
)

// Env is what a workload runs in.
type Env struct {
	// Cluster is the cluster the workload drives, simulated or real; its
	// callbacks all run on the cluster's one event loop.
	Cluster driver.Cluster
	// Rand is the workload's own random stream (World.Rand("workload")).
	Rand *rand.Rand
	// Clients is how many client sessions to open.
	Clients int
	// OpsMax bounds the operations issued, over all clients.
	OpsMax int
	// End is the virtual time after which no new operation starts, except
	// a workload's final operations (e.g. "a final write that must
	// succeed"), which run after the faults have healed.
	End time.Time
	// UnsafeRangeStreamUnpinned reads RangeStreams without pinning later
	// chunks to the first one's revision: the simulator's unsafe variant
	// of the client side, which the checkers must catch.
	UnsafeRangeStreamUnpinned bool
}

// NodeTuner is a workload that needs the members configured its way:
// TuneNode runs on the members' node configuration before they start, on
// the simulator's cluster or on real processes alike.
type NodeTuner interface {
	TuneNode(c *node.Config)
}

// Admin is a workload that turns auth on: Credentials name a user holding
// the root role, which a harness observing real members (their status,
// hashes and stores) presents once they refuse it for want of a token.
// The simulator's look at its members goes around auth and needs none.
type Admin interface {
	Credentials() (user, password string)
}

// Workload drives simulated clients and judges what they saw.
type Workload interface {
	// Name is the workload's name on the command line.
	Name() string
	// Start opens the clients and schedules the operations on env's World.
	// It returns at once; the caller runs the World.
	Start(env Env)
	// Finish is called once the World has run past env.End and the
	// cluster has settled: it issues the final operations (the caller
	// runs the World again) and returns when it has scheduled them.
	Finish()
	// Check judges everything recorded. timeout bounds each checker.
	Check(timeout time.Duration) []linearizability.Verdict
	// Ops is how many operations were issued.
	Ops() int
}
