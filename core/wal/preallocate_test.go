package wal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvdlabs/kvd/core/disk"
)

// segmentSizes returns the size on disk of each segment of the WAL in
// fs.Root/wal, oldest first.
func segmentSizes(t *testing.T, fs disk.OSFS) map[string]int64 {
	t.Helper()
	names, err := fs.List("wal")
	noErr(t, err)
	sizes := map[string]int64{}
	for _, n := range names {
		if !strings.HasSuffix(n, segmentSuffix) {
			continue
		}
		st, err := os.Stat(filepath.Join(fs.Root, "wal", n))
		noErr(t, err)
		sizes[n] = st.Size()
	}
	return sizes
}

// preallocatingFS is a real disk, skipping the test where its file system
// cannot preallocate (the WAL then behaves as on memFS, tested elsewhere).
func preallocatingFS(t *testing.T) disk.OSFS {
	t.Helper()
	fs := disk.OSFS{Root: t.TempDir()}
	f, err := fs.Create("probe")
	noErr(t, err)
	ok, err := disk.Preallocate(f, 4096)
	noErr(t, err)
	noErr(t, f.Close())
	if !ok {
		t.Skip("this file system cannot preallocate")
	}
	return fs
}

func TestPreallocatedSegmentReopensAfterItsLastRecord(t *testing.T) {
	fs := preallocatingFS(t)
	opts := Options{SegmentSizeBytesMax: 64 << 10}
	w := mustCreate(t, fs, opts)
	noErr(t, w.Save(hardStateOfValues(1, 1, 3), entries(1, 3, 1)))
	noErr(t, w.Close())
	for name, size := range segmentSizes(t, fs) {
		if size != opts.SegmentSizeBytesMax {
			t.Fatalf("segment %s is %d bytes, want the whole segment (%d) reserved at its start", name, size, opts.SegmentSizeBytesMax)
		}
	}

	for round := uint64(0); round < 3; round++ {
		w, rec := mustOpen(t, fs, opts)
		sameEntries(t, entries(1, 3+round*2, 1), rec.Entries)
		if rec.TornTailBytes != 0 || rec.UnwrittenTailBytes == 0 {
			t.Fatalf("round %d: torn %d, unwritten %d: want the reserved zeroes read as the clean end of the log",
				round, rec.TornTailBytes, rec.UnwrittenTailBytes)
		}
		// The log goes on right after its last record, not after the zeroes.
		noErr(t, w.Save(hardStateOfValues(1, 1, 5+round*2), entries(4+round*2, 5+round*2, 1)))
		noErr(t, w.Close())
	}
	_, rec := mustOpen(t, fs, opts)
	sameEntries(t, entries(1, 9, 1), rec.Entries)
	sameHardState(t, hardStateOfValues(1, 1, 9), rec.HardState)
}

func TestPreallocatedSegmentsRotateWithoutTheirZeroes(t *testing.T) {
	fs := preallocatingFS(t)
	opts := Options{SegmentSizeBytesMax: 8 << 10, PreallocateBytes: 1 << 10}
	w := mustCreate(t, fs, opts)
	const last = 400
	for i := uint64(1); i <= last; i += 4 {
		noErr(t, w.Save(hardStateOfValues(1, 1, i), entries(i, i+3, 1)))
	}
	noErr(t, w.Close())
	sizes := segmentSizes(t, fs)
	if len(sizes) < 3 {
		t.Fatalf("want the log over several segments, got %d", len(sizes))
	}
	names, err := fs.List("wal")
	noErr(t, err)
	newest := names[len(names)-1]
	for name, size := range sizes {
		b, err := fs.ReadFile("wal/" + name)
		noErr(t, err)
		zeroes := len(b) - nonZeroPrefixBytes(b)
		switch {
		case name != newest && zeroes > 0:
			t.Fatalf("full segment %s ends in %d zeroes: its reserved space must be cut before it is synced whole", name, zeroes)
		case size > opts.SegmentSizeBytesMax:
			t.Fatalf("segment %s is %d bytes, above the segment size %d", name, size, opts.SegmentSizeBytesMax)
		}
	}
	_, rec := mustOpen(t, fs, opts)
	sameEntries(t, entries(1, last, 1), rec.Entries)
}

func TestTornRecordInPreallocatedSpaceIsCutWithItsZeroes(t *testing.T) {
	fs := preallocatingFS(t)
	opts := Options{SegmentSizeBytesMax: 64 << 10}
	w := mustCreate(t, fs, opts)
	noErr(t, w.Save(hardStateOfValues(1, 1, 2), entries(1, 2, 1)))
	end := int(w.fileSizeBytes) // the last record may end in zero bytes of its own
	noErr(t, w.Close())
	names, err := fs.List("wal")
	noErr(t, err)
	seg := "wal/" + names[len(names)-1]
	b, err := fs.ReadFile(seg)
	noErr(t, err)
	// A record torn part-way: its first 7 bytes reached the platter.
	torn := []byte{40, 0, 0, 0, 0xde, 0xad, 0xbe}
	copy(b[end:], torn)
	noErr(t, os.WriteFile(filepath.Join(fs.Root, seg), b, 0o600))

	w, rec := mustOpen(t, fs, opts)
	sameEntries(t, entries(1, 2, 1), rec.Entries)
	if rec.TornTailBytes != int64(len(torn)) || rec.UnwrittenTailBytes != int64(len(b)-end-len(torn)) {
		t.Fatalf("torn %d, unwritten %d: want %d and %d", rec.TornTailBytes, rec.UnwrittenTailBytes, len(torn), len(b)-end-len(torn))
	}
	noErr(t, w.Save(hardStateOfValues(1, 1, 3), entries(3, 3, 1)))
	noErr(t, w.Close())
	_, rec = mustOpen(t, fs, opts)
	sameEntries(t, entries(1, 3, 1), rec.Entries)
}

func TestNonZeroPrefixBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{"\x00", 0},
		{"a", 1},
		{"a\x00b", 3},
		{"a" + strings.Repeat("\x00", 17), 1},
		{strings.Repeat("x", 9) + strings.Repeat("\x00", 8), 9},
		{strings.Repeat("\x00", 8) + "y" + strings.Repeat("\x00", 23), 9},
	} {
		if got := nonZeroPrefixBytes([]byte(tc.in)); got != tc.want {
			t.Errorf("nonZeroPrefixBytes(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
