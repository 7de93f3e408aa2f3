package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/disk"
)

// A snapshot file is [magic][payload length u64][crc32c of payload u32]
// [payload], the payload being the deterministic protobuf encoding of the
// raftpb.Snapshot. It is written under a temporary name, synced, renamed
// into place and the directory synced, so a file under a .snap name is
// whole unless the disk damaged it afterwards.
const (
	snapshotMagic       = "kvdsnap1"
	snapshotHeaderBytes = len(snapshotMagic) + 8 + 4
)

func encodeSnapshot(snap *raftpb.Snapshot) ([]byte, error) {
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(snap)
	if err != nil {
		return nil, fmt.Errorf("wal: encode snapshot at index %d: %w", snap.GetMetadata().GetIndex(), err)
	}
	b := make([]byte, 0, snapshotHeaderBytes+len(payload))
	b = append(b, snapshotMagic...)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(payload)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(payload, castagnoli))
	return append(b, payload...), nil
}

// decodeSnapshot checks the whole-file checksum and that the snapshot is
// the one the file name promises.
func decodeSnapshot(name string, b []byte, term, index uint64) (*raftpb.Snapshot, error) {
	if len(b) < snapshotHeaderBytes || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return nil, fmt.Errorf("%w: snapshot %s: no snapshot header in %d bytes", ErrCorrupt, name, len(b))
	}
	payloadBytes := binary.LittleEndian.Uint64(b[len(snapshotMagic):])
	if payloadBytes != uint64(len(b)-snapshotHeaderBytes) {
		return nil, fmt.Errorf("%w: snapshot %s: header says %d payload bytes, file has %d",
			ErrCorrupt, name, payloadBytes, len(b)-snapshotHeaderBytes)
	}
	payload := b[snapshotHeaderBytes:]
	stored := binary.LittleEndian.Uint32(b[len(snapshotMagic)+8:])
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

// snapshotParts is encodeSnapshot's bytes in three parts, head, the
// snapshot's own data, and tail, so the data (the whole state machine,
// over 100 MB at a million keys) is written from where it lies instead of
// being copied into a protobuf buffer first. The payload is the same
// deterministic protobuf: field 1 (data), then field 2 (metadata).
func snapshotParts(snap *raftpb.Snapshot) (head, tail []byte, err error) {
	md, err := proto.MarshalOptions{Deterministic: true}.Marshal(snap.GetMetadata())
	if err != nil {
		return nil, nil, fmt.Errorf("wal: encode snapshot metadata at index %d: %w", snap.GetMetadata().GetIndex(), err)
	}
	var prefix []byte
	if snap.Data != nil {
		prefix = protowire.AppendTag(prefix, 1, protowire.BytesType)
		prefix = protowire.AppendVarint(prefix, uint64(len(snap.Data)))
	}
	if snap.Metadata != nil {
		tail = protowire.AppendTag(tail, 2, protowire.BytesType)
		tail = protowire.AppendBytes(tail, md)
	}
	crc := crc32.Update(0, castagnoli, prefix)
	crc = crc32.Update(crc, castagnoli, snap.Data)
	crc = crc32.Update(crc, castagnoli, tail)
	head = make([]byte, 0, snapshotHeaderBytes+len(prefix))
	head = append(head, snapshotMagic...)
	head = binary.LittleEndian.AppendUint64(head, uint64(len(prefix)+len(snap.Data)+len(tail)))
	head = binary.LittleEndian.AppendUint32(head, crc)
	return append(head, prefix...), tail, nil
}

// writeSnapshotFile makes the snapshot durable under its final name.
func writeSnapshotFile(fs disk.FS, dir string, snap *raftpb.Snapshot, sizeBytesMax int64) error {
	md := snap.GetMetadata()
	head, tail, err := snapshotParts(snap)
	if err != nil {
		return err
	}
	if n := int64(len(head) + len(snap.Data) + len(tail)); n > sizeBytesMax {
		return fmt.Errorf("wal: snapshot at index %d is %d bytes, above the limit %d", md.GetIndex(), n, sizeBytesMax)
	}
	final := join(dir, snapshotName(md.GetTerm(), md.GetIndex()))
	temp := final + tempSuffix
	f, err := fs.Create(temp)
	if err != nil {
		return fmt.Errorf("wal: save snapshot at index %d: %w", md.GetIndex(), err)
	}
	for _, b := range [][]byte{head, snap.Data, tail} {
		if _, err := f.Write(b); err != nil {
			_ = f.Close()
			return fmt.Errorf("wal: write snapshot %s: %w", temp, err)
		}
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
