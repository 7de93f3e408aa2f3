package wal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	iofs "io/fs"
	"strings"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/kvdlabs/kvd/core/bugs"
	"github.com/kvdlabs/kvd/core/disk"
)

// Recovered is the durable state Open found.
type Recovered struct {
	// Metadata is what Create was given.
	Metadata []byte
	// HardState is the last hard state saved; all zero (never nil) if none.
	HardState *raftpb.HardState
	// Snapshot is the snapshot of the newest durable snapshot marker, nil if
	// none was ever saved.
	Snapshot *raftpb.Snapshot
	// Entries are the live entries after the snapshot's index, consecutive:
	// an entry saved later overwrote every entry at or after its index.
	Entries []*raftpb.Entry
	// TornTailBytes is how much of the last segment Open cut away as a torn
	// write; zero after a clean shutdown.
	TornTailBytes int64
	// UnwrittenTailBytes is the run of zeroes Open cut after the last record
	// of the last segment (after a torn tail, if any): space preallocated
	// and never written, or written and lost unsynced in a crash. It holds
	// no record, so it is not counted as torn.
	UnwrittenTailBytes int64
}

// resyncHashBytesMax bounds the work spent looking for valid records past a
// damaged one (see doc.go). Past it, recovery cannot rule out mid-log
// damage and reports corruption rather than guessing.
const resyncHashBytesMax = 1 << 30

// Open recovers the WAL in dir and opens it for appending. It loads the
// snapshot of the newest snapshot marker, replays every segment, cuts a torn
// or zeroed tail off the last segment, and returns ErrCorrupt (wrapped, naming file,
// offset and cause) for damage anywhere else. A dir without a WAL gives an
// error wrapping fs.ErrNotExist.
func Open(fs disk.FS, dir string, opts Options) (*WAL, *Recovered, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, nil, err
	}
	names, err := fs.List(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: open %s: %w", dir, err)
	}
	r := replay{fs: fs, dir: dir, opts: opts}
	if err := r.run(names); err != nil {
		return nil, nil, err
	}

	w := &WAL{
		fs:            fs,
		dir:           dir,
		opts:          opts,
		metadata:      r.metadata,
		segments:      r.segments,
		fileSizeBytes: r.lastValidBytes,
		preludeBytes:  r.lastPreludeBytes,
		seed:          r.lastSeed,
		lastIndex:     r.lastIndex,
		hardState:     r.hardState,
		snapshot:      r.newest,
	}
	last := join(dir, w.segments[len(w.segments)-1].name())
	if r.tornTailBytes > 0 {
		opts.Logger.Warn("wal: cutting torn tail", "segment", last, "offset", r.lastValidBytes,
			"bytes", r.tornTailBytes, "cause", r.tornCause)
	}
	// New records go right after the last valid one, where OpenAppend
	// would not put them while a torn or zeroed tail follows it.
	if r.tornTailBytes > 0 || r.unwrittenTailBytes > 0 {
		cut := r.lastValidBytes
		if bugs.On(bugs.WALTruncateOffByOne) {
			cut++ // planted bug (kvdbugs builds only): the cut keeps one byte after the last valid record
		}
		if err := fs.Truncate(last, cut); err != nil {
			return nil, nil, fmt.Errorf("wal: cut torn tail of %s at offset %d: %w", last, r.lastValidBytes, err)
		}
	}
	if err := removeLeftovers(fs, dir, names, r.newest, opts); err != nil {
		return nil, nil, err
	}
	f, err := fs.OpenAppend(last)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: open %s for append: %w", last, err)
	}
	if r.tornTailBytes > 0 {
		// The cut must be durable before new records follow it, or a crash
		// could bring the torn bytes back in the middle of the log.
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return nil, nil, fmt.Errorf("wal: sync %s after cutting its torn tail: %w", last, err)
		}
	}
	w.file = f
	w.preallocate(w.fileSizeBytes)

	rec := &Recovered{
		Metadata:           r.metadata,
		HardState:          r.hardState.proto(),
		Snapshot:           r.snapshot,
		Entries:            r.liveEntries(),
		TornTailBytes:      r.tornTailBytes,
		UnwrittenTailBytes: r.unwrittenTailBytes,
	}
	return w, rec, nil
}

// removeLeftovers deletes the debris of interrupted writes: temporary files,
// and snapshot files newer than the newest marker (their SaveSnapshot never
// returned, so nothing relies on them).
func removeLeftovers(fs disk.FS, dir string, names []string, newest snapshotMarker, opts Options) error {
	removed := 0
	for _, name := range names {
		_, idx, isSnap := parseName(name, snapshotSuffix)
		if !strings.HasSuffix(name, tempSuffix) && !(isSnap && idx > newest.index) {
			continue
		}
		opts.Logger.Info("wal: removing leftover of an interrupted write", "file", join(dir, name))
		if err := fs.Remove(join(dir, name)); err != nil {
			return fmt.Errorf("wal: remove leftover %s: %w", join(dir, name), err)
		}
		removed++
	}
	if removed == 0 {
		return nil
	}
	if err := fs.SyncDir(dir); err != nil {
		return fmt.Errorf("wal: sync dir %s after removing leftovers: %w", dir, err)
	}
	return nil
}

