package api

import (
	"context"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Version is the etcd API version kvd speaks, reported by Status.
const Version = "3.7.3"

// maintenanceServer is etcd's Maintenance service: Status, Hash, HashKV,
// Alarm, MoveLeader, Defragment and Snapshot (snapshot.go). Downgrade
// answers Unimplemented.
type maintenanceServer struct {
	pb.UnimplementedMaintenanceServer
	s *Server
}

func (m *maintenanceServer) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	if err := m.s.requireUser(ctx); err != nil {
		return nil, err
	}
	v := m.s.view.Load()
	// Measured now: a few files, and a caller comparing sizes around a
	// Defragment or a compaction must not read last second's figure.
	size := m.s.storedBytes(v.status.WALReservedBytes)
	resp := &pb.StatusResponse{
		Header:           m.s.header(),
		Version:          Version,
		DbSize:           size,
		Leader:           v.status.Leader,
		RaftIndex:        v.status.CommitIndex,
		RaftTerm:         v.status.Term,
		RaftAppliedIndex: v.status.AppliedIndex,
		IsLearner:        v.status.IsLearner,
		// What the newest snapshot and the log since it hold: what the
		// files would shrink to if defragmented now.
		DbSizeInUse: min(size, v.status.SnapshotSizeBytes+v.status.LogBytesSinceSnapshot),
		DbSizeQuota: m.s.cfg.QuotaBackendBytes,
	}
	if v.status.Leader == 0 {
		resp.Errors = append(resp.Errors, "etcdserver: no leader")
	}
	for _, a := range v.alarms {
		resp.Errors = append(resp.Errors, a.String()) // etcd's text of the alarm
	}
	return resp, nil
}

// Hash answers the hash of the key space at the current revision (etcd
// hashes its bbolt file; kvd has none, and HashKV's hash compares members
// just as well).
func (m *maintenanceServer) Hash(ctx context.Context, _ *pb.HashRequest) (*pb.HashResponse, error) {
	if err := m.s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	r, err := m.hashKV(ctx, 0)
	if err != nil {
		return nil, err
	}
	return &pb.HashResponse{Header: r.Header, Hash: r.Hash}, nil
}

func (m *maintenanceServer) HashKV(ctx context.Context, r *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	if err := m.s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	return m.hashKV(ctx, r.Revision)
}

func (m *maintenanceServer) hashKV(ctx context.Context, rev int64) (*pb.HashKVResponse, error) {
	var resp *pb.HashKVResponse
	var err error
	if cerr := m.s.control(ctx, func() { resp, err = m.s.n.HashKV(rev) }); cerr != nil {
		return nil, cerr
	}
	return resp, err
}

// Alarm lists, raises or disarms alarms through raft, as etcd does: the
// alarms are replicated state (node alarms), so every member answers the
// same and refuses the same writes. Disarming NOSPACE while a member is
// still over its quota lasts until that member measures again and raises
// it anew, as etcd's next write would.
func (m *maintenanceServer) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	// As etcd: any user may list alarms; raising or disarming is root's.
	check := m.s.requireAdmin
	if r.Action == pb.AlarmRequest_GET {
		check = m.s.requireUser
	}
	if err := check(ctx); err != nil {
		return nil, err
	}
	resp, err := m.s.do(ctx, &pb.InternalRaftRequest{Alarm: r}, true)
	if err != nil {
		return nil, err
	}
	ar := resp.(*pb.AlarmResponse)
	ar.Header = m.s.ownHeader(ar.Header)
	return ar, nil
}

// errLeaderTransferTimeout is etcd's answer when the target did not take
// over in time: rpctypes has no value for it, so it reaches the client as
// etcd's own error text with code Unknown.
var errLeaderTransferTimeout = status.Error(codes.Unknown, "etcdserver: request timed out, leader transfer took too long")

// moveLeaderWaitElections bounds how long MoveLeader waits for the new
// leader, in election timeouts: raft abandons a transfer after one, so
// waiting longer only holds the call (etcd waits for the client's deadline).
const moveLeaderWaitElections = 3

// MoveLeader hands leadership to the target member and answers once the
// member sees it lead, as etcd's: on a follower ErrGRPCNotLeader, to a
// non-member ErrGRPCBadLeaderTransferee, and ErrGRPCTimeoutLeaderTransfer
// when the target does not take over in time. etcd's answer carries no
// header.
func (m *maintenanceServer) MoveLeader(ctx context.Context, r *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	if err := m.s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	var err error
	if cerr := m.s.control(ctx, func() { err = m.s.n.MoveLeader(r.TargetID) }); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	tick := m.s.cfg.Node.TickInterval
	deadline := time.After(tick * time.Duration(moveLeaderWaitElections*m.s.cfg.Node.ElectionTicks))
	for m.s.view.Load().status.Leader != r.TargetID {
		select {
		case <-ctx.Done():
			return nil, errLeaderTransferTimeout
		case <-deadline:
			return nil, errLeaderTransferTimeout
		case <-m.s.donec:
			return nil, rpctypes.ErrGRPCStopped
		case <-time.After(tick):
		}
	}
	return &pb.MoveLeaderResponse{}, nil
}

// Defragment rewrites this member's files compactly (node Defragment: a
// snapshot now, and the release of the WAL and snapshots it makes
// redundant) and answers once the snapshot is saved, with the sizes
// measured anew. The member serves meanwhile. etcd's answer carries no
// header.
func (m *maintenanceServer) Defragment(ctx context.Context, _ *pb.DefragmentRequest) (*pb.DefragmentResponse, error) {
	if err := m.s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	s := m.s
	var index uint64
	if err := s.control(ctx, func() { index = s.n.Defragment() }); err != nil {
		return nil, err
	}
	for s.view.Load().status.SnapshotIndex < index {
		select {
		case <-ctx.Done():
			return nil, ctxErr(ctx)
		case <-s.donec:
			return nil, rpctypes.ErrGRPCStopped
		case <-time.After(s.cfg.Node.TickInterval):
		}
	}
	if err := s.control(ctx, s.measureSize); err != nil {
		return nil, err
	}
	return &pb.DefragmentResponse{}, nil
}
