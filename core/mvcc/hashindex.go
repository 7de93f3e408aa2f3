package mvcc

import (
	"hash/maphash"
)

// hashIndex finds a record by its key, next to the tree, which keeps
// records ordered for ranges. Point lookups (every put, delete of one key,
// txn compare and single-key read) were the member loop's largest cost
// after its fsync: a tree search compares about fifteen keys, each behind
// two pointers, and clients pick keys at random.
//
// It is extendible hashing over small open-addressing tables. Each table
// probes linearly over two parallel arrays: the records, and the high 32
// bits of each one's key hash (its tag), 12 bytes a slot. A directory
// picks a table by the tag's leading bits; a table that fills splits in
// two by the next bit, so growth moves at most hashTableSlotsMax records
// at a time (growing one flat table of a million keys stalled the member
// for 50-90 ms). Tables are kept between two fifths and four fifths full:
// about 15-30 bytes of index per key, where Go's map from a 64-bit hash
// cost 33-36 at a million keys and a map keyed by copies of the keys half
// again as much as the records. A lookup compares tags, contiguous in
// memory, and reads a record only when its tag matches; the tag places a
// record, so splitting and deleting never rehash a key.
//
// Lookups compare whole keys, so they return the same record whatever the
// seed: the seed changes no result, only the slots records sit in.
type hashIndex struct {
	seed maphash.Seed
	// hash is maphash.String with seed; tests swap in one that collides.
	hash func(seed maphash.Seed, key string) uint64
	// dir has 2^depth entries; entry i is the table of the tags whose
	// leading depth bits are i. A table of local depth d appears in
	// 2^(depth-d) consecutive entries.
	dir   []*hashTable
	depth uint
	n     int // records held
	// tableSlotsMax is hashTableSlotsMax; tests lower it so that a few
	// hundred keys split tables.
	tableSlotsMax int
}

const (
	// hashLoadMax is the share of a table's slots filled before it grows
	// or splits. Linear probing needs room: an absent key's probe runs ~13
	// slots at 0.8, where it would run 32 at 0.875.
	hashLoadMax = 0.8
	// hashTableSlotsMin is a new store's table; tables double up to
	// hashTableSlotsMax and split beyond.
	hashTableSlotsMin = 16
	hashTableSlotsMax = 1024
)

// hashTable is one open-addressing table of the index.
type hashTable struct {
	recs []*record // nil marks an empty slot
	tags []uint32
	n    int
	// shift is the table's local depth: its records' tags share their
	// leading shift bits, and the bits after them place a record.
	shift uint
}

func newHashIndex() hashIndex {
	return hashIndex{
		seed: maphash.MakeSeed(), hash: maphash.String,
		dir: []*hashTable{newHashTable(hashTableSlotsMin, 0)}, tableSlotsMax: hashTableSlotsMax,
	}
}

func newHashTable(slots int, shift uint) *hashTable {
	return &hashTable{recs: make([]*record, slots), tags: make([]uint32, slots), shift: shift}
}

func (x *hashIndex) tag(key string) uint32 { return uint32(x.hash(x.seed, key) >> 32) }

// table is the table holding tag t (Go gives 0 for a shift of 32).
func (x *hashIndex) table(t uint32) *hashTable { return x.dir[t>>(32-x.depth)] }

// home is the slot a record with tag t is placed from: a multiply-shift
// reduction of the bits after the table's shared ones, which works for
// any table size and keeps slot order the order of those bits.
func (ht *hashTable) home(t uint32) int {
	return int(uint64(t<<ht.shift) * uint64(len(ht.recs)) >> 32)
}

func (ht *hashTable) next(i int) int {
	if i++; i == len(ht.recs) {
		return 0
	}
	return i
}

func (ht *hashTable) full() bool { return float64(ht.n+1) > hashLoadMax*float64(len(ht.recs)) }

// get returns key's record, or nil.
func (x *hashIndex) get(key string) *record {
	if x.n == 0 {
		return nil
	}
	t := x.tag(key)
	ht := x.table(t)
	for i := ht.home(t); ; i = ht.next(i) {
		r := ht.recs[i]
		if r == nil {
			return nil
		}
		if ht.tags[i] == t && r.key() == key {
			return r
		}
	}
}

