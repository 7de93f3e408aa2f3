package watch_test

import (
	"fmt"

	"github.com/kvdlabs/kvd/core/mvcc"
	"github.com/kvdlabs/kvd/core/watch"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// A hub is wired to the store it watches: the store reports every commit to
// Notify, and the hub reads the store's history for watchers that lag.
// Responses queue up until the owner drains them to the client streams.
func Example() {
	var hub *watch.Hub
	store := mvcc.New(mvcc.Options{OnCommit: func(rev int64, events []*mvccpb.Event) {
		hub.Notify(rev, events)
	}})
	hub = watch.New(store, watch.Options{})

	// Stream 1 watches the prefix "user/" from now on, with previous values.
	const streamID = 1
	id, err := hub.Watch(streamID, &pb.WatchCreateRequest{Key: []byte("user/"), RangeEnd: []byte("user0"), PrevKv: true})
	if err != nil {
		panic(err)
	}
	fmt.Println("watch id:", id)

	for _, kv := range [][2]string{{"user/ada", "admin"}, {"config", "x"}, {"user/ada", "owner"}} {
		if _, err := store.Put(&pb.PutRequest{Key: []byte(kv[0]), Value: []byte(kv[1])}); err != nil {
			panic(err)
		}
	}

	for _, d := range hub.Drain() {
		r := d.Response
		if r.Created {
			fmt.Printf("stream %d: watcher %d created at revision %d\n", d.StreamID, r.WatchId, r.Header.Revision)
			continue
		}
		for _, ev := range r.Events {
			fmt.Printf("stream %d: revision %d %s %s=%s (was %q)\n", d.StreamID, ev.Kv.ModRevision, ev.Type, ev.Kv.Key, ev.Kv.Value, ev.PrevKv.GetValue())
		}
	}
	// Output:
	// watch id: 0
	// stream 1: watcher 0 created at revision 1
	// stream 1: revision 2 PUT user/ada=admin (was "")
	// stream 1: revision 4 PUT user/ada=owner (was "admin")
}
