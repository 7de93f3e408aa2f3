package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/bugs"
	"github.com/kvdlabs/kvd/core/disk"
)

// A snapshot file (format 2) is [magic][payload length u64][payload]
// [crc32c of payload u32], the payload being the protobuf encoding of the
// raftpb.Snapshot (field 1, data, then field 2, metadata). The checksum
// trails so the data can be streamed into the file without ever being
// whole in memory. Format 1 — the checksum in the header — is still read.
// A file is written under a temporary name, synced, renamed into place and
// the directory synced, so a file under a .snap name is whole unless the
// disk damaged it afterwards.
const (
	snapshotMagic       = "kvdsnap2"
	snapshotMagicV1     = "kvdsnap1"
	snapshotHeaderBytes = len(snapshotMagic) + 8
	// snapshotHeaderBytesV1 adds format 1's leading checksum.
	snapshotHeaderBytesV1 = len(snapshotMagicV1) + 8 + 4
)

// encodeSnapshotV1 is format 1, kept so tests can prove old files load.
func encodeSnapshotV1(snap *raftpb.Snapshot) ([]byte, error) {
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(snap)
	if err != nil {
		return nil, fmt.Errorf("wal: encode snapshot at index %d: %w", snap.GetMetadata().GetIndex(), err)
	}
	b := make([]byte, 0, snapshotHeaderBytesV1+len(payload))
	b = append(b, snapshotMagicV1...)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(payload)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(payload, castagnoli))
	return append(b, payload...), nil
}

// decodeSnapshot checks the whole-file checksum and that the snapshot is
// the one the file name promises.
func decodeSnapshot(name string, b []byte, term, index uint64) (*raftpb.Snapshot, error) {
	var payload []byte
	var stored uint32
	switch {
	case len(b) >= snapshotHeaderBytes+4 && string(b[:len(snapshotMagic)]) == snapshotMagic:
		payloadBytes := binary.LittleEndian.Uint64(b[len(snapshotMagic):])
		if payloadBytes != uint64(len(b)-snapshotHeaderBytes-4) {
			return nil, fmt.Errorf("%w: snapshot %s: header says %d payload bytes, file has %d",
				ErrCorrupt, name, payloadBytes, len(b)-snapshotHeaderBytes-4)
		}
		payload = b[snapshotHeaderBytes : len(b)-4]
		stored = binary.LittleEndian.Uint32(b[len(b)-4:])
	case len(b) >= snapshotHeaderBytesV1 && string(b[:len(snapshotMagicV1)]) == snapshotMagicV1:
		payloadBytes := binary.LittleEndian.Uint64(b[len(snapshotMagicV1):])
		if payloadBytes != uint64(len(b)-snapshotHeaderBytesV1) {
			return nil, fmt.Errorf("%w: snapshot %s: header says %d payload bytes, file has %d",
				ErrCorrupt, name, payloadBytes, len(b)-snapshotHeaderBytesV1)
		}
		payload = b[snapshotHeaderBytesV1:]
		stored = binary.LittleEndian.Uint32(b[len(snapshotMagicV1)+8:])
	default:
		return nil, fmt.Errorf("%w: snapshot %s: no snapshot header in %d bytes", ErrCorrupt, name, len(b))
	}
	if got := crc32.Checksum(payload, castagnoli); got != stored {
		return nil, fmt.Errorf("%w: snapshot %s: checksum mismatch: stored %08x, computed %08x", ErrCorrupt, name, stored, got)
	}
	snap, err := unmarshalSnapshot(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot %s: checksum good but payload does not decode: %v", ErrCorrupt, name, err)
	}
	if md := snap.GetMetadata(); md.GetTerm() != term || md.GetIndex() != index {
		return nil, fmt.Errorf("%w: snapshot %s holds term %d index %d, want term %d index %d",
			ErrCorrupt, name, md.GetTerm(), md.GetIndex(), term, index)
	}
	return snap, nil
}

// unmarshalSnapshot decodes a raftpb.Snapshot whose data aliases payload.
// proto.Unmarshal copies bytes fields: at restart that was a second copy
// of the whole store next to the file's, a tenth of a million-key
// member's time to serve again and all of it garbage.
func unmarshalSnapshot(payload []byte) (*raftpb.Snapshot, error) {
	snap := &raftpb.Snapshot{}
	for b := payload; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			snap.Data = v[:len(v):len(v)]
			b = b[n:]
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			// Repeated occurrences of a message field merge, as in proto.
			if snap.Metadata == nil {
				snap.Metadata = &raftpb.SnapshotMetadata{}
			}
			if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(v, snap.Metadata); err != nil {
				return nil, fmt.Errorf("metadata: %w", err)
			}
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			b = b[n:] // a field this version does not know: skipped
		}
	}
	return snap, nil
}

