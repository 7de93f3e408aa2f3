//go:build !unix

package mvcc

// chunksMapped: chunkAlloc's memory is the Go heap's here.
const chunksMapped = false

// chunkAlloc allocates a chunk on the heap where anonymous mappings are not
// available: the store works the same, at the collector's memory cost.
func chunkAlloc(size int) []byte { return make([]byte, size) }

// chunkFree leaves the chunk to the collector.
func chunkFree([]byte) {}
