//go:build linux

package mvcc

import (
	"fmt"
	"math/bits"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// spillSupported: this platform can map a chunk's addresses onto a file.
const spillSupported = true

// spillFile is a store's scratch file for spilled chunks. A chunk takes a
// region of the next power of two of its size (the part it does not fill is
// a hole, no disk), and a freed region serves the next chunk of its class:
// the file's extent stays within twice the most history the store held at
// once, whatever sizes its large values come in.
type spillFile struct {
	f      *os.File
	endOff int64           // the file's size: every region lies below it
	free   map[int][]int64 // freed regions by class, their disk space punched out
}

// spillClass is the size of the region a chunk of size bytes takes.
func spillClass(size int) int { return 1 << bits.Len(uint(size-1)) }

// openSpill makes an unlinked scratch file in dir.
func openSpill(dir string) (*spillFile, error) {
	f, err := os.CreateTemp(dir, "history-*.spill")
	if err != nil {
		return nil, fmt.Errorf("mvcc: history spill file in %s: %w", dir, err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("mvcc: unlink history spill file %s: %w", f.Name(), err)
	}
	// A file system that cannot map files shared must say so now: once a
	// chunk's addresses are handed to a mapping that fails, they are lost.
	page := os.Getpagesize()
	if err := f.Truncate(int64(page)); err != nil {
		f.Close()
		return nil, fmt.Errorf("mvcc: size history spill file in %s: %w", dir, err)
	}
	probe, err := unix.Mmap(int(f.Fd()), 0, page, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("mvcc: map history spill file in %s: %w", dir, err)
	}
	if err := unix.Munmap(probe); err != nil {
		panic(fmt.Sprintf("mvcc: unmap the history spill file's probe: %v", err))
	}
	return &spillFile{f: f, endOff: int64(page), free: map[int][]int64{}}, nil
}

// spill writes the used bytes of mem, a full mapped chunk, to the file and
// maps mem's addresses onto them read-only. It returns the region's offset,
// or false when the write failed and mem is unchanged.
func (s *spillFile) spill(mem []byte, used int) (int64, bool) {
	size := cap(mem)
	full := mem[:size]
	class := spillClass(size)
	var off int64
	if regions := s.free[class]; len(regions) > 0 {
		off = regions[len(regions)-1]
		s.free[class] = regions[:len(regions)-1]
	} else {
		off = s.endOff
		// A mapping past the file's end faults: the file covers the whole
		// region before it is mapped, the unwritten tail as a hole.
		if err := s.f.Truncate(off + int64(class)); err != nil {
			return 0, false
		}
		s.endOff += int64(class)
	}
	if _, err := s.f.WriteAt(full[:used], off); err != nil {
		s.release(off, size)
		return 0, false
	}
	// MAP_FIXED replaces the anonymous pages in place. Should it fail, the
	// old mapping may be gone already, and versions that alias it would
	// read garbage: that is not survivable (openSpill's probe makes it
	// unlikely).
	if _, err := unix.MmapPtr(int(s.f.Fd()), off, unsafe.Pointer(&full[0]), uintptr(size),
		unix.PROT_READ, unix.MAP_SHARED|unix.MAP_FIXED); err != nil {
		panic(fmt.Sprintf("mvcc: map %d bytes of spilled history at offset %d: %v", size, off, err))
	}
	return off, true
}

// release frees the region at off: its disk space goes back at once, and
// the region serves the next chunk of its class.
func (s *spillFile) release(off int64, size int) {
	class := spillClass(size)
	// A file system that cannot punch holes keeps the blocks until the
	// region is reused; nothing reads them before that.
	_ = unix.Fallocate(int(s.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, int64(class))
	s.free[class] = append(s.free[class], off)
}

// close releases the file; its disk space goes with the last mapping of it.
func (s *spillFile) close() { s.f.Close() }

// dropPages unmaps a spilled chunk's pages from the member; its contents
// stay in the file and the page cache.
func dropPages(mem []byte) {
	if err := unix.Madvise(mem[:cap(mem)], unix.MADV_DONTNEED); err != nil {
		panic(fmt.Sprintf("mvcc: drop %d bytes of spilled history: %v", cap(mem), err))
	}
}
