package mvcc

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

const benchValueSizeBytes = 100

func benchKey(i int) []byte { return fmt.Appendf(nil, "/bench/key/%08d", i) }

func fill(b *testing.B, s *Store, keys int, value []byte) {
	for i := range keys {
		if _, err := s.Put(&pb.PutRequest{Key: benchKey(i), Value: value}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPut overwrites keys round-robin in a store of that many keys,
// compacting now and then as a real cluster would.
func BenchmarkPut(b *testing.B) {
	for _, keys := range []int{1000, 1000000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			value := make([]byte, benchValueSizeBytes)
			s := New(Options{})
			fill(b, s, keys, value)
			reqs := make([]*pb.PutRequest, keys)
			for i := range reqs {
				reqs[i] = &pb.PutRequest{Key: benchKey(i), Value: value}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := s.Put(reqs[i%keys]); err != nil {
					b.Fatal(err)
				}
				if i%100000 == 99999 {
					if _, err := s.Compact(s.Rev()); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkPutRandomKey overwrites keys in random order, as clients do:
// BenchmarkPut's sequential keys keep the tree's search path in cache.
func BenchmarkPutRandomKey(b *testing.B) {
	for _, keys := range []int{10000, 1000000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			value := make([]byte, benchValueSizeBytes)
			s := New(Options{})
			fill(b, s, keys, value)
			rng := rand.New(rand.NewPCG(1, 2))
			reqs := make([]*pb.PutRequest, 1<<16)
			for i := range reqs {
				reqs[i] = &pb.PutRequest{Key: benchKey(rng.IntN(keys)), Value: value}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := s.Put(reqs[i%len(reqs)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRangePoint(b *testing.B) {
	const keys = 100000
	s := New(Options{})
	fill(b, s, keys, make([]byte, benchValueSizeBytes))
	reqs := make([]*pb.RangeRequest, keys)
	for i := range reqs {
		reqs[i] = &pb.RangeRequest{Key: benchKey(i)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		resp, err := s.Range(reqs[i%keys])
		if err != nil || len(resp.Kvs) != 1 {
			b.Fatalf("range: %v, %d kvs", err, len(resp.Kvs))
		}
	}
}

func BenchmarkRangePrefix100(b *testing.B) {
	const keys = 100000
	s := New(Options{})
	fill(b, s, keys, make([]byte, benchValueSizeBytes))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := (i * 100) % keys
		req := &pb.RangeRequest{Key: benchKey(start), RangeEnd: benchKey(start + 100)}
		resp, err := s.Range(req)
		if err != nil || (start+100 <= keys && len(resp.Kvs) != 100) {
			b.Fatalf("range: %v, %d kvs", err, len(resp.Kvs))
		}
	}
}

func BenchmarkTxnCAS(b *testing.B) {
	const keys = 1000
	s := New(Options{})
	value := make([]byte, benchValueSizeBytes)
	fill(b, s, keys, value)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		key := benchKey(i % keys)
		cur, _ := s.Range(&pb.RangeRequest{Key: key})
		resp, err := s.Txn(&pb.TxnRequest{
			Compare: []*pb.Compare{{Key: key, Target: pb.Compare_MOD, Result: pb.Compare_EQUAL,
				TargetUnion: &pb.Compare_ModRevision{ModRevision: cur.Kvs[0].ModRevision}}},
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: key, Value: value}}}},
		})
		if err != nil || !resp.Succeeded {
			b.Fatalf("cas: %v", err)
		}
		if i%100000 == 99999 {
			s.Compact(s.Rev())
		}
	}
}

// BenchmarkMemoryPerKey loads 1M keys with 100-byte values and reports the
// heap growth per key and its ratio to the raw key+value bytes (x-raw).
func BenchmarkMemoryPerKey(b *testing.B) {
	const keys = 1000000
	value := make([]byte, benchValueSizeBytes)
	reqs := make([]*pb.PutRequest, keys)
	raw := 0
	for i := range reqs {
		reqs[i] = &pb.PutRequest{Key: benchKey(i), Value: value}
		raw += len(reqs[i].Key) + len(value)
	}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := New(Options{})
		for _, r := range reqs {
			if _, err := s.Put(r); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perKey := float64(after.HeapAlloc-before.HeapAlloc) / keys
		b.ReportMetric(perKey, "bytes/key")
		b.ReportMetric(perKey/(float64(raw)/keys), "x-raw")
		runtime.KeepAlive(s)
	}
}

// BenchmarkSnapshot encodes a store of that many keys of 100-byte values,
// as a member does every --snapshot-count entries.
func BenchmarkSnapshot(b *testing.B) {
	for _, keys := range []int{10000, 300000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			s := New(Options{})
			fill(b, s, keys, make([]byte, benchValueSizeBytes))
			b.ReportAllocs()
			var n int
			for b.Loop() {
				n = len(s.Snapshot())
			}
			b.SetBytes(int64(n))
		})
	}
}

// BenchmarkRestore rebuilds a store of that many keys of 100-byte values
// from its snapshot, as a member does when it restarts.
func BenchmarkRestore(b *testing.B) {
	for _, keys := range []int{10000, 300000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			s := New(Options{})
			fill(b, s, keys, make([]byte, benchValueSizeBytes))
			snap := s.Snapshot()
			b.SetBytes(int64(len(snap)))
			b.ReportAllocs()
			for b.Loop() {
				r, err := Restore(snap, Options{})
				if err != nil || r.KeyCount() != keys {
					b.Fatalf("restore: %v, %d keys", err, r.KeyCount())
				}
			}
		})
	}
}

// BenchmarkMemoryPerRevision overwrites 10,000 keys of 100-byte values 20
// times (200,000 revisions of history) and reports what a revision costs on
// the Go heap (which the collector lets grow to twice its live size) and in
// the history arena outside it.
func BenchmarkMemoryPerRevision(b *testing.B) {
	const keys, rounds = 10000, 20
	value := make([]byte, benchValueSizeBytes)
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := New(Options{})
		for range rounds {
			for k := range keys {
				if _, err := s.Put(&pb.PutRequest{Key: benchKey(k), Value: value}); err != nil {
					b.Fatal(err)
				}
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		revs := float64(keys * rounds)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/revs, "heap-bytes/rev")
		b.ReportMetric(float64(s.HistoryBytes())/revs, "history-bytes/rev")
		runtime.KeepAlive(s)
	}
}

// BenchmarkSnapshotOfHistory encodes, in the member's 4 MiB steps, a store
// of 10,000 keys each overwritten 20 times (200,000 revisions of history),
// with the history in memory and spilled (Options.HistorySpillDir).
func BenchmarkSnapshotOfHistory(b *testing.B) {
	const keys, rounds, stepBytes = 10000, 20, 4 << 20
	for _, spill := range []bool{false, true} {
		b.Run(fmt.Sprintf("spill=%v", spill), func(b *testing.B) {
			opts := Options{}
			if spill {
				opts.HistorySpillDir = b.TempDir()
			}
			s := New(opts)
			value := make([]byte, benchValueSizeBytes)
			for range rounds {
				for k := range keys {
					if _, err := s.Put(&pb.PutRequest{Key: benchKey(k), Value: value}); err != nil {
						b.Fatal(err)
					}
				}
			}
			var buf []byte
			for b.Loop() {
				e := s.NewSnapshotEncoder()
				for done := false; !done; {
					var err error
					if done, err = e.Measure(stepBytes); err != nil {
						b.Fatal(err)
					}
				}
				buf = buf[:0]
				for done := false; !done; {
					var err error
					if buf, done, err = e.Encode(buf, stepBytes); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkRestoreOfHistory rebuilds BenchmarkSnapshotOfHistory's store
// (10,000 keys overwritten 20 times) from its snapshot, as a member does
// when it restarts or installs a leader's snapshot.
func BenchmarkRestoreOfHistory(b *testing.B) {
	const keys, rounds = 10000, 20
	s := New(Options{})
	value := make([]byte, benchValueSizeBytes)
	for range rounds {
		for k := range keys {
			if _, err := s.Put(&pb.PutRequest{Key: benchKey(k), Value: value}); err != nil {
				b.Fatal(err)
			}
		}
	}
	snap := s.Snapshot()
	b.SetBytes(int64(len(snap)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := Restore(snap, Options{})
		if err != nil || r.Rev() != s.Rev() {
			b.Fatalf("restore: %v, revision %d", err, r.Rev())
		}
	}
}
