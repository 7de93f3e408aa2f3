package mvcc

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"pgregory.net/rapid"
)

// snapshotWrite is one random change: puts, deletes and multi-op txns (so
// revisions carry several sub-revisions), over few keys (so keys gather
// history) — compaction only where the test asks for it.
func snapshotWrite(t *rapid.T, s *Store, label string) {
	key := []byte(rapid.StringMatching(`[a-e]{1,2}`).Draw(t, label+"key"))
	switch rapid.IntRange(0, 3).Draw(t, label+"kind") {
	case 0, 1:
		value := []byte(rapid.StringN(0, 40, -1).Draw(t, label+"value"))
		if _, err := s.Put(&pb.PutRequest{Key: key, Value: value}); err != nil {
			t.Fatal(err)
		}
	case 2:
		if _, err := s.DeleteRange(&pb.DeleteRangeRequest{Key: key, RangeEnd: []byte{key[0] + 1}}); err != nil {
			t.Fatal(err)
		}
	case 3:
		other := []byte(rapid.StringMatching(`[f-h]`).Draw(t, label+"other"))
		if _, err := s.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{
			{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: key, Value: []byte("t")}}},
			{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: other, Value: []byte("u")}}},
		}}); err != nil {
			t.Fatal(err)
		}
	}
}

// An encoder stepped with random budgets while the store takes writes
// between steps produces exactly the Snapshot the store had when the
// encoder started, and that snapshot restores.
func TestSnapshotEncoderIsSnapshotAtStart(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := New(Options{})
		for i := range rapid.IntRange(0, 60).Draw(t, "before") {
			snapshotWrite(t, s, fmt.Sprintf("b%d", i))
		}
		if s.Rev() > 3 && rapid.Bool().Draw(t, "compactFirst") {
			if _, err := s.Compact(rapid.Int64Range(2, s.Rev()).Draw(t, "compactRev")); err != nil {
				t.Fatal(err)
			}
		}
		want := s.Snapshot()
		e := s.NewSnapshotEncoder()
		if e.Rev() != s.Rev() {
			t.Fatalf("encoder at revision %d, store at %d", e.Rev(), s.Rev())
		}
		var got []byte
		for step := 0; !e.Done(); step++ {
			if step > 10000 {
				t.Fatal("encoder did not finish in 10000 steps")
			}
			for i := range rapid.IntRange(0, 3).Draw(t, "between") {
				snapshotWrite(t, s, fmt.Sprintf("s%d.%d", step, i))
			}
			budget := rapid.IntRange(1, 200).Draw(t, "budget")
			if !e.Measured() {
				if _, err := e.Measure(budget); err != nil {
					t.Fatal(err)
				}
				continue
			}
			var err error
			if got, _, err = e.Encode(got, budget); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("stepped snapshot (%d bytes) differs from the snapshot at its start (%d bytes)", len(got), len(want))
		}
		if e.SizeBytes() != len(want) {
			t.Fatalf("SizeBytes %d, snapshot is %d bytes", e.SizeBytes(), len(want))
		}
		r, err := Restore(got, Options{})
		if err != nil {
			t.Fatalf("restore: %v", err)
		}
		if r.Rev() != e.Rev() {
			t.Fatalf("restored revision %d, want %d", r.Rev(), e.Rev())
		}
	})
}

// A compaction between steps may drop versions the encoder still has to
// read: every later step says so instead of producing a wrong snapshot.
func TestSnapshotEncoderStaleAfterCompaction(t *testing.T) {
	s := New(Options{})
	for i := range 100 {
		if _, err := s.Put(&pb.PutRequest{Key: fmt.Appendf(nil, "k%03d", i%10), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	e := s.NewSnapshotEncoder()
	if done, err := e.Measure(1); done || err != nil {
		t.Fatalf("first step of a 10-record pass: done %v, err %v", done, err)
	}
	if _, err := s.Compact(s.Rev()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Measure(1); !errors.Is(err, ErrSnapshotStale) {
		t.Fatalf("Measure after a compaction: %v, want ErrSnapshotStale", err)
	}
}

// A step takes at least one record, even when it alone is larger than the
// budget, so every step makes progress: 5 records take 5 steps and one more
// that finds the end.
func TestSnapshotEncoderStepsMakeProgress(t *testing.T) {
	s := New(Options{})
	big := bytes.Repeat([]byte("x"), 4096)
	for i := range 5 {
		if _, err := s.Put(&pb.PutRequest{Key: fmt.Appendf(nil, "k%d", i), Value: big}); err != nil {
			t.Fatal(err)
		}
	}
	e := s.NewSnapshotEncoder()
	steps := 0
	for done := false; !done; steps++ {
		var err error
		if done, err = e.Measure(1); err != nil {
			t.Fatal(err)
		}
	}
	if steps != 6 {
		t.Fatalf("measuring 5 records with a 1-byte budget took %d steps, want 6", steps)
	}
	var out []byte
	steps = 0
	for done := false; !done; steps++ {
		var err error
		if out, done, err = e.Encode(out, 1); err != nil {
			t.Fatal(err)
		}
	}
	if steps != 6 || !bytes.Equal(out, s.Snapshot()) {
		t.Fatalf("encoding took %d steps (want 6) and matches Snapshot: %v", steps, bytes.Equal(out, s.Snapshot()))
	}
}
