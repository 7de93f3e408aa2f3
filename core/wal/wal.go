package wal

import (
	"bytes"
	"fmt"
	"path"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/kvdlabs/kvd/core/disk"
)

// WAL is the open write-ahead log of one raft member. It is not safe for
// concurrent use: the member's single step loop owns it.
type WAL struct {
	fs       disk.FS
	dir      string
	opts     Options
	metadata []byte

	// segments lists the live segment files, oldest first; the last one is
	// open for appending as file.
	segments []segmentInfo
	file     disk.File
	// fileSizeBytes counts what has been written to file, synced or not.
	fileSizeBytes int64
	// reservedBytes is how far file has been preallocated (0: not at all);
	// preallocateOff is set once the file system refused, for good.
	reservedBytes  int64
	preallocateOff bool
	// preludeBytes is the size of the current segment's opening records.
	preludeBytes int64
	// seed is the checksum of the current segment's header, which seeds the
	// checksum of every later record in that segment.
	seed uint32

	// lastIndex is the index the next entry may follow; recovery tracks it
	// by the very same rules (see doc.go) to check segment boundaries.
	lastIndex uint64
	hardState hardState
	snapshot  snapshotMarker

	buf    []byte
	failed error
	closed bool
}

// segmentInfo names a segment file.
type segmentInfo struct {
	sequence, firstIndex uint64
}

func (s segmentInfo) name() string { return segmentName(s.sequence, s.firstIndex) }

// hardState is raftpb.HardState by value, so that comparing and keeping it
// does not alias the caller's message.
type hardState struct {
	term, vote, commit uint64
}

func hardStateOf(hs *raftpb.HardState) hardState {
	return hardState{term: hs.GetTerm(), vote: hs.GetVote(), commit: hs.GetCommit()}
}

func (h hardState) empty() bool { return h == hardState{} }

func (h hardState) proto() *raftpb.HardState {
	return &raftpb.HardState{Term: &h.term, Vote: &h.vote, Commit: &h.commit}
}

// bufferKeepBytesMax bounds the encode buffer kept between calls, so that
// one huge batch does not pin its memory forever.
const bufferKeepBytesMax = 4 << 20

// writeChunkBytes is how much of a batch Save encodes before handing it to
// the file: a batch of large values (64 in flight of 64 KiB is 4 MiB) then
// reuses one buffer of about this size rather than growing a fresh one past
// bufferKeepBytesMax every time, which spent more time faulting in new
// pages than writing. Order and the single fsync are unchanged.
const writeChunkBytes = 1 << 20

// Exists reports whether dir holds at least one WAL segment.
func Exists(fs disk.FS, dir string) bool {
	names, err := fs.List(dir)
	if err != nil {
		return false
	}
	for _, n := range names {
		if _, _, ok := parseName(n, segmentSuffix); ok {
			return true
		}
	}
	return false
}

// Create makes a new WAL in dir (creating dir if needed) whose every
// segment carries metadata, typically the cluster and member ids. It fails
// with ErrExist if dir already holds a WAL.
func Create(fs disk.FS, dir string, metadata []byte, opts Options) (*WAL, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if len(metadata) > MetadataSizeBytesMax {
		return nil, fmt.Errorf("wal: create %s: metadata of %d bytes is above the limit %d", dir, len(metadata), MetadataSizeBytesMax)
	}
	if err := fs.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", dir, err)
	}
	// The new directory's own entry lives in its parent.
	if err := fs.SyncDir(path.Dir(dir)); err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", dir, err)
	}
	if Exists(fs, dir) {
		return nil, fmt.Errorf("wal: create %s: %w", dir, ErrExist)
	}
	w := &WAL{fs: fs, dir: dir, opts: opts, metadata: bytes.Clone(metadata)}
	// The first segment appears under its name only once its header is
	// durable, so a crash inside Create leaves no WAL (Exists is false).
	if err := w.startSegment(segmentInfo{sequence: 0, firstIndex: 1}); err != nil {
		return nil, err
	}
	return w, nil
}

