package wal

import (
	"bytes"
	"errors"
	"io"
	iofs "io/fs"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/disk"
)

type saveCall struct {
	hs   *raftpb.HardState
	ents []*raftpb.Entry
}

func TestSaveOpenRoundTrip(t *testing.T) {
	big := strings.Repeat("x", 100_000)
	tests := []struct {
		name      string
		saves     []saveCall
		wantHS    *raftpb.HardState
		wantEnts  []*raftpb.Entry
		wantFiles int
	}{
		{name: "empty", wantHS: hardStateOfValues(0, 0, 0)},
		{
			name:     "hard state only",
			saves:    []saveCall{{hs: hardStateOfValues(3, 2, 0)}},
			wantHS:   hardStateOfValues(3, 2, 0),
			wantEnts: nil,
		},
		{
			name: "entries and hard state",
			saves: []saveCall{
				{hs: hardStateOfValues(1, 1, 0), ents: entries(1, 3, 1)},
				{hs: hardStateOfValues(1, 1, 3), ents: entries(4, 10, 1)},
			},
			wantHS:   hardStateOfValues(1, 1, 3),
			wantEnts: entries(1, 10, 1),
		},
		{
			name: "conflicting suffix is overwritten",
			saves: []saveCall{
				{hs: hardStateOfValues(1, 1, 2), ents: entries(1, 10, 1)},
				{hs: hardStateOfValues(2, 3, 4), ents: entries(5, 7, 2)},
			},
			wantHS:   hardStateOfValues(2, 3, 4),
			wantEnts: append(entries(1, 4, 1), entries(5, 7, 2)...),
		},
		{
			name: "empty data, conf change type and a big entry",
			saves: []saveCall{{ents: []*raftpb.Entry{
				{Index: ptr(uint64(1)), Term: ptr(uint64(1))},
				{Index: ptr(uint64(2)), Term: ptr(uint64(1)), Type: raftpb.EntryType_EntryConfChangeV2.Enum(), Data: []byte{1, 2}},
				entry(3, 1, big),
			}}},
			wantHS: hardStateOfValues(0, 0, 0),
			wantEnts: []*raftpb.Entry{
				{Index: ptr(uint64(1)), Term: ptr(uint64(1))},
				{Index: ptr(uint64(2)), Term: ptr(uint64(1)), Type: raftpb.EntryType_EntryConfChangeV2.Enum(), Data: []byte{1, 2}},
				entry(3, 1, big),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newMemFS()
			w := mustCreate(t, fs, Options{})
			for _, s := range tt.saves {
				noErr(t, w.Save(s.hs, s.ents))
			}
			noErr(t, w.Close())
			w, rec := mustOpen(t, fs, Options{})
			defer w.Close()
			if string(rec.Metadata) != "cluster=7 member=1" {
				t.Fatalf("metadata %q", rec.Metadata)
			}
			sameHardState(t, tt.wantHS, rec.HardState)
			sameEntries(t, tt.wantEnts, rec.Entries)
			if rec.Snapshot != nil || rec.TornTailBytes != 0 {
				t.Fatalf("unexpected snapshot %v or torn tail %d", rec.Snapshot, rec.TornTailBytes)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestRoundTripOnOSFS(t *testing.T) {
	fs := disk.OSFS{Root: t.TempDir()}
	w := mustCreate(t, fs, Options{SegmentSizeBytesMax: 1 << 10})
	noErr(t, w.Save(hardStateOfValues(1, 1, 50), entries(1, 50, 1)))
	noErr(t, w.SaveSnapshot(snapshotAt(20, 1, "state at 20")))
	noErr(t, w.Save(hardStateOfValues(1, 1, 60), entries(51, 60, 1)))
	noErr(t, w.ReleaseBefore(20))
	noErr(t, w.Close())

	w, rec := mustOpen(t, fs, Options{SegmentSizeBytesMax: 1 << 10})
	defer w.Close()
	sameHardState(t, hardStateOfValues(1, 1, 60), rec.HardState)
	sameEntries(t, entries(21, 60, 1), rec.Entries)
	if string(rec.Snapshot.GetData()) != "state at 20" {
		t.Fatalf("snapshot %v", rec.Snapshot)
	}
}

func TestSaveSkipsUnchangedHardStateAndEmptyCalls(t *testing.T) {
	fs := newMemFS()
	w := mustCreate(t, fs, Options{})
	noErr(t, w.Save(hardStateOfValues(1, 1, 0), nil))
	seg := fs.segmentFiles(t, "wal")[0]
	size := len(fs.files[seg])
	noErr(t, w.Save(hardStateOfValues(1, 1, 0), nil))
	noErr(t, w.Save(nil, nil))
	noErr(t, w.Save(&raftpb.HardState{}, nil))
	if got := len(fs.files[seg]); got != size {
		t.Fatalf("no-op saves wrote: size %d -> %d", size, got)
	}
	// Proof that the no-op saves did not even sync: a failing sync would
	// have surfaced.
	fs.failSync = errInjected
	noErr(t, w.Save(hardStateOfValues(1, 1, 0), nil))
	noErr(t, w.Close())
}

func TestSaveAcrossReopenContinuesTheLog(t *testing.T) {
	fs := newMemFS()
	w := mustCreate(t, fs, Options{})
	noErr(t, w.Save(hardStateOfValues(1, 1, 1), entries(1, 5, 1)))
	noErr(t, w.Close())
	w, _ = mustOpen(t, fs, Options{})
	noErr(t, w.Save(hardStateOfValues(2, 2, 5), entries(6, 9, 2)))
	noErr(t, w.Close())
	w, rec := mustOpen(t, fs, Options{})
	defer w.Close()
	sameEntries(t, append(entries(1, 5, 1), entries(6, 9, 2)...), rec.Entries)
	sameHardState(t, hardStateOfValues(2, 2, 5), rec.HardState)
}

func TestRotation(t *testing.T) {
	fs := newMemFS()
	opts := Options{SegmentSizeBytesMax: 512}
	w := mustCreate(t, fs, opts)
	var want []*raftpb.Entry
	for i := uint64(1); i <= 200; i += 4 {
		batch := entries(i, i+3, 1)
		want = append(want, batch...)
		noErr(t, w.Save(hardStateOfValues(1, 1, i), batch))
	}
	// Then overwrite across a segment boundary.
	noErr(t, w.Save(hardStateOfValues(2, 1, 150), entries(151, 170, 2)))
	want = append(want[:150], entries(151, 170, 2)...)
	noErr(t, w.Close())

	segs := fs.segmentFiles(t, "wal")
	if len(segs) < 10 {
		t.Fatalf("want many segments at 512 bytes each, got %d", len(segs))
	}
	for _, s := range segs[:len(segs)-1] {
		if n := len(fs.files[s]); n > 512 {
			t.Fatalf("segment %s is %d bytes, above the 512 limit", s, n)
		}
	}
	w, rec := mustOpen(t, fs, opts)
	defer w.Close()
	sameEntries(t, want, rec.Entries)
	sameHardState(t, hardStateOfValues(2, 1, 150), rec.HardState)
}

func TestOversizedEntryRefusedAndLargeRecordGetsItsOwnSegment(t *testing.T) {
	fs := newMemFS()
	opts := Options{SegmentSizeBytesMax: 1024, RecordSizeBytesMax: 128 << 10}
	w := mustCreate(t, fs, opts)
	tooBig := entry(1, 1, strings.Repeat("z", 128<<10))
	if err := w.Save(nil, []*raftpb.Entry{tooBig}); err == nil || !strings.Contains(err.Error(), "index 1") {
		t.Fatalf("want a size error naming index 1, got %v", err)
	}
	// Refusing it did not fail the WAL.
	noErr(t, w.Save(nil, []*raftpb.Entry{entry(1, 1, strings.Repeat("y", 4096))}))
	noErr(t, w.Save(nil, entries(2, 3, 1)))
	noErr(t, w.Close())
	_, rec := mustOpen(t, fs, opts)
	sameEntries(t, append([]*raftpb.Entry{entry(1, 1, strings.Repeat("y", 4096))}, entries(2, 3, 1)...), rec.Entries)
}

func TestSaveGapPanics(t *testing.T) {
	fs := newMemFS()
	w := mustCreate(t, fs, Options{})
	noErr(t, w.Save(nil, entries(1, 3, 1)))
	for name, ents := range map[string][]*raftpb.Entry{
		"gap after last":  entries(5, 6, 1),
		"not consecutive": {entry(4, 1, ""), entry(6, 1, "")},
		"index zero":      {entry(0, 1, "")},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatalf("Save(%s) did not panic", describe(ents))
				}
			}()
			_ = w.Save(nil, ents)
		})
	}
}

// writeLog saves logEntries(n) one call each and returns the single
// segment and the offsets of its last record.
func writeLog(t *testing.T, fs *memFS, n uint64) (seg string, lastStart, lastEnd int) {
	t.Helper()
	w := mustCreate(t, fs, Options{})
	for i := uint64(1); i <= n; i++ {
		seg = fs.segmentFiles(t, "wal")[0]
		lastStart = len(fs.files[seg])
		noErr(t, w.Save(nil, logEntries(i)[i-1:]))
	}
	noErr(t, w.Close())
	return seg, lastStart, len(fs.files[seg])
}

func TestTornTailAtEveryOffsetOfTheLastRecord(t *testing.T) {
	base := newMemFS()
	seg, start, end := writeLog(t, base, 5)
	for _, mode := range []string{"cut", "zero-filled", "garbage"} {
		for cut := start; cut < end; cut++ {
			fs := base.clone()
			b := fs.files[seg]
			switch mode {
			case "cut":
				fs.files[seg] = b[:cut]
			case "zero-filled":
				clear(b[cut:])
			case "garbage":
				for i := cut; i < end; i++ {
					b[i] = byte(i*131 + 7)
				}
			}
			w, rec, err := Open(fs, "wal", Options{})
			if err != nil {
				t.Fatalf("%s at %d: %v", mode, cut, err)
			}
			sameEntries(t, logEntries(4), rec.Entries)
			tail := b[start:]
			if mode == "cut" {
				tail = b[start:cut]
			}
			// Trailing zeroes hold no record: they are unwritten space,
			// not a torn write.
			wantTorn := int64(len(strings.TrimRight(string(tail), "\x00")))
			if rec.TornTailBytes != wantTorn || rec.UnwrittenTailBytes != int64(len(tail))-wantTorn {
				t.Fatalf("%s at %d: torn tail %d and unwritten tail %d, want %d and %d", mode, cut,
					rec.TornTailBytes, rec.UnwrittenTailBytes, wantTorn, int64(len(tail))-wantTorn)
			}
			if got := len(fs.files[seg]); got != start {
				t.Fatalf("%s at %d: segment is %d bytes after recovery, want %d", mode, cut, got, start)
			}
			// The log goes on from the cut.
			noErr(t, w.Save(nil, []*raftpb.Entry{entry(5, 2, "again")}))
			noErr(t, w.Close())
			_, rec = mustOpen(t, fs, Options{})
			sameEntries(t, append(logEntries(4), entry(5, 2, "again")), rec.Entries)
			if rec.TornTailBytes != 0 {
				t.Fatalf("%s at %d: torn tail %d after a clean close", mode, cut, rec.TornTailBytes)
			}
		}
	}
}

// logEntries are what writeLog saves.
func logEntries(n uint64) []*raftpb.Entry {
	var ents []*raftpb.Entry
	for i := uint64(1); i <= n; i++ {
		ents = append(ents, entry(i, 1, "payload of entry"))
	}
	return ents
}

func TestBitFlipInAMiddleRecordIsCorruption(t *testing.T) {
	base := newMemFS()
	w := mustCreate(t, base, Options{})
	seg := base.segmentFiles(t, "wal")[0]
	var starts []int
	for i := uint64(1); i <= 5; i++ {
		starts = append(starts, len(base.files[seg]))
		noErr(t, w.Save(hardStateOfValues(1, 1, i-1), []*raftpb.Entry{entry(i, 1, "a middle value")}))
	}
	noErr(t, w.Close())
	// Every bit of entry 3's record and of the hard state after it: header
	// (length, checksum, type) and payload.
	for off := starts[2]; off < starts[3]; off++ {
		for bit := 0; bit < 8; bit++ {
			fs := base.clone()
			fs.files[seg][off] ^= 1 << bit
			_, _, err := Open(fs, "wal", Options{})
			errIs(t, err, ErrCorrupt)
			if !strings.Contains(err.Error(), seg) || !strings.Contains(err.Error(), "offset") {
				t.Fatalf("error does not name file and offset: %v", err)
			}
		}
	}
}

func TestDamageInAnEarlierSegmentIsCorruption(t *testing.T) {
	base := newMemFS()
	opts := Options{SegmentSizeBytesMax: 300}
	w := mustCreate(t, base, opts)
	for i := uint64(1); i <= 40; i++ {
		noErr(t, w.Save(nil, []*raftpb.Entry{entry(i, 1, "v")}))
	}
	noErr(t, w.Close())
	segs := base.segmentFiles(t, "wal")
	if len(segs) < 3 {
		t.Fatalf("want at least 3 segments, got %d", len(segs))
	}
	first := segs[0]
	for name, damage := range map[string]func(fs *memFS){
		"cut tail":       func(fs *memFS) { fs.files[first] = fs.files[first][:len(fs.files[first])-3] },
		"zeroed tail":    func(fs *memFS) { b := fs.files[first]; clear(b[len(b)-10:]) },
		"flipped header": func(fs *memFS) { fs.files[first][12] ^= 0x10 },
		"missing middle": func(fs *memFS) { delete(fs.files, segs[1]) },
	} {
		t.Run(name, func(t *testing.T) {
			fs := base.clone()
			damage(fs)
			_, _, err := Open(fs, "wal", opts)
			errIs(t, err, ErrCorrupt)
		})
	}
}

func TestSnapshotRoundTripAndMarkerOrdering(t *testing.T) {
	fs := newMemFS()
	w := mustCreate(t, fs, Options{})
	noErr(t, w.Save(hardStateOfValues(1, 1, 10), entries(1, 10, 1)))
	noErr(t, w.SaveSnapshot(snapshotAt(8, 1, "state at 8")))
	noErr(t, w.Save(hardStateOfValues(1, 1, 12), entries(11, 12, 1)))
	noErr(t, w.Close())

	w, rec := mustOpen(t, fs, Options{})
	md := rec.Snapshot.GetMetadata()
	if md.GetIndex() != 8 || md.GetTerm() != 1 || string(rec.Snapshot.GetData()) != "state at 8" ||
		len(md.GetConfState().GetVoters()) != 3 {
		t.Fatalf("snapshot %v", rec.Snapshot)
	}
	sameEntries(t, entries(9, 12, 1), rec.Entries)

	// A snapshot received from a leader, ahead of the local log.
	noErr(t, w.SaveSnapshot(snapshotAt(100, 3, "state at 100")))
	noErr(t, w.Save(hardStateOfValues(3, 2, 100), nil))
	noErr(t, w.Save(hardStateOfValues(3, 2, 101), entries(101, 102, 3)))
	noErr(t, w.Close())
	_, rec = mustOpen(t, fs, Options{})
	if rec.Snapshot.GetMetadata().GetIndex() != 100 {
		t.Fatalf("snapshot %v", rec.Snapshot)
	}
	sameEntries(t, entries(101, 102, 3), rec.Entries)
	sameHardState(t, hardStateOfValues(3, 2, 101), rec.HardState)
}

func TestCorruptedSnapshotIsReported(t *testing.T) {
	base := newMemFS()
	w := mustCreate(t, base, Options{})
	noErr(t, w.Save(hardStateOfValues(1, 1, 5), entries(1, 5, 1)))
	noErr(t, w.SaveSnapshot(snapshotAt(3, 1, "older")))
	noErr(t, w.SaveSnapshot(snapshotAt(5, 1, "newest snapshot data")))
	noErr(t, w.Close())
	name := "wal/" + snapshotName(1, 5)
	size := len(base.files[name])
	for off := 0; off < size; off++ {
		fs := base.clone()
		fs.files[name][off] ^= 0x40
		_, _, err := Open(fs, "wal", Options{})
		errIs(t, err, ErrCorrupt)
		if !strings.Contains(err.Error(), name) {
			t.Fatalf("error does not name %s: %v", name, err)
		}
	}
	for name, damage := range map[string]func(b []byte) []byte{
		"cut":     func(b []byte) []byte { return b[:len(b)-1] },
		"grown":   func(b []byte) []byte { return append(b, 0) },
		"emptied": func(b []byte) []byte { return nil },
	} {
		fs := base.clone()
		fs.files["wal/"+snapshotName(1, 5)] = damage(fs.files["wal/"+snapshotName(1, 5)])
		if _, _, err := Open(fs, "wal", Options{}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s snapshot: want ErrCorrupt, got %v", name, err)
		}
	}
	fs := base.clone()
	delete(fs.files, "wal/"+snapshotName(1, 5))
	_, _, err := Open(fs, "wal", Options{})
	errIs(t, err, ErrCorrupt)
}

func TestInterruptedSaveSnapshotLeavesThePreviousInCharge(t *testing.T) {
	fs := newMemFS()
	w := mustCreate(t, fs, Options{})
	noErr(t, w.Save(hardStateOfValues(1, 1, 9), entries(1, 9, 1)))
	noErr(t, w.SaveSnapshot(snapshotAt(4, 1, "four")))
	noErr(t, w.Close())
	// The snapshot file of a SaveSnapshot whose marker never landed, and a
	// temporary file of another.
	orphan, err := encodeSnapshotV1(snapshotAt(9, 1, "nine"))
	noErr(t, err)
	fs.files["wal/"+snapshotName(1, 9)] = orphan
	fs.files["wal/"+snapshotName(1, 8)+tempSuffix] = []byte("half")

	w, rec := mustOpen(t, fs, Options{})
	defer w.Close()
	if rec.Snapshot.GetMetadata().GetIndex() != 4 {
		t.Fatalf("snapshot %v", rec.Snapshot)
	}
	sameEntries(t, entries(5, 9, 1), rec.Entries)
	names, err := fs.List("wal")
	noErr(t, err)
	for _, n := range names {
		if strings.HasSuffix(n, tempSuffix) || n == snapshotName(1, 9) {
			t.Fatalf("leftover %s not removed: %v", n, names)
		}
	}
}

func TestReleaseBefore(t *testing.T) {
	fs := newMemFS()
	opts := Options{SegmentSizeBytesMax: 400}
	w := mustCreate(t, fs, opts)
	for i := uint64(1); i <= 60; i += 3 {
		noErr(t, w.Save(hardStateOfValues(1, 1, i+2), entries(i, i+2, 1)))
	}
	before := fs.segmentFiles(t, "wal")

	// Without a snapshot nothing may go, whatever the caller asks.
	noErr(t, w.ReleaseBefore(1000))
	if got := fs.segmentFiles(t, "wal"); len(got) != len(before) {
		t.Fatalf("released %d segments with no snapshot", len(before)-len(got))
	}

	for _, idx := range []uint64{10, 20, 30, 40} {
		noErr(t, w.SaveSnapshot(snapshotAt(idx, 1, "s")))
	}
	noErr(t, w.ReleaseBefore(40))
	after := fs.segmentFiles(t, "wal")
	if len(after) >= len(before) {
		t.Fatalf("nothing released: %d segments before, %d after", len(before), len(after))
	}
	// The oldest kept segment starts at or before the snapshot, the next
	// one after it: exactly the segments wholly before 40 went.
	first, _ := parseSegmentPath(after[0])
	if first > 41 {
		t.Fatalf("oldest kept segment starts at %d, after the snapshot at 40", first)
	}
	if len(after) > 1 {
		if second, _ := parseSegmentPath(after[1]); second <= 40 {
			t.Fatalf("segment %s was wholly before 40 but kept", after[0])
		}
	}
	names, err := fs.List("wal")
	noErr(t, err)
	var snaps []string
	for _, n := range names {
		if strings.HasSuffix(n, snapshotSuffix) {
			snaps = append(snaps, n)
		}
	}
	if want := []string{snapshotName(1, 30), snapshotName(1, 40)}; strings.Join(snaps, ",") != strings.Join(want, ",") {
		t.Fatalf("kept snapshots %v, want %v", snaps, want)
	}
	noErr(t, w.Save(hardStateOfValues(1, 1, 61), entries(61, 61, 1)))
	noErr(t, w.Close())
	_, rec := mustOpen(t, fs, opts)
	sameEntries(t, entries(41, 61, 1), rec.Entries)
	sameHardState(t, hardStateOfValues(1, 1, 61), rec.HardState)
}

func parseSegmentPath(p string) (firstIndex, sequence uint64) {
	seq, first, _ := parseName(p[strings.LastIndexByte(p, '/')+1:], segmentSuffix)
	return first, seq
}

func TestWriteOrSyncErrorFailsTheWAL(t *testing.T) {
	for _, which := range []string{"write", "sync"} {
		t.Run(which, func(t *testing.T) {
			fs := newMemFS()
			w := mustCreate(t, fs, Options{})
			noErr(t, w.Save(hardStateOfValues(1, 1, 1), entries(1, 2, 1)))
			if which == "write" {
				fs.failWrite = errInjected
			} else {
				fs.failSync = errInjected
			}
			err := w.Save(hardStateOfValues(1, 1, 2), entries(3, 3, 1))
			errIs(t, err, errInjected)
			fs.failWrite, fs.failSync = nil, nil
			// The disk is fine again, but the WAL does not trust it.
			errIs(t, w.Save(nil, entries(4, 4, 1)), ErrFailed)
			errIs(t, w.SaveSnapshot(snapshotAt(2, 1, "")), ErrFailed)
			errIs(t, w.ReleaseBefore(2), ErrFailed)
			noErr(t, w.Close())
			// Reopening recovers what is on disk.
			_, rec := mustOpen(t, fs, Options{})
			if n := len(rec.Entries); n < 2 {
				t.Fatalf("recovered %d entries, want the 2 synced ones at least", n)
			}
		})
	}
}

func TestSnapshotWriteErrorFailsTheWAL(t *testing.T) {
	fs := newMemFS()
	w := mustCreate(t, fs, Options{})
	noErr(t, w.Save(hardStateOfValues(1, 1, 2), entries(1, 2, 1)))
	fs.failSync = errInjected
	errIs(t, w.SaveSnapshot(snapshotAt(2, 1, "x")), errInjected)
	fs.failSync = nil
	errIs(t, w.Save(nil, entries(3, 3, 1)), ErrFailed)
}

func TestCreateExistsAndClose(t *testing.T) {
	fs := newMemFS()
	if Exists(fs, "wal") {
		t.Fatal("Exists before Create")
	}
	if _, _, err := Open(fs, "wal", Options{}); !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("Open without a WAL: want ErrNotExist, got %v", err)
	}
	w := mustCreate(t, fs, Options{})
	if !Exists(fs, "wal") {
		t.Fatal("Exists after Create is false")
	}
	if _, err := Create(fs, "wal", nil, Options{}); !errors.Is(err, ErrExist) {
		t.Fatalf("second Create: want ErrExist, got %v", err)
	}
	if _, err := Create(fs, "other", bytes.Repeat([]byte{1}, MetadataSizeBytesMax+1), Options{}); err == nil {
		t.Fatal("oversized metadata accepted")
	}
	noErr(t, w.Close())
	errIs(t, w.Close(), ErrClosed)
	errIs(t, w.Save(nil, entries(1, 1, 1)), ErrClosed)
}

