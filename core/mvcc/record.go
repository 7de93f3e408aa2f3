package mvcc

import (
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/kvdlabs/kvd/core/bugs"
)

// version is one stored revision of a key: a put, or a tombstone (ver == 0).
// 56 bytes; protobuf KeyValues are built from it only for responses.
type version struct {
	kv        string // key||value in one allocation; the key is kv[:keyLen]
	modRev    int64
	createRev int64
	ver       int64 // 0 marks a tombstone
	lease     int64
	sub       int32
	keyLen    int32
}

func (v *version) key() string       { return v.kv[:v.keyLen] }
func (v *version) value() string     { return v.kv[v.keyLen:] }
func (v *version) isTombstone() bool { return v.ver == 0 }

// before reports whether v sorts before revision (rev, sub).
func (v *version) before(rev int64, sub int32) bool {
	return v.modRev < rev || (v.modRev == rev && v.sub < sub)
}

// keyValue builds the protobuf form in one allocation for key and value.
func (v *version) keyValue(keysOnly bool) *mvccpb.KeyValue {
	n := len(v.kv)
	if keysOnly {
		n = int(v.keyLen)
	}
	buf := make([]byte, n)
	copy(buf, v.kv)
	kv := &mvccpb.KeyValue{
		Key:            buf[:v.keyLen:v.keyLen],
		CreateRevision: v.createRev,
		ModRevision:    v.modRev,
		Version:        v.ver,
		Lease:          v.lease,
	}
	if !keysOnly {
		kv.Value = buf[v.keyLen:]
	}
	return kv
}

// keyValues is keyValue for many versions in three allocations, the
// structs in one, their bytes in another and the pointers in a third,
// instead of two per version: a range of 100 keys made 200 objects for the
// collector to sweep, and collection was a fifth of what a member spent
// serving it.
func keyValues(vs []*version, keysOnly bool) []*mvccpb.KeyValue {
	n := 0
	for _, v := range vs {
		if keysOnly {
			n += int(v.keyLen)
		} else {
			n += len(v.kv)
		}
	}
	buf := make([]byte, 0, n)
	kvs := make([]mvccpb.KeyValue, len(vs))
	out := make([]*mvccpb.KeyValue, len(vs))
	for i, v := range vs {
		start := len(buf)
		if keysOnly {
			buf = append(buf, v.key()...)
		} else {
			buf = append(buf, v.kv...)
		}
		kv := &kvs[i]
		kv.Key = buf[start : start+int(v.keyLen) : start+int(v.keyLen)]
		if !keysOnly {
			kv.Value = buf[start+int(v.keyLen) : len(buf) : len(buf)]
		}
		kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease = v.createRev, v.modRev, v.ver, v.lease
		out[i] = kv
	}
	return out
}

func joinKeyValue(key, value []byte) string {
	var b strings.Builder
	b.Grow(len(key) + len(value))
	b.Write(key)
	b.Write(value)
	return b.String()
}

// record is everything stored about one key: its latest version inline (most
// keys have no history) and older versions in the store's history arena,
// referenced from an overflow slice.
// Invariant: versions ascend strictly by (modRev, sub); the record is in the
// tree iff it has at least one version (latest is always valid).
//
// Methods that read history take the store's arena. A version they return
// from history is decoded (into a fresh version, or into the caller's tmp
// for viewAt and exact), and its kv aliases the arena: valid until the next
// Compact (see histArena).
type record struct {
	latest version
	older  *[]histRef // ascending; nil when the key has no history
}

func (r *record) key() string { return r.latest.key() }

func (r *record) count() int {
	if r.older == nil {
		return 1
	}
	return len(*r.older) + 1
}

// at returns version i (0 is the oldest); a historical one is allocated.
func (r *record) at(a *histArena, i int) *version {
	if r.older != nil && i < len(*r.older) {
		v := new(version)
		a.view((*r.older)[i], v)
		return v
	}
	assert(i == r.count()-1, "record.at out of range")
	return &r.latest
}

// viewAt is at without the allocation: a historical version is decoded into
// tmp, which the caller reuses.
func (r *record) viewAt(a *histArena, i int, tmp *version) *version {
	if r.older != nil && i < len(*r.older) {
		a.view((*r.older)[i], tmp)
		return tmp
	}
	assert(i == r.count()-1, "record.viewAt out of range")
	return &r.latest
}

