package api

import (
	"fmt"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// A stream whose reader stops reading is held once its sender falls behind:
// the events of the puts made meanwhile reach the reader merged, many per
// response, and all of them, once each, in order.
func TestSlowWatchReaderGetsMergedResponses(t *testing.T) {
	c := newTestCluster(t, clusterOpts{size: 1})
	cli := c.client()
	stream, err := pb.NewWatchClient(cli.ActiveConnection()).Watch(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	create := &pb.WatchCreateRequest{Key: []byte("k"), RangeEnd: []byte("l")}
	if err := stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: create}}); err != nil {
		t.Fatal(err)
	}
	if r, err := stream.Recv(); err != nil || !r.Created {
		t.Fatalf("create answer %+v, %v", r, err)
	}
	// One put at a time: one revision per member round, so without the
	// hold every event would be a response of its own. 1 KiB values fill
	// gRPC's 64 KiB stream window after about 60 responses.
	const puts = 1000
	value := strings.Repeat("v", 1<<10)
	for i := range puts {
		if _, err := cli.Put(ctx(t), fmt.Sprintf("k%04d", i), value); err != nil {
			t.Fatal(err)
		}
	}
	responses, events := 0, 0
	for events < puts {
		r, err := stream.Recv()
		if err != nil {
			t.Fatalf("after %d events: %v", events, err)
		}
		responses++
		for _, ev := range r.Events {
			if want := fmt.Sprintf("k%04d", events); string(ev.Kv.Key) != want {
				t.Fatalf("event %d is for %q, want %q", events, ev.Kv.Key, want)
			}
			events++
		}
		if last := r.Events[len(r.Events)-1].Kv.ModRevision; r.Header.Revision < last {
			t.Fatalf("response at revision %d carries an event of %d", r.Header.Revision, last)
		}
	}
	if responses > puts/2 {
		t.Fatalf("%d events came in %d responses: the slow reader's stream was not held", puts, responses)
	}
	t.Logf("%d events in %d responses", puts, responses)
}
