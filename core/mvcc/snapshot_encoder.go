package mvcc

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// ErrSnapshotStale is returned by a SnapshotEncoder step after the store was
// compacted past what the encoder still had to read.
var ErrSnapshotStale = errors.New("mvcc: snapshot encoder outlived by a compaction")

// SnapshotEncoder produces Snapshot's bytes for the revision the store was
// at when NewSnapshotEncoder was called, a bounded step at a time, while the
// store goes on taking writes between steps. A member encodes its state
// this way so a snapshot of a large store never stalls it for longer than
// one step: versions above the encoder's revision are skipped, and the
// versions at or below it never change until a compaction, which makes
// every later step fail with ErrSnapshotStale.
//
// Measure runs first (the sizes go in front of the data), then Encode.
// Each is one pass: the records in key order, each with the version it had
// at the encoder's revision (for most keys their latest, on the heap), then
// the history arena front to back as far as it reached at that revision.
// Reading history in the arena's order rather than key by key is what keeps
// a pass from mapping the whole spilled history at once: each chunk is read
// once, start to end, and unmapped behind the pass (histspill.go).
type SnapshotEncoder struct {
	s          *Store
	rev        int64
	compactRev int64
	// histEnd is where the arena ended at rev: every entry before it was
	// superseded at or below rev, every entry after it later.
	histEnd histRef

	// The pass's position: after is the key the records part resumes
	// after (started is false while it has visited none); once inHistory,
	// histAt is the next arena entry.
	after     string
	started   bool
	inHistory bool
	histAt    histRef

	measured bool
	records  int
	// historyDue is how many history entries the records said there are
	// (each record's versions below the one it carries), and history how
	// many live entries the arena pass found: they must agree.
	historyDue int
	history    int
	sizeBytes  int

	headerDone     bool
	historyHeader  bool
	done           bool
	recordsEncoded int
	historyEncoded int
	encodedBytes   int
	crc            uint32
}

// NewSnapshotEncoder starts a snapshot of the store at its current
// revision. It must not be called inside a write txn.
func (s *Store) NewSnapshotEncoder() *SnapshotEncoder {
	assert(!s.tx.open, "snapshot inside a write txn")
	return &SnapshotEncoder{s: s, rev: s.rev, compactRev: s.compactRev, histEnd: s.hist.end()}
}

// Rev is the revision the snapshot holds.
func (e *SnapshotEncoder) Rev() int64 { return e.rev }

// Measured reports whether Measure has finished.
func (e *SnapshotEncoder) Measured() bool { return e.measured }

// Done reports whether Encode has produced the last byte.
func (e *SnapshotEncoder) Done() bool { return e.done }

// SizeBytes is the snapshot's exact length; valid once Measure is done.
func (e *SnapshotEncoder) SizeBytes() int {
	assert(e.measured, "SizeBytes before Measure finished")
	return e.sizeBytes
}

// Measure advances the sizing pass over about budgetBytes of the snapshot
// (at least one record) and reports whether the pass is finished.
func (e *SnapshotEncoder) Measure(budgetBytes int) (done bool, err error) {
	if e.measured {
		return true, nil
	}
	if err := e.check(); err != nil {
		return false, err
	}
	stepBytes := 0
	finished := e.pass(
		func(n int, v *version) bool {
			size := snapshotRecordSizeBytes(v)
			e.records++
			e.historyDue += n - 1
			e.sizeBytes += size
			stepBytes += size
			return stepBytes < budgetBytes
		},
		func(v *version, supersededAt int64) bool {
			size := snapshotHistorySizeBytes(v, supersededAt)
			e.history++
			e.sizeBytes += size
			stepBytes += size
			return stepBytes < budgetBytes
		})
	if !finished {
		return false, nil
	}
	// Every version a record holds below its snapshotted one is an arena
	// entry that compaction kept; the arena pass judged liveness from the
	// entries alone (histLive), so the two counts agreeing is what says
	// that judgement matched the records.
	assert(e.history == e.historyDue, "snapshot history entries live in the arena differ from those the records hold")
	e.sizeBytes += snapshotHeader + uvarintSizeBytes(uint64(e.records)) + uvarintSizeBytes(uint64(e.history)) + crcSizeBytes
	e.measured = true
	e.rewind()
	return true, nil
}

