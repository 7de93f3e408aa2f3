package realdriver

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/kvdlabs/kvd/workloads/driver"
)

// watched collects the responses a session's receiver gets.
type watched struct {
	members   []uint64
	responses []*pb.WatchResponse
}

func (w *watched) receive(member uint64, resp *pb.WatchResponse) {
	w.members = append(w.members, member)
	w.responses = append(w.responses, resp)
}

// progressAfter reports whether a progress notification (no events, not
// the created response) arrived after the first i responses.
func (w *watched) progressAfter(i int) bool {
	for _, r := range w.responses[min(i, len(w.responses)):] {
		if !r.Created && len(r.Events) == 0 && !r.Canceled {
			return true
		}
	}
	return false
}

// events are every event received, in order.
func (w *watched) events() []*mvccpb.Event {
	var evs []*mvccpb.Event
	for _, r := range w.responses {
		evs = append(evs, r.Events...)
	}
	return evs
}

func TestWatchEventsAndProgress(t *testing.T) {
	l := newLoop(t, Options{Members: shared.members()})
	s := l.NewSession(driver.SessionOptions{})
	w := &watched{}
	s.OnWatch(w.receive)
	prefix := []byte(t.Name() + "/")
	create := await(t, l, func(done func(driver.Call)) {
		s.Watch(&pb.WatchCreateRequest{Key: prefix, RangeEnd: prefixEnd(prefix), ProgressNotify: true}, done)
	})
	created := mustOK[*pb.WatchResponse](t, create)
	if !created.Created || create.Member != s.Target() || create.Seq != 1 {
		t.Fatalf("create: %v (call member %d seq %d)", created, create.Member, create.Seq)
	}
	if len(w.responses) != 1 || w.responses[0] != created || w.members[0] != create.Member {
		t.Fatalf("receiver got %d responses, want the created one first", len(w.responses))
	}

	writer := l.NewSession(driver.SessionOptions{})
	put := mustOK[*pb.PutResponse](t, do(t, l, writer, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: append(prefix, 'a'), Value: []byte("1")}}))
	if !l.RunWhile(func() bool { return len(w.events()) == 0 }, time.Now().Add(5*time.Second)) {
		t.Fatal("no event within 5 s of the put")
	}
	ev := w.events()[0]
	if ev.Type != mvccpb.Event_PUT || ev.Kv.ModRevision != put.Header.Revision || w.responses[len(w.responses)-1].WatchId != created.WatchId {
		t.Fatalf("event %v, want the put at revision %d on watcher %d", ev, put.Header.Revision, created.WatchId)
	}

	// The members tick progress every second (started with
	// --watch-progress-notify-interval 1s); ProgressNotify has nothing
	// to do.
	l.ProgressNotify()
	n := len(w.responses)
	if !l.RunWhile(func() bool { return !w.progressAfter(n) }, time.Now().Add(5*time.Second)) {
		t.Fatal("no progress notification within 5 s")
	}

	// A reopened stream's responses are dropped; the next Watch opens a
	// new stream.
	s.ReopenWatchStream()
	n = len(w.responses)
	mustOK[*pb.PutResponse](t, do(t, l, writer, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: append(prefix, 'b'), Value: []byte("2")}}))
	l.RunUntil(time.Now().Add(200 * time.Millisecond))
	if len(w.responses) != n {
		t.Fatalf("%d responses of an abandoned stream delivered", len(w.responses)-n)
	}
	again := mustOK[*pb.WatchResponse](t, await(t, l, func(done func(driver.Call)) {
		s.Watch(&pb.WatchCreateRequest{Key: prefix, RangeEnd: prefixEnd(prefix), StartRevision: put.Header.Revision + 1}, done)
	}))
	if !l.RunWhile(func() bool { return len(w.events()) < 2 }, time.Now().Add(5*time.Second)) {
		t.Fatal("the new stream's watcher did not catch up the put made while none was open")
	}
	if last := w.events()[1]; !bytes.Equal(last.Kv.Key, append(prefix, 'b')) || w.responses[len(w.responses)-1].WatchId != again.WatchId {
		t.Fatalf("caught up %v", last)
	}
}

