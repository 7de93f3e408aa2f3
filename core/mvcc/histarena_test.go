package mvcc

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// fillHistory overwrites keys keys in rounds [from, to) with 100-byte
// values that name key and round, and returns the revision after each round.
func fillHistory(t *testing.T, s *Store, keys, from, to int) []int64 {
	t.Helper()
	var revs []int64
	for r := from; r < to; r++ {
		for k := range keys {
			if _, err := s.Put(&pb.PutRequest{Key: fmt.Appendf(nil, "k%03d", k), Value: historyValue(k, r)}); err != nil {
				t.Fatalf("put: %v", err)
			}
		}
		revs = append(revs, s.Rev())
	}
	return revs
}

func historyValue(k, r int) []byte {
	v := bytes.Repeat([]byte{'.'}, 100)
	copy(v, fmt.Sprintf("key %d round %d", k, r))
	return v
}

// checkRound demands that a read at rev sees round r of every key.
func checkRound(t *testing.T, s *Store, keys int, rev int64, r int) {
	t.Helper()
	resp, err := s.Range(&pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), Revision: rev})
	if err != nil {
		t.Fatalf("range at %d: %v", rev, err)
	}
	if len(resp.Kvs) != keys {
		t.Fatalf("range at %d: %d keys, want %d", rev, len(resp.Kvs), keys)
	}
	for k, kv := range resp.Kvs {
		if want := historyValue(k, r); !bytes.Equal(kv.Value, want) {
			t.Fatalf("range at %d: key %s = %q, want %q", rev, kv.Key, kv.Value, want)
		}
		if kv.Version != int64(r+1) {
			t.Fatalf("range at %d: key %s version %d, want %d", rev, kv.Key, kv.Version, r+1)
		}
	}
}

func TestCompactFreesHistoryChunksAndKeepsWhatReadsSee(t *testing.T) {
	const keys, rounds = 16, 2000 // about 4 MiB of history: several chunks
	s := New(Options{})
	revs := fillHistory(t, s, keys, 0, rounds)
	full := s.HistoryBytes()
	if full < 3*HistoryChunkBytesDefault {
		t.Fatalf("history of %d versions holds %d bytes, want several chunks", keys*(rounds-1), full)
	}
	checkRound(t, s, keys, revs[10], 10)

	mid := revs[rounds/2]
	if _, err := s.Compact(mid); err != nil {
		t.Fatal(err)
	}
	half := s.HistoryBytes()
	if half >= full || half > full/2+2*HistoryChunkBytesDefault {
		t.Fatalf("compacting half the history left %d of %d bytes", half, full)
	}
	checkRound(t, s, keys, mid, rounds/2)
	checkRound(t, s, keys, revs[rounds*3/4], rounds*3/4)
	checkRound(t, s, keys, s.Rev(), rounds-1)
	if _, err := s.Range(&pb.RangeRequest{Key: []byte("k000"), Revision: revs[10]}); err == nil {
		t.Fatal("read below the compaction succeeded")
	}

	if _, err := s.Compact(s.Rev()); err != nil {
		t.Fatal(err)
	}
	if got := s.HistoryBytes(); got != 0 {
		t.Fatalf("compacting at the current revision left %d bytes of history", got)
	}
	checkRound(t, s, keys, s.Rev(), rounds-1)
	more := fillHistory(t, s, keys, rounds, rounds+3)
	checkRound(t, s, keys, more[0], rounds)
	checkRound(t, s, keys, more[2], rounds+2)
}

func TestRestoredHistoryIsFreedOnceCompactionPassesIt(t *testing.T) {
	const keys, rounds = 16, 1000
	s := New(Options{})
	revs := fillHistory(t, s, keys, 0, rounds)
	r, err := Restore(s.Snapshot(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.HistoryBytes() < 2*HistoryChunkBytesDefault {
		t.Fatalf("restored history holds %d bytes", r.HistoryBytes())
	}
	checkRound(t, r, keys, revs[3], 3)
	checkRound(t, r, keys, revs[rounds-2], rounds-2)
	// A restore appends history in key order: a chunk lives until the
	// compaction passes its newest entry, and reads stay right meanwhile.
	if _, err := r.Compact(revs[rounds/2]); err != nil {
		t.Fatal(err)
	}
	checkRound(t, r, keys, revs[rounds/2], rounds/2)
	checkRound(t, r, keys, revs[rounds-2], rounds-2)
	if _, err := r.Compact(r.Rev()); err != nil {
		t.Fatal(err)
	}
	if got := r.HistoryBytes(); got != 0 {
		t.Fatalf("compacting the restored store at its revision left %d bytes of history", got)
	}
	checkRound(t, r, keys, r.Rev(), rounds-1)
}

func TestValuesLargerThanAChunkGetTheirOwn(t *testing.T) {
	s := New(Options{})
	big := bytes.Repeat([]byte{'x'}, HistoryChunkBytesDefault+10)
	for i := range 3 {
		big[0] = byte('a' + i)
		if _, err := s.Put(&pb.PutRequest{Key: []byte("big"), Value: big}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := s.Range(&pb.RangeRequest{Key: []byte("big"), Revision: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || len(resp.Kvs[0].Value) != len(big) || resp.Kvs[0].Value[0] != 'b' {
		t.Fatalf("read of the second big version: %d kvs", len(resp.Kvs))
	}
	if got := s.HistoryBytes(); got < 2*len(big) {
		t.Fatalf("two big versions in history hold %d bytes", got)
	}
}

// TestDroppedStoreUnmapsItsHistory checks the cleanup that hands a dropped
// store's arena back: its memory is not the collector's to free.
func TestDroppedStoreUnmapsItsHistory(t *testing.T) {
	// Earlier tests' stores are unreachable too: let their cleanups finish
	// first, so that only this store's are awaited.
	before := settledMappedHistoryBytes()
	func() {
		s := New(Options{})
		fillHistory(t, s, 16, 0, 3000)
		if MappedHistoryBytes()-before < 2*HistoryChunkBytesDefault {
			t.Fatalf("a store with history mapped %d bytes", MappedHistoryBytes()-before)
		}
	}()
	// Cleanups run after a collection finds the store unreachable, on the
	// runtime's own goroutine: give it up to 100 collections.
	for range 100 {
		runtime.GC()
		if MappedHistoryBytes() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("a dropped store still maps %d bytes of history", MappedHistoryBytes()-before)
}

// settledMappedHistoryBytes collects until MappedHistoryBytes holds still
// over three collections (at most 100).
func settledMappedHistoryBytes() int64 {
	last, still := MappedHistoryBytes(), 0
	for i := 0; i < 100 && still < 3; i++ {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
		if now := MappedHistoryBytes(); now == last {
			still++
		} else {
			last, still = now, 0
		}
	}
	return last
}
