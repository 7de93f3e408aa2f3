package mvcc

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"strings"
)

// KeyVersion is one stored version of a key, in the terms of etcd's
// backend, where each is one entry of the "key" bucket under its (main,
// sub) revision: a put, or a tombstone (Version 0, only Key and
// ModRevision set). Key and Value share the store's immutable strings, so
// a KeyVersion may leave the goroutine that drives the store.
type KeyVersion struct {
	Key, Value     string
	CreateRevision int64
	ModRevision    int64
	// SubRevision is the change's position within its main revision.
	SubRevision int64
	// Version is the key's version in its generation: 1 for the put that
	// created it; 0 marks a tombstone.
	Version int64
	Lease   int64
}

// Tombstone reports whether v records a delete.
func (v KeyVersion) Tombstone() bool { return v.Version == 0 }

// HistoryReader reads every version the store keeps at or below the
// revision it was opened at — the whole history a backup holds — a
// bounded step at a time, while the store takes writes between steps. It
// shares SnapshotEncoder's rules: versions above its revision are skipped,
// and once a compaction may have dropped what it still had to read, every
// step fails with ErrSnapshotStale.
type HistoryReader struct {
	e *SnapshotEncoder
}

// NewHistoryReader opens a reader at the store's current revision. It must
// not be called inside a write txn.
func (s *Store) NewHistoryReader() *HistoryReader {
	return &HistoryReader{e: s.NewSnapshotEncoder()}
}

// Rev is the revision the reader reads the store at.
func (r *HistoryReader) Rev() int64 { return r.e.rev }

// CompactRev is the store's compaction revision when the reader was opened.
func (r *HistoryReader) CompactRev() int64 { return r.e.compactRev }

// Next appends to dst the versions of about budgetBytes of keys and values
// (at least one key's), in key order and, per key, in revision order, and
// reports whether every key has been read.
func (r *HistoryReader) Next(dst []KeyVersion, budgetBytes int) (_ []KeyVersion, done bool, err error) {
	if r.e.done {
		return dst, true, nil
	}
	if err := r.e.check(); err != nil {
		return dst, false, err
	}
	stepBytes := 0
	finished := r.e.scan(func(rec *record, n int) bool {
		var tmp version
		for i := range n {
			v := rec.viewAt(r.e.s.hist, i, &tmp)
			kv := strings.Clone(v.kv) // the caller keeps it past the next Compact, which frees history
			dst = append(dst, KeyVersion{
				Key: kv[:v.keyLen], Value: kv[v.keyLen:],
				CreateRevision: v.createRev, ModRevision: v.modRev, SubRevision: int64(v.sub),
				Version: v.ver, Lease: v.lease,
			})
			stepBytes += len(v.kv)
		}
		return stepBytes < budgetBytes
	})
	r.e.done = finished
	return dst, finished, nil
}

// BuildSnapshot encodes versions — a key-value history read from elsewhere,
// such as etcd's backend, in any order — as Snapshot bytes of a store at
// revision rev compacted at compactRev, for Restore. Versions that a
// compaction at compactRev drops are dropped here too, as etcd does when
// it finishes a compaction that was scheduled but not done when its
// backend was copied. Restore checks everything else; BuildSnapshot fails
// only on what it cannot encode: an empty key, a sub-revision beyond 32
// bits, or two versions at one revision of a key.
func BuildSnapshot(rev, compactRev int64, versions []KeyVersion) ([]byte, error) {
	sorted := slices.Clone(versions)
	slices.SortFunc(sorted, func(a, b KeyVersion) int {
		return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.ModRevision, b.ModRevision), cmp.Compare(a.SubRevision, b.SubRevision))
	})
	// The records live only until they are encoded: their history goes in
	// an arena of their own.
	hist := &histArena{chunkBytes: HistoryChunkBytesDefault}
	defer hist.free()
	var recs []*record
	for i, kv := range sorted {
		if kv.Key == "" || len(kv.Key) >= 1<<31 {
			return nil, fmt.Errorf("mvcc: build snapshot: version %d of %d has a key of %d bytes", i, len(sorted), len(kv.Key))
		}
		if kv.SubRevision < 0 || kv.SubRevision > math.MaxInt32 {
			return nil, fmt.Errorf("mvcc: build snapshot: key %q at revision %d: sub-revision %d out of range", kv.Key, kv.ModRevision, kv.SubRevision)
		}
		v := version{
			kv: kv.Key + kv.Value, modRev: kv.ModRevision, createRev: kv.CreateRevision,
			ver: kv.Version, lease: kv.Lease, sub: int32(kv.SubRevision), keyLen: int32(len(kv.Key)),
		}
		if n := len(recs); n > 0 && recs[n-1].key() == kv.Key {
			rec := recs[n-1]
			if !rec.latest.before(v.modRev, v.sub) {
				return nil, fmt.Errorf("mvcc: build snapshot: key %q has two versions at revision %d.%d", kv.Key, v.modRev, v.sub)
			}
			rec.push(hist, v)
			continue
		}
		recs = append(recs, &record{latest: v})
	}
	if compactRev > 0 {
		recs = slices.DeleteFunc(recs, func(rec *record) bool { return rec.compact(hist, compactRev) })
	}
	// History goes in the order a store that made these changes would
	// hold it: by the revision, then sub-revision, that superseded each
	// version.
	type superseded struct {
		ref histRef
		rev int64
		sub int32
	}
	var history []superseded
	for _, rec := range recs {
		if rec.older == nil {
			continue
		}
		var next version
		for i, ref := range *rec.older {
			succ := &rec.latest
			if i+1 < len(*rec.older) {
				hist.view((*rec.older)[i+1], &next)
				succ = &next
			}
			history = append(history, superseded{ref: ref, rev: succ.modRev, sub: succ.sub})
		}
	}
	slices.SortFunc(history, func(a, b superseded) int {
		return cmp.Or(cmp.Compare(a.rev, b.rev), cmp.Compare(a.sub, b.sub))
	})
	b := []byte(snapshotMagic)
	b = binary.LittleEndian.AppendUint32(b, snapshotVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(rev))
	b = binary.LittleEndian.AppendUint64(b, uint64(compactRev))
	b = binary.AppendUvarint(b, uint64(len(recs)))
	for _, rec := range recs {
		b = appendSnapshotRecord(b, &rec.latest)
	}
	b = binary.AppendUvarint(b, uint64(len(history)))
	var v version
	for _, h := range history {
		hist.view(h.ref, &v)
		b = appendSnapshotHistory(b, &v, h.rev)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}
