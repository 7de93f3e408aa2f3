package mvcc

import "hash/maphash"

// hashIndex finds a record by a 64-bit hash of its key, next to the tree,
// which keeps records ordered for ranges. Point lookups (every put, delete
// of one key, txn compare and single-key read) were the member loop's
// largest cost after its fsync: a tree search compares about fifteen keys,
// each behind two pointers, and clients pick keys at random.
//
// It stores hashes, not keys: a map keyed by copies of the keys took half
// again as much memory as the records at a million keys. A hash two keys
// share is marked collided and sends lookups to the tree; the mark stays
// when they go, which costs only speed. Lookups return the same record
// whatever the seed, so the seed changes no result.
type hashIndex struct {
	seed maphash.Seed
	// hash is maphash.String with seed; tests swap in one that collides.
	hash func(seed maphash.Seed, key string) uint64
	m    map[uint64]*record
}

// collided marks a hash that more than one key has had.
var collided = &record{}

func newHashIndex() hashIndex {
	return hashIndex{seed: maphash.MakeSeed(), hash: maphash.String, m: make(map[uint64]*record)}
}

// get returns key's record, or nil; ask reports that only the tree knows.
func (x *hashIndex) get(key string) (rec *record, ask bool) {
	r, ok := x.m[x.hash(x.seed, key)]
	switch {
	case !ok:
		return nil, false
	case r == collided:
		return nil, true
	case r.key() == key:
		return r, false
	default:
		return nil, false // another key has this hash; key itself is not held
	}
}

// reserve makes room for n records in an empty index, so that adding them
// does not grow it step by step.
func (x *hashIndex) reserve(n int) {
	assert(len(x.m) == 0, "index reserve on a non-empty index")
	x.m = make(map[uint64]*record, n)
}

// add indexes rec, whose key the store did not hold.
func (x *hashIndex) add(rec *record) {
	h := x.hash(x.seed, rec.key())
	if r, ok := x.m[h]; ok {
		assert(r == collided || r.key() != rec.key(), "index add of a key already held")
		x.m[h] = collided
		return
	}
	x.m[h] = rec
}

// remove drops rec, which the store holds.
func (x *hashIndex) remove(rec *record) {
	h := x.hash(x.seed, rec.key())
	r := x.m[h]
	assert(r == rec || r == collided, "index remove of a record it does not hold")
	if r == rec {
		delete(x.m, h)
	}
}
