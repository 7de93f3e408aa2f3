package wal

import (
	"cmp"
	"fmt"
	"slices"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/kvdlabs/kvd/core/bugs"
)

// Save appends ents, then hs, and makes them durable with one fsync (one
// more per segment rotation on the way). A call that only advances the
// commit index (no entries, same term and vote) is written but not synced,
// as raft.MustSync allows: a commit index is re-learned from the leader
// after a crash, and each such fsync would otherwise double the syncs of a
// loaded member (one for new entries, one for their commit). Entries go first because hs.Commit
// may point at them: a torn tail can then lose the hard state of the batch
// but never keep a commit index past the entries it names.
//
// An empty or unchanged hs is not written; with no entries either, Save does
// nothing and does not sync. ents must be consecutive, the first no further
// than one past the last saved index (an earlier one overwrites the log from
// there on, as raft does after a conflict); anything else is a bug in the
// caller and panics. An entry above RecordSizeBytesMax is refused with an
// error before anything is written.
func (w *WAL) Save(hs *raftpb.HardState, ents []*raftpb.Entry) error {
	if err := w.writable(); err != nil {
		return err
	}
	if len(ents) > 0 {
		first := ents[0].GetIndex()
		if first == 0 || first > w.lastIndex+1 {
			panic(fmt.Sprintf("wal: Save: first entry index %d would leave a gap after last index %d", first, w.lastIndex))
		}
	}
	for i, e := range ents {
		if i > 0 && e.GetIndex() != ents[i-1].GetIndex()+1 {
			panic(fmt.Sprintf("wal: Save: entry %d has index %d after index %d; entries must be consecutive", i, e.GetIndex(), ents[i-1].GetIndex()))
		}
		if n := entryRecordPayloadBytes(e); n > w.opts.RecordSizeBytesMax {
			return fmt.Errorf("wal: save entry at index %d: %d bytes, above RecordSizeBytesMax %d", e.GetIndex(), n, w.opts.RecordSizeBytesMax)
		}
	}
	h := hardStateOf(hs)
	writeHardState := !h.empty() && h != w.hardState
	if len(ents) == 0 && !writeHardState {
		return nil
	}

	for _, e := range ents {
		if err := w.reserve(recordHeaderBytes + entryRecordPayloadBytes(e)); err != nil {
			return err
		}
		w.buf, _ = appendEntry(w.buf, w.seed, e)
		w.lastIndex = e.GetIndex()
		if len(w.buf) >= writeChunkBytes {
			if err := w.write(); err != nil {
				return err
			}
		}
	}
	mustSync := len(ents) > 0 || h.term != w.hardState.term || h.vote != w.hardState.vote
	if bugs.On(bugs.WALHardStateUnsynced) {
		mustSync = len(ents) > 0 // planted bug (kvdbugs builds only): a new term or vote without entries is not synced
	}
	if writeHardState {
		if err := w.reserve(recordHeaderBytes + hardStatePayloadBytes); err != nil {
			return err
		}
		w.buf, _ = appendHardState(w.buf, w.seed, hs)
		w.hardState = h
	}
	if !mustSync {
		return w.write()
	}
	return w.flush()
}

// SaveSnapshot makes the snapshot file durable, then appends and syncs a
// marker naming it. Recovery loads the snapshot of the newest marker, so a
// crash between the two leaves the previous snapshot in charge. An empty
// snapshot (index 0) is ignored.
//
// When a raft Ready carries a snapshot, call SaveSnapshot before Save of
// that Ready's hard state (etcd's order): recovery reports a hard state that
// commits past the last durable index as corruption, and the snapshot is
// what makes its index durable.
func (w *WAL) SaveSnapshot(snap *raftpb.Snapshot) error {
	if err := w.writable(); err != nil {
		return err
	}
	md, data := snap.GetMetadata(), snap.GetData()
	if md.GetIndex() == 0 {
		return nil
	}
	sf, err := w.beginSnapshot(md, int64(len(data)), data == nil)
	if err != nil {
		return err
	}
	if _, err := sf.Write(data); err != nil {
		return err // Write failed the WAL and closed the file
	}
	return sf.Commit()
}

// noteSnapshot applies a marker to the writer's state exactly as recovery
// applies it to the replayed state.
func (w *WAL) noteSnapshot(m snapshotMarker) {
	if m.index >= w.snapshot.index {
		w.snapshot = m
	}
	w.lastIndex = max(w.lastIndex, m.index)
}

