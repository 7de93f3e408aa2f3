package api

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"

	"github.com/kvdlabs/kvd/core/node"
)

// clusterServer is etcd's Cluster service: membership changes go through
// raft as configuration changes (node.ChangeMembership), with etcd's
// checks and errors.
type clusterServer struct {
	pb.UnimplementedClusterServer
	s *Server
}

func (c *clusterServer) MemberList(ctx context.Context, r *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	if err := c.s.requireUser(ctx); err != nil {
		return nil, err
	}
	members := c.s.view.Load().members
	if r.Linearizable {
		// etcd waits for a read index; the membership read after it is at
		// least as new as any change that completed before the call.
		if _, err := c.s.do(ctx, &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte{0}, CountOnly: true}}, false); err != nil {
			return nil, err
		}
		if err := c.s.control(ctx, func() { members = c.s.n.Members() }); err != nil {
			return nil, err
		}
	}
	return &pb.MemberListResponse{Header: c.header(), Members: protoMembers(members)}, nil
}

func (c *clusterServer) MemberAdd(ctx context.Context, r *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	if err := c.s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	if err := validPeerURLs(r.PeerURLs); err != nil {
		return nil, err
	}
	id := newMemberID(r.PeerURLs, time.Now())
	kind := node.MemberAddVoter
	if r.IsLearner {
		kind = node.MemberAddLearner
	}
	members, err := c.s.changeMembers(ctx, node.MemberChange{Kind: kind, ID: id, PeerURLs: r.PeerURLs})
	if err != nil {
		return nil, err
	}
	return &pb.MemberAddResponse{
		Header:  c.header(),
		Member:  &pb.Member{ID: id, PeerURLs: r.PeerURLs, IsLearner: r.IsLearner},
		Members: protoMembers(members),
	}, nil
}

func (c *clusterServer) MemberRemove(ctx context.Context, r *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	if err := c.s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	members, err := c.s.changeMembers(ctx, node.MemberChange{Kind: node.MemberRemove, ID: r.ID})
	if err != nil {
		return nil, err
	}
	return &pb.MemberRemoveResponse{Header: c.header(), Members: protoMembers(members)}, nil
}

func (c *clusterServer) MemberUpdate(ctx context.Context, r *pb.MemberUpdateRequest) (*pb.MemberUpdateResponse, error) {
	if err := c.s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	if err := validPeerURLs(r.PeerURLs); err != nil {
		return nil, err
	}
	members, err := c.s.changeMembers(ctx, node.MemberChange{Kind: node.MemberUpdate, ID: r.ID, PeerURLs: r.PeerURLs})
	if err != nil {
		return nil, err
	}
	return &pb.MemberUpdateResponse{Header: c.header(), Members: protoMembers(members)}, nil
}

// MemberPromote is decided by the leader, which alone knows how far the
// learner's log is: a follower forwards it there, as etcd does.
func (c *clusterServer) MemberPromote(ctx context.Context, r *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	if err := c.s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	members, err := c.s.changeMembers(ctx, node.MemberChange{Kind: node.MemberPromote, ID: r.ID})
	if errors.Is(err, rpctypes.ErrGRPCNotLeader) {
		var resp *pb.MemberPromoteResponse
		err = c.s.forwarder.retry(ctx, func(ctx context.Context, cc *grpc.ClientConn) error {
			var err error
			resp, err = pb.NewClusterClient(cc).MemberPromote(ctx, r)
			return toRPCErr(err)
		})
		if err != nil {
			return nil, err
		}
		resp.Header = c.header()
		return resp, nil
	}
	if err != nil {
		return nil, err
	}
	return &pb.MemberPromoteResponse{Header: c.header(), Members: protoMembers(members)}, nil
}

// header is etcd's Cluster service header: ids and term, no revision,
// since membership is not a store revision.
func (c *clusterServer) header() *pb.ResponseHeader {
	hdr := c.s.header()
	hdr.Revision = 0
	return hdr
}

// protoMembers lists members as etcd does: name and client URLs are what a
// member published once running; until then only its peer URLs show.
func protoMembers(ms []node.Member) []*pb.Member {
	out := make([]*pb.Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, &pb.Member{
			ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner,
		})
	}
	return out
}

// validPeerURLs accepts what etcd's types.NewURLs does: http or https URLs
// with a host:port and no path.
func validPeerURLs(urls []string) error {
	if len(urls) == 0 {
		return rpctypes.ErrGRPCMemberBadURLs
	}
	for _, s := range urls {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "unix" && u.Scheme != "unixs") {
			return rpctypes.ErrGRPCMemberBadURLs
		}
		if (u.Scheme == "http" || u.Scheme == "https") && (!strings.Contains(u.Host, ":") || (u.Path != "" && u.Path != "/")) {
			return rpctypes.ErrGRPCMemberBadURLs
		}
	}
	return nil
}

// newMemberID derives a new member's id as etcd's MemberAdd does: the first
// 8 bytes of the SHA-1 of its sorted peer URLs and the time in seconds, so
// a member added again later gets a new id.
func newMemberID(peerURLs []string, now time.Time) uint64 {
	urls := slices.Sorted(slices.Values(peerURLs))
	sum := sha1.Sum(fmt.Appendf([]byte(strings.Join(urls, "")), "%d", now.Unix()))
	return binary.BigEndian.Uint64(sum[:8])
}
