package mvcc

import (
	"encoding/binary"
	"fmt"
	"os"
	"reflect"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// writeUpgradeHistory makes the changes behind testdata/snapshot-v1.bin:
// puts, deletes and two-key txns over 7 keys, compacted midway.
func writeUpgradeHistory(t *testing.T, s *Store) {
	t.Helper()
	for i := range 300 {
		key := []byte(fmt.Sprintf("k%d", i%7))
		var err error
		switch {
		case i%11 == 10:
			_, err = s.DeleteRange(&pb.DeleteRangeRequest{Key: key})
		case i%13 == 12:
			_, err = s.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{
				{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: key, Value: []byte(fmt.Sprintf("t%d", i))}}},
				{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("z"), Value: []byte(fmt.Sprintf("u%d", i))}}},
			}})
		default:
			_, err = s.Put(&pb.PutRequest{Key: key, Value: []byte(fmt.Sprintf("v%d", i))})
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == 150 {
			if _, err := s.Compact(s.Rev() - 20); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// readAllHistory is every version s holds, in key order.
func readAllHistory(t *testing.T, s *Store) []KeyVersion {
	t.Helper()
	r := s.NewHistoryReader()
	var all []KeyVersion
	for done := false; !done; {
		var err error
		if all, done, err = r.Next(all, 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	return all
}

// A data directory written before format version 2 still opens: its
// version 1 snapshot (testdata/snapshot-v1.bin, written by the kvd of
// that time from writeUpgradeHistory's changes) restores to the store the
// same changes make now, and that store snapshots in version 2.
func TestRestoresVersion1Snapshot(t *testing.T) {
	v1, err := os.ReadFile("testdata/snapshot-v1.bin")
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint32(v1[len(snapshotMagic):]); got != snapshotVersionV1 {
		t.Fatalf("fixture is format version %d, want %d", got, snapshotVersionV1)
	}
	old, err := Restore(v1, Options{})
	if err != nil {
		t.Fatalf("restore version 1: %v", err)
	}
	now := New(Options{})
	writeUpgradeHistory(t, now)
	if old.Rev() != now.Rev() || old.compactRev != now.compactRev {
		t.Fatalf("restored at revision %d compacted %d, want %d compacted %d", old.Rev(), old.compactRev, now.Rev(), now.compactRev)
	}
	got, want := readAllHistory(t, old), readAllHistory(t, now)
	if len(want) <= 7 {
		t.Fatalf("the changes left %d versions: no history to restore", len(want))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("version 1 restores %d versions, the same changes hold %d (or they differ)", len(got), len(want))
	}
	h1, _, _, err1 := old.HashKV(0)
	h2, _, _, err2 := now.HashKV(0)
	if err1 != nil || err2 != nil || h1 != h2 {
		t.Fatalf("hash %08x (%v), want %08x (%v)", h1, err1, h2, err2)
	}
	v2 := old.Snapshot()
	if got := binary.LittleEndian.Uint32(v2[len(snapshotMagic):]); got != snapshotVersion {
		t.Fatalf("a restored store snapshots as format version %d, want %d", got, snapshotVersion)
	}
	again, err := Restore(v2, Options{})
	if err != nil {
		t.Fatalf("restore of the re-encoded snapshot: %v", err)
	}
	if got := readAllHistory(t, again); !reflect.DeepEqual(got, want) {
		t.Fatal("the re-encoded snapshot restores to different versions")
	}
}