func TestOptionsValidateReportsEveryProblem(t *testing.T) {
	o := Options{SegmentSizeBytesMax: -1, RecordSizeBytesMax: 1, SnapshotSizeBytesMax: -5}
	err := o.Validate()
	for _, want := range []string{"SegmentSizeBytesMax -1", "RecordSizeBytesMax 1 must hold", "SnapshotSizeBytesMax -5", "Logger"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Validate() = %v, want it to mention %q", err, want)
		}
	}
	var d Options
	d.EnsureDefaults()
	noErr(t, d.Validate())
	if d.SegmentSizeBytesMax != SegmentSizeBytesMaxDefault || d.RecordSizeBytesMax != RecordSizeBytesMaxDefault {
		t.Fatalf("defaults not applied: %+v", d)
	}
	if _, err := Create(newMemFS(), "wal", nil, Options{SegmentSizeBytesMax: -1}); err == nil {
		t.Fatal("Create accepted invalid options")
	}
}

// A crash can tear a multi-record batch anywhere: recovery keeps exactly the
// records that are whole, in order, and the hard state only if its record
// (written last) survived.
func TestTornBatchKeepsTheWholeRecordsBeforeTheTear(t *testing.T) {
	base := newMemFS()
	opts := Options{SegmentSizeBytesMax: 450}
	w := mustCreate(t, base, opts)
	for i := uint64(1); i <= 12; i += 3 {
		noErr(t, w.Save(hardStateOfValues(1, 1, i), entries(i, i+2, 1)))
	}
	segs := base.segmentFiles(t, "wal")
	last := segs[len(segs)-1]
	batchStart := len(base.files[last])
	noErr(t, w.Save(hardStateOfValues(2, 2, 14), entries(13, 15, 2)))
	noErr(t, w.Close())
	if got := base.segmentFiles(t, "wal"); len(got) != len(segs) || len(segs) < 2 {
		t.Fatalf("the batch must land in the last of several segments: %d then %d segments", len(segs), len(got))
	}
	full := base.files[last]
	// Record ends within the batch, by decoding the intact file.
	_, seed := decodeHeaderForTest(t, full)
	var ends []int
	for off := batchStart; off < len(full); {
		_, n, err := decodeRecord(full[off:], seed, RecordSizeBytesMaxDefault)
		noErr(t, err)
		off += n
		ends = append(ends, off)
	}
	if len(ends) != 4 {
		t.Fatalf("want 3 entry records and 1 hard state record, got %d records", len(ends))
	}
	for cut := batchStart; cut < len(full); cut++ {
		fs := base.clone()
		fs.files[last] = full[:cut]
		whole := 0
		for whole < len(ends) && ends[whole] <= cut {
			whole++
		}
		_, rec, err := Open(fs, "wal", opts)
		noErr(t, err)
		want := append(entries(1, 12, 1), entries(13, 12+uint64(min(whole, 3)), 2)...)
		sameEntries(t, want, rec.Entries)
		wantHS := hardStateOfValues(1, 1, 10)
		if whole == 4 {
			wantHS = hardStateOfValues(2, 2, 14)
		}
		sameHardState(t, wantHS, rec.HardState)
		validEnd := batchStart
		if whole > 0 {
			validEnd = ends[whole-1]
		}
		wantTorn := int64(len(strings.TrimRight(string(full[validEnd:cut]), "\x00")))
		if rec.TornTailBytes != wantTorn || rec.TornTailBytes+rec.UnwrittenTailBytes != int64(cut-validEnd) {
			t.Fatalf("cut at %d: torn %d and unwritten %d, want %d torn of %d cut", cut, rec.TornTailBytes, rec.UnwrittenTailBytes, wantTorn, cut-validEnd)
		}
	}
}

