package wal

import (
	"fmt"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/kvdlabs/kvd/core/disk"
)

// BenchmarkSave measures one Save (append + fsync) of a batch on the real
// disk under b.TempDir(). SetBytes counts entry data, so MB/s is payload
// throughput.
func BenchmarkSave(b *testing.B) {
	for _, entryBytes := range []int{100, 1000} {
		for _, batch := range []int{1, 16, 128} {
			b.Run(fmt.Sprintf("entry=%dB/batch=%d", entryBytes, batch), func(b *testing.B) {
				fs := disk.OSFS{Root: b.TempDir()}
				w, err := Create(fs, "wal", []byte("bench"), Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer w.Close()
				data := make([]byte, entryBytes)
				ents := make([]*raftpb.Entry, batch)
				indexes := make([]uint64, batch)
				term := uint64(1)
				for i := range ents {
					ents[i] = &raftpb.Entry{Index: &indexes[i], Term: &term, Data: data}
				}
				var commit uint64
				hs := &raftpb.HardState{Term: &term, Vote: &term, Commit: &commit}
				next := uint64(1)
				b.SetBytes(int64(entryBytes * batch))
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					for i := range indexes {
						indexes[i] = next
						next++
					}
					commit = next - 1
					if err := w.Save(hs, ents); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/entry")
			})
		}
	}
}

// BenchmarkOpen measures recovery of a log of entries (1000-byte entries,
// batches of 16) from the real disk.
func BenchmarkOpen(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			fs := disk.OSFS{Root: b.TempDir()}
			w, err := Create(fs, "wal", nil, Options{})
			if err != nil {
				b.Fatal(err)
			}
			data := make([]byte, 1000)
			for i := 1; i <= n; i += 16 {
				var ents []*raftpb.Entry
				for j := i; j < i+16 && j <= n; j++ {
					ents = append(ents, entry(uint64(j), 1, string(data)))
				}
				if err := w.Save(nil, ents); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(n * 1000))
			b.ReportAllocs()
			for b.Loop() {
				w, rec, err := Open(fs, "wal", Options{})
				if err != nil {
					b.Fatal(err)
				}
				if len(rec.Entries) != n {
					b.Fatalf("recovered %d entries, want %d", len(rec.Entries), n)
				}
				_ = w.Close()
			}
		})
	}
}