// reserve makes room in the current segment for a record of recordBytes,
// rotating to a new segment when it would overflow. A segment holding only
// its prelude takes any record, so an oversized record cannot rotate forever.
func (w *WAL) reserve(recordBytes int64) error {
	sizeBytes := w.fileSizeBytes + int64(len(w.buf))
	if sizeBytes+recordBytes <= w.opts.SegmentSizeBytesMax || sizeBytes <= w.preludeBytes {
		w.preallocate(sizeBytes + recordBytes)
		return nil
	}
	// A full segment ends at its last record: recovery reads a zeroed tail
	// as the end of the log only in the last segment, so the space reserved
	// past it goes before the sync that makes the segment whole.
	if err := w.write(); err != nil {
		return err
	}
	if w.reservedBytes > w.fileSizeBytes {
		if err := w.fs.Truncate(w.file.Name(), w.fileSizeBytes); err != nil {
			return w.fail(fmt.Errorf("wal: cut the unused space of full segment %s at offset %d: %w", w.file.Name(), w.fileSizeBytes, err))
		}
	}
	if err := w.flush(); err != nil {
		return err
	}
	old := w.file
	w.file = nil // even if Close fails, the file is not ours to close again
	if err := old.Close(); err != nil {
		return w.fail(fmt.Errorf("wal: close full segment %s: %w", old.Name(), err))
	}
	last := w.segments[len(w.segments)-1]
	return w.startSegment(segmentInfo{sequence: last.sequence + 1, firstIndex: w.lastIndex + 1})
}

// flush writes the buffered records and syncs them with everything
// written before.
func (w *WAL) flush() error {
	if err := w.write(); err != nil {
		return err
	}
	if err := w.file.Sync(); err != nil {
		return w.fail(fmt.Errorf("wal: sync %s: %w", w.file.Name(), err))
	}
	return nil
}

// write hands the buffered records to the file in one write, unsynced.
func (w *WAL) write() error {
	if len(w.buf) == 0 {
		return nil
	}
	n, err := w.file.Write(w.buf)
	w.fileSizeBytes += int64(n)
	if err != nil {
		return w.fail(fmt.Errorf("wal: write %d bytes to %s at offset %d: %w", len(w.buf), w.file.Name(), w.fileSizeBytes-int64(n), err))
	}
	if n != len(w.buf) {
		return w.fail(fmt.Errorf("wal: short write to %s: %d of %d bytes", w.file.Name(), n, len(w.buf)))
	}
	if cap(w.buf) > bufferKeepBytesMax {
		w.buf = nil
	} else {
		w.buf = w.buf[:0]
	}
	return nil
}

// snapshotsKept is how many snapshot files ReleaseBefore leaves: the newest
// and one before it, in case the newest is found damaged by an operator.
const snapshotsKept = 2

// ReleaseBefore removes the segments whose live entries all lie below
// index, and all but the newest two snapshot files. It never releases
// entries the newest saved snapshot does not cover, whatever index says,
// and never the segment being appended to.
func (w *WAL) ReleaseBefore(index uint64) error {
	if err := w.writable(); err != nil {
		return err
	}
	limit := min(index, w.snapshot.index+1)
	// Every live entry of a segment lies below the next segment's first
	// index: later overwrites land in later segments.
	n := 0
	for n+1 < len(w.segments) && w.segments[n+1].firstIndex <= limit {
		n++
	}
	// Oldest first, so a crash part-way leaves a contiguous suffix.
	for _, seg := range w.segments[:n] {
		if err := w.fs.Remove(join(w.dir, seg.name())); err != nil {
			return w.fail(fmt.Errorf("wal: release segment %s: %w", seg.name(), err))
		}
	}
	w.segments = slices.Delete(w.segments, 0, n)

	names, err := w.fs.List(w.dir)
	if err != nil {
		return w.fail(fmt.Errorf("wal: release snapshots in %s: %w", w.dir, err))
	}
	type snapFile struct {
		name  string
		index uint64
	}
	var snaps []snapFile
	for _, name := range names {
		_, idx, ok := parseName(name, snapshotSuffix)
		// A file newer than the newest marker belongs to a SaveSnapshot in
		// flight or interrupted; it is not ours to judge here.
		if ok && idx <= w.snapshot.index {
			snaps = append(snaps, snapFile{name: name, index: idx})
		}
	}
	slices.SortFunc(snaps, func(a, b snapFile) int { return cmp.Compare(a.index, b.index) })
	removed := n
	for len(snaps) > snapshotsKept {
		if err := w.fs.Remove(join(w.dir, snaps[0].name)); err != nil {
			return w.fail(fmt.Errorf("wal: release snapshot %s: %w", snaps[0].name, err))
		}
		snaps = snaps[1:]
		removed++
	}
	if removed == 0 {
		return nil
	}
	if err := w.fs.SyncDir(w.dir); err != nil {
		return w.fail(fmt.Errorf("wal: sync dir %s after release: %w", w.dir, err))
	}
	return nil
}