func decodeHeaderForTest(t *testing.T, b []byte) (segmentHeader, uint32) {
	t.Helper()
	rec, _, err := decodeRecord(b, 0, RecordSizeBytesMaxDefault)
	noErr(t, err)
	h, err := decodeSegmentHeader(rec.payload)
	noErr(t, err)
	return h, rec.crc
}

// A crash while starting a segment leaves only its temporary file: the WAL
// is still the segments before it, and Open clears the leftover.
func TestCrashWhileStartingASegment(t *testing.T) {
	fs := newMemFS()
	w := mustCreate(t, fs, Options{})
	noErr(t, w.Save(hardStateOfValues(1, 1, 3), entries(1, 3, 1)))
	noErr(t, w.Close())
	leftover := "wal/" + segmentName(1, 4) + tempSuffix
	fs.files[leftover] = []byte{1, 2, 3}
	w, rec := mustOpen(t, fs, Options{})
	sameEntries(t, entries(1, 3, 1), rec.Entries)
	if _, ok := fs.files[leftover]; ok {
		t.Fatalf("leftover %s not removed", leftover)
	}
	noErr(t, w.Close())

	// A crash during Create leaves no WAL at all.
	fresh := newMemFS()
	noErr(t, fresh.MkdirAll("wal"))
	fresh.files["wal/"+segmentName(0, 1)+tempSuffix] = []byte{9}
	if Exists(fresh, "wal") {
		t.Fatal("a temporary first segment counts as a WAL")
	}
	mustCreate(t, fresh, Options{})
}

