package mvcc

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/tidwall/btree"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/kvdlabs/kvd/core/bugs"
)

// btreeDegree is tidwall/btree's default; wide nodes keep the per-key share
// of node overhead near one pointer.
const btreeDegree = 32

// Store is an in-memory etcd v3 MVCC key-value store. It is not safe for
// concurrent use: the caller serializes every call.
type Store struct {
	opts       Options
	tree       *btree.BTreeG[*record]
	byKey      hashIndex // see hashIndex
	rev        int64     // revision of the last committed write txn; 1 when empty
	compactRev int64     // 0 until the first Compact
	liveKeys   int
	log        revLog
	hist       *histArena // every version but each key's latest; see histArena

	// tx is the write txn in progress; writes land at rev+1 and become
	// visible to later reads of the same txn, like etcd's index.
	tx writeTxn

	piv record // search key, see pivot
	// rangeScratch is executeRange's list of the versions it returns, kept
	// between calls (the store is used by one goroutine at a time).
	rangeScratch []*version
}

type writeTxn struct {
	open    bool
	changes int32
	// wantEvents is whether this txn collects events (see Options.WantEvents).
	wantEvents bool
	events     []*mvccpb.Event
}

// New returns an empty store at revision 1. It panics when opts are invalid
// after EnsureDefaults: that is a wiring bug, not a runtime condition.
func New(opts Options) *Store {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	return newStore(opts)
}

func newStore(opts Options) *Store {
	s := &Store{
		opts: opts,
		tree: btree.NewBTreeGOptions(func(a, b *record) bool { return a.key() < b.key() },
			btree.Options{Degree: btreeDegree, NoLocks: true}),
		byKey: newHashIndex(),
		rev:   1,
		hist:  &histArena{chunkBytes: opts.HistoryChunkBytes, spillDir: opts.HistorySpillDir},
	}
	// The arena's memory is outside the collector's reach: hand it back
	// when the store is dropped (a member restoring a snapshot, a finished
	// simulation).
	runtime.AddCleanup(s, (*histArena).free, s.hist)
	return s
}

// HistoryBytes is the memory of the store's history arena: its first chunks
// on the Go heap, the rest mapped outside it (the kernel backs only the
// pages written so far).
func (s *Store) HistoryBytes() int { return s.hist.heldBytes }

// Rev returns the current revision: 1 for a new store, bumped by every write
// txn that changed something.
func (s *Store) Rev() int64 { return s.rev }

// CompactRev returns the revision of the last compaction, 0 if none.
func (s *Store) CompactRev() int64 { return s.compactRev }

// KeyCount returns the number of live keys.
func (s *Store) KeyCount() int { return s.liveKeys }

// firstRev is etcd's compactMainRev: -1 until the first compaction. Txn
// checks compare a range's revision against it, and etcd's -1 makes a
// negative revision pass before any compaction.
func (s *Store) firstRev() int64 {
	if s.compactRev == 0 {
		return -1
	}
	return s.compactRev
}

// lookup returns the record of key, or nil.
func (s *Store) lookup(key []byte) *record {
	return s.byKey.get(unsafe.String(unsafe.SliceData(key), len(key)))
}

// insert adds a record for a key the store does not hold.
func (s *Store) insert(rec *record) {
	s.byKey.add(rec)
	s.tree.Set(rec)
}

// remove drops rec, which the store holds.
func (s *Store) remove(rec *record) {
	removed, ok := s.tree.Delete(rec)
	assert(ok && removed == rec, "removed record not in the tree")
	s.byKey.remove(rec)
}

// pivot is a search key for the tree, reused to keep lookups free of
// allocations. It aliases key without copying: the tree only compares it,
// never keeps it.
func (s *Store) pivot(key []byte) *record {
	if len(key) == 0 {
		return s.pivotString("")
	}
	return s.pivotString(unsafe.String(&key[0], len(key)))
}

// pivotString is pivot for a key already held as a string.
func (s *Store) pivotString(key string) *record {
	p := &s.piv
	p.latest.kv = key
	p.latest.keyLen = int32(len(key))
	return p
}

// readRev is the revision reads see: inside a write txn that already
// changed something, its own writes (etcd's storeTxnWrite.Range).
func (s *Store) readRev() int64 {
	if s.tx.open && s.tx.changes > 0 {
		if bugs.On(bugs.MVCCTxnSubRevision) {
			return s.rev + int64(s.tx.changes) // planted bug (kvdbugs builds only): one main revision per write
		}
		return s.rev + 1
	}
	return s.rev
}

func (s *Store) begin() {
	assert(!s.tx.open, "write txns do not nest")
	s.tx = writeTxn{open: true, wantEvents: s.opts.OnCommit != nil && (s.opts.WantEvents == nil || s.opts.WantEvents())}
}

// end commits the write txn: bump the revision when it changed something and
// tell OnCommit. It returns the revision after the txn.
func (s *Store) end() int64 {
	assert(s.tx.open, "end without begin")
	tx := s.tx
	s.tx = writeTxn{}
	if tx.changes == 0 {
		return s.rev
	}
	if bugs.On(bugs.MVCCTxnSubRevision) {
		return s.endPerWrite(tx) // planted bug (kvdbugs builds only): one main revision per write
	}
	s.rev++
	if s.opts.OnCommit != nil {
		s.opts.OnCommit(s.rev, tx.events)
	}
	return s.rev
}

