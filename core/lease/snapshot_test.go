package lease

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// populated returns a lessor with leases, attached keys and a used id
// generator, and its store.
func populated(t fataler) (*Lessor, *fakeStore) {
	t.Helper()
	l, _ := newTestLessor(t, Options{})
	s := newFakeStore(l)
	for _, g := range []struct{ id, ttl int64 }{{0, 5}, {9, 30}, {0, 60}, {-4, 7}} {
		if _, err := l.Grant(g.id, g.ttl); err != nil {
			t.Fatalf("Grant: %v", err)
		}
	}
	for i, k := range []string{"x", "a", "m", "b"} {
		if err := s.put(k, []int64{9, 9, -4, 0}[i]); err != nil {
			t.Fatalf("put: %v", err)
		}
	}
	return l, s
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		l, _ := newTestLessor(t, Options{LeasesMax: 64})
		s := newFakeStore(l)
		for range rapid.IntRange(0, 40).Draw(t, "grants") {
			_, _ = l.Grant(rapid.Int64Range(-3, 3).Draw(t, "id"), rapid.Int64Range(1, 100).Draw(t, "ttl"))
		}
		ids := l.sortedIDs()
		for range rapid.IntRange(0, 40).Draw(t, "puts") {
			key := rapid.StringMatching(`[a-z\x00\xff]{1,4}`).Draw(t, "key")
			leaseID := int64(0)
			if len(ids) > 0 && rapid.Bool().Draw(t, "leased") {
				leaseID = rapid.SampledFrom(ids).Draw(t, "lease")
			}
			if err := s.put(key, leaseID); err != nil {
				t.Fatalf("put: %v", err)
			}
		}
		snap := l.Snapshot()
		if again := l.Snapshot(); string(again) != string(snap) {
			t.Fatal("two snapshots of one state differ")
		}
		r, _ := newTestLessor(t, Options{LeasesMax: 64})
		if err := r.Restore(snap); err != nil {
			t.Fatalf("Restore(Snapshot()): %v", err)
		}
		if got := r.Snapshot(); string(got) != string(snap) {
			t.Fatal("Snapshot after Restore differs from the restored bytes")
		}
		checkInvariants(t, r)
		for _, id := range ids {
			if !slices.Equal(r.leases[id].sortedKeys(), l.leases[id].sortedKeys()) {
				t.Fatalf("lease %d keys %q, want %q", id, r.leases[id].sortedKeys(), l.leases[id].sortedKeys())
			}
		}
	})
}

func TestRestoreRejectsEveryCorruption(t *testing.T) {
	src, _ := populated(t)
	snap := src.Snapshot()
	dst, _ := populated(t)
	if _, err := dst.Grant(1234, 9); err != nil {
		t.Fatal(err)
	}
	before := dst.Snapshot()
	mustReject := func(t *testing.T, what string, data []byte) {
		t.Helper()
		err := dst.Restore(data)
		if !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("%s: Restore = %v, want ErrCorruptSnapshot", what, err)
		}
		if string(dst.Snapshot()) != string(before) {
			t.Fatalf("%s: failed Restore changed the lessor", what)
		}
	}
	for n := range len(snap) {
		mustReject(t, "truncated", snap[:n])
	}
	for i := range len(snap) {
		for _, bit := range []byte{0x01, 0x80} {
			c := slices.Clone(snap)
			c[i] ^= bit
			mustReject(t, "bit flip", c)
		}
	}
	mustReject(t, "extended", append(slices.Clone(snap), 0))
}

// reseal replaces the checksum so a structural error gets past it.
func reseal(body []byte) []byte {
	return binary.BigEndian.AppendUint32(slices.Clone(body), crc32.Checksum(body, castagnoli))
}

type snapLease struct {
	id, ttl int64
	keys    []string
}

