package watch

import (
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// TestFragments checks etcd's split: under the limit or with one event a
// response goes whole; above it every fragment but the last is marked, each
// holds at least one event and stays under the limit unless one event alone
// exceeds it, and the events joined are the original ones in order.
func TestFragments(t *testing.T) {
	ev := func(key string, valueBytes int) *mvccpb.Event {
		return &mvccpb.Event{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{Key: []byte(key), Value: []byte(strings.Repeat("v", valueBytes)), ModRevision: 7}}
	}
	resp := &pb.WatchResponse{Header: &pb.ResponseHeader{Revision: 9, MemberId: 1 << 60}, WatchId: 3,
		Events: []*mvccpb.Event{ev("a", 300), ev("b", 300), ev("c", 900), ev("d", 10), ev("e", 10), ev("f", 300)}}
	if got := Fragments(resp, proto.Size(resp)+1); len(got) != 1 || got[0] != resp {
		t.Fatalf("under the limit: %d responses, want the response itself", len(got))
	}
	one := &pb.WatchResponse{WatchId: 3, Events: []*mvccpb.Event{ev("big", 5000)}}
	if got := Fragments(one, 100); len(got) != 1 || got[0] != one {
		t.Fatalf("one event: %d responses, want the response itself", len(got))
	}
	const limit = 700
	got := Fragments(resp, limit)
	var joined []*mvccpb.Event
	for i, f := range got {
		last := i == len(got)-1
		if f.Fragment == last || len(f.Events) == 0 || f.WatchId != 3 || f.Header != resp.Header {
			t.Fatalf("fragment %d of %d: fragment=%v events=%d id=%d", i, len(got), f.Fragment, len(f.Events), f.WatchId)
		}
		// etcd measures a fragment as sent, marked.
		marked := proto.Clone(f).(*pb.WatchResponse)
		marked.Fragment = true
		if size := proto.Size(marked); size >= limit && len(f.Events) > 1 {
			t.Fatalf("fragment %d: %d bytes with %d events, limit %d", i, size, len(f.Events), limit)
		}
		if !last {
			next := got[i+1].Events[0]
			marked.Events = append(marked.Events, next)
			if proto.Size(marked) < limit {
				t.Fatalf("fragment %d stops before %s though it would still fit", i, next.Kv.Key)
			}
		}
		joined = append(joined, f.Events...)
	}
	if len(got) < 3 {
		t.Fatalf("%d fragments, want at least 3 at a %d byte limit", len(got), limit)
	}
	if len(joined) != len(resp.Events) {
		t.Fatalf("joined %d events, want %d", len(joined), len(resp.Events))
	}
	for i := range joined {
		if joined[i] != resp.Events[i] {
			t.Fatalf("event %d: %s, want %s", i, joined[i].Kv.Key, resp.Events[i].Kv.Key)
		}
	}
}