// checksumWriter passes writes on, counting them into a CRC-32C and a length.
type checksumWriter struct {
	w            io.Writer
	crc          uint32
	writtenBytes int64
}

func (c *checksumWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	c.writtenBytes += int64(n)
	return n, err
}

// SnapshotFile is a snapshot being written a step at a time, so a member
// can stream its state into the file between rounds of serving requests:
// BeginSnapshot, Write the data in any number of calls, then Commit — or
// Abort. Until Commit returns, the file lives under a temporary name and
// nothing refers to it; a crash leaves debris that Open removes.
type SnapshotFile struct {
	w           *WAL
	md          *raftpb.SnapshotMetadata
	f           disk.File
	temp, final string
	cw          checksumWriter
	tail        []byte
	// dataBytes is what the data field promised; dataStart is where the
	// data begins in the checksummed payload.
	dataBytes int64
	dataStart int64
	ended     bool
	// hintedBytes is how much had been written at the last writeback hint.
	hintedBytes int64
}

// snapshotWritebackEveryBytes is how often a snapshot being written asks
// the disk to start writing it back (disk.WritebackStarter), so Commit's
// fsync finds most of it there: a snapshot of a few tens of MiB otherwise
// stalled the member for about 8 ms at Commit, once every snapshot.
const snapshotWritebackEveryBytes = 4 << 20

// BeginSnapshot starts the file of a snapshot whose data will be exactly
// dataSizeBytes. At most one snapshot is written at a time; SaveSnapshot
// must not run while one is open. An error fails the WAL, as any write
// error does.
func (w *WAL) BeginSnapshot(md *raftpb.SnapshotMetadata, dataSizeBytes int64) (*SnapshotFile, error) {
	return w.beginSnapshot(md, dataSizeBytes, false)
}

// beginSnapshot is BeginSnapshot; absent leaves the data field out of the
// file altogether, as a raft snapshot with nil data has none.
func (w *WAL) beginSnapshot(md *raftpb.SnapshotMetadata, dataSizeBytes int64, absent bool) (*SnapshotFile, error) {
	if err := w.writable(); err != nil {
		return nil, err
	}
	if md.GetIndex() == 0 {
		panic("wal: snapshot at index 0")
	}
	mdBytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(md)
	if err != nil {
		return nil, fmt.Errorf("wal: encode snapshot metadata at index %d: %w", md.GetIndex(), err)
	}
	var prefix, tail []byte
	if !absent {
		prefix = protowire.AppendTag(prefix, 1, protowire.BytesType)
		prefix = protowire.AppendVarint(prefix, uint64(dataSizeBytes))
	}
	tail = protowire.AppendTag(tail, 2, protowire.BytesType)
	tail = protowire.AppendBytes(tail, mdBytes)
	payloadBytes := int64(len(prefix)) + dataSizeBytes + int64(len(tail))
	if n := int64(snapshotHeaderBytes) + payloadBytes + 4; n > w.opts.SnapshotSizeBytesMax {
		return nil, fmt.Errorf("wal: snapshot at index %d is %d bytes, above the limit %d", md.GetIndex(), n, w.opts.SnapshotSizeBytesMax)
	}
	final := join(w.dir, snapshotName(md.GetTerm(), md.GetIndex()))
	temp := final + tempSuffix
	f, err := w.fs.Create(temp)
	if err != nil {
		return nil, w.fail(fmt.Errorf("wal: save snapshot at index %d: %w", md.GetIndex(), err))
	}
	sf := &SnapshotFile{w: w, md: md, f: f, temp: temp, final: final, cw: checksumWriter{w: f}, tail: tail,
		dataBytes: dataSizeBytes, dataStart: int64(len(prefix))}
	head := binary.LittleEndian.AppendUint64(append([]byte{}, snapshotMagic...), uint64(payloadBytes))
	if _, err := f.Write(head); err != nil {
		return nil, sf.failed(fmt.Errorf("wal: write snapshot %s: %w", temp, err))
	}
	if _, err := sf.cw.Write(prefix); err != nil {
		return nil, sf.failed(fmt.Errorf("wal: write snapshot %s: %w", temp, err))
	}
	return sf, nil
}

