// Package lease is kvd's lessor: it grants leases, remembers which keys are
// attached to which lease, and tells the raft leader which leases have
// outlived their TTL.
//
// # Who decides that a lease expired
//
// Expiry is judged by one member only, the primary (the raft leader), and
// only against the injected clock.Clock. Every other member keeps every
// lease alive forever. The primary does not delete anything itself: Expired
// merely reports leases past their expiry, the leader proposes a revoke
// through raft, and every member applies that revoke at the same log index,
// so all members delete the same keys at the same revision. Judging expiry
// on every member's own clock instead would let members disagree about the
// keyspace.
//
// Because a new leader cannot know how much of a lease's TTL had already
// passed under the old one, Promote restarts every lease's clock at
// now+TTL+extend, as etcd's lessor does. Demote stops the clocks again.
//
// # What goes through raft and what does not
//
// Grant and Revoke change replicated state and are applied in log order;
// Grant with id 0 picks an id from a deterministic generator whose state is
// part of the snapshot, so every member picks the same id. KeepAlive,
// TimeToLive and Expired are answered by the primary from its local expiry
// bookkeeping, as in etcd, and never go through raft.
//
// # Errors seen by clients
//
// Errors an etcd client may see are returned unwrapped, exactly as
// go.etcd.io/etcd/api/v3/v3rpc/rpctypes declares them, so the gRPC layer
// can return them as they are (wrapping would change the status message).
// One etcd behaviour belongs to the gRPC layer, not here: for an unknown
// lease etcd's LeaseTimeToLive RPC answers a response with TTL -1 instead of
// an error. TimeToLive here returns rpctypes.ErrGRPCLeaseNotFound and the
// gRPC adapter turns that into TTL -1, as etcd's v3rpc layer does.
//
// # Determinism
//
// The package is part of the deterministic core: no goroutines, no wall
// clock, no global randomness, and no Go map iteration order reaches any
// output (keys and leases are sorted; expiry order is kept in a B-tree
// ordered by (expiry, id)). Mutating methods are not safe for concurrent
// use; the caller serializes them, as the apply loop does.
package lease
