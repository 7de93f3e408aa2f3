package sim

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkEventQueue measures scheduling and running events with the
// queue holding a steady backlog of pending events.
func BenchmarkEventQueue(b *testing.B) {
	for _, pending := range []int{16, 1024, 65536} {
		b.Run(fmt.Sprintf("pending=%d", pending), func(b *testing.B) {
			w := New(1, Options{TraceRecordsKeptMax: 1})
			r := w.Rand("bench")
			noop := func() {}
			for range pending {
				w.After(time.Duration(r.Int64N(int64(time.Second))), noop)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				w.After(time.Duration(r.Int64N(int64(time.Second))), noop)
				w.Step()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkNetworkSend measures a message from Send to delivery, on a
// clean link and on a faulty one.
func BenchmarkNetworkSend(b *testing.B) {
	for _, tc := range []struct {
		name string
		link LinkOptions
	}{
		{"link=clean", LinkOptions{}},
		{"link=faulty", LinkOptions{LatencyJitter: time.Millisecond, DropProbability: 0.1, DuplicateProbability: 0.1, ReorderProbability: 0.1}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			w := New(1, Options{TraceRecordsKeptMax: 1, Network: NetworkOptions{Link: tc.link}})
			delivered := 0
			w.Network().Register(1, func(uint64, any) {})
			w.Network().Register(2, func(uint64, any) { delivered++ })
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				w.Network().Send(1, 2, "m", 100)
				w.Step()
			}
			for w.Step() {
			}
			if delivered == 0 {
				b.Fatal("nothing delivered")
			}
		})
	}
}

// BenchmarkDiskAppendSync measures a WAL-like append and sync.
func BenchmarkDiskAppendSync(b *testing.B) {
	for _, sizeBytes := range []int{128, 4096} {
		b.Run(fmt.Sprintf("bytes=%d", sizeBytes), func(b *testing.B) {
			w := New(1, Options{TraceRecordsKeptMax: 1, Disk: DiskOptions{CapacityBytes: 1 << 40}})
			d := w.NewDisk("m1")
			f, err := d.Create("wal")
			if err != nil {
				b.Fatal(err)
			}
			p := make([]byte, sizeBytes)
			b.SetBytes(int64(sizeBytes))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				// Start a new segment every 64 MiB, as a WAL would, so a
				// long benchmark does not hold gigabytes.
				if i > 0 && i*sizeBytes%(64<<20) < sizeBytes {
					if f, err = d.Create("wal"); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := f.Write(p); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
