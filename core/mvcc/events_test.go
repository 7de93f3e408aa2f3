package mvcc

import (
	"testing"

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
