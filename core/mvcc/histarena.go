package mvcc

import (
	"cmp"
	"encoding/binary"
	"sync/atomic"
	"unsafe"

	"github.com/kvdlabs/kvd/core/bugs"
)

// The history arena keeps the versions a key has left behind (everything but
// each key's latest) outside Go's collected heap.
//
// Why: history is most of a store that is written more than it is read —
// 180,000 puts of 100 B over 10,000 keys left 45 MB of it on the heap, and
// the collector lets a heap grow to twice its live size (GOGC 100) before it
// runs, so a member held about 530 B resident per revision. Memory the
// collector does not see is not doubled: an arena entry costs its encoded
// size (about 15 B more than key and value), and the record keeps an 8-byte
// reference to it.
//
// Why it can be freed without moving anything: a version enters the arena
// when a newer one supersedes it, at the newer one's revision, and a
// compaction at rev drops exactly the versions superseded at or below rev
// (record.compact keeps the one visible at rev and everything after it; a
// tombstone it drops early only makes a hole). So each chunk remembers the
// highest revision that superseded one of its entries, and Compact frees
// every chunk whose highest is at or below its revision: all of its entries
// are dead. Entries are appended in revision order while the store runs, so
// chunks die in order; a store restored from a snapshot appends them in the
// same order (format version 2), one restored from format version 1 in key
// order, and its chunks live until the compaction passes their last entry.
//
// A version read from the arena aliases the chunk (view): it is valid until
// the next Compact, which is all any store call needs. What outlives a call
// (HistoryReader's KeyVersions) copies.

// histRef names an arena entry: chunk sequence number (high 32 bits) and
// byte offset in the chunk (low 32).
type histRef uint64

func (r histRef) chunk() uint64  { return uint64(r) >> 32 }
func (r histRef) offset() uint32 { return uint32(r) }

type histChunk struct {
	mem  []byte // nil once freed
	used int
	// lastRev is the highest revision that superseded one of its entries.
	lastRev int64
	// mapped: mem is a mapping of its own, outside the Go heap (newChunk).
	mapped bool
	// spilled: mem is mapped from the spill file at spillOff (histspill.go).
	spilled  bool
	spillOff int64
	// touched: an entry of the spilled chunk was read since dropTouched.
	touched bool
}

// histArena is a store's history arena. Its memory comes from newChunk (the
// Go heap for small chunks, anonymous mmap on unix for the rest; a full
// mapped chunk may then move to the spill file, histspill.go) and goes back
// by freeMem; a Store frees what it still holds when it is collected
// (newStore).
type histArena struct {
	chunks    []histChunk // chunks[i] has sequence number first+i
	first     uint64
	heldBytes int // bytes of live chunks
	// chunkBytes is the size of an ordinary chunk (Options.HistoryChunkBytes);
	// a larger entry gets a chunk of its own, of its size.
	chunkBytes int
	// spillDir is where full mapped chunks spill (Options.HistorySpillDir;
	// cleared when its file cannot be made); spill is that file, opened
	// at the first spill.
	spillDir string
	spill    *spillFile
	// mappedBytesMin is the smallest chunk mapped (chunkMappedBytesMin;
	// tests lower it to spill small chunks).
	mappedBytesMin int
}

// mappedHistoryBytes is what every store of the process holds in mapped
// chunks.
var mappedHistoryBytes atomic.Int64

// chunkMappedBytesMin is the smallest chunk taken from the kernel. Smaller
// ones (a small store's first chunks, and every chunk the simulator draws)
// come from the Go heap: a mapping costs two system calls and a TLB
// shootdown when unmapped, and unmapping the chunks of short-lived stores
// was 6 % of the simulator's CPU.
const chunkMappedBytesMin = 64 << 10

// heapChunkBytesMin is the size of an arena's first chunk.
const heapChunkBytesMin = 512

// newChunk returns size bytes for a chunk, mapped (outside the Go heap)
// when size is at least mappedBytesMin and the platform maps chunks.
func newChunk(size, mappedBytesMin int) (mem []byte, mapped bool) {
	if size < mappedBytesMin || !chunksMapped {
		return make([]byte, size), false
	}
	return chunkAlloc(size)[:size], true // the mapping may be rounded up to pages
}

// freeChunk returns a chunk from newChunk. A heap chunk is the collector's
// to free once nothing refers to it; when poison is set it is overwritten
// first, so that a version read from it after its release (a use after
// free, which a mapping would fault on) shows as garbage a checker notices.
func freeChunk(mem []byte, mapped, poison bool) {
	if !mapped {
		if poison {
			for i := range mem[:cap(mem)] {
				mem[i] = 0xa5
			}
		}
		return
	}
	mappedHistoryBytes.Add(-int64(cap(mem)))
	chunkFree(mem)
}

