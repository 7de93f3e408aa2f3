package mvcc

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/bits"
	"slices"
	"unsafe"
)

// Snapshot format, version 2 (all integers little-endian or varint):
//
//	magic "KVDMVCC\n" | u32 format version | i64 rev | i64 compactRev |
//	uvarint record count | records in key order |
//	uvarint history count | history entries in the order they were superseded |
//	u32 CRC-32C of all before
//
// record: uvarint key length | key | version — the key's version at rev
// history entry: uvarint key length | key | uvarint supersededAt-modRev |
// version — an older version of a key that has a record, and the revision
// of the version that superseded it
// version: varint modRev | uvarint sub | varint createRev | varint version |
// varint lease | uvarint value length | value
//
// History comes in the order the store's arena holds it, which is the order
// the versions were superseded in (by revision, then sub-revision), so that
// a snapshot reads the arena front to back (SnapshotEncoder). A store
// replaying the same changes holds the same arena, so the same history
// gives the same bytes; Restore puts history back in the order it reads it.
//
// Version 1, which Restore still reads, had the history inside each record:
// record: uvarint key length | key | uvarint version count | versions
// (ascending), and no history section.
//
// The log is not stored: it is every version above compactRev, rebuilt in
// (revision, sub-revision) order on Restore.
const (
	snapshotMagic     = "KVDMVCC\n"
	snapshotVersion   = 2
	snapshotVersionV1 = 1
	snapshotHeader    = len(snapshotMagic) + 4 + 8 + 8
	crcSizeBytes      = 4
)

// Snapshot returns the store's state as deterministic bytes: the same
// history gives the same bytes. They end with a CRC-32C of everything
// before.
func (s *Store) Snapshot() []byte {
	return s.AppendSnapshot(nil)
}

// AppendSnapshot appends Snapshot's bytes to b, so a caller framing the
// snapshot inside a larger record need not copy it (at a million keys the
// snapshot is over 100 MB, and each copy stalls the member).
func (s *Store) AppendSnapshot(b []byte) []byte {
	e := s.NewSnapshotEncoder()
	e.Measure(math.MaxInt)
	b = slices.Grow(b, e.SizeBytes())
	b, done, err := e.Encode(b, math.MaxInt)
	assert(done && err == nil, "an unbounded encode step finishes")
	return b
}

// SnapshotSizeBytes is the exact length of Snapshot's output.
func (s *Store) SnapshotSizeBytes() int {
	e := s.NewSnapshotEncoder()
	e.Measure(math.MaxInt)
	return e.SizeBytes()
}

// appendSnapshotRecord encodes a record: v's key, then v.
func appendSnapshotRecord(buf []byte, v *version) []byte {
	key := v.key()
	buf = binary.AppendUvarint(buf, uint64(len(key)))
	buf = append(buf, key...)
	return appendSnapshotVersion(buf, v)
}

// appendSnapshotHistory encodes a history entry: v's key, the revision
// that superseded v, then v.
func appendSnapshotHistory(buf []byte, v *version, supersededAt int64) []byte {
	key := v.key()
	buf = binary.AppendUvarint(buf, uint64(len(key)))
	buf = append(buf, key...)
	buf = binary.AppendUvarint(buf, uint64(supersededAt-v.modRev))
	return appendSnapshotVersion(buf, v)
}

func appendSnapshotVersion(buf []byte, v *version) []byte {
	buf = binary.AppendVarint(buf, v.modRev)
	buf = binary.AppendUvarint(buf, uint64(v.sub))
	buf = binary.AppendVarint(buf, v.createRev)
	buf = binary.AppendVarint(buf, v.ver)
	buf = binary.AppendVarint(buf, v.lease)
	val := v.value()
	buf = binary.AppendUvarint(buf, uint64(len(val)))
	return append(buf, val...)
}

// snapshotRecordSizeBytes is the length of appendSnapshotRecord's output.
func snapshotRecordSizeBytes(v *version) int {
	return uvarintSizeBytes(uint64(v.keyLen)) + int(v.keyLen) + snapshotVersionSizeBytes(v)
}

