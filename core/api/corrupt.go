package api

import (
	"context"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/core/node"
)

// checkCorruption runs etcd's periodic corruption check every
// CorruptCheckInterval while this member leads, until the member stops.
func (s *Server) checkCorruption(ctx context.Context) {
	if s.cfg.CorruptCheckInterval <= 0 {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.donec:
			return
		case <-time.After(s.cfg.CorruptCheckInterval):
		}
		if s.view.Load().status.IsLeader {
			if err := s.corruptionCheck(ctx); err != nil {
				s.cfg.Logger.Warn("corruption check did not finish", "err", err)
			}
		}
	}
}

// corruptionCheck asks every peer for its HashKV at the leader's revision
// and raises CORRUPT for the member node.JudgeHashes names.
func (s *Server) corruptionCheck(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LeaseForwardTimeout)
	defer cancel()
	hash := func() (resp *pb.HashKVResponse, err error) {
		if cerr := s.control(ctx, func() { resp, err = s.n.HashKV(0) }); cerr != nil {
			return nil, cerr
		}
		return resp, err
	}
	own, err := hash()
	if err != nil {
		return err
	}
	var peers []node.PeerHash
	for _, m := range s.view.Load().members {
		if m.ID == s.cfg.Node.ID || len(m.ClientURLs) == 0 {
			continue
		}
		p := node.PeerHash{ID: m.ID}
		if conn, err := s.forwarder.conn(m.ClientURLs[0]); err == nil {
			// An unreachable, lagging or compacted-past peer answers
			// nothing here, as in etcd.
			p.Resp, _ = pb.NewMaintenanceClient(conn).HashKV(ctx, &pb.HashKVRequest{Revision: own.HashRevision})
		}
		peers = append(peers, p)
	}
	// A linearizable read: every peer answer above is now in the past.
	if _, err := s.do(ctx, &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte{0}, CountOnly: true}}, false); err != nil {
		return err
	}
	after, err := hash()
	if err != nil {
		return err
	}
	corrupt, why := node.JudgeHashes(s.cfg.Node.ID, own, after, peers)
	if corrupt == 0 {
		return nil
	}
	s.cfg.Logger.Error("corruption check: raising CORRUPT", "member", formatID(corrupt), "why", why)
	_, err = s.do(ctx, &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: corrupt, Alarm: pb.AlarmType_CORRUPT}}, true)
	return err
}