// MappedHistoryBytes is the memory every store of the process holds for
// history outside the Go heap: mapped, though the kernel backs only the
// pages written so far. A soft memory limit on the Go heap (GOMEMLIMIT)
// does not count it.
func MappedHistoryBytes() int64 { return mappedHistoryBytes.Load() }

// put copies v into the arena as a version superseded at revision
// supersededAt and returns its reference.
//
// An entry is: uvarint modRev | uvarint supersededAt-modRev | uvarint sub |
// varint createRev | varint ver | varint lease | uvarint keyLen | uvarint
// len(kv) | kv. The revision that superseded it lets a pass read the arena
// front to back and tell, from the entry alone, whether a compaction
// dropped it (histLive) — which a snapshot needs (SnapshotEncoder).
func (a *histArena) put(v *version, supersededAt int64) histRef {
	assert(v.modRev > 0 && v.modRev <= supersededAt, "arena entry superseded before it was written")
	var hdr [8 * binary.MaxVarintLen64]byte
	h := binary.AppendUvarint(hdr[:0], uint64(v.modRev))
	h = binary.AppendUvarint(h, uint64(supersededAt-v.modRev))
	h = binary.AppendUvarint(h, uint64(v.sub))
	h = binary.AppendVarint(h, v.createRev)
	h = binary.AppendVarint(h, v.ver)
	h = binary.AppendVarint(h, v.lease)
	h = binary.AppendUvarint(h, uint64(v.keyLen))
	h = binary.AppendUvarint(h, uint64(len(v.kv)))
	need := len(h) + len(v.kv)
	c := a.tail(need)
	assert(c.used+need <= len(c.mem) && c.used < 1<<32, "arena chunk overflow")
	off := c.used
	copy(c.mem[off:], h)
	copy(c.mem[off+len(h):], v.kv)
	c.used += need
	c.lastRev = max(c.lastRev, supersededAt)
	seq := uint64(len(a.chunks)-1) + a.first
	assert(seq < 1<<32, "arena chunk sequence beyond what a reference addresses")
	return histRef(seq)<<32 | histRef(off)
}

// tail returns the chunk to append need bytes to, opening one if the last
// has no room.
func (a *histArena) tail(need int) *histChunk {
	if n := len(a.chunks); n > 0 {
		if c := &a.chunks[n-1]; c.mem != nil && len(c.mem)-c.used >= need {
			return c
		}
	}
	if n := len(a.chunks); n > 0 {
		a.spillChunk(&a.chunks[n-1]) // full: nothing is appended to it again
	}
	// Chunks grow with what the arena holds, up to chunkBytes: a store
	// with little history (most of the simulator's, a restore's scratch
	// store) keeps it in small heap chunks instead of zeroing heap chunks
	// or mapping and unmapping memory it barely uses (the unmapping alone
	// was 6 % of the simulator's CPU).
	size := max(need, min(a.chunkBytes, max(a.heldBytes, heapChunkBytesMin)))
	assert(size < 1<<32, "arena entry larger than a chunk can address")
	mem, mapped := newChunk(size, cmp.Or(a.mappedBytesMin, chunkMappedBytesMin))
	a.chunks = append(a.chunks, histChunk{mem: mem, mapped: mapped})
	a.heldBytes += cap(mem)
	if mapped {
		mappedHistoryBytes.Add(int64(cap(mem)))
	}
	return &a.chunks[len(a.chunks)-1]
}

// end is the reference just past the arena's last entry: every entry put
// before it is below it (in chunk, then offset order), every entry put
// after it at or above it.
func (a *histArena) end() histRef {
	if len(a.chunks) == 0 {
		return histRef(a.first) << 32
	}
	return histRef(a.first+uint64(len(a.chunks)-1))<<32 | histRef(a.chunks[len(a.chunks)-1].used)
}

// spillChunk moves a full mapped chunk's memory to the spill file, when the
// arena has one (see histspill.go).
func (a *histArena) spillChunk(c *histChunk) {
	if a.spillDir == "" || !spillSupported || c.mem == nil || c.spilled || !c.mapped {
		return
	}
	if a.spill == nil {
		f, err := openSpill(a.spillDir)
		if err != nil {
			a.spillDir = "" // once is enough: the chunks stay in memory
			spillFailures.Add(1)
			return
		}
		a.spill = f
	}
	off, ok := a.spill.spill(c.mem, c.used)
	if !ok {
		spillFailures.Add(1)
		return
	}
	c.spilled, c.spillOff = true, off
	mappedHistoryBytes.Add(-int64(cap(c.mem)))
	spilledHistoryBytes.Add(int64(cap(c.mem)))
}