// replay is the state rebuilt from the segments, by the same rules the
// writer follows (see doc.go).
type replay struct {
	fs   disk.FS
	dir  string
	opts Options

	segments  []segmentInfo
	metadata  []byte
	hardState hardState
	newest    snapshotMarker
	snapshot  *raftpb.Snapshot
	// entries is a consecutive run ending at lastIndex, or empty.
	entries   []*raftpb.Entry
	lastIndex uint64

	lastSeed           uint32
	lastValidBytes     int64
	lastPreludeBytes   int64
	tornTailBytes      int64
	unwrittenTailBytes int64
	tornCause          string
}

func (r *replay) run(names []string) error {
	for _, name := range names {
		seq, first, ok := parseName(name, segmentSuffix)
		if !ok {
			continue
		}
		if n := len(r.segments); n > 0 && seq != r.segments[n-1].sequence+1 {
			return fmt.Errorf("%w: %s: segment sequence jumps from %d to %d (a segment is missing)",
				ErrCorrupt, join(r.dir, name), r.segments[n-1].sequence, seq)
		}
		r.segments = append(r.segments, segmentInfo{sequence: seq, firstIndex: first})
	}
	if len(r.segments) == 0 {
		return fmt.Errorf("wal: open %s: no segments: %w", r.dir, iofs.ErrNotExist)
	}
	for i, seg := range r.segments {
		if err := r.segment(seg, i == 0, i == len(r.segments)-1); err != nil {
			return err
		}
	}
	if first := r.segments[0]; first.firstIndex > r.newest.index+1 {
		return fmt.Errorf("%w: %s: oldest segment starts at index %d but the newest snapshot covers only up to %d",
			ErrCorrupt, join(r.dir, first.name()), first.firstIndex, r.newest.index)
	}
	if r.hardState.commit > r.lastIndex {
		return fmt.Errorf("%w: %s: hard state commits index %d beyond the last durable index %d",
			ErrCorrupt, r.dir, r.hardState.commit, r.lastIndex)
	}
	if r.newest.index > 0 {
		snap, err := readSnapshotFile(r.fs, r.dir, r.newest, r.opts.SnapshotSizeBytesMax)
		if err != nil {
			return err
		}
		r.snapshot = snap
	}
	return nil
}

// segment replays one segment file. Only the last may end in a torn tail.
func (r *replay) segment(seg segmentInfo, isFirst, isLast bool) error {
	name := join(r.dir, seg.name())
	buf, err := r.fs.ReadFile(name)
	if err != nil {
		return fmt.Errorf("wal: read segment %s: %w", name, err)
	}
	// The header was durable before the segment got its name, so even in
	// the last segment a bad header is damage, not a torn write.
	hrec, n, err := decodeRecord(buf, 0, r.opts.RecordSizeBytesMax)
	if err == nil && hrec.typ != recordSegmentHeader {
		err = decodeProblem(fmt.Sprintf("first record is a %s, want a segment header", hrec.typ))
	}
	var h segmentHeader
	if err == nil {
		h, err = decodeSegmentHeader(hrec.payload)
	}
	if err != nil {
		return fmt.Errorf("%w: %s at offset 0: %w", ErrCorrupt, name, err)
	}
	if h.sequence != seg.sequence || h.firstIndex != seg.firstIndex {
		return fmt.Errorf("%w: %s: header says sequence %d first index %d, unlike its name",
			ErrCorrupt, name, h.sequence, h.firstIndex)
	}
	if isFirst {
		r.metadata = h.metadata
		r.lastIndex = seg.firstIndex - 1
	} else {
		if !bytes.Equal(h.metadata, r.metadata) {
			return fmt.Errorf("%w: %s: metadata differs from the first segment's", ErrCorrupt, name)
		}
		if seg.firstIndex != r.lastIndex+1 {
			return fmt.Errorf("%w: %s: starts at index %d, but the segments before end at index %d",
				ErrCorrupt, name, seg.firstIndex, r.lastIndex)
		}
	}
	seed := hrec.crc
	off := n
	preludeBytes := int64(-1)
	for off < len(buf) {
		rec, n, err := decodeRecord(buf[off:], seed, r.opts.RecordSizeBytesMax)
		if err != nil {
			if bugs.On(bugs.WALChecksumIgnored) && strings.Contains(err.Error(), "checksum mismatch") {
				// planted bug (kvdbugs builds only): a whole record failing its checksum is skipped and replay goes on
				off += recordHeaderBytes + int(binary.LittleEndian.Uint32(buf[off:]))
				continue
			}
			if !isLast {
				return fmt.Errorf("%w: %s at offset %d (not the last segment): %w", ErrCorrupt, name, off, err)
			}
			// Zeroes hold no record (type 0 does not exist), so a valid
			// one must start before the last nonzero byte; a tail of
			// zeroes only is preallocated space, the clean end of the log.
			nonZeroEnd := off + nonZeroPrefixBytes(buf[off:])
			r.unwrittenTailBytes = int64(len(buf) - nonZeroEnd)
			if nonZeroEnd == off {
				break
			}
			if at, found, exhausted := r.findValidRecord(buf, off+1, nonZeroEnd, seed); found || exhausted {
				why := fmt.Sprintf("a valid record follows at offset %d", at)
				if exhausted {
					why = "cannot rule out valid records after it"
				}
				return fmt.Errorf("%w: %s at offset %d: %w; %s, so this is not a torn tail", ErrCorrupt, name, off, err, why)
			}
			r.tornTailBytes = int64(nonZeroEnd - off)
			r.tornCause = err.Error()
			break
		}
		if err := r.apply(rec); err != nil {
			return fmt.Errorf("%w: %s at offset %d: %w", ErrCorrupt, name, off, err)
		}
		if preludeBytes < 0 && rec.typ == recordEntry {
			preludeBytes = int64(off)
		}
		off += n
	}
	if isLast {
		r.lastSeed = seed
		r.lastValidBytes = int64(off)
		// The writer's rotation guard only needs to know whether the
		// segment holds more than its prelude; any entry means it does.
		r.lastPreludeBytes = preludeBytes
		if preludeBytes < 0 {
			r.lastPreludeBytes = int64(off)
		}
	}
	return nil
}