// A commit-only hard state is written unsynced (raft.MustSync); new entries
// or a new term or vote are synced.
func TestCommitOnlySaveIsWrittenButNotSynced(t *testing.T) {
	fs := newMemFS()
	w := mustCreate(t, fs, Options{})
	noErr(t, w.Save(hardStateOfValues(1, 1, 0), entries(1, 5, 1)))
	seg := fs.segmentFiles(t, "wal")[0]
	size := len(fs.files[seg])
	fs.failSync = errInjected
	noErr(t, w.Save(hardStateOfValues(1, 1, 5), nil))
	if got := len(fs.files[seg]); got <= size {
		t.Fatalf("commit-only save wrote nothing: size %d -> %d", size, got)
	}
	if err := w.Save(hardStateOfValues(2, 1, 5), nil); err == nil {
		t.Fatal("a new term was saved without the sync that failed")
	}
	noErr(t, w.Close())
	fs.failSync = nil
	w, rec := mustOpen(t, fs, Options{})
	defer w.Close()
	sameEntries(t, entries(1, 5, 1), rec.Entries)
	if c := rec.HardState.GetCommit(); c > 5 {
		t.Fatalf("recovered commit %d past the last entry 5", c)
	}
}

// Snapshots saved whole, streamed, or found in format 1 all read back as
// they were saved.
func TestSnapshotFormatsReadBack(t *testing.T) {
	fs := newMemFS()
	w := mustCreate(t, fs, Options{})
	defer w.Close()
	noErr(t, w.Save(hardStateOfValues(1, 1, 30), entries(1, 30, 1)))
	noErr(t, w.SaveSnapshot(snapshotAt(10, 1, "whole at 10")))
	got, err := w.ReadSnapshot()
	noErr(t, err)
	if string(got.GetData()) != "whole at 10" || !proto.Equal(got.GetMetadata(), snapshotAt(10, 1, "").GetMetadata()) {
		t.Fatalf("whole: read back %v", got)
	}
	streamed := snapshotAt(20, 1, "")
	data := strings.Repeat("streamed at 20 ", 1000)
	sf, err := w.BeginSnapshot(streamed.GetMetadata(), int64(len(data)))
	noErr(t, err)
	for i := 0; i < len(data); i += 7 {
		_, err := io.WriteString(sf, data[i:min(i+7, len(data))])
		noErr(t, err)
	}
	noErr(t, sf.Commit())
	got, err = w.ReadSnapshot()
	noErr(t, err)
	if string(got.GetData()) != data || got.GetMetadata().GetIndex() != 20 {
		t.Fatalf("streamed: read back index %d, %d data bytes", got.GetMetadata().GetIndex(), len(got.GetData()))
	}
	v1, err := encodeSnapshotV1(snapshotAt(30, 1, "format 1"))
	noErr(t, err)
	got, err = decodeSnapshot("v1", v1, 1, 30)
	noErr(t, err)
	if string(got.GetData()) != "format 1" {
		t.Fatalf("format 1: read back %v", got)
	}
	v1[len(v1)-1] ^= 1
	if _, err := decodeSnapshot("v1", v1, 1, 30); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged format 1 file: %v", err)
	}
}

