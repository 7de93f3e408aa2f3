package api

import (
	"context"
	"errors"
	"io"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// leaseServer is etcd's Lease service. Grant and Revoke go through raft;
// KeepAlive and TimeToLive are answered by the leader (forwarded if needed).
// With auth on, Grant, Revoke and Leases ask for a user, as etcd's do;
// KeepAlive and TimeToLive do not yet: a follower forwards them to the
// leader's client URL, where a caller known by its certificate alone could
// not be named again.
type leaseServer struct {
	pb.UnimplementedLeaseServer
	s *Server
}

func (l *leaseServer) LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	if err := l.s.refusesWrite(); err != nil {
		return nil, err
	}
	resp, err := l.s.do(ctx, &pb.InternalRaftRequest{LeaseGrant: r}, true)
	if err != nil {
		return nil, err
	}
	return resp.(*pb.LeaseGrantResponse), nil
}

func (l *leaseServer) LeaseRevoke(ctx context.Context, r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	resp, err := l.s.do(ctx, &pb.InternalRaftRequest{LeaseRevoke: r}, true)
	if err != nil {
		return nil, err
	}
	return resp.(*pb.LeaseRevokeResponse), nil
}

func (l *leaseServer) LeaseTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	var resp *pb.LeaseTimeToLiveResponse
	var err error
	if cerr := l.s.control(ctx, func() { resp, err = l.s.n.LeaseTimeToLive(r.ID, r.Keys) }); cerr != nil {
		return nil, cerr
	}
	if errors.Is(err, rpctypes.ErrGRPCNotLeader) {
		resp, err = l.s.forwarder.timeToLive(ctx, r)
	}
	if errors.Is(err, rpctypes.ErrGRPCLeaseNotFound) {
		// etcd answers an unknown lease with TTL -1, not an error.
		return &pb.LeaseTimeToLiveResponse{Header: l.s.header(), ID: r.ID, TTL: -1}, nil
	}
	return resp, err
}

func (l *leaseServer) LeaseLeases(ctx context.Context, _ *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	var resp *pb.LeaseLeasesResponse
	var err error
	who := callerFrom(ctx)
	if cerr := l.s.control(ctx, func() {
		if err = l.s.isUser(who); err == nil {
			resp = l.s.n.Leases()
		}
	}); cerr != nil {
		return nil, cerr
	}
	return resp, err
}

// LeaseKeepAlive answers each keepalive in order. An unknown lease gets TTL
// 0, as etcd answers it; the client then stops keeping it alive.
func (l *leaseServer) LeaseKeepAlive(stream pb.Lease_LeaseKeepAliveServer) error {
	ctx := stream.Context()
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		resp, err := l.keepAlive(ctx, req.ID)
		if errors.Is(err, rpctypes.ErrGRPCLeaseNotFound) {
			resp, err = &pb.LeaseKeepAliveResponse{Header: l.s.header(), ID: req.ID, TTL: 0}, nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

func (l *leaseServer) keepAlive(ctx context.Context, id int64) (*pb.LeaseKeepAliveResponse, error) {
	var resp *pb.LeaseKeepAliveResponse
	var err error
	if cerr := l.s.control(ctx, func() { resp, err = l.s.n.LeaseKeepAlive(id) }); cerr != nil {
		return nil, cerr
	}
	if errors.Is(err, rpctypes.ErrGRPCNotLeader) {
		return l.s.forwarder.keepAlive(ctx, id)
	}
	return resp, err
}