// apply folds one valid record into the replayed state.
func (r *replay) apply(rec record) error {
	switch rec.typ {
	case recordEntry:
		e, err := decodeEntry(rec.payload)
		if err != nil {
			return err
		}
		idx := e.GetIndex()
		if idx == 0 || idx > r.lastIndex+1 {
			return decodeProblem(fmt.Sprintf("entry index %d leaves a gap after index %d", idx, r.lastIndex))
		}
		if len(r.entries) > 0 && idx <= r.entries[len(r.entries)-1].GetIndex() {
			// An overwrite after a conflict: drop the suffix it replaces.
			keep := 0
			if first := r.entries[0].GetIndex(); idx > first {
				keep = int(idx - first)
			}
			clear(r.entries[keep:])
			r.entries = r.entries[:keep]
		}
		if len(r.entries) > 0 && idx != r.entries[len(r.entries)-1].GetIndex()+1 {
			panic(fmt.Sprintf("wal: replay: entry run broken: %d after %d", idx, r.entries[len(r.entries)-1].GetIndex()))
		}
		r.entries = append(r.entries, e)
		r.lastIndex = idx
	case recordHardState:
		hs, err := decodeHardState(rec.payload)
		if err != nil {
			return err
		}
		r.hardState = hardStateOf(hs)
	case recordSnapshotMarker:
		m, err := decodeSnapshotMarker(rec.payload)
		if err != nil {
			return err
		}
		if m.index >= r.newest.index {
			r.newest = m
		}
		if m.index >= r.lastIndex {
			// The snapshot covers every entry replayed so far.
			clear(r.entries)
			r.entries = r.entries[:0]
			r.lastIndex = m.index
		}
	case recordSegmentHeader:
		return decodeProblem("segment header in the middle of a segment")
	default:
		panic(fmt.Sprintf("wal: replay: decodeRecord let through %s", rec.typ))
	}
	return nil
}

// nonZeroPrefixBytes is the length of b without its trailing zeroes.
func nonZeroPrefixBytes(b []byte) int {
	n := len(b)
	// A word at a time: a preallocated segment ends in up to 64 MiB of them.
	for n >= 8 && binary.LittleEndian.Uint64(b[n-8:]) == 0 {
		n -= 8
	}
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return n
}

// findValidRecord looks for any offset in [from, to) where a complete record
// of a known type passes its checksum (the record itself may run past to).
// It reports exhausted if the search had to stop before proving there is
// none.
func (r *replay) findValidRecord(buf []byte, from, to int, seed uint32) (at int, found, exhausted bool) {
	hashedBytes := int64(0)
	for p := from; p < to && p+recordHeaderBytes <= len(buf); p++ {
		// Cheap header checks first: garbage rarely passes all three.
		if !recordType(buf[p+8]).known() {
			continue
		}
		payloadBytes := int64(binary.LittleEndian.Uint32(buf[p:]))
		if payloadBytes > r.opts.RecordSizeBytesMax || int64(p)+recordHeaderBytes+payloadBytes > int64(len(buf)) {
			continue
		}
		hashedBytes += 1 + payloadBytes
		if hashedBytes > resyncHashBytesMax {
			return p, false, true
		}
		if _, _, err := decodeRecord(buf[p:], seed, r.opts.RecordSizeBytesMax); err == nil {
			return p, true, false
		}
	}
	return 0, false, false
}

// liveEntries are the replayed entries after the newest snapshot.
func (r *replay) liveEntries() []*raftpb.Entry {
	ents := r.entries
	if len(ents) == 0 || ents[0].GetIndex() > r.newest.index {
		return ents
	}
	// The run is consecutive, so the cut is arithmetic.
	skip := min(r.newest.index-ents[0].GetIndex()+1, uint64(len(ents)))
	return ents[skip:]
}