func TestReadSnapshotReturnsTheNewestSaved(t *testing.T) {
	fs := newMemFS()
	w := mustCreate(t, fs, Options{})
	defer w.Close()
	if snap, err := w.ReadSnapshot(); err != nil || snap != nil {
		t.Fatalf("before any snapshot: %v, %v", snap, err)
	}
	noErr(t, w.Save(hardStateOfValues(1, 1, 20), entries(1, 20, 1)))
	noErr(t, w.SaveSnapshot(snapshotAt(10, 1, "state at 10")))
	noErr(t, w.SaveSnapshot(snapshotAt(20, 1, "state at 20")))
	snap, err := w.ReadSnapshot()
	noErr(t, err)
	if snap.GetMetadata().GetIndex() != 20 || string(snap.GetData()) != "state at 20" {
		t.Fatalf("read back %v", snap)
	}
}

// A snapshot written in steps while entries keep being saved is the one
// recovery starts from once committed; before Commit, nothing refers to it.
func TestSnapshotFileWrittenInSteps(t *testing.T) {
	fs := newMemFS()
	w := mustCreate(t, fs, Options{})
	noErr(t, w.Save(hardStateOfValues(1, 1, 10), entries(1, 10, 1)))
	noErr(t, w.SaveSnapshot(snapshotAt(4, 1, "four")))
	data := "state at ten, written a few bytes at a time"
	sf, err := w.BeginSnapshot(snapshotAt(10, 1, "").GetMetadata(), int64(len(data)))
	noErr(t, err)
	next := uint64(11)
	for i := 0; i < len(data); i += 5 {
		_, err := sf.Write([]byte(data[i:min(i+5, len(data))]))
		noErr(t, err)
		// The member goes on logging between steps.
		noErr(t, w.Save(hardStateOfValues(1, 1, next), entries(next, next, 1)))
		next++
	}
	if snap, err := w.ReadSnapshot(); err != nil || snap.GetMetadata().GetIndex() != 4 {
		t.Fatalf("before Commit the newest snapshot is %v (%v), want index 4", snap.GetMetadata(), err)
	}
	crashed := fs.clone()
	noErr(t, sf.Commit())
	snap, err := w.ReadSnapshot()
	noErr(t, err)
	if snap.GetMetadata().GetIndex() != 10 || string(snap.GetData()) != data {
		t.Fatalf("after Commit read back %v", snap)
	}
	noErr(t, w.Close())
	_, rec := mustOpen(t, fs, Options{})
	if rec.Snapshot.GetMetadata().GetIndex() != 10 || string(rec.Snapshot.GetData()) != data {
		t.Fatalf("recovered snapshot %v", rec.Snapshot)
	}

	// A crash before Commit: the half-written file is debris, the previous
	// snapshot stays in charge.
	w, rec = mustOpen(t, crashed, Options{})
	defer w.Close()
	if rec.Snapshot.GetMetadata().GetIndex() != 4 {
		t.Fatalf("after a crash mid-snapshot recovered %v, want index 4", rec.Snapshot.GetMetadata())
	}
	names, err := crashed.List("wal")
	noErr(t, err)
	for _, n := range names {
		if strings.HasSuffix(n, tempSuffix) {
			t.Fatalf("leftover %s not removed: %v", n, names)
		}
	}
}

