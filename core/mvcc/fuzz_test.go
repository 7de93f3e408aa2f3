package mvcc

import (
	"bytes"
	"encoding/binary"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// FuzzRestore feeds arbitrary bytes to Restore: it must fail cleanly or
// give a store whose own snapshot is the input again (a version 1 input:
// whose snapshot restores to the same bytes again).
func FuzzRestore(f *testing.F) {
	s := New(Options{})
	for i, k := range []string{"a", "b", "c", "a", "b"} {
		if _, err := s.Put(&pb.PutRequest{Key: []byte(k), Value: []byte{byte('0' + i)}}); err != nil {
			f.Fatal(err)
		}
	}
	if _, err := s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("c")}); err != nil {
		f.Fatal(err)
	}
	if _, err := s.Compact(4); err != nil {
		f.Fatal(err)
	}
	f.Add(s.Snapshot())
	f.Add(New(Options{}).Snapshot())
	f.Add([]byte(snapshotMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Restore(data, Options{})
		if err != nil {
			return
		}
		again := r.Snapshot()
		if binary.LittleEndian.Uint32(data[len(snapshotMagic):]) == snapshotVersionV1 {
			// The old format restores, and snapshots in the new one,
			// which restores to the same bytes again.
			r2, err := Restore(again, Options{})
			if err != nil {
				t.Fatalf("restore of a version 1 snapshot's re-encoding: %v", err)
			}
			data = r2.Snapshot()
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("restored store snapshots to different bytes")
		}
		if _, err := r.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}); err != nil {
			t.Fatalf("range on a restored store: %v", err)
		}
	})
}

// TestRestoreRejectsDamage flips every byte and truncates at every length of
// a real snapshot: each must fail, none may panic.
func TestRestoreRejectsDamage(t *testing.T) {
	s := New(Options{})
	for i, k := range []string{"a", "b", "a"} {
		if _, err := s.Put(&pb.PutRequest{Key: []byte(k), Value: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	snap := s.Snapshot()
	for i := range snap {
		bad := bytes.Clone(snap)
		bad[i] ^= 0x40
		if _, err := Restore(bad, Options{}); err == nil {
			t.Fatalf("flipped byte %d accepted", i)
		}
		if _, err := Restore(snap[:i], Options{}); err == nil {
			t.Fatalf("truncation to %d bytes accepted", i)
		}
	}
}
