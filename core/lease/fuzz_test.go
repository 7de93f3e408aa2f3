package lease

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// FuzzRestore feeds arbitrary bytes to Restore. It must never panic; it
// either rejects them, leaving the lessor unchanged, or accepts exactly the
// canonical encoding Snapshot would produce for the restored state.
func FuzzRestore(f *testing.F) {
	empty, _ := newTestLessor(f, Options{})
	full, _ := populated(f)
	f.Add(empty.Snapshot())
	f.Add(full.Snapshot())
	f.Add(reseal(encodeSnap(1, []snapLease{{1, 10, []string{"a"}}, {2, 10, []string{"a"}}})))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, _ := populated(t)
		l.Promote(0)
		before := l.Snapshot()
		err := l.Restore(data)
		checkInvariants(t, l)
		if err != nil {
			if !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("Restore error %v does not wrap ErrCorruptSnapshot", err)
			}
			if string(l.Snapshot()) != string(before) {
				t.Fatal("failed Restore changed the lessor")
			}
			return
		}
		if string(l.Snapshot()) != string(data) {
			t.Fatal("accepted snapshot is not canonical: Snapshot() differs from the input")
		}
	})
}

// TestWriteFuzzSeedCorpus regenerates testdata/fuzz/FuzzRestore when run
// with KVD_WRITE_FUZZ_CORPUS=1 (after a snapshot format change), and
// otherwise checks that the committed seeds still decode as intended.
func TestWriteFuzzSeedCorpus(t *testing.T) {
	full, _ := populated(t)
	snap := full.Snapshot()
	seeds := map[string][]byte{
		"valid-populated":  snap,
		"valid-empty":      func() []byte { l, _ := newTestLessor(t, Options{}); return l.Snapshot() }(),
		"truncated":        snap[:len(snap)/2],
		"bad-checksum":     append(append([]byte{}, snap[:len(snap)-1]...), snap[len(snap)-1]^0xff),
		"key-in-two-lease": reseal(encodeSnap(1, []snapLease{{1, 10, []string{"a"}}, {2, 10, []string{"a"}}})),
		"huge-key-count":   reseal(append(encodeSnap(1, []snapLease{{1, 10, nil}})[:len(encodeSnap(1, []snapLease{{1, 10, nil}}))-4], 0xff, 0xff, 0xff, 0xff)),
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzRestore")
	write := os.Getenv("KVD_WRITE_FUZZ_CORPUS") == "1"
	for name, data := range seeds {
		path := filepath.Join(dir, name)
		content := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
		if write {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("seed %s: %v (regenerate with KVD_WRITE_FUZZ_CORPUS=1)", name, err)
		}
		if string(got) != content {
			t.Fatalf("seed %s is stale (regenerate with KVD_WRITE_FUZZ_CORPUS=1)", name)
		}
		l, _ := newTestLessor(t, Options{})
		err = l.Restore(data)
		if wantOK := name == "valid-populated" || name == "valid-empty"; (err == nil) != wantOK {
			t.Fatalf("seed %s: Restore = %v, want success %v", name, err, wantOK)
		}
	}
}
