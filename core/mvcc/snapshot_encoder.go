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
type SnapshotEncoder struct {
	s          *Store
	rev        int64
	compactRev int64

	// after is the key the current pass resumes after; started is false
	// while the pass has not visited any key.
	after   string
	started bool

	measured  bool
	records   int
	sizeBytes int

	headerDone     bool
	done           bool
	recordsEncoded int
	encodedBytes   int
	crc            uint32
}

// NewSnapshotEncoder starts a snapshot of the store at its current
// revision. It must not be called inside a write txn.
func (s *Store) NewSnapshotEncoder() *SnapshotEncoder {
	assert(!s.tx.open, "snapshot inside a write txn")
	return &SnapshotEncoder{s: s, rev: s.rev, compactRev: s.compactRev}
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
	finished := e.scan(func(rec *record, n int) bool {
		size := recordSizeBytes(e.s.hist, rec, n)
		e.records++
		e.sizeBytes += size
		stepBytes += size
		return stepBytes < budgetBytes
	})
	if !finished {
		return false, nil
	}
	e.sizeBytes += snapshotHeader + uvarintSizeBytes(uint64(e.records)) + crcSizeBytes
	e.measured = true
	e.started, e.after = false, ""
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
	finished := e.scan(func(rec *record, n int) bool {
		dst = appendRecord(dst, e.s.hist, rec, n)
		e.recordsEncoded++
		return len(dst)-start < budgetBytes
	})
	e.crc = crc32.Update(e.crc, castagnoli, dst[start:])
	e.encodedBytes += len(dst) - start
	if !finished {
		return dst, false, nil
	}
	// The sizes written in front must match what followed: the frame and
	// the file around the snapshot were laid out from them.
	assert(e.recordsEncoded == e.records, "snapshot records encoded differ from those measured")
	dst = binary.LittleEndian.AppendUint32(dst, e.crc)
	e.encodedBytes += crcSizeBytes
	assert(e.encodedBytes == e.sizeBytes, "snapshot bytes encoded differ from those measured")
	e.done = true
	return dst, true, nil
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
