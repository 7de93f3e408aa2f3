package mvcc

import (
	"hash/maphash"
	"math"
)

// hashIndex finds a record by its key, next to the tree, which keeps
// records ordered for ranges. Point lookups (every put, delete of one key,
// txn compare and single-key read) were the member loop's largest cost
// after its fsync: a tree search compares about fifteen keys, each behind
// two pointers, and clients pick keys at random.
//
// It is an open-addressing table with linear probing over two parallel
// arrays: the records, and the high 32 bits of each one's key hash (its
// tag). A slot costs 12 bytes, and the table is kept between
// hashLoadMax and two thirds of that full, so a key costs 15-23 bytes of
// index; Go's map from a 64-bit hash to the record cost 33-36 at a million
// keys, and a map keyed by copies of the keys half again as much as the
// records. A lookup compares tags, contiguous in memory, and reads a
// record only when its tag matches. The tag places a record (its home
// slot is tag*len/2^32), so growing and deleting never rehash a key.
//
// Lookups compare whole keys, so they return the same record whatever the
// seed: the seed changes no result, only the slots records sit in.
type hashIndex struct {
	seed maphash.Seed
	// hash is maphash.String with seed; tests swap in one that collides.
	hash func(seed maphash.Seed, key string) uint64
	recs []*record // nil marks an empty slot
	tags []uint32
	n    int // records held
}

// hashLoadMax is the share of slots the table fills before it grows by
// hashGrowth. Linear probing needs room: an absent key's probe runs ~13
// slots at 0.8, where it would run 32 at 0.875.
const (
	hashLoadMax = 0.8
	hashGrowth  = 1.5
	// hashSlotsMin is the smallest table: a store's first keys.
	hashSlotsMin = 16
)

func newHashIndex() hashIndex {
	return hashIndex{seed: maphash.MakeSeed(), hash: maphash.String}
}

func (x *hashIndex) tag(key string) uint32 { return uint32(x.hash(x.seed, key) >> 32) }

// home is the slot a record with tag t is placed from: a multiply-shift
// reduction, which works for any table size, and keeps slot order the
// order of tags.
func (x *hashIndex) home(t uint32) int { return int(uint64(t) * uint64(len(x.recs)) >> 32) }

func (x *hashIndex) next(i int) int {
	if i++; i == len(x.recs) {
		return 0
	}
	return i
}

// get returns key's record, or nil.
func (x *hashIndex) get(key string) *record {
	if x.n == 0 {
		return nil
	}
	t := x.tag(key)
	for i := x.home(t); ; i = x.next(i) {
		r := x.recs[i]
		if r == nil {
			return nil
		}
		if x.tags[i] == t && r.key() == key {
			return r
		}
	}
}

// reserve makes room for n records in an empty index, so that adding them
// does not grow it step by step.
func (x *hashIndex) reserve(n int) {
	assert(x.n == 0, "index reserve on a non-empty index")
	x.resize(slotsFor(n))
}

// slotsFor is the table size that holds n records at hashLoadMax.
func slotsFor(n int) int {
	return max(hashSlotsMin, int(math.Ceil(float64(n)/hashLoadMax))+1)
}

// add indexes rec, whose key the store did not hold.
func (x *hashIndex) add(rec *record) {
	if float64(x.n+1) > hashLoadMax*float64(len(x.recs)) {
		x.resize(max(slotsFor(x.n+1), int(float64(len(x.recs))*hashGrowth)))
	}
	key := rec.key()
	t := x.tag(key)
	i := x.home(t)
	for ; x.recs[i] != nil; i = x.next(i) {
		assert(x.tags[i] != t || x.recs[i].key() != key, "index add of a key already held")
	}
	x.recs[i], x.tags[i] = rec, t
	x.n++
}

// resize moves every record into a table of slots slots. It runs over
// the whole table at once, reading tags only: at a million keys about
// ten milliseconds, once per growth by hashGrowth.
func (x *hashIndex) resize(slots int) {
	assert(slots > x.n && slots <= math.MaxUint32, "index resize out of range")
	recs, tags := x.recs, x.tags
	x.recs, x.tags = make([]*record, slots), make([]uint32, slots)
	for j, r := range recs {
		if r == nil {
			continue
		}
		i := x.home(tags[j])
		for x.recs[i] != nil {
			i = x.next(i)
		}
		x.recs[i], x.tags[i] = r, tags[j]
	}
}

// remove drops rec, which the store holds. The records after it in its
// run move back into the gap when that brings them nearer their home
// (backward-shift deletion), so no tombstones lengthen later probes.
func (x *hashIndex) remove(rec *record) {
	t := x.tag(rec.key())
	i := x.home(t)
	for x.recs[i] != rec {
		assert(x.recs[i] != nil, "index remove of a record it does not hold")
		i = x.next(i)
	}
	for j := x.next(i); x.recs[j] != nil; j = x.next(j) {
		// The record at j stays when its home lies cyclically in (i, j]:
		// moved to i, it would sit before its home.
		h := x.home(x.tags[j])
		if i <= j && i < h && h <= j || i > j && (i < h || h <= j) {
			continue
		}
		x.recs[i], x.tags[i] = x.recs[j], x.tags[j]
		i = j
	}
	x.recs[i], x.tags[i] = nil, 0
	x.n--
}
