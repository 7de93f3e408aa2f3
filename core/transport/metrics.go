package transport

import "time"

// Metrics receives what the transport measures, each peer named by its
// member id. The transport imports no metrics library: kvd hands it
// api.PeerMetrics, which turns these calls into etcd's etcd_network_peer_*
// series. Implementations are called from connection goroutines, once per
// flush or frame, and must be cheap and must not block.
type Metrics interface {
	// PeerSent counts the bytes of frames a peer was sent: a stream flush,
	// a snapshot once acknowledged.
	PeerSent(to uint64, bytes int)
	// PeerReceived counts the bytes of one frame read from a peer.
	PeerReceived(from uint64, bytes int)
	// PeerSendFailed counts messages to a peer that were dropped: its
	// queue was full, it was unknown or unreachable, a write failed, a
	// snapshot did not reach it.
	PeerSendFailed(to uint64, messages int)
	// PeerReceiveFailed counts a message from a peer dropped because the
	// member loop was behind.
	PeerReceiveFailed(from uint64)
	// PeerActive reports the stream connection to a peer coming up (true)
	// or going down (false).
	PeerActive(id uint64, active bool)
	// PeerRoundTrip is one probe's round trip to a peer: the time between
	// writing a probe and reading its echo, which the peer writes from its
	// connection goroutine, never from its member loop.
	PeerRoundTrip(to uint64, rtt time.Duration)
}
