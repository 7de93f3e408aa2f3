package api

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// clusterServer is etcd's Cluster service. Membership is fixed at bootstrap
// for now: MemberAdd, MemberRemove, MemberUpdate and MemberPromote answer
// Unimplemented.
type clusterServer struct {
	pb.UnimplementedClusterServer
	s *Server
}

func (c *clusterServer) MemberList(ctx context.Context, _ *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	v := c.s.view.Load()
	// etcd's Cluster service answers with ids and term only: membership
	// is not a store revision.
	hdr := c.s.header()
	hdr.Revision = 0
	resp := &pb.MemberListResponse{Header: hdr}
	for _, m := range v.members {
		info, err := DecodeMemberInfo(m.Context)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "kvd: member %x: %v", m.ID, err)
		}
		// Name and client URLs are what the member published once running;
		// until then etcd lists it with its peer URLs only.
		resp.Members = append(resp.Members, &pb.Member{
			ID: m.ID, Name: m.Name, PeerURLs: info.PeerURLs, ClientURLs: m.ClientURLs,
		})
	}
	return resp, nil
}