// add indexes rec, whose key the store did not hold.
func (x *hashIndex) add(rec *record) {
	key := rec.key()
	t := x.tag(key)
	ht := x.table(t)
	for ht.full() {
		if len(ht.recs) < x.tableSlotsMax || !ht.splittable() {
			ht.resize(2 * len(ht.recs))
		} else {
			x.split(ht)
		}
		ht = x.table(t)
	}
	i := ht.home(t)
	for ; ht.recs[i] != nil; i = ht.next(i) {
		assert(ht.tags[i] != t || ht.recs[i].key() != key, "index add of a key already held")
	}
	ht.recs[i], ht.tags[i] = rec, t
	ht.n++
	x.n++
}

// splittable reports whether splitting ht by its next tag bit would leave
// records on both sides. Only a hash that collides (a test's) fails it:
// then the table doubles instead, which keeps the directory from doubling
// for nothing.
func (ht *hashTable) splittable() bool {
	if ht.shift >= 32 {
		return false
	}
	seen := [2]bool{}
	for i, r := range ht.recs {
		if r != nil {
			seen[ht.tags[i]>>(31-ht.shift)&1] = true
		}
	}
	return seen[0] && seen[1]
}

// split replaces ht by two tables of its size, one per value of the next
// tag bit, doubling the directory first if ht already uses all its bits.
func (x *hashIndex) split(ht *hashTable) {
	if ht.shift == x.depth {
		dir := make([]*hashTable, 2*len(x.dir))
		for i, t := range x.dir {
			dir[2*i], dir[2*i+1] = t, t
		}
		x.dir, x.depth = dir, x.depth+1
	}
	halves := [2]*hashTable{newHashTable(len(ht.recs), ht.shift+1), newHashTable(len(ht.recs), ht.shift+1)}
	var prefix uint32
	for i, r := range ht.recs {
		if r != nil {
			prefix = ht.tags[i]
			halves[ht.tags[i]>>(31-ht.shift)&1].insert(r, ht.tags[i])
		}
	}
	// ht's entries are the 2^(depth-shift) from its prefix on; the first
	// half of them takes the tags whose next bit is 0.
	span := 1 << (x.depth - ht.shift)
	first := int(prefix>>(32-x.depth)) &^ (span - 1)
	for i := range span {
		x.dir[first+i] = halves[i/(span/2)]
	}
}

// insert places a record known to be absent in a table with room.
func (ht *hashTable) insert(r *record, t uint32) {
	i := ht.home(t)
	for ht.recs[i] != nil {
		i = ht.next(i)
	}
	ht.recs[i], ht.tags[i] = r, t
	ht.n++
}

// resize moves the table's records into slots slots, reading tags only.
func (ht *hashTable) resize(slots int) {
	assert(slots > ht.n, "index table resize below its records")
	recs, tags := ht.recs, ht.tags
	ht.recs, ht.tags, ht.n = make([]*record, slots), make([]uint32, slots), 0
	for j, r := range recs {
		if r != nil {
			ht.insert(r, tags[j])
		}
	}
}

// remove drops rec, which the store holds. The records after it in its
// run move back into the gap when that brings them nearer their home
// (backward-shift deletion), so no tombstones lengthen later probes.
// Tables never shrink, as Go's maps do not.
func (x *hashIndex) remove(rec *record) {
	t := x.tag(rec.key())
	ht := x.table(t)
	i := ht.home(t)
	for ht.recs[i] != rec {
		assert(ht.recs[i] != nil, "index remove of a record it does not hold")
		i = ht.next(i)
	}
	for j := ht.next(i); ht.recs[j] != nil; j = ht.next(j) {
		// The record at j stays when its home lies cyclically in (i, j]:
		// moved to i, it would sit before its home.
		h := ht.home(ht.tags[j])
		if i <= j && i < h && h <= j || i > j && (i < h || h <= j) {
			continue
		}
		ht.recs[i], ht.tags[i] = ht.recs[j], ht.tags[j]
		i = j
	}
	ht.recs[i], ht.tags[i] = nil, 0
	ht.n--
	x.n--
}
