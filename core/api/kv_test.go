package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestSeedCommands runs every command of the seed's etcdctl walkthrough
// through clientv3 against a 3-member cluster and checks etcd's semantics.
func TestSeedCommands(t *testing.T) {
	c := newTestCluster(t, clusterOpts{size: 3})
	cli := c.client()
	cx := ctx(t)

	// etcdctl watch /config/database/ --prefix, from before the writes (a
	// start revision, so the watch cannot miss them while it is created).
	start, err := cli.Get(cx, "/")
	if err != nil {
		t.Fatal(err)
	}
	wch := cli.Watch(cx, "/config/database/", clientv3.WithPrefix(), clientv3.WithRev(start.Header.Revision+1))

	first, err := cli.Put(cx, "/config/database/host", "db.example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{{"/config/database/port", "5432"}, {"/config/database/name", "myapp"}} {
		if _, err := cli.Put(cx, kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}

	// etcdctl get /config/database/host
	get, err := cli.Get(cx, "/config/database/host")
	if err != nil {
		t.Fatal(err)
	}
	if len(get.Kvs) != 1 || string(get.Kvs[0].Value) != "db.example.com" || get.Kvs[0].CreateRevision != first.Header.Revision || get.Kvs[0].Version != 1 {
		t.Fatalf("get host = %v, want db.example.com created at %d, version 1", get.Kvs, first.Header.Revision)
	}

	// etcdctl get /config/database/ --prefix (sorted by key, as etcd returns them)
	all, err := cli.Get(cx, "/config/database/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if got := keysValues(all.Kvs); got != "/config/database/host=db.example.com /config/database/name=myapp /config/database/port=5432" || all.Count != 3 {
		t.Fatalf("get --prefix = %q (count %d)", got, all.Count)
	}

	// --print-value-only and -w json read the same response; -w json shows
	// the header, which must carry cluster id, member id, revision and term.
	h := all.Header
	if h.ClusterId == 0 || h.MemberId == 0 || h.RaftTerm == 0 || h.Revision != first.Header.Revision+2 {
		t.Fatalf("header %+v: want cluster, member, term set and revision %d", h, first.Header.Revision+2)
	}
	js, err := json.Marshal((*pb.RangeResponse)(all))
	if err != nil || !bytes.Contains(js, []byte(`"count":3`)) {
		t.Fatalf("json %s, err %v", js, err)
	}

	// The watcher saw the three puts in revision order.
	events := collectEvents(t, wch, 3)
	for i, want := range []string{"/config/database/host", "/config/database/port", "/config/database/name"} {
		if events[i].Type != mvccpb.PUT || string(events[i].Kv.Key) != want || events[i].Kv.ModRevision != first.Header.Revision+int64(i) {
			t.Fatalf("event %d = %v %s@%d, want PUT %s@%d", i, events[i].Type, events[i].Kv.Key, events[i].Kv.ModRevision, want, first.Header.Revision+int64(i))
		}
	}

	// etcdctl del /config/database/host
	del, err := cli.Delete(cx, "/config/database/host")
	if err != nil || del.Deleted != 1 {
		t.Fatalf("del host: deleted %v, err %v", del, err)
	}
	if ev := collectEvents(t, wch, 1)[0]; ev.Type != mvccpb.DELETE || string(ev.Kv.Key) != "/config/database/host" {
		t.Fatalf("watch after del: %v %s", ev.Type, ev.Kv.Key)
	}
	// etcdctl del /config/database/ --prefix
	del, err = cli.Delete(cx, "/config/database/", clientv3.WithPrefix())
	if err != nil || del.Deleted != 2 {
		t.Fatalf("del --prefix: %v, err %v", del, err)
	}
	if evs := collectEvents(t, wch, 2); evs[0].Kv.ModRevision != evs[1].Kv.ModRevision {
		t.Fatalf("one delete-range gave events at revisions %d and %d", evs[0].Kv.ModRevision, evs[1].Kv.ModRevision)
	}

	// etcdctl txn: mod("/config/feature/enabled") = "0" is true for a missing
	// key, so the success branch runs.
	txn, err := cli.Txn(cx).
		If(clientv3.Compare(clientv3.ModRevision("/config/feature/enabled"), "=", 0)).
		Then(clientv3.OpPut("/config/feature/enabled", "true"), clientv3.OpPut("/config/feature/rollout", "10"), clientv3.OpGet("/config/feature/enabled")).
		Commit()
	if err != nil {
		t.Fatal(err)
	}
	if !txn.Succeeded || len(txn.Responses) != 3 {
		t.Fatalf("txn succeeded=%v with %d responses", txn.Succeeded, len(txn.Responses))
	}
	if kvs := txn.Responses[2].GetResponseRange().Kvs; len(kvs) != 1 || string(kvs[0].Value) != "true" {
		t.Fatalf("txn get = %v, want enabled=true", kvs)
	}
	// The same txn again fails its compare and changes nothing.
	txn, err = cli.Txn(cx).
		If(clientv3.Compare(clientv3.ModRevision("/config/feature/enabled"), "=", 0)).
		Then(clientv3.OpPut("/config/feature/enabled", "false")).Commit()
	if err != nil || txn.Succeeded {
		t.Fatalf("second txn succeeded=%v err=%v, want the compare to fail", txn.Succeeded, err)
	}
}

func keysValues(kvs []*mvccpb.KeyValue) string {
	var parts []string
	for _, kv := range kvs {
		parts = append(parts, string(kv.Key)+"="+string(kv.Value))
	}
	return strings.Join(parts, " ")
}

func collectEvents(t *testing.T, wch clientv3.WatchChan, n int) []*clientv3.Event {
	t.Helper()
	var evs []*clientv3.Event
	timeout := time.After(10 * time.Second)
	for len(evs) < n {
		select {
		case wr, ok := <-wch:
			if !ok {
				t.Fatalf("watch closed after %d of %d events", len(evs), n)
			}
			if err := wr.Err(); err != nil {
				t.Fatalf("watch error after %d events: %v", len(evs), err)
			}
			evs = append(evs, wr.Events...)
		case <-timeout:
			t.Fatalf("got %d of %d events within 10s", len(evs), n)
		}
	}
	if len(evs) != n {
		t.Fatalf("got %d events, want %d", len(evs), n)
	}
	return evs
}

// TestBadInputGetsEtcdErrors sends what etcd refuses and checks each error
// is etcd's, and that the member keeps serving.
func TestBadInputGetsEtcdErrors(t *testing.T) {
	c := newTestCluster(t, clusterOpts{size: 1, requestBytesMax: 64 << 10, txnOpsMax: 4})
	cli := c.client()
	cx := ctx(t)
	for i := range 5 {
		if _, err := cli.Put(cx, "k", strings.Repeat("v", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: err %v, want %v", what, err, want)
		}
	}
	_, err := cli.Put(cx, "big", strings.Repeat("x", 65<<10))
	check("oversize put", err, rpctypes.ErrRequestTooLarge)
	_, err = cli.Get(cx, "")
	check("range with an empty key", err, rpctypes.ErrEmptyKey)
	_, err = cli.Put(cx, "", "v")
	check("put with an empty key", err, rpctypes.ErrEmptyKey)
	_, err = cli.Compact(cx, 4)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cli.Get(cx, "k", clientv3.WithRev(2))
	check("get at a compacted revision", err, rpctypes.ErrCompacted)
	_, err = cli.Get(cx, "k", clientv3.WithRev(1000))
	check("get at a future revision", err, rpctypes.ErrFutureRev)
	_, err = cli.Compact(cx, 1000)
	check("compact at a future revision", err, rpctypes.ErrFutureRev)
	_, err = cli.Put(cx, "k", "v", clientv3.WithLease(0x1234))
	check("put with an unknown lease", err, rpctypes.ErrLeaseNotFound)
	_, err = cli.Revoke(cx, 0x1234)
	check("revoke an unknown lease", err, rpctypes.ErrLeaseNotFound)
	ttl, err := cli.TimeToLive(cx, 0x1234)
	if err != nil || ttl.TTL != -1 {
		t.Errorf("TimeToLive of an unknown lease: %+v, err %v; want TTL -1 as etcd", ttl, err)
	}
	ops := make([]clientv3.Op, 5)
	for i := range ops {
		ops[i] = clientv3.OpPut("t"+string(rune('a'+i)), "v")
	}
	_, err = cli.Txn(cx).Then(ops...).Commit()
	check("txn with 5 ops over a limit of 4", err, rpctypes.ErrTooManyOps)

	wch := cli.Watch(cx, "k", clientv3.WithRev(2))
	wr := <-wch
	if wr.CompactRevision != 4 || !wr.Canceled {
		t.Errorf("watch from a compacted revision: compact revision %d canceled %v, want 4 and true", wr.CompactRevision, wr.Canceled)
	}

	// Still serving.
	if _, err := cli.Put(cx, "after", "ok"); err != nil {
		t.Fatalf("put after bad input: %v", err)
	}
	if r, err := cli.Get(cx, "after"); err != nil || len(r.Kvs) != 1 {
		t.Fatalf("get after bad input: %v, %v", r, err)
	}
}