// startSegment writes seg's prelude (header, then the current hard state
// and newest snapshot marker, which older segments may be released with)
// under a temporary name, syncs it, renames it into place, syncs the
// directory, and makes it the segment appended to.
func (w *WAL) startSegment(seg segmentInfo) error {
	b, seed := appendSegmentHeader(nil, segmentHeader{sequence: seg.sequence, firstIndex: seg.firstIndex, metadata: w.metadata})
	if !w.hardState.empty() {
		b, _ = appendHardState(b, seed, w.hardState.proto())
	}
	if w.snapshot.index > 0 {
		b, _ = appendSnapshotMarker(b, seed, w.snapshot)
	}
	final := join(w.dir, seg.name())
	temp := final + tempSuffix
	if err := writeFileDurably(w.fs, temp, b); err != nil {
		return w.fail(fmt.Errorf("wal: start segment %s: %w", final, err))
	}
	if err := w.fs.Rename(temp, final); err != nil {
		return w.fail(fmt.Errorf("wal: start segment %s: %w", final, err))
	}
	if err := w.fs.SyncDir(w.dir); err != nil {
		return w.fail(fmt.Errorf("wal: start segment %s: %w", final, err))
	}
	f, err := w.fs.OpenAppend(final)
	if err != nil {
		return w.fail(fmt.Errorf("wal: start segment %s: %w", final, err))
	}
	w.file = f
	w.fileSizeBytes = int64(len(b))
	w.preludeBytes = int64(len(b))
	w.reservedBytes = 0
	w.seed = seed
	w.segments = append(w.segments, seg)
	w.preallocate(w.fileSizeBytes)
	return nil
}

// ReservedBytes is the space preallocated in the current segment past the
// records written to it: counted in the file's size, holding nothing.
func (w *WAL) ReservedBytes() int64 {
	return max(0, w.reservedBytes-w.fileSizeBytes)
}

// preallocate reserves space in the current segment for records up to
// endBytes, opts.PreallocateBytes at a time, never past the segment's size
// limit. The reservation only spares later syncs a size change, so a
// file system that refuses it costs speed, not records: the refusal is
// logged once and preallocation stops.
func (w *WAL) preallocate(endBytes int64) {
	limit := w.opts.SegmentSizeBytesMax
	if w.opts.PreallocateBytes <= 0 || w.preallocateOff || endBytes <= w.reservedBytes || w.reservedBytes >= limit {
		return
	}
	sizeBytes := min(limit, max(endBytes, w.reservedBytes)+w.opts.PreallocateBytes)
	ok, err := disk.Preallocate(w.file, sizeBytes)
	if err != nil || !ok {
		w.preallocateOff = true
		if err != nil {
			w.opts.Logger.Warn("wal: preallocation failed; segments grow with their writes from now on", "segment", w.file.Name(), "bytes", sizeBytes, "err", err)
		}
		return
	}
	w.reservedBytes = sizeBytes
}

func writeFileDurably(fs disk.FS, name string, b []byte) error {
	f, err := fs.Create(name)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// fail marks the WAL failed: after an I/O error, what reached the disk is
// unknown until recovery reads it back, so no further write may be acked.
func (w *WAL) fail(err error) error {
	if w.failed == nil {
		w.failed = err
	}
	return err
}

// writable refuses writes on a closed or failed WAL.
func (w *WAL) writable() error {
	if w.closed {
		return fmt.Errorf("wal %s: %w", w.dir, ErrClosed)
	}
	if w.failed != nil {
		return fmt.Errorf("%w: %w", ErrFailed, w.failed)
	}
	return nil
}

// Close releases the segment file. It does not sync: every write the WAL
// acknowledged was synced before Save returned.
func (w *WAL) Close() error {
	if w.closed {
		return fmt.Errorf("wal %s: %w", w.dir, ErrClosed)
	}
	w.closed = true
	if w.file == nil {
		return nil
	}
	if err := w.file.Close(); err != nil {
		return fmt.Errorf("wal: close %s: %w", w.file.Name(), err)
	}
	return nil
}