// Encode appends about budgetBytes of the snapshot (at least one record)
// to dst, in order, and reports whether the snapshot is complete, its
// checksum included. Measure must have finished.
func (e *SnapshotEncoder) Encode(dst []byte, budgetBytes int) (_ []byte, done bool, err error) {
	assert(e.measured, "Encode before Measure finished")
	if e.done {
		return dst, true, nil
	}
	if err := e.check(); err != nil {
		return dst, false, err
	}
	start := len(dst)
	if !e.headerDone {
		dst = append(dst, snapshotMagic...)
		dst = binary.LittleEndian.AppendUint32(dst, snapshotVersion)
		dst = binary.LittleEndian.AppendUint64(dst, uint64(e.rev))
		dst = binary.LittleEndian.AppendUint64(dst, uint64(e.compactRev))
		dst = binary.AppendUvarint(dst, uint64(e.records))
		e.headerDone = true
	}
	finished := e.pass(
		func(_ int, v *version) bool {
			dst = appendSnapshotRecord(dst, v)
			e.recordsEncoded++
			return len(dst)-start < budgetBytes
		},
		func(v *version, supersededAt int64) bool {
			if !e.historyHeader {
				dst = binary.AppendUvarint(dst, uint64(e.history))
				e.historyHeader = true
			}
			dst = appendSnapshotHistory(dst, v, supersededAt)
			e.historyEncoded++
			return len(dst)-start < budgetBytes
		})
	if finished && !e.historyHeader {
		dst = binary.AppendUvarint(dst, uint64(e.history)) // no history
		e.historyHeader = true
	}
	e.crc = crc32.Update(e.crc, castagnoli, dst[start:])
	e.encodedBytes += len(dst) - start
	if !finished {
		return dst, false, nil
	}
	// The sizes written in front must match what followed: the frame and
	// the file around the snapshot were laid out from them.
	assert(e.recordsEncoded == e.records && e.historyEncoded == e.history, "snapshot records encoded differ from those measured")
	dst = binary.LittleEndian.AppendUint32(dst, e.crc)
	e.encodedBytes += crcSizeBytes
	assert(e.encodedBytes == e.sizeBytes, "snapshot bytes encoded differ from those measured")
	e.done = true
	return dst, true, nil
}

// pass advances the current pass from where it stopped until a visit
// returns false: visitRecord gets, for each record with versions at or
// below the encoder's revision, how many it has there and the last of them;
// then visitHistory gets each live arena entry before histEnd with the
// revision that superseded it. It reports whether the pass reached the end.
func (e *SnapshotEncoder) pass(visitRecord func(n int, v *version) bool, visitHistory func(v *version, supersededAt int64) bool) (finished bool) {
	if !e.inHistory {
		var tmp version
		if !e.scan(func(rec *record, n int) bool {
			return visitRecord(n, rec.viewAt(e.s.hist, n-1, &tmp))
		}) {
			return false
		}
		e.inHistory = true
		e.histAt = histRef(e.s.hist.first) << 32
	}
	a := e.s.hist
	var v version
	for e.histAt < e.histEnd {
		i := e.histAt.chunk() - a.first
		assert(e.histAt.chunk() >= a.first && i < uint64(len(a.chunks)), "snapshot pass behind the arena")
		c := &a.chunks[i]
		end := c.used
		if e.histAt.chunk() == e.histEnd.chunk() {
			end = int(e.histEnd.offset())
		}
		off := int(e.histAt.offset())
		if c.mem == nil || off >= end {
			// Done with the chunk: its pages go back to the page cache
			// now, not when the pass ends, so a pass maps one chunk at a
			// time instead of the whole history.
			if c.spilled {
				dropPages(c.mem)
				c.touched = false
			}
			e.histAt = histRef(e.histAt.chunk()+1) << 32
			continue
		}
		if c.spilled {
			c.touched = true
		}
		supersededAt, size := decodeEntry(c.mem[off:end], &v)
		e.histAt += histRef(size)
		assert(supersededAt <= e.rev, "arena entry before the snapshot's end superseded after its revision")
		if histLive(&v, supersededAt, e.compactRev) && !visitHistory(&v, supersededAt) {
			return false
		}
	}
	return true
}

// rewind starts the next pass from the beginning.
func (e *SnapshotEncoder) rewind() {
	e.started, e.after = false, ""
	e.inHistory, e.histAt = false, 0
}

// check fails once a compaction may have dropped versions the encoder
// still has to read.
func (e *SnapshotEncoder) check() error {
	if e.s.compactRev != e.compactRev {
		return ErrSnapshotStale
	}
	assert(!e.s.tx.open, "snapshot step inside a write txn")
	return nil
}

// scan visits, in key order from where the pass stopped, every record with
// versions at or below the encoder's revision, with how many it has there,
// until visit returns false. It reports whether the pass reached the end.
func (e *SnapshotEncoder) scan(visit func(rec *record, n int) bool) (finished bool) {
	finished = true
	iter := func(rec *record) bool {
		key := rec.key()
		if e.started && key == e.after {
			return true // Ascend starts at the pivot itself
		}
		n := rec.countThrough(e.s.hist, e.rev)
		if n == 0 {
			return true // created after the snapshot's revision
		}
		e.started, e.after = true, key
		if !visit(rec, n) {
			finished = false
			return false
		}
		return true
	}
	if e.started {
		e.s.tree.Ascend(e.s.pivotString(e.after), iter)
	} else {
		e.s.tree.Scan(iter)
	}
	if finished {
		// Once per pass, not per step: a step in key order reads versions
		// from all over the history, so every step maps most of it again.
		// Dropping after each of a member's small paced steps cost it a
		// tenth of its CPU under txn-cas (madvise and page faults), and
		// kept no less resident while the pass ran.
		e.s.hist.dropTouched()
	}
	return finished
}
