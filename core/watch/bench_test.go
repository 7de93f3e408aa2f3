package watch_test

import (
	"fmt"
	"testing"

	"github.com/kvdlabs/kvd/core/mvcc"
	"github.com/kvdlabs/kvd/core/watch"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// newBenchHub wires a hub to a fresh mvcc store.
func newBenchHub(b *testing.B, opts watch.Options) (*watch.Hub, *mvcc.Store) {
	b.Helper()
	var hub *watch.Hub
	store := mvcc.New(mvcc.Options{OnCommit: func(rev int64, events []*mvccpb.Event) { hub.Notify(rev, events) }})
	hub = watch.New(store, opts)
	return hub, store
}

// BenchmarkFanOut measures one Put reaching many watchers of its key, as
// single-key watchers and as prefix watchers, spread over 10 streams.
// ns/op is per write; ns/event per delivered event.
func BenchmarkFanOut(b *testing.B) {
	for _, watchers := range []int{1, 100, 1000} {
		for _, kind := range []string{"key", "prefix"} {
			b.Run(fmt.Sprintf("watchers=%d/kind=%s", watchers, kind), func(b *testing.B) {
				hub, store := newBenchHub(b, watch.Options{})
				req := &pb.WatchCreateRequest{Key: []byte("k/42")}
				if kind == "prefix" {
					req = &pb.WatchCreateRequest{Key: []byte("k/"), RangeEnd: []byte("k0")}
				}
				for i := range watchers {
					if _, err := hub.Watch(int64(i%10), req); err != nil {
						b.Fatal(err)
					}
				}
				// Unrelated watchers the index must skip cheaply.
				for i := range 1000 {
					if _, err := hub.Watch(99, &pb.WatchCreateRequest{Key: []byte(fmt.Sprintf("other/%d", i))}); err != nil {
						b.Fatal(err)
					}
				}
				hub.Drain()
				put := &pb.PutRequest{Key: []byte("k/42"), Value: []byte("value")}
				delivered, writes := 0, 0
				b.ReportAllocs()
				for b.Loop() {
					writes++
					if _, err := store.Put(put); err != nil {
						b.Fatal(err)
					}
					for _, d := range hub.Drain() {
						delivered += len(d.Response.Events)
					}
				}
				if delivered != writes*watchers {
					b.Fatalf("delivered %d events, want %d", delivered, writes*watchers)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(delivered), "ns/event")
			})
		}
	}
}

// BenchmarkCatchUp measures watchers reading a history of 10,000 revisions
// (100 keys) from revision 1 until synced. ns/op is per full catch-up of all
// watchers; ns/event per delivered event.
func BenchmarkCatchUp(b *testing.B) {
	const revisions = 10_000
	for _, watchers := range []int{1, 10} {
		b.Run(fmt.Sprintf("revisions=%d/watchers=%d", revisions, watchers), func(b *testing.B) {
			hub, store := newBenchHub(b, watch.Options{})
			for i := range revisions {
				if _, err := store.Put(&pb.PutRequest{Key: []byte(fmt.Sprintf("k/%d", i%100)), Value: []byte("value")}); err != nil {
					b.Fatal(err)
				}
			}
			req := &pb.WatchCreateRequest{Key: []byte("k/"), RangeEnd: []byte("k0"), StartRevision: 1}
			delivered, rounds := 0, 0
			b.ReportAllocs()
			for b.Loop() {
				rounds++
				for i := range watchers {
					if _, err := hub.Watch(int64(i), req); err != nil {
						b.Fatal(err)
					}
				}
				for more := true; more; {
					more = hub.CatchUp()
					for _, d := range hub.Drain() {
						delivered += len(d.Response.Events)
					}
				}
				for i := range watchers {
					hub.CloseStream(int64(i))
				}
			}
			if delivered != rounds*watchers*revisions {
				b.Fatalf("delivered %d events, want %d", delivered, rounds*watchers*revisions)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(delivered), "ns/event")
		})
	}
}
