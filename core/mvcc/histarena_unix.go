//go:build unix

package mvcc

import (
	"fmt"
	"syscall"
)

// chunksMapped: chunkAlloc's memory is outside the Go heap.
const chunksMapped = true

// chunkAlloc maps size bytes of anonymous memory: the kernel gives it pages
// as they are first written, and the collector neither sees nor doubles it.
func chunkAlloc(size int) []byte {
	page := syscall.Getpagesize()
	size = (size + page - 1) / page * page
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		// Out of address space or memory: the store cannot keep its
		// history, as an allocation that fails would panic too.
		panic(fmt.Sprintf("mvcc: map %d bytes for history: %v", size, err))
	}
	return mem
}

// chunkFree unmaps a chunk from chunkAlloc.
func chunkFree(mem []byte) {
	if err := syscall.Munmap(mem[:cap(mem)]); err != nil {
		panic(fmt.Sprintf("mvcc: unmap %d bytes of history: %v", cap(mem), err))
	}
}