func encodeSnap(counter uint64, leases []snapLease) []byte {
	b := []byte(snapshotMagic)
	b = binary.BigEndian.AppendUint32(b, snapshotVersion)
	b = binary.BigEndian.AppendUint64(b, counter)
	b = binary.BigEndian.AppendUint32(b, uint32(len(leases)))
	for _, ls := range leases {
		b = binary.BigEndian.AppendUint64(b, uint64(ls.id))
		b = binary.BigEndian.AppendUint64(b, uint64(ls.ttl))
		b = binary.BigEndian.AppendUint32(b, uint32(len(ls.keys)))
		for _, k := range ls.keys {
			b = binary.BigEndian.AppendUint32(b, uint32(len(k)))
			b = append(b, k...)
		}
	}
	return b
}

func TestRestoreRejectsInvalidStructure(t *testing.T) {
	valid := encodeSnap(5, []snapLease{{1, 10, []string{"a", "b"}}, {2, 10, []string{"c"}}})
	tests := []struct {
		name string
		body []byte
	}{
		{"bad magic", append([]byte("kvdleasX"), valid[8:]...)},
		{"bad version", func() []byte { b := slices.Clone(valid); b[11] = 9; return b }()},
		{"id counter 0", encodeSnap(0, nil)},
		{"id counter beyond 63 bits", encodeSnap(1<<63, nil)},
		{"lease id 0", encodeSnap(1, []snapLease{{0, 10, nil}})},
		{"ids not ascending", encodeSnap(1, []snapLease{{2, 10, nil}, {1, 10, nil}})},
		{"duplicate id", encodeSnap(1, []snapLease{{2, 10, nil}, {2, 10, nil}})},
		{"ttl 0", encodeSnap(1, []snapLease{{1, 0, nil}})},
		{"ttl above max", encodeSnap(1, []snapLease{{1, MaxLeaseTTLSeconds + 1, nil}})},
		{"empty key", encodeSnap(1, []snapLease{{1, 10, []string{""}}})},
		{"keys not ascending", encodeSnap(1, []snapLease{{1, 10, []string{"b", "a"}}})},
		{"key in two leases", encodeSnap(1, []snapLease{{1, 10, []string{"a"}}, {2, 10, []string{"a"}}})},
		{"more leases than LeasesMax", encodeSnap(1, []snapLease{{1, 10, nil}, {2, 10, nil}, {3, 10, nil}, {4, 10, nil}})},
		{"lease count beyond data", func() []byte { b := encodeSnap(1, nil); b[len(b)-1] = 2; return b }()},
		{"trailing bytes", append(slices.Clone(valid), 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newTestLessor(t, Options{LeasesMax: 3})
			if err := l.Restore(reseal(valid)); err != nil {
				t.Fatalf("valid snapshot rejected: %v", err)
			}
			before := l.Snapshot()
			err := l.Restore(reseal(tc.body))
			if !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("Restore = %v, want ErrCorruptSnapshot", err)
			}
			if string(l.Snapshot()) != string(before) {
				t.Fatal("failed Restore changed the lessor")
			}
		})
	}
}

func TestRestoreOnPrimaryRestartsClocks(t *testing.T) {
	src, _ := populated(t)
	l, clk := newTestLessor(t, Options{})
	l.Promote(0)
	if err := l.Restore(src.Snapshot()); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, l)
	// The first generated id holds the 5 s lease; -4 holds 7 s; 9 holds 30 s.
	g := newIDGenerator()
	fiveSecondID := g.next()
	clk.Advance(7*time.Second - 1)
	if got := l.Expired(10); !slices.Equal(got, []int64{fiveSecondID}) {
		t.Fatalf("Expired 7 s - 1 ns after Restore = %v, want [%d]", got, fiveSecondID)
	}
	clk.Advance(1)
	if got := l.Expired(10); !slices.Equal(got, []int64{fiveSecondID, -4}) {
		t.Fatalf("Expired 7 s after Restore = %v, want [%d -4]", got, fiveSecondID)
	}
}