// Write appends snapshot data; more than BeginSnapshot promised panics.
func (sf *SnapshotFile) Write(p []byte) (int, error) {
	if sf.ended {
		panic("wal: write to an ended snapshot file")
	}
	if sf.cw.writtenBytes-sf.dataStart+int64(len(p)) > sf.dataBytes {
		panic(fmt.Sprintf("wal: snapshot data of %d bytes overflows the %d promised",
			sf.cw.writtenBytes-sf.dataStart+int64(len(p)), sf.dataBytes))
	}
	n, err := sf.cw.Write(p)
	if err != nil {
		return n, sf.failed(fmt.Errorf("wal: write snapshot %s: %w", sf.temp, err))
	}
	if sf.cw.writtenBytes-sf.hintedBytes >= snapshotWritebackEveryBytes {
		sf.hintedBytes = sf.cw.writtenBytes
		// A refused hint is not the WAL's failure: a file system without
		// sync_file_range (EINVAL, ENOSYS) must not stop the member, and
		// a real write error surfaces at Commit's Sync, which fails it.
		_ = disk.StartWriteback(sf.f)
	}
	return n, nil
}

// Commit finishes the file, makes it durable under its final name, then
// records it in the log: from then on recovery starts from it. Less data
// than promised panics.
func (sf *SnapshotFile) Commit() error {
	if got := sf.cw.writtenBytes - sf.dataStart; got != sf.dataBytes {
		panic(fmt.Sprintf("wal: snapshot data writer wrote %d bytes, promised %d", got, sf.dataBytes))
	}
	sf.ended = true
	w := sf.w
	if err := w.writable(); err != nil {
		_ = sf.f.Close()
		return err
	}
	if _, err := sf.cw.Write(sf.tail); err != nil {
		return sf.failed(fmt.Errorf("wal: write snapshot %s: %w", sf.temp, err))
	}
	if _, err := sf.f.Write(binary.LittleEndian.AppendUint32(nil, sf.cw.crc)); err != nil {
		return sf.failed(fmt.Errorf("wal: write snapshot %s: %w", sf.temp, err))
	}
	if !bugs.On(bugs.WALSnapshotUnsynced) { // planted bug (kvdbugs builds only): the file is renamed into place unsynced
		if err := sf.f.Sync(); err != nil {
			return sf.failed(fmt.Errorf("wal: sync snapshot %s: %w", sf.temp, err))
		}
	}
	if err := sf.f.Close(); err != nil {
		return w.fail(fmt.Errorf("wal: close snapshot %s: %w", sf.temp, err))
	}
	if err := w.fs.Rename(sf.temp, sf.final); err != nil {
		return w.fail(fmt.Errorf("wal: install snapshot %s: %w", sf.final, err))
	}
	if err := w.fs.SyncDir(w.dir); err != nil {
		return w.fail(fmt.Errorf("wal: sync dir %s after installing snapshot %s: %w", w.dir, sf.final, err))
	}
	m := snapshotMarker{index: sf.md.GetIndex(), term: sf.md.GetTerm()}
	if err := w.reserve(recordHeaderBytes + snapshotMarkerPayloadBytes); err != nil {
		return err
	}
	w.buf, _ = appendSnapshotMarker(w.buf, w.seed, m)
	if err := w.flush(); err != nil {
		return err
	}
	w.noteSnapshot(m)
	return nil
}

// Abort drops the snapshot being written: the member chose not to finish
// it (a newer snapshot arrived, or compaction outdated its source). The
// temporary file is removed; failing that, Open removes it later.
func (sf *SnapshotFile) Abort() error {
	if sf.ended {
		return nil
	}
	sf.ended = true
	_ = sf.f.Close()
	if err := sf.w.fs.Remove(sf.temp); err != nil {
		return fmt.Errorf("wal: remove aborted snapshot %s: %w", sf.temp, err)
	}
	return nil
}

// failed closes the file after a write error and fails the WAL.
func (sf *SnapshotFile) failed(err error) error {
	sf.ended = true
	_ = sf.f.Close()
	return sf.w.fail(err)
}

// readSnapshotFile loads the snapshot a marker points at. Its absence is
// damage: the marker was written only after the file was durable.
func readSnapshotFile(fs disk.FS, dir string, m snapshotMarker, sizeBytesMax int64) (*raftpb.Snapshot, error) {
	name := join(dir, snapshotName(m.term, m.index))
	b, err := fs.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot %s named by the newest snapshot marker cannot be read: %w", ErrCorrupt, name, err)
	}
	if int64(len(b)) > sizeBytesMax {
		return nil, fmt.Errorf("%w: snapshot %s is %d bytes, above the limit %d", ErrCorrupt, name, len(b), sizeBytesMax)
	}
	return decodeSnapshot(name, b, m.term, m.index)
}

// ReadSnapshot loads the newest saved snapshot from its file, data
// included; nil if none was saved. A member keeps only the snapshot's
// metadata in memory and reads the rest back when a lagging follower needs it.
func (w *WAL) ReadSnapshot() (*raftpb.Snapshot, error) {
	if w.snapshot.index == 0 {
		return nil, nil
	}
	return readSnapshotFile(w.fs, w.dir, w.snapshot, w.opts.SnapshotSizeBytesMax)
}
