package sim

import (
	"fmt"
	"io/fs"

	"github.com/kvdlabs/kvd/core/disk"
)

// file is an open handle on a simulated file, for appending.
type file struct {
	d          *Disk
	n          *inode
	name       string
	generation uint64
	closed     bool
}

var _ disk.File = (*file)(nil)

// alive asserts the handle was opened since the disk's last crash: a
// handle from before belongs to a process that no longer exists, so using
// it is a harness bug.
func (f *file) alive() {
	if f.generation != f.d.generation {
		panic(fmt.Sprintf("sim: disk %s: file %s used after a crash", f.d.name, f.name))
	}
}

// Write appends p. An injected error or a full disk writes nothing.
func (f *file) Write(p []byte) (int, error) {
	f.alive()
	d := f.d
	d.charge(false)
	if f.closed {
		return 0, pathErr("write", f.name, fs.ErrClosed)
	}
	if d.writeErr != nil {
		err := d.writeErr
		d.writeErr = nil
		d.w.Trace("disk.fault", "%s write %s fails: %v", d.name, f.name, err)
		return 0, pathErr("write", f.name, err)
	}
	// Writes land after the last byte written, filling reserved space first.
	growthBytes := max(0, len(p)-f.n.zeroTailBytes)
	if err := d.reserve("write", f.name, int64(growthBytes)); err != nil {
		return 0, err
	}
	f.n.data = append(f.n.data, p...)
	f.n.zeroTailBytes -= len(p) - growthBytes
	d.usedBytes += int64(growthBytes)
	d.w.Trace("disk.write", "%s %s size=%d", d.name, f.name, len(p))
	return len(p), nil
}

// Sync makes every byte of the file durable, including a truncation.
func (f *file) Sync() error {
	f.alive()
	d := f.d
	d.syncs++
	d.charge(true)
	if f.closed {
		return pathErr("sync", f.name, fs.ErrClosed)
	}
	if err := d.takeSyncErr("sync", f.name); err != nil {
		return err
	}
	f.n.durableLen = len(f.n.data)
	f.n.durableIsPrefix = true
	f.n.durableCopy = nil
	f.n.durableSizeBytes = f.n.sizeBytes()
	d.w.Trace("disk.sync", "%s %s size=%d", d.name, f.name, len(f.n.data))
	return nil
}

var _ disk.Preallocator = (*file)(nil)

// Preallocate reserves space up to sizeBytes as zeroes after the data: a
// full disk refuses it (ENOSPC), as fallocate does. Injected write errors
// are left for the next Write.
func (f *file) Preallocate(sizeBytes int64) error {
	f.alive()
	d := f.d
	d.charge(false)
	if f.closed {
		return pathErr("fallocate", f.name, fs.ErrClosed)
	}
	growthBytes := sizeBytes - int64(f.n.sizeBytes())
	if growthBytes <= 0 {
		return nil
	}
	if err := d.reserve("fallocate", f.name, growthBytes); err != nil {
		return err
	}
	f.n.zeroTailBytes += int(growthBytes)
	d.usedBytes += growthBytes
	d.w.Trace("disk.preallocate", "%s %s size=%d", d.name, f.name, sizeBytes)
	return nil
}

// Close releases the handle; it does not sync.
func (f *file) Close() error {
	f.alive()
	f.d.charge(false)
	if f.closed {
		return pathErr("close", f.name, fs.ErrClosed)
	}
	f.closed = true
	return nil
}

// Name returns the path the file was opened with.
func (f *file) Name() string { return f.name }