// push makes v the latest version, moving the previous one into history.
func (r *record) push(a *histArena, v version) {
	assert(r.latest.before(v.modRev, v.sub), "versions must ascend")
	if r.older == nil {
		r.older = new([]histRef)
	}
	*r.older = append(*r.older, a.put(&r.latest, v.modRev))
	r.latest = v
}

// find returns the version visible at rev (the last one with modRev <= rev),
// or nil. A tombstone is returned as such: the key is deleted at rev.
func (r *record) find(a *histArena, rev int64) *version {
	n := r.countThrough(a, rev)
	if n == 0 {
		return nil
	}
	return r.at(a, n-1)
}

// countThrough is how many of r's versions (they ascend) are at or below
// rev.
func (r *record) countThrough(a *histArena, rev int64) int {
	if r.latest.modRev <= rev {
		return r.count()
	}
	if r.older == nil {
		return 0
	}
	old := *r.older
	lo, hi := 0, len(old) // first index with modRev > rev
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if a.modRev(old[m]) <= rev {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// live returns the live version at rev, or nil when the key does not exist
// then.
func (r *record) live(a *histArena, rev int64) *version {
	v := r.find(a, rev)
	if bugs.On(bugs.MVCCTombstoneIgnored) && v != nil && v.isTombstone() && v != &r.latest {
		// planted bug (kvdbugs builds only): a historical read skips the tombstone to the put before it
		if n := r.countThrough(a, rev); n >= 2 {
			v = r.at(a, n-2)
		}
	}
	if v == nil || v.isTombstone() {
		return nil
	}
	return v
}

// keptAt returns the version written at main revision rev when it is still
// stored: what compaction at rev left of the key's change there (its last
// one in that revision, a tombstone too).
func (r *record) keptAt(a *histArena, rev int64) *version {
	if r.latest.ver == removedVer {
		return nil
	}
	v := r.find(a, rev)
	if v == nil || v.modRev != rev {
		return nil
	}
	return v
}

// exact returns the version written at (rev, sub); it must exist. A
// historical one is decoded into tmp, which the caller reuses (see viewAt).
// The search reads mod revisions alone (one varint per probe), then steps
// through the versions of revision rev: a txn writes a key few times.
func (r *record) exact(a *histArena, rev int64, sub int32, tmp *version) *version {
	for i, n := r.countThrough(a, rev-1), r.count(); i < n; i++ {
		v := r.viewAt(a, i, tmp)
		if v.modRev != rev {
			break
		}
		if v.sub == sub {
			return v
		}
	}
	panic(fmt.Sprintf("mvcc: key %q has no version at %d.%d", r.key(), rev, sub))
}

// sameVersion reports whether v and w are the same stored version of one
// key (or both nil): a key has one version per (revision, sub-revision).
func sameVersion(v, w *version) bool {
	if v == nil || w == nil {
		return v == w
	}
	return v.modRev == w.modRev && v.sub == w.sub
}

// compact drops what no read at or above rev can see: everything older than
// the version visible at rev, and that version too when it is a tombstone
// below rev. A tombstone at rev itself stays, as etcd (3.5.16 on) keeps it:
// a watcher starting at the compaction revision is owed that delete. It
// reports whether the record is now empty and must leave the tree.
func (r *record) compact(a *histArena, rev int64) (empty bool) {
	n := r.count()
	keep := r.countThrough(a, rev) - 1 // index of the version visible at rev
	if keep < 0 {
		return false
	}
	var tmp version
	v := r.viewAt(a, keep, &tmp)
	drop := v.isTombstone() && v.modRev < rev
	if bugs.On(bugs.MVCCCompactDropsLatest) {
		drop = true // planted bug (kvdbugs builds only): drops the version visible at rev too, as if older than rev
	}
	if drop {
		keep++
	}
	if keep == n {
		return true
	}
	if keep == n-1 {
		r.older = nil
		return false
	}
	if keep > 0 {
		rest := make([]histRef, n-1-keep)
		copy(rest, (*r.older)[keep:])
		*r.older = rest
	}
	return false
}

func assert(ok bool, what string) {
	if !ok {
		panic("mvcc: invariant violated: " + what)
	}
}
