package mvcc

import (
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// TestWantEventsSkipsUnwatchedTxns checks that OnCommit still hears of every
// revision, with events only for the txns that began while they were wanted.
func TestWantEventsSkipsUnwatchedTxns(t *testing.T) {
	want := false
	got := map[int64][]*mvccpb.Event{}
	s := New(Options{
		OnCommit:   func(rev int64, evs []*mvccpb.Event) { got[rev] = evs },
		WantEvents: func() bool { return want },
	})
	put := func(key string) int64 {
		t.Helper()
		resp, err := s.Put(&pb.PutRequest{Key: []byte(key), Value: []byte("v")})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	unwatched := put("a")
	want = true
	watched := put("a")
	want = false
	if _, err := s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	deleted := s.Rev()
	if evs, ok := got[unwatched]; !ok || evs != nil {
		t.Errorf("revision %d (nobody watching): OnCommit called %v with %v, want called with nil", unwatched, ok, evs)
	}
	if evs := got[watched]; len(evs) != 1 || string(evs[0].Kv.Key) != "a" || evs[0].PrevKv == nil || evs[0].PrevKv.ModRevision != unwatched {
		t.Errorf("revision %d (watched): events %v, want the put of a with its previous kv at %d", watched, evs, unwatched)
	}
	if evs, ok := got[deleted]; !ok || evs != nil || deleted != watched+1 {
		t.Errorf("delete at %d (nobody watching): OnCommit called %v with %v", deleted, ok, evs)
	}
}

// TestEventsFromTheCompactionRevision checks etcd's edge: a watcher may
// start at the compaction revision itself and gets what compaction kept of
// it (each key's change there, a delete too, without PrevKv); below it is
// compacted. A store restored from a snapshot answers the same.
func TestEventsFromTheCompactionRevision(t *testing.T) {
	s := New(Options{Lessor: newFakeLessor()})
	write := func(r *pb.TxnRequest) int64 {
		t.Helper()
		resp, err := s.Txn(r)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	write(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1"), opPut("b", "1")}})
	both := write(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "2"), opPut("c", "1")}})
	write(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("b", "2")}})
	if _, err := s.Compact(both); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store, from int64, want ...string) {
		t.Helper()
		evs, next, err := s.Events([]byte{0}, []byte{0}, from, 0)
		if err != nil {
			t.Fatalf("Events(%d): %v", from, err)
		}
		var got []string
		for _, ev := range evs {
			if ev.PrevKv != nil && ev.Kv.ModRevision == s.CompactRev() {
				t.Errorf("Events(%d): %s at the compaction revision carries PrevKv %v", from, ev.Kv.Key, ev.PrevKv)
			}
			got = append(got, fmt.Sprintf("%s %s@%d=%s", ev.Type, ev.Kv.Key, ev.Kv.ModRevision, ev.Kv.Value))
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || next != s.Rev()+1 {
			t.Errorf("Events(%d) = %v next %d, want %v next %d", from, got, next, want, s.Rev()+1)
		}
	}
	check(s, both, fmt.Sprintf("PUT a@%d=2", both), fmt.Sprintf("PUT c@%d=1", both), fmt.Sprintf("PUT b@%d=2", both+1))
	if _, _, err := s.Events([]byte{0}, []byte{0}, both-1, 0); !errors.Is(err, rpctypes.ErrGRPCCompacted) {
		t.Fatalf("Events below the compaction revision: %v, want compacted", err)
	}

	// A delete at the compaction revision keeps its tombstone, as in etcd:
	// the watcher starting there gets it (without PrevKv).
	del := write(&pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("a")}}}, opPut("d", "1")}})
	write(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("c", "2")}})
	if _, err := s.Compact(del); err != nil {
		t.Fatal(err)
	}
	want := []string{fmt.Sprintf("DELETE a@%d=", del), fmt.Sprintf("PUT d@%d=1", del), fmt.Sprintf("PUT c@%d=2", del+1)}
	check(s, del, want...)
	r, err := Restore(s.Snapshot(), Options{Lessor: newFakeLessor()})
	if err != nil {
		t.Fatal(err)
	}
	check(r, del, want...)
	if h1, _, _, _ := s.HashKV(0); true {
		h2, _, _, _ := r.HashKV(0)
		if h1 != h2 {
			t.Errorf("HashKV %x, restored %x", h1, h2)
		}
	}
}