// snapshotHistorySizeBytes is the length of appendSnapshotHistory's output.
func snapshotHistorySizeBytes(v *version, supersededAt int64) int {
	return snapshotRecordSizeBytes(v) + uvarintSizeBytes(uint64(supersededAt-v.modRev))
}

func snapshotVersionSizeBytes(v *version) int {
	n := len(v.kv) - int(v.keyLen)
	return varintSizeBytes(v.modRev) + uvarintSizeBytes(uint64(v.sub)) + varintSizeBytes(v.createRev) +
		varintSizeBytes(v.ver) + varintSizeBytes(v.lease) + uvarintSizeBytes(uint64(n)) + n
}

func uvarintSizeBytes(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

func varintSizeBytes(x int64) int { return uvarintSizeBytes(uint64(x<<1) ^ uint64(x>>63)) }

// ErrSnapshotCorrupt is wrapped by every error Restore returns for bad input.
var ErrSnapshotCorrupt = errors.New("mvcc: corrupt snapshot")

// Restore rebuilds a store from Snapshot bytes. Damaged, truncated or
// foreign input fails with an error wrapping ErrSnapshotCorrupt; it never
// panics and never yields a store that breaks an invariant. Restore does not
// call opts.Lessor: the lessor restores its own attachments.
func Restore(data []byte, opts Options) (*Store, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("mvcc: restore: %w", err)
	}
	if len(data) < snapshotHeader+1+crcSizeBytes {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the smallest snapshot", ErrSnapshotCorrupt, len(data))
	}
	if string(data[:len(snapshotMagic)]) != snapshotMagic {
		return nil, fmt.Errorf("%w: bad magic %q", ErrSnapshotCorrupt, data[:len(snapshotMagic)])
	}
	body := data[:len(data)-crcSizeBytes]
	want := binary.LittleEndian.Uint32(data[len(body):])
	if got := crc32.Checksum(body, castagnoli); got != want {
		return nil, fmt.Errorf("%w: checksum %08x, stored %08x", ErrSnapshotCorrupt, got, want)
	}
	d := decoder{buf: body[len(snapshotMagic):]}
	format := d.u32()
	if format != snapshotVersion && format != snapshotVersionV1 {
		return nil, fmt.Errorf("%w: format version %d, want %d (or %d)", ErrSnapshotCorrupt, format, snapshotVersion, snapshotVersionV1)
	}
	s := newStore(opts)
	s.rev = int64(d.u64())
	s.compactRev = int64(d.u64())
	if s.rev < 1 || s.compactRev < 0 || s.compactRev > s.rev {
		return nil, fmt.Errorf("%w: revision %d, compaction revision %d", ErrSnapshotCorrupt, s.rev, s.compactRev)
	}
	nrec := d.uvarint()
	if nrec > uint64(len(d.buf)) { // a record takes at least one byte
		return nil, fmt.Errorf("%w: %d records in %d bytes", ErrSnapshotCorrupt, nrec, len(d.buf))
	}
	// Sizing the log for the records up front saves growing it a record at
	// a time. nrec is trusted only as far as the bytes left could hold
	// records. The index needs no sizing: it grows a table of at most
	// 1,024 slots at a time, where rehashing Go's map as it grew had been
	// two fifths of a restart's Restore at a million keys.
	sizeHint := int(min(nrec, uint64(len(d.buf))/restoreRecordBytesMin))
	entries := make([]restoredEntry, 0, sizeHint)
	var err error
	if format == snapshotVersionV1 {
		entries, err = s.restoreRecordsV1(&d, nrec, entries)
	} else {
		entries, err = s.restoreRecords(&d, nrec, entries)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSnapshotCorrupt, err)
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSnapshotCorrupt, d.err)
	}
	if len(d.buf) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrSnapshotCorrupt, len(d.buf))
	}
	if err := s.restoreLog(entries); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSnapshotCorrupt, err)
	}
	return s, nil
}

