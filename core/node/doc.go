// Package node is one raft member: a go.etcd.io/raft/v3 RawNode, the
// write-ahead log, and the state machine (mvcc store, lessor, watch hub),
// driven entirely by its caller.
//
// A Node is a value with no goroutines, no channels and no clock of its own.
// Its caller feeds it inputs and collects what to do next:
//
//	n.Tick()                 // one logical clock tick
//	n.Receive(msg)           // a raft message from a peer
//	id := n.Submit(req)      // a client request (read or write)
//	out, err := n.Process()  // persist → send → apply → advance, once for everything pending
//	// out.Messages to peers, out.Results to clients, out.Watch to watch streams
//
// kvd wraps a Node in one goroutine that owns it; the simulator calls it from
// its single event loop. Either way the same code runs.
//
// Ready handling follows raft's order: the snapshot and the entries and hard
// state of a Ready are written to the WAL and synced, then messages are
// handed out, then committed entries are applied in log order, then the
// RawNode is advanced. Everything a Ready asks for is done in one Process
// call, so many submitted requests share one fsync. With Config.BeforePersist
// set (kvd and the simulator), what need not wait for the fsync leaves before
// it, as in etcd: a steady leader's messages, a follower's heartbeat answers
// and read-index requests, and the answers for entries already committed —
// durable on a quorum — which are applied first.
//
// A state snapshot is taken when the log since the last one is long enough
// (SnapshotEntries, and a quarter of the last snapshot's size) and written a
// step per Process, never in one stall (snapshot.go).
//
// Writes are proposed as one raft entry carrying an etcdserverpb
// InternalRaftRequest with a request id; the member that proposed it
// completes the waiting request with the apply result. Each request id is
// applied once: a proposal that reached the log twice (a network that
// duplicates MsgProp) is skipped the second time, judged against a bounded
// window of applied ids that is part of the replicated state. A proposal that loses
// its leader completes with etcd's leader-changed error, one that waits too
// long with the timeout error: both mean "indeterminate", never "failed".
//
// Linearizable reads use ReadIndex (raft.ReadOnlySafe): a member has one
// round in flight, reads arriving meanwhile share the next one, and they are
// served once the applied index reaches the read index (read.go). Serializable reads are served from
// the local state at once.
//
// Only the leader tracks lease expiry; it proposes a revoke for each expired
// lease, so every member deletes the same keys at the same revision. Lease
// time is tick time (TickInterval per Tick), monotonic like the clock etcd
// measures TTLs on: a step of the wall clock neither revokes a lease early
// nor keeps an abandoned one alive.
//
// Invariants (applied index never goes back and moves by one entry at a time,
// the store revision never decreases) panic: a violation is a bug report.
package node
