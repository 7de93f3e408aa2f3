package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/kvdlabs/kvd/core/bugs"
)

// recordType tags a record's payload. Zero is deliberately not a type, so a
// zero-filled tail never parses as a record.
type recordType byte

const (
	recordSegmentHeader  recordType = 1 // [sequence u64][first index u64][metadata]
	recordEntry          recordType = 2 // [index u64][term u64][entry type u32][data]
	recordHardState      recordType = 3 // [term u64][vote u64][commit u64]
	recordSnapshotMarker recordType = 4 // [index u64][term u64]
)

func (t recordType) String() string {
	switch t {
	case recordSegmentHeader:
		return "segment header"
	case recordEntry:
		return "entry"
	case recordHardState:
		return "hard state"
	case recordSnapshotMarker:
		return "snapshot marker"
	}
	return fmt.Sprintf("unknown record type %d", byte(t))
}

func (t recordType) known() bool {
	return t >= recordSegmentHeader && t <= recordSnapshotMarker
}

const (
	// recordHeaderBytes is [length u32][crc32c u32][type u8].
	recordHeaderBytes          = 9
	segmentHeaderFixedBytes    = 16
	entryFixedBytes            = 20
	hardStatePayloadBytes      = 24
	snapshotMarkerPayloadBytes = 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// record is one decoded record; payload aliases the buffer it came from.
type record struct {
	typ     recordType
	crc     uint32
	payload []byte
}

// appendRecord appends a record whose payload fill writes (fill appends to
// the slice it is given and returns it). The checksum covers type and
// payload and is seeded with seed: zero for a segment header, the header's
// checksum for every other record of that segment.
func appendRecord(dst []byte, seed uint32, typ recordType, fill func([]byte) []byte) ([]byte, uint32) {
	start := len(dst)
	dst = append(dst, make([]byte, recordHeaderBytes)...)
	dst[start+8] = byte(typ)
	dst = fill(dst)
	payloadBytes := len(dst) - start - recordHeaderBytes
	crc := crc32.Update(seed, castagnoli, dst[start+8:])
	binary.LittleEndian.PutUint32(dst[start:], uint32(payloadBytes))
	binary.LittleEndian.PutUint32(dst[start+4:], crc)
	return dst, crc
}

// decodeProblem says why bytes at some offset are not a valid record. The
// caller decides whether that is a torn tail or corruption, and wraps it
// with the file and offset.
type decodeProblem string

func (p decodeProblem) Error() string { return string(p) }

// decodeRecord reads the record at the start of buf. It allocates nothing
// and never trusts the length prefix beyond recordSizeBytesMax or the end of
// buf.
func decodeRecord(buf []byte, seed uint32, recordSizeBytesMax int64) (record, int, error) {
	if len(buf) < recordHeaderBytes {
		return record{}, 0, decodeProblem(fmt.Sprintf("record header cut short: %d of %d bytes", len(buf), recordHeaderBytes))
	}
	payloadBytes := int64(binary.LittleEndian.Uint32(buf))
	crc := binary.LittleEndian.Uint32(buf[4:])
	typ := recordType(buf[8])
	if !typ.known() {
		return record{}, 0, decodeProblem(typ.String())
	}
	if payloadBytes > recordSizeBytesMax {
		return record{}, 0, decodeProblem(fmt.Sprintf("length prefix %d above the record limit %d", payloadBytes, recordSizeBytesMax))
	}
	n := recordHeaderBytes + int(payloadBytes)
	if n > len(buf) {
		if bugs.On(bugs.WALTornTailAccepted) {
			// planted bug (kvdbugs builds only): a record cut short is read as if zero-filled to its length, checksum unchecked
			payload := make([]byte, payloadBytes)
			copy(payload, buf[recordHeaderBytes:])
			return record{typ: typ, crc: crc, payload: payload}, len(buf), nil
		}
		return record{}, 0, decodeProblem(fmt.Sprintf("%s record of %d bytes cut short at %d", typ, n, len(buf)))
	}
	if got := crc32.Update(seed, castagnoli, buf[8:n]); got != crc {
		if bugs.On(bugs.WALTornTailAccepted) && nonZeroPrefixBytes(buf[n:]) == 0 {
			// planted bug (kvdbugs builds only): the same mistake where space is preallocated — the last
			// record, torn into the zeroes after it, is read as they fill it, checksum unchecked
			return record{typ: typ, crc: crc, payload: buf[recordHeaderBytes:n]}, n, nil
		}
		return record{}, 0, decodeProblem(fmt.Sprintf("%s record checksum mismatch: stored %08x, computed %08x", typ, crc, got))
	}
	return record{typ: typ, crc: crc, payload: buf[recordHeaderBytes:n]}, n, nil
}

// segmentHeader opens every segment: it ties the file to its name and its
// WAL, and seeds the checksums of the records after it.
type segmentHeader struct {
	sequence   uint64
	firstIndex uint64
	metadata   []byte
}

func appendSegmentHeader(dst []byte, h segmentHeader) ([]byte, uint32) {
	return appendRecord(dst, 0, recordSegmentHeader, func(b []byte) []byte {
		b = binary.LittleEndian.AppendUint64(b, h.sequence)
		b = binary.LittleEndian.AppendUint64(b, h.firstIndex)
		return append(b, h.metadata...)
	})
}

func decodeSegmentHeader(p []byte) (segmentHeader, error) {
	if len(p) < segmentHeaderFixedBytes || len(p) > segmentHeaderFixedBytes+MetadataSizeBytesMax {
		return segmentHeader{}, decodeProblem(fmt.Sprintf("segment header payload of %d bytes, want [%d, %d]",
			len(p), segmentHeaderFixedBytes, segmentHeaderFixedBytes+MetadataSizeBytesMax))
	}
	return segmentHeader{
		sequence:   binary.LittleEndian.Uint64(p),
		firstIndex: binary.LittleEndian.Uint64(p[8:]),
		metadata:   append([]byte(nil), p[16:]...),
	}, nil
}

func entryRecordPayloadBytes(e *raftpb.Entry) int64 {
	return entryFixedBytes + int64(len(e.GetData()))
}

func appendEntry(dst []byte, seed uint32, e *raftpb.Entry) ([]byte, uint32) {
	return appendRecord(dst, seed, recordEntry, func(b []byte) []byte {
		b = binary.LittleEndian.AppendUint64(b, e.GetIndex())
		b = binary.LittleEndian.AppendUint64(b, e.GetTerm())
		b = binary.LittleEndian.AppendUint32(b, uint32(e.GetType()))
		return append(b, e.GetData()...)
	})
}

// decodeEntry copies the data out, so the entry outlives the read buffer.
func decodeEntry(p []byte) (*raftpb.Entry, error) {
	if len(p) < entryFixedBytes {
		return nil, decodeProblem(fmt.Sprintf("entry payload of %d bytes, want at least %d", len(p), entryFixedBytes))
	}
	typ := raftpb.EntryType(binary.LittleEndian.Uint32(p[16:]))
	if _, ok := raftpb.EntryType_name[int32(typ)]; !ok {
		return nil, decodeProblem(fmt.Sprintf("entry of unknown type %d", uint32(typ)))
	}
	index := binary.LittleEndian.Uint64(p)
	term := binary.LittleEndian.Uint64(p[8:])
	e := &raftpb.Entry{Index: &index, Term: &term, Type: &typ}
	if len(p) > entryFixedBytes {
		e.Data = append([]byte(nil), p[entryFixedBytes:]...)
	}
	return e, nil
}

func appendHardState(dst []byte, seed uint32, hs *raftpb.HardState) ([]byte, uint32) {
	return appendRecord(dst, seed, recordHardState, func(b []byte) []byte {
		b = binary.LittleEndian.AppendUint64(b, hs.GetTerm())
		b = binary.LittleEndian.AppendUint64(b, hs.GetVote())
		return binary.LittleEndian.AppendUint64(b, hs.GetCommit())
	})
}

func decodeHardState(p []byte) (*raftpb.HardState, error) {
	if len(p) != hardStatePayloadBytes {
		return nil, decodeProblem(fmt.Sprintf("hard state payload of %d bytes, want %d", len(p), hardStatePayloadBytes))
	}
	term := binary.LittleEndian.Uint64(p)
	vote := binary.LittleEndian.Uint64(p[8:])
	commit := binary.LittleEndian.Uint64(p[16:])
	return &raftpb.HardState{Term: &term, Vote: &vote, Commit: &commit}, nil
}

// snapshotMarker records that the snapshot file for (index, term) is
// durable; recovery starts from the newest one.
type snapshotMarker struct {
	index, term uint64
}

func appendSnapshotMarker(dst []byte, seed uint32, m snapshotMarker) ([]byte, uint32) {
	return appendRecord(dst, seed, recordSnapshotMarker, func(b []byte) []byte {
		b = binary.LittleEndian.AppendUint64(b, m.index)
		return binary.LittleEndian.AppendUint64(b, m.term)
	})
}

func decodeSnapshotMarker(p []byte) (snapshotMarker, error) {
	if len(p) != snapshotMarkerPayloadBytes {
		return snapshotMarker{}, decodeProblem(fmt.Sprintf("snapshot marker payload of %d bytes, want %d", len(p), snapshotMarkerPayloadBytes))
	}
	return snapshotMarker{index: binary.LittleEndian.Uint64(p), term: binary.LittleEndian.Uint64(p[8:])}, nil
}
