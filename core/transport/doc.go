// Package transport carries raft messages between kvd members over TCP.
//
// It is the real-network counterpart of the simulator's network and lives
// outside the deterministic core: it uses goroutines, sockets and timers, and
// never touches a node. The member loop hands it outgoing messages with Send
// and drains Received and Reports; the transport never blocks that loop.
//
// Wire format. Every connection opens with a hello
//
//	magic "KVDPEER1" | kind u8 | clusterID u64 | fromID u64
//
// and then carries frames of one protobuf-encoded raftpb.Message each:
//
//	length u64 | message[length]
//
// A stream connection (kind 0) is long-lived: one per peer, written by that
// peer's sender goroutine from a bounded queue. A message that finds the queue
// full, or a peer that cannot be reached, is dropped and reported unreachable:
// raft retransmits, and a report makes it probe instead of streaming into the
// void. The sender reconnects with exponential backoff.
//
// A snapshot connection (kind 1) carries exactly one MsgSnap, which can be
// large; the receiver answers one byte once the message is handed to the
// member loop, and the sender reports SnapshotOK or SnapshotFailed so raft
// can resume replication to that follower.
//
// A probe connection (kind 4), opened only when Options.Metrics is set,
// measures the round trip to one peer: every Options.ProbeInterval the
// dialer writes 8 bytes and the peer echoes them from its connection
// goroutine, never from its member loop, so the time is the network's
// (etcd's prober asks a peer's /raft/probing the same way). A member that
// does not know the kind closes the connection: no measurement, nothing
// else changes. Options.Metrics also hears of the bytes of every frame
// sent and received, of dropped messages and of the stream connection
// going up and down; kvd turns that into etcd's etcd_network_peer_* series.
//
// TLS. A peer whose URL is https is dialed with TLS (Options.ClientTLS,
// asked afresh for every connection), and ServeTLS accepts only connections
// that complete a handshake with Options.ServerTLS; the hello and frames
// then travel inside TLS unchanged. As etcd's peer listener does, a peer
// certificate that names hosts must name the address it connects from.
// The package reads no certificate files: rotation is the caller's, in
// the configuration's callbacks.
//
// Limits: FrameBytesMax bounds what a receiver reads for one frame, so a
// corrupt length cannot make it allocate without bound; the queues are
// bounded by Options.
package transport