// Fragments of a large response reach the receiver as one response.
// kvd fragments at its request limit (1.5 MiB) plus gRPC's overhead
// (512 KiB): two txns of 7 puts of 200 KiB, watched with their previous
// values, make a 2.8 MiB response.
func TestWatchFragmentsJoined(t *testing.T) {
	l := newLoop(t, Options{Members: shared.members()})
	s := l.NewSession(driver.SessionOptions{Timeout: 5 * time.Second})
	w := &watched{}
	s.OnWatch(w.receive)
	prefix := []byte(t.Name() + "/")
	mustOK[*pb.WatchResponse](t, await(t, l, func(done func(driver.Call)) {
		s.Watch(&pb.WatchCreateRequest{Key: prefix, RangeEnd: prefixEnd(prefix), PrevKv: true, Fragment: true}, done)
	}))
	const puts = 7
	value := bytes.Repeat([]byte("v"), 200<<10)
	var txn *pb.TxnResponse
	for range 2 {
		var ops []*pb.RequestOp
		for i := range puts {
			ops = append(ops, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: fmt.Appendf(nil, "%s%d", prefix, i), Value: value}}})
		}
		txn = mustOK[*pb.TxnResponse](t, do(t, l, s, &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: ops}}))
	}
	if !l.RunWhile(func() bool { return len(w.events()) < 2*puts }, time.Now().Add(10*time.Second)) {
		t.Fatalf("%d of %d events within 10 s", len(w.events()), 2*puts)
	}
	last := w.responses[len(w.responses)-1]
	if len(last.Events) != puts || last.Fragment || last.Events[0].Kv.ModRevision != txn.Header.Revision || last.Events[0].PrevKv == nil {
		t.Fatalf("the second txn's response: %d events, fragment %v", len(last.Events), last.Fragment)
	}
	if ws := s.(*Session).watches[s.Target()]; ws == nil || ws.fragmentsJoined == 0 {
		t.Fatal("the member sent no fragments: the test lost its subject")
	}
}

// join mirrors the simulator's watchIn.join, and drops a response whose
// fragments another watcher cut into.
func TestJoinFragments(t *testing.T) {
	ev := func(rev int64) *mvccpb.Event { return &mvccpb.Event{Kv: &mvccpb.KeyValue{ModRevision: rev}} }
	ws := &watchStream{}
	if got := ws.join(&pb.WatchResponse{WatchId: 1, Events: []*mvccpb.Event{ev(1)}}); got == nil || len(got.Events) != 1 {
		t.Fatalf("a whole response: %v", got)
	}
	for i, part := range []*pb.WatchResponse{
		{WatchId: 2, Fragment: true, Events: []*mvccpb.Event{ev(2)}},
		{WatchId: 2, Fragment: true, Events: []*mvccpb.Event{ev(2)}},
	} {
		if got := ws.join(part); got != nil {
			t.Fatalf("fragment %d handed over alone: %v", i, got)
		}
	}
	got := ws.join(&pb.WatchResponse{WatchId: 2, Events: []*mvccpb.Event{ev(2)}})
	if got == nil || got.Fragment || got.WatchId != 2 || len(got.Events) != 3 {
		t.Fatalf("joined: %v", got)
	}
	if ws.fragmentsJoined != 2 {
		t.Fatalf("%d fragments counted as joined, want 2", ws.fragmentsJoined)
	}
	ws.join(&pb.WatchResponse{WatchId: 3, Fragment: true, Events: []*mvccpb.Event{ev(3)}})
	got = ws.join(&pb.WatchResponse{WatchId: 4, Events: []*mvccpb.Event{ev(4)}})
	if got == nil || got.WatchId != 4 || len(got.Events) != 1 || ws.fragmentsInterrupted != 1 {
		t.Fatalf("after an interrupted response: %v, interrupted %d", got, ws.fragmentsInterrupted)
	}
}

// prefixEnd is clientv3.GetPrefixRangeEnd.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}

// A cancel on a stream of two watchers (client-chosen ids) is
// acknowledged by a Canceled response naming it; the other watcher keeps
// getting events and the canceled one gets none.
func TestWatchCancel(t *testing.T) {
	l := newLoop(t, Options{Members: shared.members()})
	s := l.NewSession(driver.SessionOptions{})
	w := &watched{}
	s.OnWatch(w.receive)
	prefix := []byte(t.Name() + "/")
	for _, id := range []int64{1, 2} {
		created := mustOK[*pb.WatchResponse](t, await(t, l, func(done func(driver.Call)) {
			s.Watch(&pb.WatchCreateRequest{Key: prefix, RangeEnd: prefixEnd(prefix), WatchId: id}, done)
		}))
		if created.WatchId != id {
			t.Fatalf("create with watch id %d: created %d", id, created.WatchId)
		}
	}
	member := s.Target()
	s.CancelWatch(member, 2)
	canceled := func() bool {
		for _, r := range w.responses {
			if r.Canceled && r.WatchId == 2 {
				return true
			}
		}
		return false
	}
	if !l.RunWhile(func() bool { return !canceled() }, time.Now().Add(5*time.Second)) {
		t.Fatalf("no Canceled response for watch id 2 within 5 s of its cancel on member %d", member)
	}
	writer := l.NewSession(driver.SessionOptions{})
	mustOK[*pb.PutResponse](t, do(t, l, writer, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: append(prefix, 'a'), Value: []byte("1")}}))
	if !l.RunWhile(func() bool { return len(w.events()) == 0 }, time.Now().Add(5*time.Second)) {
		t.Fatal("watcher 1 got no event within 5 s of the put after watcher 2's cancel")
	}
	l.RunUntil(time.Now().Add(200 * time.Millisecond))
	for _, r := range w.responses {
		if len(r.Events) > 0 && r.WatchId != 1 {
			t.Fatalf("events for watch id %d after only watch id 2 was canceled and 1 kept: %v", r.WatchId, r.Events)
		}
	}
}
