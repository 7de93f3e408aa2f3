package api

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"github.com/kvdlabs/kvd/core/mvcc"
)

// TestRangeStreamerMergesToRange checks etcd's promise for RangeStream:
// the chunks merged give the Range answer at the stream's revision (kvs in
// order, more and count on the last chunk only, with the header), even
// while writes land between chunks.
func TestRangeStreamerMergesToRange(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := mvcc.New(mvcc.Options{})
		for i := range rapid.IntRange(0, 60).Draw(rt, "keys") {
			val := bytes.Repeat([]byte("v"), rapid.IntRange(0, 300).Draw(rt, "valueBytes"))
			if _, err := s.Put(&pb.PutRequest{Key: []byte(fmt.Sprintf("k%03d", i)), Value: val}); err != nil {
				rt.Fatal(err)
			}
		}
		req := &pb.RangeRequest{
			Key: []byte("k"), RangeEnd: []byte("l"),
			Limit:     rapid.Int64Range(-1, 70).Draw(rt, "limit"),
			KeysOnly:  rapid.Bool().Draw(rt, "keysOnly"),
			CountOnly: rapid.Bool().Draw(rt, "countOnly"),
		}
		want, err := s.Range(proto.Clone(req).(*pb.RangeRequest))
		if err != nil {
			rt.Fatal(err)
		}
		st, err := NewRangeStreamer(req, RangeStreamOptions{
			ChunkBytesTarget: rapid.IntRange(1, 4000).Draw(rt, "chunkBytesTarget"),
			FirstChunkKeys:   rapid.Int64Range(0, 12).Draw(rt, "firstChunkKeys"),
		})
		if err != nil {
			rt.Fatal(err)
		}
		merged := &pb.RangeResponse{}
		chunks := 0
		for r := st.Request(); r != nil; r = st.Request() {
			if chunks > 0 && (!r.Serializable || r.Revision != want.Header.Revision) {
				rt.Fatalf("chunk %d reads %v: want serializable at the stream's revision %d", chunks, r, want.Header.Revision)
			}
			resp, err := s.Range(r)
			if err != nil {
				rt.Fatal(err)
			}
			// A write between chunks must not show in the stream.
			if _, err := s.Put(&pb.PutRequest{Key: []byte("k000"), Value: []byte("later")}); err != nil {
				rt.Fatal(err)
			}
			chunk, done := st.Feed(resp)
			if chunk == nil {
				continue
			}
			chunks++
			cr := chunk.RangeResponse
			if !done && (cr.Header != nil || cr.More || cr.Count != 0) {
				rt.Fatalf("chunk %d before the last carries header, more or count: %v", chunks, cr)
			}
			proto.Merge(merged, cr)
		}
		if !proto.Equal(merged, want) {
			rt.Fatalf("merged chunks\n%v\nwant the Range answer\n%v", merged, want)
		}
	})
}

func TestRangeStreamerRefusesWhatEtcdRefuses(t *testing.T) {
	cases := []struct {
		name string
		req  *pb.RangeRequest
		want error
	}{
		{"empty key", &pb.RangeRequest{}, rpctypes.ErrGRPCEmptyKey},
		{"unknown sort order", &pb.RangeRequest{Key: []byte("a"), SortOrder: 9}, rpctypes.ErrGRPCInvalidSortOption},
		{"unknown sort target", &pb.RangeRequest{Key: []byte("a"), SortTarget: 9}, rpctypes.ErrGRPCInvalidSortOption},
		{"descending", &pb.RangeRequest{Key: []byte("a"), SortOrder: pb.RangeRequest_DESCEND}, ErrRangeStreamSorted},
		{"by value", &pb.RangeRequest{Key: []byte("a"), SortOrder: pb.RangeRequest_ASCEND, SortTarget: pb.RangeRequest_VALUE}, ErrRangeStreamSorted},
		{"min mod revision", &pb.RangeRequest{Key: []byte("a"), MinModRevision: 2}, ErrRangeStreamFiltered},
		{"max create revision", &pb.RangeRequest{Key: []byte("a"), MaxCreateRevision: 2}, ErrRangeStreamFiltered},
	}
	for _, c := range cases {
		if _, err := NewRangeStreamer(c.req, RangeStreamOptions{}); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Key order ascending, or a sort target without an order, is the
	// store's own order: served.
	for _, r := range []*pb.RangeRequest{
		{Key: []byte("a"), SortOrder: pb.RangeRequest_ASCEND},
		{Key: []byte("a"), SortTarget: pb.RangeRequest_MOD},
	} {
		if _, err := NewRangeStreamer(r, RangeStreamOptions{}); err != nil {
			t.Errorf("%v: %v", r, err)
		}
	}
}

// A chunk's failure ends the stream with that error — a compacted pinned
// revision included, never as if the range had ended — and nothing is
// asked after it.
func TestRangeStreamerFailEndsWithTheError(t *testing.T) {
	st, err := NewRangeStreamer(&pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z")}, RangeStreamOptions{FirstChunkKeys: 1, ChunkBytesTarget: 1})
	if err != nil {
		t.Fatal(err)
	}
	first := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: 7}, Kvs: []*mvccpb.KeyValue{{Key: []byte("a")}}, More: true, Count: 3}
	if chunk, done := st.Feed(first); chunk == nil || done {
		t.Fatalf("first chunk: %v done=%v", chunk, done)
	}
	if next := st.Request(); next.Revision != 7 {
		t.Fatalf("second chunk not pinned to revision 7: %v", next)
	}
	if got := st.Fail(rpctypes.ErrGRPCCompacted); !errors.Is(got, rpctypes.ErrGRPCCompacted) {
		t.Fatalf("Fail(compacted) = %v, want the compacted error", got)
	}
	if next := st.Request(); next != nil {
		t.Fatalf("a failed stream asks for %v", next)
	}
}
