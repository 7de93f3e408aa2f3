package mvcc

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Events returns the change events with mod revision >= fromRev on
// [key, end) (end as in RangeRequest: empty = key alone, "\x00" = every key
// >= key), in (revision, sub-revision) order. It returns whole main
// revisions only and stops after the revision in which eventsMax is reached
// or exceeded; eventsMax <= 0 means no limit. nextRev is the revision to pass
// next time: the last returned revision + 1, or max(fromRev, Rev()+1) when
// everything was returned. fromRev below CompactRev() (or below 1) fails with
// ErrGRPCCompacted. PrevKv is the key's kv at revision-1 when it was live
// then (always still stored, since reads above the compaction work).
//
// From CompactRev() itself, as in etcd, the events are what compaction kept
// of that revision: each key's last change there, puts and deletes alike,
// without PrevKv (older versions are gone).
func (s *Store) Events(key, end []byte, fromRev int64, eventsMax int) (events []*mvccpb.Event, nextRev int64, err error) {
	if fromRev < max(s.compactRev, 1) {
		return nil, 0, rpctypes.ErrGRPCCompacted
	}
	defer s.hist.dropTouched() // a catch-up may read much of the history
	match := keyMatcher(key, end)
	i := s.log.search(fromRev)
	var sub int32
	var cur int64 = -1
	var tmp version
	if fromRev == s.compactRev {
		// In (revision, sub-revision) order, as etcd reads its backend.
		i = s.eachKeptAtCompaction(i, match, func(_ *record, v *version) { events = append(events, newEvent(v, nil)) })
		cur = fromRev
	}
	for ; i < s.log.len(); i++ {
		e := s.log.at(i)
		if e.rev != cur {
			if eventsMax > 0 && len(events) >= eventsMax {
				return events, cur + 1, nil
			}
			cur, sub = e.rev, 0
		} else {
			sub++
		}
		if !match(e.rec.key()) {
			continue
		}
		events = append(events, newEvent(e.rec.exact(s.hist, e.rev, sub, &tmp), e.rec.live(s.hist, e.rev-1)))
	}
	return events, max(fromRev, s.rev+1), nil
}

// keyMatcher returns the membership test of [key, end) with etcd's end
// semantics.
func keyMatcher(key, end []byte) func(k string) bool {
	k0 := string(key)
	switch {
	case len(end) == 0:
		return func(k string) bool { return k == k0 }
	case len(end) == 1 && end[0] == 0:
		return func(k string) bool { return k >= k0 }
	}
	e := string(end)
	return func(k string) bool { return k >= k0 && k < e }
}

// HashKV is etcd's HashKV of the store at rev (rev 0 = current): CRC-32C
// over the bucket name "key" and then, for every stored version with mod
// revision <= rev in (revision, sub-revision) order, the key etcd's backend
// stores it under (8-byte big-endian main revision, '_', 8-byte sub, and 't'
// for a tombstone) and its value (the mvccpb.KeyValue, only the key for a
// tombstone). Hashed are every version above the compaction revision, and
// of those compaction kept at or below it the ones still their key's
// version at rev (not tombstones), as etcd's hash of its backend. So a kvd
// member and an etcd member with the same history answer the same hash.
// (etcd answers a past compaction revision from a hash it stored while
// compacting, until it restarts; kvd computes it as for any revision.)
// rev below the compaction revision fails with ErrGRPCCompacted, above the
// current one with ErrGRPCFutureRev.
func (s *Store) HashKV(rev int64) (hash uint32, hashRev int64, compactRev int64, err error) {
	if rev <= 0 {
		rev = s.rev
	}
	if rev > s.rev {
		return 0, 0, 0, rpctypes.ErrGRPCFutureRev
	}
	if rev < s.compactRev {
		return 0, 0, 0, rpctypes.ErrGRPCCompacted
	}
	defer s.hist.dropTouched()
	hash = crc32.Update(0, castagnoli, []byte("key"))
	var buf []byte
	// A version at or below the compaction revision counts only while it
	// is its key's version at rev and not a tombstone: what a compaction
	// at rev would keep (etcd's kvindex Keep).
	write := func(rec *record, v *version) {
		if v.modRev > rev || (v.modRev <= s.compactRev && (v.isTombstone() || !sameVersion(rec.find(s.hist, rev), v))) {
			return
		}
		buf = binary.BigEndian.AppendUint64(buf[:0], uint64(v.modRev))
		buf = append(buf, '_')
		buf = binary.BigEndian.AppendUint64(buf, uint64(v.sub))
		kv := &mvccpb.KeyValue{Key: []byte(v.key())}
		if v.isTombstone() {
			buf = append(buf, 't')
		} else {
			kv = v.keyValue(false)
		}
		var err error
		if buf, err = (proto.MarshalOptions{Deterministic: true}).MarshalAppend(buf, kv); err != nil {
			panic(fmt.Sprintf("mvcc: marshal %q at %d: %v", v.key(), v.modRev, err))
		}
		hash = crc32.Update(hash, castagnoli, buf)
	}
	// The versions below the compaction revision are no longer in the log:
	// compaction left at most one per key, found in the tree.
	var kept []recVersion
	if s.compactRev > 0 {
		s.tree.Scan(func(rec *record) bool {
			if rec.latest.ver != removedVer {
				if v := rec.find(s.hist, s.compactRev-1); v != nil {
					kept = append(kept, recVersion{rec, v})
				}
			}
			return true
		})
		slices.SortFunc(kept, compareRecVersions)
	}
	for _, k := range kept {
		write(k.rec, k.v)
	}
	i := s.log.search(max(s.compactRev, 1))
	if s.compactRev > 0 {
		i = s.eachKeptAtCompaction(i, func(string) bool { return true }, write)
	}
	var sub int32
	var cur int64 = -1
	var tmp version
	for n := s.log.search(rev + 1); i < n; i++ {
		e := s.log.at(i)
		if e.rev != cur {
			cur, sub = e.rev, 0
		} else {
			sub++
		}
		write(e.rec, e.rec.exact(s.hist, e.rev, sub, &tmp))
	}
	return hash, rev, s.compactRev, nil
}

// eachKeptAtCompaction calls fn, in sub-revision order, for what compaction
// kept of the compaction revision's changes to keys match accepts: one
// version per key, however often the revision changed it (a live log still
// lists every change there, a restored one only the kept). i is the log
// index of the revision's first entry; it returns the index after its last.
func (s *Store) eachKeptAtCompaction(i int, match func(string) bool, fn func(rec *record, v *version)) int {
	var kept []recVersion
	for ; i < s.log.len() && s.log.at(i).rev == s.compactRev; i++ {
		e := s.log.at(i)
		if !match(e.rec.key()) {
			continue
		}
		if v := e.rec.keptAt(s.hist, e.rev); v != nil && !slices.ContainsFunc(kept, func(k recVersion) bool { return k.rec == e.rec && sameVersion(k.v, v) }) {
			kept = append(kept, recVersion{e.rec, v})
		}
	}
	slices.SortFunc(kept, compareRecVersions)
	for _, k := range kept {
		fn(k.rec, k.v)
	}
	return i
}

// recVersion is a stored version with its record.
type recVersion struct {
	rec *record
	v   *version
}

// compareRecVersions orders versions by (revision, sub-revision), as etcd's
// backend keys them.
func compareRecVersions(a, b recVersion) int {
	if c := cmp.Compare(a.v.modRev, b.v.modRev); c != 0 {
		return c
	}
	return cmp.Compare(a.v.sub, b.v.sub)
}
