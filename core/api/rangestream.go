package api

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/bugs"
)

// RangeStreamOptions shape a RangeStream's chunks.
type RangeStreamOptions struct {
	// ChunkBytesTarget is the size chunks aim at: a chunk's key limit
	// doubles after an answer under half of it and halves after one over
	// twice it. Default (0): RequestBytesMaxDefault, as etcd aims at
	// --max-request-bytes.
	ChunkBytesTarget int
	// FirstChunkKeys is the first chunk's key limit. Default (0): 10, as
	// etcd 3.7. The simulator uses fewer, so small ranges take several
	// chunks.
	FirstChunkKeys int64
	// UnsafeUnpinned reads every chunk after the first at the then
	// current revision: a known-unsafe variant for the simulator's
	// checkers to catch. Never set it outside a simulation.
	UnsafeUnpinned bool
}

// EnsureDefaults fills zero fields with their defaults.
func (o *RangeStreamOptions) EnsureDefaults() {
	if o.ChunkBytesTarget == 0 {
		o.ChunkBytesTarget = RequestBytesMaxDefault
	}
	if o.FirstChunkKeys == 0 {
		o.FirstChunkKeys = 10
	}
}

// RangeStreamer is etcd 3.7's RangeStream as a value with no I/O: the
// caller runs each Range it asks for (Request) on the member and hands back
// the answer (Feed), which yields the chunks to send. The first Range reads
// as the client asked (linearizable or serializable); every later one is
// serializable and pinned to the first one's revision, as etcd reads all
// chunks from one store revision after one ReadIndex. The gRPC service and
// the simulator's clients both drive it.
type RangeStreamer struct {
	next       *pb.RangeRequest
	totalLimit int64
	count      int64
	headerRev  int64
	targetSize int
	// final is the last chunk, waiting for the count of what lies beyond
	// the limit (one count-only Range) when the limit cut the range short.
	final    *pb.RangeResponse
	done     bool
	unpinned bool // RangeStreamOptions.UnsafeUnpinned
}

// ErrRangeStreamSorted and ErrRangeStreamFiltered are etcd's answers to a
// RangeStream it does not serve.
var (
	ErrRangeStreamSorted   = status.Error(codes.Unimplemented, "RangeStream does not support custom sort orders")
	ErrRangeStreamFiltered = status.Error(codes.Unimplemented, "RangeStream does not support revision filters")
)

// NewRangeStreamer checks r as etcd does (the Range checks, then no custom
// sort order and no revision filters) and prepares its first Range.
func NewRangeStreamer(r *pb.RangeRequest, opts RangeStreamOptions) (*RangeStreamer, error) {
	opts.EnsureDefaults()
	if opts.ChunkBytesTarget <= 0 || opts.FirstChunkKeys <= 0 {
		// Options are the programmer's: a wrong one is a bug.
		panic(fmt.Sprintf("api: range stream options %+v: chunk target and first chunk keys must be positive", opts))
	}
	if len(r.Key) == 0 {
		return nil, rpctypes.ErrGRPCEmptyKey
	}
	if _, ok := pb.RangeRequest_SortOrder_name[int32(r.SortOrder)]; !ok {
		return nil, rpctypes.ErrGRPCInvalidSortOption
	}
	if _, ok := pb.RangeRequest_SortTarget_name[int32(r.SortTarget)]; !ok {
		return nil, rpctypes.ErrGRPCInvalidSortOption
	}
	if r.SortOrder != pb.RangeRequest_NONE && !(r.SortTarget == pb.RangeRequest_KEY && r.SortOrder == pb.RangeRequest_ASCEND) {
		return nil, ErrRangeStreamSorted
	}
	if r.MinModRevision != 0 || r.MaxModRevision != 0 || r.MinCreateRevision != 0 || r.MaxCreateRevision != 0 {
		return nil, ErrRangeStreamFiltered
	}
	s := &RangeStreamer{next: proto.Clone(r).(*pb.RangeRequest), targetSize: opts.ChunkBytesTarget, unpinned: opts.UnsafeUnpinned}
	if r.CountOnly {
		return s, nil
	}
	s.totalLimit = r.Limit
	if s.totalLimit == 0 {
		s.totalLimit = math.MaxInt64
	}
	// A negative limit stays negative, so the store serves everything in
	// one chunk, as etcd's arithmetic does.
	s.next.Limit = min(opts.FirstChunkKeys, s.totalLimit)
	return s, nil
}