// restoreRecords reads version 2's records and history into s, and
// appends to entries the versions the log holds.
func (s *Store) restoreRecords(d *decoder, nrec uint64, entries []restoredEntry) ([]restoredEntry, error) {
	// A record's version is checked as a key's only one when it is read;
	// one that cannot be (a tombstone, or a version above the compaction
	// that is not a key's first) must get history, and is checked against
	// it once all history is read.
	var needHistory, withHistory []*record
	var prevKey string
	for i := range nrec {
		key := d.key()
		v := d.version(key, nil)
		if d.err != nil {
			return entries, fmt.Errorf("record %d: %w", i, d.err)
		}
		if i > 0 && v.key() <= prevKey {
			return entries, fmt.Errorf("record %d: key %q not after %q", i, v.key(), prevKey)
		}
		prevKey = v.key()
		rec := &record{latest: v}
		if checkVersion(&rec.latest, nil, true, s.rev, s.compactRev) != nil {
			needHistory = append(needHistory, rec)
		}
		s.tree.Load(rec)
		s.byKey.add(rec)
		if !rec.latest.isTombstone() {
			s.liveKeys++
		}
		if s.inRestoredLog(&rec.latest) {
			entries = append(entries, restoredEntry{rec: rec, rev: v.modRev, sub: v.sub})
		}
	}
	nhist := d.uvarint()
	if nhist > uint64(len(d.buf)) {
		return entries, fmt.Errorf("%d history entries in %d bytes", nhist, len(d.buf))
	}
	var scratch []byte
	var prev version
	for i := range nhist {
		key := d.key()
		delta := d.uvarint()
		v := d.version(key, &scratch)
		if d.err != nil {
			return entries, fmt.Errorf("history entry %d: %w", i, d.err)
		}
		rec := s.byKey.get(v.key())
		if rec == nil {
			return entries, fmt.Errorf("history entry %d: key %q has no record", i, v.key())
		}
		if delta > uint64(s.rev) || v.modRev+int64(delta) > s.rev {
			return entries, fmt.Errorf("history entry %d: key %q at %d superseded %d revisions later, past revision %d", i, v.key(), v.modRev, delta, s.rev)
		}
		supersededAt := v.modRev + int64(delta)
		var prevP *version
		if rec.older != nil {
			prevAt, _ := decodeEntry(s.hist.entry((*rec.older)[len(*rec.older)-1]), &prev)
			if prevAt != v.modRev {
				return entries, fmt.Errorf("history entry %d: key %q: version at %d follows one superseded at %d", i, v.key(), v.modRev, prevAt)
			}
			prevP = &prev
		} else {
			withHistory = append(withHistory, rec)
			rec.older = new([]histRef)
		}
		if err := checkVersion(&v, prevP, prevP == nil, s.rev, s.compactRev); err != nil {
			return entries, fmt.Errorf("history entry %d: key %q: %w", i, v.key(), err)
		}
		*rec.older = append(*rec.older, s.hist.put(&v, supersededAt))
		if s.inRestoredLog(&v) {
			entries = append(entries, restoredEntry{rec: rec, rev: v.modRev, sub: v.sub})
		}
	}
	for _, rec := range withHistory {
		last := (*rec.older)[len(*rec.older)-1]
		lastAt, _ := decodeEntry(s.hist.entry(last), &prev)
		if lastAt != rec.latest.modRev {
			return entries, fmt.Errorf("key %q: version at %d follows one superseded at %d", rec.key(), rec.latest.modRev, lastAt)
		}
		if err := checkVersion(&rec.latest, &prev, false, s.rev, s.compactRev); err != nil {
			return entries, fmt.Errorf("key %q: %w", rec.key(), err)
		}
	}
	for _, rec := range needHistory {
		if rec.older == nil {
			return entries, fmt.Errorf("key %q: %w", rec.key(), checkVersion(&rec.latest, nil, true, s.rev, s.compactRev))
		}
	}
	// Checking each entry against the one before it read the arena out of
	// order; what spilled of it need not stay mapped.
	s.hist.dropTouched()
	return entries, nil
}