// endPerWrite commits tx as one main revision per write, each told to
// OnCommit with its own events: the planted bug MVCCTxnSubRevision.
func (s *Store) endPerWrite(tx writeTxn) int64 {
	events := tx.events
	for range tx.changes {
		s.rev++
		n := 0
		for n < len(events) && events[n].Kv.ModRevision == s.rev {
			n++
		}
		if s.opts.OnCommit != nil {
			s.opts.OnCommit(s.rev, events[:n])
		}
		events = events[n:]
	}
	return s.rev
}

// put writes key=value with lease at the open txn's revision.
func (s *Store) put(key, value []byte, lease int64) {
	assert(s.tx.open, "put outside a write txn")
	assert(len(key) > 0 && len(key) < 1<<31, "key size")
	rev, sub := s.rev+1, s.tx.changes
	if bugs.On(bugs.MVCCTxnSubRevision) {
		rev, sub = s.rev+1+int64(s.tx.changes), 0 // planted bug (kvdbugs builds only): one main revision per write
	}
	v := version{
		kv:        joinKeyValue(key, value),
		modRev:    rev,
		createRev: rev,
		ver:       1,
		lease:     lease,
		sub:       sub,
		keyLen:    int32(len(key)),
	}
	var oldLease int64
	rec := s.lookup(key)
	switch {
	case rec == nil:
		rec = &record{latest: v}
		s.insert(rec)
		s.liveKeys++
	case rec.latest.isTombstone():
		rec.push(s.hist, v)
		s.liveKeys++
	default:
		v.createRev = rec.latest.createRev
		v.ver = rec.latest.ver + 1
		oldLease = rec.latest.lease
		rec.push(s.hist, v)
	}
	var event *mvccpb.Event
	if s.tx.wantEvents {
		event = s.event(rec, &rec.latest)
	}
	s.logChange(rec, rev, event)
	s.moveLease(key, oldLease, lease)
}

// del writes a tombstone for rec's key, which must be live.
func (s *Store) del(rec *record) {
	assert(s.tx.open, "delete outside a write txn")
	prev := &rec.latest
	assert(!prev.isTombstone(), "delete of a deleted key")
	rev := s.rev + 1
	key := prev.key()
	v := version{
		kv:     string([]byte(key)), // own copy: history may drop the put it came from
		modRev: rev,
		sub:    s.tx.changes,
		keyLen: int32(len(key)),
	}
	if bugs.On(bugs.MVCCTxnSubRevision) {
		rev = s.rev + 1 + int64(s.tx.changes) // planted bug (kvdbugs builds only): one main revision per write
		v.modRev, v.sub = rev, 0
	}
	oldLease := prev.lease
	rec.push(s.hist, v)
	var event *mvccpb.Event
	if s.tx.wantEvents {
		event = s.event(rec, &rec.latest)
	}
	s.liveKeys--
	s.logChange(rec, rev, event)
	if oldLease != 0 {
		s.detach(oldLease, rec.key())
	}
}

func (s *Store) logChange(rec *record, rev int64, event *mvccpb.Event) {
	s.log.append(logEntry{rec: rec, rev: rev})
	s.tx.changes++
	if event != nil {
		s.tx.events = append(s.tx.events, event)
	}
}

// event builds the watch event for v. PrevKv is the key's kv at rev-1, as
// etcd's watch computes it, even when this txn touched the key before.
func (s *Store) event(rec *record, v *version) *mvccpb.Event {
	return newEvent(v, rec.live(s.hist, s.rev))
}

// newEvent is the watch event of version v, with prev (nil if the key did
// not exist) as its PrevKv. A delete's kv carries only key and revision,
// as etcd's.
func newEvent(v, prev *version) *mvccpb.Event {
	ev := &mvccpb.Event{}
	if v.isTombstone() {
		ev.Type = mvccpb.DELETE
		ev.Kv = &mvccpb.KeyValue{Key: []byte(v.key()), ModRevision: v.modRev}
	} else {
		ev.Type = mvccpb.PUT
		ev.Kv = v.keyValue(false)
	}
	if prev != nil {
		ev.PrevKv = prev.keyValue(false)
	}
	return ev
}

func (s *Store) moveLease(key []byte, from, to int64) {
	if from == to {
		return
	}
	if from != 0 {
		s.detach(from, string(key))
	}
	if to != 0 {
		assert(s.opts.Lessor != nil, "attach without a lessor")
		s.opts.Lessor.Attach(to, key)
	}
}

func (s *Store) detach(lease int64, key string) {
	if s.opts.Lessor == nil {
		// a snapshot restored without a lessor may name leases; nobody to tell
		return
	}
	s.opts.Lessor.Detach(lease, []byte(key))
}

// visit calls f for each record whose key is in [key, end) with etcd's end
// semantics: empty end = key alone, "\x00" = every key >= key.
func (s *Store) visit(key, end []byte, f func(rec *record) bool) {
	if len(end) == 0 {
		if rec := s.lookup(key); rec != nil {
			f(rec)
		}
		return
	}
	fromKey := len(end) == 1 && end[0] == 0
	endStr := unsafe.String(&end[0], len(end))
	s.tree.Ascend(s.pivot(key), func(rec *record) bool {
		if !fromKey && rec.key() >= endStr {
			return false
		}
		return f(rec)
	})
}

func (s *Store) String() string {
	return fmt.Sprintf("mvcc.Store{rev: %d, compactRev: %d, keys: %d}", s.rev, s.compactRev, s.liveKeys)
}
