package sim

import (
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/watch"
)

// TestWatchFragmentsJoin: a member's fragments of one response reach the
// client's watcher as that one response, and nothing before the last.
func TestWatchFragmentsJoin(t *testing.T) {
	resp := &pb.WatchResponse{Header: &pb.ResponseHeader{Revision: 40}, WatchId: 2}
	for i := range 30 {
		resp.Events = append(resp.Events, &mvccpb.Event{Kv: &mvccpb.KeyValue{Key: fmt.Appendf(nil, "/watch/k%d", i%7), Value: []byte("value"), ModRevision: int64(10 + i)}})
	}
	parts := watch.Fragments(resp, 256)
	if len(parts) < 3 {
		t.Fatalf("%d fragments at 256 bytes, want several", len(parts))
	}
	in := &watchIn{}
	var seen []*pb.WatchResponse
	for _, p := range parts {
		if whole := in.join(p); whole != nil {
			seen = append(seen, whole)
		}
	}
	if len(seen) != 1 || !proto.Equal(seen[0], resp) {
		t.Fatalf("the watcher saw %d responses %v, want the original once", len(seen), seen)
	}
	other := &pb.WatchResponse{WatchId: 3, Events: resp.Events[:1]}
	if whole := in.join(other); whole != other {
		t.Fatalf("a whole response after the joined one came out as %v", whole)
	}
}
