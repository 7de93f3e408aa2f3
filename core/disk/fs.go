// Package disk declares the file-system interface through which every durable
// byte of a member travels, and its os-backed implementation.
//
// The simulator provides another implementation (volatile until Sync, with
// injected faults); core code never touches package os directly, so the same
// WAL and snapshot code runs on a real disk in kvd and on a simulated one in
// kvsim.
//
// Durability contract, the same for every implementation:
//   - bytes written to a File are durable only after File.Sync returns nil;
//   - creating, renaming or removing a directory entry is durable only after
//     SyncDir on the parent directory returns nil;
//   - after a crash, anything not made durable may be lost, and the tail of a
//     file written since its last Sync may be torn (partially present).
package disk

import (
	"errors"
	"io"
)

// File is a file opened for appending: each Write lands just after the
// last byte written through it (at the end of the file it was opened on),
// even where space was preallocated past that point.
type File interface {
	io.Writer
	// Sync makes every byte written so far durable.
	Sync() error
	// Close releases the file; it does not imply Sync.
	Close() error
	// Name returns the path the file was opened with.
	Name() string
}

// WritebackStarter is a File that can start writing what it holds back to
// the device without waiting for it. It is a hint, not a durability
// promise: a large file written in steps and synced once at the end (a
// state snapshot) then finds most of its pages on the device already, and
// that final Sync no longer stalls the member for the whole file. A File
// without it (the simulator's) loses nothing but the head start.
type WritebackStarter interface {
	StartWriteback() error
}

// StartWriteback starts f's writeback when f can, and does nothing
// otherwise.
func StartWriteback(f File) error {
	if w, ok := f.(WritebackStarter); ok {
		return w.StartWriteback()
	}
	return nil
}

// Preallocator is a File that can reserve disk space ahead of its writes.
// Preallocate makes the file at least sizeBytes long, the new space reading
// as zeroes; the next Write still lands just after the last byte written,
// over those zeroes. The new size is durable after the next Sync. A log
// appended to in place of a growing file spares every later Sync the
// metadata of a size change: on ext4 an fsync after a small append drops
// from about 150 to 95 µs.
type Preallocator interface {
	Preallocate(sizeBytes int64) error
}

// Preallocate reserves space for f up to sizeBytes when f can, and reports
// whether it did; a File without it, or on a file system without it, is
// left as it was.
func Preallocate(f File, sizeBytes int64) (bool, error) {
	p, ok := f.(Preallocator)
	if !ok {
		return false, nil
	}
	if err := p.Preallocate(sizeBytes); err != nil {
		if errors.Is(err, ErrPreallocateUnsupported) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// PreallocateThrough is the Preallocate method of a File that wraps f
// (embedding hides f's optional methods): f's own, or
// ErrPreallocateUnsupported when f has none.
func PreallocateThrough(f File, sizeBytes int64) error {
	p, ok := f.(Preallocator)
	if !ok {
		return ErrPreallocateUnsupported
	}
	return p.Preallocate(sizeBytes)
}

// ErrPreallocateUnsupported is what Preallocate returns where the file
// system cannot reserve space: nothing was changed.
var ErrPreallocateUnsupported = errors.New("disk: preallocation not supported")

// FS is the file system a member's durable state lives in. Paths are
// slash-separated and may be relative to the implementation's root.
type FS interface {
	// Create makes a new empty file (truncating one that exists) for appending.
	Create(name string) (File, error)
	// OpenAppend opens an existing file for appending at its end
	// (preallocated space included).
	OpenAppend(name string) (File, error)
	// ReadFile returns the whole content of a file.
	ReadFile(name string) ([]byte, error)
	// Rename atomically replaces newname with oldname.
	Rename(oldname, newname string) error
	// Remove deletes a file.
	Remove(name string) error
	// List returns the names (not paths) of the entries of dir, sorted.
	List(dir string) ([]string, error)
	// Truncate cuts a file to size bytes.
	Truncate(name string, sizeBytes int64) error
	// MkdirAll creates dir and any missing parents.
	MkdirAll(dir string) error
	// SyncDir makes the entries of dir (creations, renames, removals) durable.
	SyncDir(dir string) error
}
