package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

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
	snap := &raftpb.Snapshot{}
	if err := proto.Unmarshal(payload, snap); err != nil {
		return nil, fmt.Errorf("%w: snapshot %s: checksum good but payload does not decode: %v", ErrCorrupt, name, err)
	}
	if md := snap.GetMetadata(); md.GetTerm() != term || md.GetIndex() != index {
		return nil, fmt.Errorf("%w: snapshot %s holds term %d index %d, want term %d index %d",
			ErrCorrupt, name, md.GetTerm(), md.GetIndex(), term, index)
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

// snapshotData is a snapshot's data as the file writer takes it: exactly
// sizeBytes written by write, or no data field at all when absent.
type snapshotData struct {
	absent    bool
	sizeBytes int64
	write     func(io.Writer) error
}

// writeSnapshotFile makes the snapshot durable under its final name.
func writeSnapshotFile(fs disk.FS, dir string, md *raftpb.SnapshotMetadata, data snapshotData, sizeBytesMax int64) error {
	mdBytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(md)
	if err != nil {
		return fmt.Errorf("wal: encode snapshot metadata at index %d: %w", md.GetIndex(), err)
	}
	var prefix, tail []byte
	if !data.absent {
		prefix = protowire.AppendTag(prefix, 1, protowire.BytesType)
		prefix = protowire.AppendVarint(prefix, uint64(data.sizeBytes))
	}
	if md != nil {
		tail = protowire.AppendTag(tail, 2, protowire.BytesType)
		tail = protowire.AppendBytes(tail, mdBytes)
	}
	payloadBytes := int64(len(prefix)) + data.sizeBytes + int64(len(tail))
	if n := int64(snapshotHeaderBytes) + payloadBytes + 4; n > sizeBytesMax {
		return fmt.Errorf("wal: snapshot at index %d is %d bytes, above the limit %d", md.GetIndex(), n, sizeBytesMax)
	}
	final := join(dir, snapshotName(md.GetTerm(), md.GetIndex()))
	temp := final + tempSuffix
	f, err := fs.Create(temp)
	if err != nil {
		return fmt.Errorf("wal: save snapshot at index %d: %w", md.GetIndex(), err)
	}
	head := binary.LittleEndian.AppendUint64(append([]byte{}, snapshotMagic...), uint64(payloadBytes))
	if err := writeSnapshotPayload(f, head, prefix, data, tail); err != nil {
		_ = f.Close()
		return fmt.Errorf("wal: write snapshot %s: %w", temp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("wal: sync snapshot %s: %w", temp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("wal: close snapshot %s: %w", temp, err)
	}
	if err := fs.Rename(temp, final); err != nil {
		return fmt.Errorf("wal: install snapshot %s: %w", final, err)
	}
	if err := fs.SyncDir(dir); err != nil {
		return fmt.Errorf("wal: sync dir %s after installing snapshot %s: %w", dir, final, err)
	}
	return nil
}

func writeSnapshotPayload(f io.Writer, head, prefix []byte, data snapshotData, tail []byte) error {
	if _, err := f.Write(head); err != nil {
		return err
	}
	cw := &checksumWriter{w: f}
	if _, err := cw.Write(prefix); err != nil {
		return err
	}
	if !data.absent {
		before := cw.writtenBytes
		if err := data.write(cw); err != nil {
			return err
		}
		if got := cw.writtenBytes - before; got != data.sizeBytes {
			panic(fmt.Sprintf("wal: snapshot data writer wrote %d bytes, promised %d", got, data.sizeBytes))
		}
	}
	if _, err := cw.Write(tail); err != nil {
		return err
	}
	_, err := f.Write(binary.LittleEndian.AppendUint32(nil, cw.crc))
	return err
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
