// Package api serves the etcd v3 gRPC API (KV, Watch, Lease, Cluster,
// Maintenance, Auth) and etcd's HTTP endpoints (/health, /metrics) in front
// of one raft member, a core/node.Node, with links to its peers (PeerLinks:
// kvd's wiring hands it core/transport's; the adapter knows no transport).
//
// The member loop (Server.Run) is the only goroutine that touches the node.
// It wakes on a tick, a peer message, a report about a peer, a client request or
// a control function; drains whatever else is already waiting (bounded by
// Config.BatchMax) so many requests share one Process call and one fsync;
// then calls Process once and delivers its output: messages to the
// transport, results to the waiting gRPC handlers (by request id), watch
// responses to their streams (by stream id). A Process error means the
// member's storage failed: Run returns it and the daemon exits.
//
// gRPC handlers never block the loop: requests go through bounded channels,
// and every answer channel has room for its one answer. Watch responses go
// to each stream's bounded queue; a stream that stops reading is cut off
// (the client reconnects and resumes from its last revision), so one slow
// client cannot stall the member.
//
// Lease keepalives and TimeToLive are answered by the leader only (it alone
// tracks expiry); a follower forwards them to the leader's client URL over
// gRPC, as etcd forwards them over its peer URL.
//
// Errors a client sees are etcd's own (go.etcd.io/etcd/api/v3/v3rpc/rpctypes),
// and every response header carries cluster_id, member_id, revision and
// raft_term. gRPC and HTTP share the client port: ServeClient routes each
// connection by its first bytes — the HTTP/2 client preface goes to gRPC's
// own transport, anything else to the HTTP mux: etcd's JSON gateway
// (/v3/..., gateway.go, reaching gRPC over an in-process connection), the
// live dashboard (/dashboard, package dashboard), /health, /metrics and
// pprof.
//
// The backend quota is judged against the size of the member's data
// directory (WAL and snapshots) — the bytes the member keeps on disk for its
// keys and values, the closest analogue of etcd's bbolt file size. Crossing
// it raises the NOSPACE alarm on this member: writes fail with etcd's
// ErrGRPCNoSpace while reads and deletes are served, until an operator
// disarms the alarm (etcdctl alarm disarm) with the size back under quota.
package api