// inRestoredLog reports whether a restored version belongs in the log:
// every version above the compaction revision, and the compaction
// revision's own changes (the log keeps them, see Compact).
func (s *Store) inRestoredLog(v *version) bool {
	return v.modRev > s.compactRev || (v.modRev == s.compactRev && s.compactRev > 0)
}

// restoreRecordsV1 reads version 1's records, each with its history, into
// s, and appends to entries the versions the log holds.
func (s *Store) restoreRecordsV1(d *decoder, nrec uint64, entries []restoredEntry) ([]restoredEntry, error) {
	var prevKey string
	for i := range nrec {
		rec, err := d.record(s.hist, s.rev, s.compactRev)
		if err != nil {
			return entries, fmt.Errorf("record %d: %w", i, err)
		}
		if i > 0 && rec.key() <= prevKey {
			return entries, fmt.Errorf("record %d: key %q not after %q", i, rec.key(), prevKey)
		}
		prevKey = rec.key()
		s.tree.Load(rec)
		s.byKey.add(rec)
		if !rec.latest.isTombstone() {
			s.liveKeys++
		}
		var tmp version
		for j := range rec.count() {
			if v := rec.viewAt(s.hist, j, &tmp); s.inRestoredLog(v) {
				entries = append(entries, restoredEntry{rec: rec, rev: v.modRev, sub: v.sub})
			}
		}
	}
	return entries, nil
}

// restoreRecordBytesMin is what Restore assumes a record takes at least
// when it sizes its tables: a key byte, its length, and a version's fields.
const restoreRecordBytesMin = 8

type restoredEntry struct {
	rec *record
	rev int64
	sub int32
}

// restoreLog rebuilds the log and checks that it is whole: every revision
// in (max(compactRev, 1), rev] has changes with sub-revisions 0, 1, 2, ...
func (s *Store) restoreLog(entries []restoredEntry) error {
	slices.SortFunc(entries, func(a, b restoredEntry) int {
		if a.rev != b.rev {
			return cmp.Compare(a.rev, b.rev)
		}
		return cmp.Compare(int64(a.sub), int64(b.sub))
	})
	want := max(s.compactRev, 1) + 1
	// The compaction revision's kept changes come first; compaction may
	// have left gaps in their sub-revisions, so only their order is whole.
	for len(entries) > 0 && entries[0].rev < want {
		if entries[0].rev != s.compactRev {
			return fmt.Errorf("revision %d stored below the compaction revision %d", entries[0].rev, s.compactRev)
		}
		s.log.append(logEntry{rec: entries[0].rec, rev: entries[0].rev})
		entries = entries[1:]
	}
	var sub int32
	for i, e := range entries {
		if i > 0 && e.rev == entries[i-1].rev {
			sub++
		} else {
			if e.rev != want {
				return fmt.Errorf("revision %d missing from the history (next stored %d)", want, e.rev)
			}
			want++
			sub = 0
		}
		if e.sub != sub {
			return fmt.Errorf("revision %d: sub-revision %d where %d was due", e.rev, e.sub, sub)
		}
		s.log.append(logEntry{rec: e.rec, rev: e.rev})
	}
	if want != s.rev+1 {
		return fmt.Errorf("history ends at revision %d, store revision is %d", want-1, s.rev)
	}
	return nil
}

// decoder reads the snapshot body; the first failure sticks in err and
// every later read returns zero values.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
	d.buf = nil
}

func (d *decoder) u32() uint32 {
	if len(d.buf) < 4 {
		d.fail("truncated")
		return 0
	}
	v := binary.LittleEndian.Uint32(d.buf)
	d.buf = d.buf[4:]
	return v
}

func (d *decoder) u64() uint64 {
	if len(d.buf) < 8 {
		d.fail("truncated")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.buf)
	d.buf = d.buf[8:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.buf)) {
		d.fail("length %d exceeds the %d bytes left", n, len(d.buf))
		return nil
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	return b
}

// key reads a key: at least one byte, shorter than 2 GiB.
func (d *decoder) key() []byte {
	key := d.bytes()
	if d.err == nil && (len(key) == 0 || len(key) >= 1<<31) {
		d.fail("key of %d bytes", len(key))
	}
	return key
}

