package mvcc

import (
	"cmp"
	"encoding/binary"
	"hash/crc32"
	"slices"
	"unsafe"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
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
	match := keyMatcher(key, end)
	i := s.log.search(fromRev)
	var sub int32
	var cur int64 = -1
	if fromRev == s.compactRev {
		// What compaction kept of its revision: one version per key,
		// however often the revision changed it, in (revision,
		// sub-revision) order as etcd reads its backend.
		var kept []*version
		for ; i < s.log.len() && s.log.at(i).rev == fromRev; i++ {
			e := s.log.at(i)
			if !match(e.rec.key()) {
				continue
			}
			if v := e.rec.keptAt(e.rev); v != nil && !slices.Contains(kept, v) {
				kept = append(kept, v)
			}
		}
		slices.SortFunc(kept, func(a, b *version) int { return cmp.Compare(a.sub, b.sub) })
		for _, v := range kept {
			events = append(events, newEvent(v, nil))
		}
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
		events = append(events, newEvent(e.rec.exact(e.rev, sub), e.rec.live(e.rev-1)))
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

// HashKV hashes every stored version with compactRev < mod revision <= rev
// (rev 0 = current) in (revision, sub-revision) order: CRC-32C over, per
// version, little-endian key length, key, mod revision, sub-revision, create
// revision, version, lease, value length, value. Two stores with the same
// history and compaction revision give the same hash. rev below the
// compaction revision fails with ErrGRPCCompacted, above the current one with
// ErrGRPCFutureRev.
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
	var buf []byte
	var sub int32
	var cur int64 = -1
	n := s.log.search(rev + 1)
	// The log also holds the compaction revision's own changes (for
	// watchers starting there); the hash covers only what is above it.
	for i := s.log.search(s.compactRev + 1); i < n; i++ {
		e := s.log.at(i)
		if e.rev != cur {
			cur, sub = e.rev, 0
		} else {
			sub++
		}
		v := e.rec.exact(e.rev, sub)
		buf = buf[:0]
		buf = binary.LittleEndian.AppendUint32(buf, uint32(v.keyLen))
		buf = append(buf, v.key()...)
		buf = binary.LittleEndian.AppendUint64(buf, uint64(v.modRev))
		buf = binary.LittleEndian.AppendUint32(buf, uint32(v.sub))
		buf = binary.LittleEndian.AppendUint64(buf, uint64(v.createRev))
		buf = binary.LittleEndian.AppendUint64(buf, uint64(v.ver))
		buf = binary.LittleEndian.AppendUint64(buf, uint64(v.lease))
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(v.kv)-int(v.keyLen)))
		hash = crc32.Update(hash, castagnoli, buf)
		if val := v.value(); len(val) > 0 {
			hash = crc32.Update(hash, castagnoli, unsafe.Slice(unsafe.StringData(val), len(val)))
		}
	}
	return hash, rev, s.compactRev, nil
}
