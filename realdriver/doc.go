// Package realdriver drives real etcd-compatible members (kvd or etcd)
// over gRPC as a driver.Cluster, so the workloads and checkers written for
// the simulator judge real processes unchanged.
//
// # The loop
//
// A Loop is the real counterpart of the simulator's World: the workload's
// callbacks run on the goroutine that calls RunUntil, RunWhile or Step,
// one at a time, so workload code needs no locks. Every gRPC call runs in
// a goroutine of its own and posts its completion (a closure) to a bounded
// channel the loop drains; timers (After) wait in a heap on the loop and
// fire in order of (due time, scheduling order). Now is the wall clock.
// The loop never waits on the network: connections are dialed without
// blocking, and a call to a member that is down waits in its goroutine,
// not on the loop.
//
// # Calls
//
// A Session mirrors the simulator's client (sim.Client): one connection
// per member it has talked to, a target member (session i starts at member
// i mod N), a sequence number per call, an auth token sent as the "token"
// gRPC metadata, and a move to the next member when a call times out or
// the member says it cannot serve (driver.RetryElsewhere). Each call is
// exactly one RPC attempt: clientv3's retrying interceptor is held to one
// attempt, so what a checker sees is what the member answered.
//
// Errors are etcd's own values: a status error whose code and message are
// those of an rpctypes.ErrGRPC* variable becomes that very variable, so a
// workload may compare with ==. A call that outlives its timeout, is
// canceled, or fails in transport (Unavailable without an etcd message)
// may or may not have taken effect: it completes with TimedOut set and no
// error, as a simulated call whose answer never came.
//
// Call.Invoke is taken on the loop just before the request leaves;
// Call.Return is the wall-clock time the call's goroutine got its answer
// (or gave up), which can be earlier than the loop hands the completion
// to the workload. That is the tighter bound: a checker that ages a lease
// from Return, or orders operations by it, is never told a call ended
// later than it did because the loop was busy.
package realdriver