// dropTouched unmaps the pages of spilled chunks read since its last call
// (they stay in the page cache, and a later read maps them again): a pass
// over the whole history (a snapshot, a hash, a compaction) would otherwise
// leave all of it resident in the member.
func (a *histArena) dropTouched() {
	for i := range a.chunks {
		if c := &a.chunks[i]; c.touched {
			dropPages(c.mem)
			c.touched = false
		}
	}
}

// freeMem returns c's memory (and its spill region), poisoning a heap
// chunk's when poison is set (see freeChunk).
func (a *histArena) freeMem(c *histChunk, poison bool) {
	if !c.spilled {
		freeChunk(c.mem, c.mapped, poison)
		return
	}
	chunkFree(c.mem)
	spilledHistoryBytes.Add(-int64(cap(c.mem)))
	a.spill.release(c.spillOff, cap(c.mem))
	c.spilled = false
}

// entry returns the bytes of the entry at ref, from its start to its chunk's
// end.
func (a *histArena) entry(ref histRef) []byte {
	i := ref.chunk() - a.first
	assert(ref.chunk() >= a.first && i < uint64(len(a.chunks)), "arena reference to a freed chunk")
	c := &a.chunks[i]
	assert(c.mem != nil && int(ref.offset()) < c.used, "arena reference to a freed chunk")
	if c.spilled {
		c.touched = true
	}
	return c.mem[ref.offset():c.used]
}

// modRev is the mod revision of the entry at ref, read without decoding the
// rest.
func (a *histArena) modRev(ref histRef) int64 {
	x, n := binary.Uvarint(a.entry(ref))
	assert(n > 0, "arena entry damaged")
	return int64(x)
}

// view decodes the entry at ref into dst; dst.kv aliases the arena until the
// next Compact.
func (a *histArena) view(ref histRef, dst *version) {
	decodeEntry(a.entry(ref), dst)
}

// decodeEntry decodes the entry at the start of b (see put) into dst, and
// returns the revision that superseded it and the entry's length in bytes.
// dst.kv aliases b.
func decodeEntry(b []byte, dst *version) (supersededAt int64, sizeBytes int) {
	size := len(b)
	next := func() uint64 {
		x, n := binary.Uvarint(b)
		assert(n > 0, "arena entry damaged")
		b = b[n:]
		return x
	}
	nextSigned := func() int64 {
		x, n := binary.Varint(b)
		assert(n > 0, "arena entry damaged")
		b = b[n:]
		return x
	}
	dst.modRev = int64(next())
	supersededAt = dst.modRev + int64(next())
	dst.sub = int32(next())
	dst.createRev = nextSigned()
	dst.ver = nextSigned()
	dst.lease = nextSigned()
	dst.keyLen = int32(next())
	n := next()
	assert(n <= uint64(len(b)) && uint64(dst.keyLen) <= n, "arena entry damaged")
	dst.kv = unsafe.String(unsafe.SliceData(b), int(n))
	return supersededAt, size - len(b) + int(n)
}

// histLive reports whether an entry superseded at supersededAt is still
// part of a store compacted at compactRev: what record.compact keeps. It
// drops every version superseded at or below compactRev, and a tombstone
// below compactRev even when it was superseded later (the key did not
// exist at compactRev); it keeps everything else.
func histLive(v *version, supersededAt, compactRev int64) bool {
	return supersededAt > compactRev && !(v.isTombstone() && v.modRev < compactRev)
}

// release frees every chunk all of whose entries a compaction at compactRev
// dropped.
func (a *histArena) release(compactRev int64) {
	dead := compactRev
	if bugs.On(bugs.MVCCHistoryFreedEarly) {
		dead++ // planted bug (kvdbugs builds only): frees a chunk holding the version visible at compactRev
	}
	for i := range a.chunks {
		c := &a.chunks[i]
		if c.mem != nil && c.lastRev <= dead {
			a.heldBytes -= cap(c.mem)
			a.freeMem(c, true)
			c.mem = nil
		}
	}
	k := 0
	for k < len(a.chunks) && a.chunks[k].mem == nil {
		k++
	}
	if k == len(a.chunks) {
		a.first += uint64(k)
		a.chunks = a.chunks[:0]
		return
	}
	if k > 0 {
		a.first += uint64(k)
		a.chunks = append(a.chunks[:0], a.chunks[k:]...)
	}
}

// free returns every chunk; the arena is empty afterwards.
func (a *histArena) free() {
	for i := range a.chunks {
		if c := &a.chunks[i]; c.mem != nil {
			a.freeMem(c, false) // the store is gone, and every view with it
			c.mem = nil
		}
	}
	if a.spill != nil {
		a.spill.close()
		a.spill, a.spillDir = nil, ""
	}
	a.first += uint64(len(a.chunks))
	a.chunks = nil
	a.heldBytes = 0
}