// Abort removes the file; the WAL goes on working and a later snapshot at
// the same index can be written.
func TestSnapshotFileAbort(t *testing.T) {
	fs := newMemFS()
	w := mustCreate(t, fs, Options{})
	defer w.Close()
	noErr(t, w.Save(hardStateOfValues(1, 1, 10), entries(1, 10, 1)))
	sf, err := w.BeginSnapshot(snapshotAt(10, 1, "").GetMetadata(), 4)
	noErr(t, err)
	_, err = sf.Write([]byte("ab"))
	noErr(t, err)
	noErr(t, sf.Abort())
	names, err := fs.List("wal")
	noErr(t, err)
	for _, n := range names {
		if strings.HasSuffix(n, tempSuffix) || strings.HasSuffix(n, snapshotSuffix) {
			t.Fatalf("aborted snapshot left %s: %v", n, names)
		}
	}
	if snap, err := w.ReadSnapshot(); err != nil || snap != nil {
		t.Fatalf("after Abort the newest snapshot is %v (%v), want none", snap, err)
	}
	noErr(t, w.SaveSnapshot(snapshotAt(10, 1, "abcd")))
	noErr(t, w.Save(hardStateOfValues(1, 1, 11), entries(11, 11, 1)))
}

// Writing more than promised, or committing less, is a caller bug.
func TestSnapshotFileBrokenPromisePanics(t *testing.T) {
	for name, misuse := range map[string]func(sf *SnapshotFile){
		"overflow": func(sf *SnapshotFile) { _, _ = sf.Write([]byte("12345")) },
		"short":    func(sf *SnapshotFile) { _, _ = sf.Write([]byte("12")); _ = sf.Commit() },
	} {
		t.Run(name, func(t *testing.T) {
			fs := newMemFS()
			w := mustCreate(t, fs, Options{})
			defer w.Close()
			noErr(t, w.Save(hardStateOfValues(1, 1, 1), entries(1, 1, 1)))
			sf, err := w.BeginSnapshot(snapshotAt(1, 1, "").GetMetadata(), 4)
			noErr(t, err)
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			misuse(sf)
		})
	}
}

