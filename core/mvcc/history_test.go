package mvcc

import (
	"errors"
	"math/rand/v2"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"pgregory.net/rapid"
)

// genHistory drives a store through random writes and compactions.
func genHistory(t *rapid.T) *Store {
	s := New(Options{Lessor: newFakeLessor(), TxnOpsMax: 3})
	for range rapid.IntRange(0, 60).Draw(t, "steps") {
		switch rapid.IntRange(0, 5).Draw(t, "kind") {
		case 0, 1:
			s.Put(genPut(t))
		case 2:
			s.DeleteRange(genDelete(t))
		case 3:
			s.Txn(genTxn(t, s.Rev(), 0))
		case 4:
			s.Compact(genRev(t, s.Rev(), "compact"))
		default:
			s.DeleteKeys([][]byte{genKey(t, "dk")})
		}
	}
	return s
}

// readHistory reads the store's whole history in steps of budgetBytes.
func readHistory(t interface{ Fatalf(string, ...any) }, s *Store, budgetBytes int) []KeyVersion {
	r := s.NewHistoryReader()
	var all []KeyVersion
	for steps := 0; ; steps++ {
		var done bool
		var err error
		if all, done, err = r.Next(all, budgetBytes); err != nil {
			t.Fatalf("Next: %v", err)
		}
		if done {
			return all
		}
		if steps > 1<<20 {
			t.Fatalf("HistoryReader never finished")
		}
	}
}

// The history read in small steps, shuffled and built again, is the very
// store it came from: the same snapshot bytes.
func TestHistoryRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genHistory(t)
		versions := readHistory(t, s, rapid.IntRange(1, 64).Draw(t, "budget"))
		rand.New(rand.NewPCG(uint64(len(versions)), 1)).Shuffle(len(versions), func(i, j int) {
			versions[i], versions[j] = versions[j], versions[i]
		})
		b, err := BuildSnapshot(s.Rev(), s.CompactRev(), versions)
		if err != nil {
			t.Fatalf("BuildSnapshot: %v", err)
		}
		if string(b) != string(s.Snapshot()) {
			t.Fatalf("built snapshot differs from the store's own")
		}
	})
}

// BuildSnapshot of an uncompacted history at a later compaction revision
// equals the store compacted there: etcd's scheduled compaction, finished.
func TestBuildSnapshotCompacts(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genHistory(t)
		versions := readHistory(t, s, 1<<20)
		at := rapid.Int64Range(s.CompactRev()+1, s.Rev()+1).Draw(t, "at")
		if at > s.Rev() {
			t.Skip("nothing left to compact")
		}
		b, err := BuildSnapshot(s.Rev(), at, versions)
		if err != nil {
			t.Fatalf("BuildSnapshot: %v", err)
		}
		if _, err := s.Compact(at); err != nil {
			t.Fatalf("Compact(%d): %v", at, err)
		}
		if string(b) != string(s.Snapshot()) {
			t.Fatalf("built snapshot compacted at %d differs from the compacted store", at)
		}
	})
}

func TestHistoryReaderReadsAsOfItsRevision(t *testing.T) {
	s := New(Options{})
	s.Put(&pb.PutRequest{Key: []byte("a"), Value: []byte("1")})
	s.Put(&pb.PutRequest{Key: []byte("b"), Value: []byte("1")})
	r := s.NewHistoryReader()
	s.Put(&pb.PutRequest{Key: []byte("a"), Value: []byte("2")})
	s.Put(&pb.PutRequest{Key: []byte("c"), Value: []byte("1")})
	var got []KeyVersion
	for done := false; !done; {
		var err error
		if got, done, err = r.Next(got, 1); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 || got[0].Key != "a" || got[0].Value != "1" || got[1].Key != "b" || r.Rev() != 3 {
		t.Fatalf("read %+v at %d, want a=1 and b=1 at 3", got, r.Rev())
	}
	s.Compact(4)
	if _, _, err := s.NewHistoryReader().Next(nil, 1); err != nil {
		t.Fatalf("a reader opened after the compaction: %v", err)
	}
	r2 := s.NewHistoryReader()
	s.Compact(5)
	if _, _, err := r2.Next(nil, 1); !errors.Is(err, ErrSnapshotStale) {
		t.Fatalf("Next after a compaction: %v, want ErrSnapshotStale", err)
	}
}

func TestBuildSnapshotRejects(t *testing.T) {
	for name, vs := range map[string][]KeyVersion{
		"empty key":     {{Key: "", ModRevision: 2, CreateRevision: 2, Version: 1}},
		"same revision": {{Key: "a", ModRevision: 2, CreateRevision: 2, Version: 1}, {Key: "a", ModRevision: 2, CreateRevision: 2, Version: 1}},
		"sub too large": {{Key: "a", ModRevision: 2, SubRevision: 1 << 40, CreateRevision: 2, Version: 1}},
	} {
		if _, err := BuildSnapshot(2, 0, vs); err == nil {
			t.Errorf("%s: BuildSnapshot accepted %+v", name, vs)
		}
	}
	// What it encodes, Restore still judges: a version above the revision.
	b, err := BuildSnapshot(2, 0, []KeyVersion{{Key: "a", ModRevision: 3, CreateRevision: 3, Version: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(b, Options{}); !errors.Is(err, ErrSnapshotCorrupt) {
		t.Fatalf("Restore of a version above the revision: %v", err)
	}
}
