package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"

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
	own, err := s.ownHash(ctx)
	if err != nil {
		return err
	}
	peers := s.peerHashes(ctx, own.HashRevision)
	// A linearizable read: every peer answer above is now in the past.
	if _, err := s.do(ctx, &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte{0}, CountOnly: true}}, false); err != nil {
		return err
	}
	after, err := s.ownHash(ctx)
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

// ErrInconsistent is what the initial corruption check returns when a
// peer holds a different history at this member's revision.
var ErrInconsistent = errors.New("found data inconsistency with peers")

// InitialCorruptCheck is etcd's initial corruption check (its feature
// gate InitialCorruptCheck): once this member has applied the log it
// recovered, it asks every peer for HashKV at its own revision; a peer
// with the same compaction revision and another hash means this member's
// data and the cluster's differ, and the member must not serve (wrapped
// ErrInconsistent). Peers that cannot answer — down, behind, compacted
// past the revision — are skipped, as etcd skips them. Run must be
// running; call it before serving clients.
func (s *Server) InitialCorruptCheck(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LeaseForwardTimeout)
	defer cancel()
	for s.view.Load().status.AppliedIndex < s.recoveredCommit {
		select {
		case <-ctx.Done():
			return fmt.Errorf("api: initial corruption check: applied index %d never reached the recovered commit %d: %w",
				s.view.Load().status.AppliedIndex, s.recoveredCommit, ctx.Err())
		case <-s.donec:
			return rpctypes.ErrGRPCStopped
		case <-time.After(s.cfg.Node.TickInterval):
		}
	}
	own, err := s.ownHash(ctx)
	if err != nil {
		return fmt.Errorf("api: initial corruption check: own hash: %w", err)
	}
	peers := s.peerHashes(ctx, own.HashRevision)
	if mismatches := node.JudgeInitial(own, peers); len(mismatches) > 0 {
		return fmt.Errorf("api: member %s %w: %s", formatID(s.cfg.Node.ID), ErrInconsistent, strings.Join(mismatches, "; "))
	}
	answered := 0
	for _, p := range peers {
		if p.Resp != nil {
			answered++
		}
	}
	s.cfg.Logger.Info("initial corruption checking passed; no corruption", "revision", own.HashRevision, "peersAnswered", answered)
	return nil
}

// ownHash is this member's HashKV now, read on the member loop.
func (s *Server) ownHash(ctx context.Context) (resp *pb.HashKVResponse, err error) {
	if cerr := s.control(ctx, func() { resp, err = s.n.HashKV(0) }); cerr != nil {
		return nil, cerr
	}
	return resp, err
}

// peerHashes asks every other member for its HashKV at rev, over the peer
// port as etcd does (so auth does not stand in the way). An unreachable,
// lagging or compacted-past peer answers nothing (nil Resp), as in etcd.
func (s *Server) peerHashes(ctx context.Context, rev int64) []node.PeerHash {
	var peers []node.PeerHash
	for _, m := range s.view.Load().members {
		if m.ID == s.cfg.Node.ID || len(m.PeerURLs) == 0 {
			continue
		}
		p := node.PeerHash{ID: m.ID}
		b, err := s.tr.FetchHashKV(ctx, m.PeerURLs[0], rev)
		if err == nil {
			resp := &pb.HashKVResponse{}
			if err = proto.Unmarshal(b, resp); err == nil {
				p.Resp = resp
			}
		}
		if err != nil {
			s.cfg.Logger.Debug("no hash from a peer", "peer", formatID(m.ID), "revision", rev, "err", err.Error())
		}
		peers = append(peers, p)
	}
	return peers
}

// HashKVBytes answers a peer's corruption check (transport.Options.HashKV):
// this member's HashKV at rev, encoded.
func (s *Server) HashKVBytes(rev int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.LeaseForwardTimeout)
	defer cancel()
	var resp *pb.HashKVResponse
	var err error
	if cerr := s.control(ctx, func() { resp, err = s.n.HashKV(rev) }); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	return proto.Marshal(resp)
}