// Request is the Range to run next (the caller's to keep); nil once the
// stream is done.
func (s *RangeStreamer) Request() *pb.RangeRequest {
	if s.done {
		return nil
	}
	return proto.Clone(s.next).(*pb.RangeRequest)
}

// Fail takes the error of Request's Range and returns what the stream ends
// with: the error, as etcd passes it on — a chunk after the first that
// finds its pinned revision compacted ends the stream with ErrCompacted,
// never as if no keys were left (the client would take a partial range
// for the whole). The stream is done.
func (s *RangeStreamer) Fail(err error) error {
	if s.done {
		panic("api: RangeStreamer failed after its last chunk")
	}
	s.done = true
	if bugs.On(bugs.APICompactedAsEmpty) && s.headerRev != 0 && errors.Is(err, rpctypes.ErrGRPCCompacted) {
		return nil // planted bug (kvdbugs builds only): a chunk whose revision was compacted ends the stream as if no keys were left
	}
	return err
}

// Feed takes the answer to Request and returns the chunk to send, if any,
// and whether the stream is complete. A failed Range goes to Fail instead.
func (s *RangeStreamer) Feed(resp *pb.RangeResponse) (chunk *pb.RangeStreamResponse, done bool) {
	if s.done {
		panic("api: RangeStreamer fed after its last chunk")
	}
	if s.final != nil {
		// The count of the keys past the limit.
		s.final.Count += resp.Count
		s.done = true
		return &pb.RangeStreamResponse{RangeResponse: s.final}, true
	}
	if s.next.CountOnly {
		s.done = true
		hdr := proto.Clone(resp.Header).(*pb.ResponseHeader)
		return &pb.RangeStreamResponse{RangeResponse: &pb.RangeResponse{Header: hdr, Count: resp.Count}}, true
	}
	if s.headerRev == 0 {
		// Every chunk reads the store as of the revision the stream
		// started at: writes committed meanwhile are not seen.
		s.headerRev = resp.Header.GetRevision()
		if s.next.Revision == 0 && !s.unpinned {
			s.next.Revision = s.headerRev
		}
		s.next.Serializable = true
	}
	s.count += int64(len(resp.Kvs))
	var nextKey []byte
	if resp.More {
		nextKey = append(bytes.Clone(resp.Kvs[len(resp.Kvs)-1].Key), 0)
	}
	out := &pb.RangeResponse{Kvs: resp.Kvs}
	if !resp.More || s.count == s.totalLimit {
		// The last chunk carries header, more and count (etcd fills the
		// header's ids and term, and the stream's revision).
		hdr := proto.Clone(resp.Header).(*pb.ResponseHeader)
		hdr.Revision = s.headerRev
		out.Header, out.More, out.Count = hdr, resp.More, s.count
		if !resp.More {
			s.done = true
			return &pb.RangeStreamResponse{RangeResponse: out}, true
		}
		s.final = out
		s.next = &pb.RangeRequest{Key: nextKey, RangeEnd: s.next.RangeEnd, Revision: s.next.Revision, CountOnly: true, Serializable: true}
		return nil, false
	}
	s.next.Key = nextKey
	s.next.Limit = min(nextChunkKeys(s.next.Limit, proto.Size(resp), s.targetSize), s.totalLimit-s.count)
	return &pb.RangeStreamResponse{RangeResponse: out}, false
}

// nextChunkKeys doubles a chunk's key limit when its answer came in under
// half the target size and halves it above twice the target, never below
// one (0 would mean no limit).
func nextChunkKeys(lastKeys int64, lastSizeBytes, targetBytes int) int64 {
	switch {
	case lastSizeBytes < targetBytes/2:
		lastKeys *= 2
	case lastSizeBytes > targetBytes*2:
		lastKeys /= 2
	}
	return max(lastKeys, 1)
}