// hintFS counts the writeback hints its files are given.
type hintFS struct {
	disk.FS
	hints *int
}

type hintFile struct {
	disk.File
	hints *int
}

func (f hintFile) StartWriteback() error { *f.hints++; return nil }

func (h hintFS) Create(name string) (disk.File, error) {
	f, err := h.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return hintFile{File: f, hints: h.hints}, nil
}

// A snapshot written in steps asks for writeback every
// snapshotWritebackEveryBytes, so Commit's fsync finds it mostly written;
// the snapshot reads back whole, on a real disk too.
func TestSnapshotFileStartsWritebackAsItGoes(t *testing.T) {
	hints := 0
	fs := hintFS{FS: disk.OSFS{Root: t.TempDir()}, hints: &hints}
	w := mustCreate(t, fs, Options{})
	defer w.Close()
	noErr(t, w.Save(hardStateOfValues(1, 1, 10), entries(1, 10, 1)))
	data := strings.Repeat("x", 3*snapshotWritebackEveryBytes+100)
	sf, err := w.BeginSnapshot(snapshotAt(10, 1, "").GetMetadata(), int64(len(data)))
	noErr(t, err)
	for i := 0; i < len(data); i += 64 << 10 {
		_, err := io.WriteString(sf, data[i:min(i+64<<10, len(data))])
		noErr(t, err)
	}
	noErr(t, sf.Commit())
	if hints != 3 {
		t.Errorf("%d writeback hints for %d bytes, want 3 (one per %d)", hints, len(data), snapshotWritebackEveryBytes)
	}
	got, err := w.ReadSnapshot()
	noErr(t, err)
	if string(got.GetData()) != data {
		t.Fatalf("read back %d data bytes, want %d", len(got.GetData()), len(data))
	}
}
