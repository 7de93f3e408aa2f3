package api

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/core/node"
)

// kvServer is etcd's KV service: every call is one node request.
type kvServer struct {
	pb.UnimplementedKVServer
	s *Server
}

func (k *kvServer) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	resp, err := k.s.do(ctx, &pb.InternalRaftRequest{Range: r}, false)
	if err != nil {
		return nil, err
	}
	return resp.(*pb.RangeResponse), nil
}

// RangeStream is etcd 3.7's chunked Range (RangeStreamer): every chunk is
// one node read, the first as the client asked, the rest pinned to its
// revision.
func (k *kvServer) RangeStream(r *pb.RangeRequest, rs pb.KV_RangeStreamServer) error {
	st, err := NewRangeStreamer(r, RangeStreamOptions{ChunkBytesTarget: k.s.cfg.Node.RequestBytesMax})
	if err != nil {
		return err
	}
	ctx := rs.Context()
	for req := st.Request(); req != nil; req = st.Request() {
		resp, err := k.s.do(ctx, &pb.InternalRaftRequest{Range: req}, false)
		if err != nil {
			return st.Fail(err)
		}
		if chunk, _ := st.Feed(resp.(*pb.RangeResponse)); chunk != nil {
			if err := rs.Send(chunk); err != nil {
				return err
			}
		}
	}
	return nil
}

func (k *kvServer) Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	if err := k.s.refusesWrite(); err != nil {
		return nil, err
	}
	resp, err := k.s.do(ctx, &pb.InternalRaftRequest{Put: r}, true)
	if err != nil {
		return nil, err
	}
	return resp.(*pb.PutResponse), nil
}

func (k *kvServer) DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	resp, err := k.s.do(ctx, &pb.InternalRaftRequest{DeleteRange: r}, true)
	if err != nil {
		return nil, err
	}
	return resp.(*pb.DeleteRangeResponse), nil
}

func (k *kvServer) Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	if node.TxnPuts(r) {
		if err := k.s.refusesWrite(); err != nil {
			return nil, err
		}
	}
	resp, err := k.s.do(ctx, &pb.InternalRaftRequest{Txn: r}, true)
	if err != nil {
		return nil, err
	}
	return resp.(*pb.TxnResponse), nil
}

func (k *kvServer) Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	resp, err := k.s.do(ctx, &pb.InternalRaftRequest{Compaction: r}, true)
	if err != nil {
		return nil, err
	}
	return resp.(*pb.CompactionResponse), nil
}
