package backup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"
	"pgregory.net/rapid"

	"github.com/kvdlabs/kvd/core/mvcc"
)

// history is a store with puts, a txn, deletes and a compaction that kept
// a tombstone at its own revision.
func history(t testing.TB) *mvcc.Store {
	s := mvcc.New(mvcc.Options{})
	put := func(k, v string) {
		if _, err := s.Put(&pb.PutRequest{Key: []byte(k), Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	put("a", "1")
	put("b", "1")
	put("a", "2")
	s.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{
		{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("c"), Value: []byte("1")}}},
		{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("b")}}},
	}})
	s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("a")})
	if _, err := s.Compact(s.Rev()); err != nil {
		t.Fatal(err)
	}
	put("a", "3")
	put("d", strings.Repeat("x", 5000))
	return s
}

// readAll reads s's whole history in one step.
func readAll(t interface{ Fatalf(string, ...any) }, s *mvcc.Store) []mvcc.KeyVersion {
	vs, done, err := s.NewHistoryReader().Next(nil, 1<<30)
	if err != nil || !done {
		t.Fatalf("read history: done %v, %v", done, err)
	}
	return vs
}

func sample(t testing.TB) (*mvcc.Store, *Snapshot) {
	s := history(t)
	return s, &Snapshot{
		Revision: s.Rev(), CompactRevision: s.CompactRev(), Versions: readAll(t, s),
		Leases:           []Lease{{ID: 7, TTLSeconds: 60}, {ID: 9, TTLSeconds: 5}},
		Members:          []Member{{ID: 0x10, Name: "m0", PeerURLs: []string{"http://127.0.0.1:2380"}, ClientURLs: []string{"http://127.0.0.1:2379"}}, {ID: 0x20, Name: "m1", PeerURLs: []string{"http://127.0.0.1:2381"}}},
		RemovedMemberIDs: []uint64{0x30},
		Alarms:           []*pb.AlarmMember{{MemberID: 0x10, Alarm: pb.AlarmType_NOSPACE}},
		ConsistentIndex:  42, Term: 3, ConfState: &raftpb.ConfState{Voters: []uint64{0x10, 0x20}},
		ClusterVersion: "3.7.0",
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	s, want := sample(t)
	path := filepath.Join(t.TempDir(), "snap.db")
	if err := Write(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != s.Rev() || got.CompactRevision != s.CompactRev() || got.ConsistentIndex != 42 || got.Term != 3 ||
		!slices.Equal(got.ConfState.Voters, want.ConfState.Voters) || got.StorageVersion != StorageVersion || got.ClusterVersion != "3.7.0" {
		t.Fatalf("read %+v", got)
	}
	if !slices.Equal(got.Leases, want.Leases) || !slices.Equal(got.RemovedMemberIDs, want.RemovedMemberIDs) ||
		len(got.Members) != 2 || got.Members[0].Name != "m0" || got.Members[0].ClientURLs[0] != "http://127.0.0.1:2379" ||
		len(got.Alarms) != 1 || got.Alarms[0].Alarm != pb.AlarmType_NOSPACE {
		t.Fatalf("read leases %v members %v removed %v alarms %v", got.Leases, got.Members, got.RemovedMemberIDs, got.Alarms)
	}
	b, err := mvcc.BuildSnapshot(got.Revision, got.CompactRevision, got.Versions)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(s.Snapshot()) {
		t.Fatal("the store rebuilt from the file differs from the one written")
	}
	st, err := Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Revision != s.Rev() || st.TotalKey != s.KeyCount() || st.Version != StorageVersion || st.TotalSize%4096 != 0 || st.Hash == 0 {
		t.Fatalf("status %+v, store at %d with %d keys", st, s.Rev(), s.KeyCount())
	}
}

// A file cut short or with one bit flipped anywhere is refused, naming the
// file, and so are files that are not snapshots at all.
func TestReadRefusesDamagedFiles(t *testing.T) {
	_, snap := sample(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "snap.db")
	if err := Write(path, snap); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty":             nil,
		"trailer only":      good[len(good)-32:],
		"truncated by one":  good[:len(good)-1],
		"truncated trailer": good[:len(good)-32],
		"truncated a page":  append(slices.Clone(good[:len(good)-32-4096]), good[len(good)-32:]...),
		"text":              []byte(strings.Repeat("not a snapshot\n", 100)),
	}
	for _, off := range []int{0, 16, 4096 + 20, len(good) / 2, len(good) - 40, len(good) - 1} {
		b := slices.Clone(good)
		b[off] ^= 0x10
		cases[fmt.Sprintf("bit flip at byte %d", off)] = b
	}
	for name, b := range cases {
		p := filepath.Join(dir, "bad.db")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Read(p)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: Read: %v, want ErrCorrupt naming %s", name, err, p)
		}
		if _, err := Stat(p); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Stat: %v, want ErrCorrupt", name, err)
		}
	}
	if _, err := Read(filepath.Join(dir, "missing.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// Finish refuses a head whose revision the versions do not reach: etcd
// would read a lower revision from the file.
func TestFinishChecksTheRevision(t *testing.T) {
	_, snap := sample(t)
	snap.Revision++
	if err := Write(filepath.Join(t.TempDir(), "snap.db"), snap); err == nil {
		t.Fatal("Write accepted a revision above every version")
	}
}

// Any store's history survives the file: written, read back and rebuilt,
// it is the same store.
func TestRoundTripProperty(t *testing.T) {
	dir := t.TempDir()
	rapid.Check(t, func(t *rapid.T) {
		s := mvcc.New(mvcc.Options{})
		keys := []string{"a", "b", "c"}
		for range rapid.IntRange(0, 30).Draw(t, "steps") {
			k := []byte(rapid.SampledFrom(keys).Draw(t, "key"))
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0, 1:
				s.Put(&pb.PutRequest{Key: k, Value: []byte(rapid.String().Draw(t, "value"))})
			case 2:
				s.DeleteRange(&pb.DeleteRangeRequest{Key: k})
			default:
				s.Compact(rapid.Int64Range(1, s.Rev()).Draw(t, "compact"))
			}
		}
		path := filepath.Join(dir, "prop.db")
		if err := Write(path, &Snapshot{Revision: s.Rev(), CompactRevision: s.CompactRev(), Versions: readAll(t, s)}); err != nil {
			t.Fatal(err)
		}
		got, err := Read(path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := mvcc.BuildSnapshot(got.Revision, got.CompactRevision, got.Versions)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != string(s.Snapshot()) {
			t.Fatalf("rebuilt store differs: %v", s)
		}
	})
}