// version reads a version of key. Its kv is a string of its own, or, when
// scratch is given, aliases *scratch (for a version the arena copies at
// once).
func (d *decoder) version(key []byte, scratch *[]byte) version {
	v := version{modRev: d.varint(), keyLen: int32(len(key))}
	sub := d.uvarint()
	v.createRev = d.varint()
	v.ver = d.varint()
	v.lease = d.varint()
	val := d.bytes()
	if d.err != nil {
		return version{}
	}
	if sub >= 1<<31 {
		d.fail("key %q: sub-revision %d", key, sub)
		return version{}
	}
	v.sub = int32(sub)
	if scratch == nil {
		v.kv = joinKeyValue(key, val)
	} else {
		*scratch = append(append((*scratch)[:0], key...), val...)
		v.kv = unsafe.String(unsafe.SliceData(*scratch), len(*scratch))
	}
	return v
}

// record decodes one format version 1 record and checks every invariant a
// store relies on.
func (d *decoder) record(hist *histArena, rev, compactRev int64) (*record, error) {
	key := d.key()
	n := d.uvarint()
	if d.err == nil && (n == 0 || n > uint64(len(d.buf))) {
		d.fail("%d versions in %d bytes", n, len(d.buf))
	}
	if d.err != nil {
		return nil, d.err
	}
	rec := &record{}
	for i := range n {
		v := d.version(key, nil)
		if d.err != nil {
			return nil, d.err
		}
		var prev *version
		if i > 0 {
			prev = rec.at(hist, int(i)-1)
		}
		if err := checkVersion(&v, prev, i == 0, rev, compactRev); err != nil {
			return nil, fmt.Errorf("key %q: %w", key, err)
		}
		if i == 0 {
			rec.latest = v
		} else {
			rec.push(hist, v)
		}
	}
	return rec, nil
}

func checkVersion(v, prev *version, first bool, rev, compactRev int64) error {
	if v.modRev < 2 || v.modRev > rev {
		return fmt.Errorf("mod revision %d outside [2, %d]", v.modRev, rev)
	}
	if prev != nil && !prev.before(v.modRev, v.sub) {
		return fmt.Errorf("version %d.%d not after %d.%d", v.modRev, v.sub, prev.modRev, prev.sub)
	}
	if !first && v.modRev <= compactRev {
		return fmt.Errorf("version at %d kept below a newer one by compaction at %d", v.modRev, compactRev)
	}
	if v.isTombstone() {
		if v.createRev != 0 || v.lease != 0 || len(v.value()) != 0 {
			return fmt.Errorf("tombstone at %d carries data", v.modRev)
		}
		// Compaction keeps a tombstone at its own revision alone.
		if (prev == nil && v.modRev != compactRev) || (prev != nil && prev.isTombstone()) {
			return fmt.Errorf("tombstone at %d ends no generation", v.modRev)
		}
		return nil
	}
	if v.ver < 1 || v.createRev < 2 || v.createRev > v.modRev {
		return fmt.Errorf("version %d created at %d, modified at %d", v.ver, v.createRev, v.modRev)
	}
	if (v.ver == 1) != (v.createRev == v.modRev) {
		return fmt.Errorf("version %d created at %d, modified at %d", v.ver, v.createRev, v.modRev)
	}
	if first && v.ver > 1 && v.modRev > compactRev {
		return fmt.Errorf("version %d at %d lost its predecessor above compaction %d", v.ver, v.modRev, compactRev)
	}
	if prev != nil {
		if prev.isTombstone() && v.ver != 1 {
			return fmt.Errorf("version %d starts a generation at %d", v.ver, v.modRev)
		}
		if !prev.isTombstone() && (v.ver != prev.ver+1 || v.createRev != prev.createRev) {
			return fmt.Errorf("version %d (created %d) follows version %d (created %d)", v.ver, v.createRev, prev.ver, prev.createRev)
		}
	}
	return nil
}
