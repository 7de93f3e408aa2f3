package api

import (
	"context"
	"fmt"
	"net"
	"net/url"

	"go.etcd.io/raft/v3/raftpb"
)

// PeerLinks is what a member needs of its links to the other members.
// The adapter knows no particular transport: kvd's wiring hands it
// core/transport's, and another harness may hand it its own.
type PeerLinks interface {
	// Received delivers messages from peers to the member loop.
	Received() <-chan *raftpb.Message
	// Reports delivers raft's local feedback: MsgUnreachable, and
	// MsgSnapStatus (Reject when a snapshot failed), From naming the peer.
	Reports() <-chan *raftpb.Message
	// Send queues messages for their recipients without blocking.
	Send(msgs []*raftpb.Message)
	// SetPeer adds a peer or changes its URL; RemovePeer stops sending to it.
	SetPeer(id uint64, peerURL string) error
	RemovePeer(id uint64)
	// FetchHashKV asks a peer for its HashKV at rev, encoded, over the
	// peer links (the corruption checks).
	FetchHashKV(ctx context.Context, peerURL string, rev int64) ([]byte, error)
}

// feedback hands one of PeerLinks' reports to raft.
func (s *Server) feedback(m *raftpb.Message) {
	switch m.GetType() {
	case raftpb.MsgUnreachable:
		s.n.ReportUnreachable(m.GetFrom())
	case raftpb.MsgSnapStatus:
		s.n.ReportSnapshot(m.GetFrom(), !m.GetReject())
	default:
		panic(fmt.Sprintf("api: peer links reported a %v", m.GetType()))
	}
}

// hostPort turns a URL ("http://127.0.0.1:2379") or a bare host:port into
// the address to dial.
func hostPort(rawURL string) (string, error) {
	if u, err := url.Parse(rawURL); err == nil && u.Host != "" {
		return u.Host, nil
	}
	if _, _, err := net.SplitHostPort(rawURL); err != nil {
		return "", fmt.Errorf("api: address %q: %w", rawURL, err)
	}
	return rawURL, nil
}
