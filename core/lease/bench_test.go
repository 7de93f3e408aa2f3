package lease

import (
	"fmt"
	"testing"
	"time"
)

var benchSizes = []int{1_000, 100_000}

// primaryWith returns a primary lessor holding n leases with TTLs spread
// over 1..1000 s, so expiries interleave.
func primaryWith(b *testing.B, n int) (*Lessor, []int64) {
	b.Helper()
	l, _ := newTestLessor(b, Options{})
	l.Promote(0)
	ids := make([]int64, n)
	for i := range n {
		resp, err := l.Grant(0, int64(1+i%1000))
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = resp.ID
	}
	return l, ids
}

func BenchmarkGrant(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("leases=%d", n), func(b *testing.B) {
			l, _ := primaryWith(b, n)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				// Grant and revoke so the lessor stays at n leases.
				resp, err := l.Grant(0, 10)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := l.Revoke(resp.ID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkKeepAlive(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("leases=%d", n), func(b *testing.B) {
			l, ids := primaryWith(b, n)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := l.KeepAlive(ids[i%len(ids)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkExpired asks for the next batch of expired leases among 100k,
// due of them past their expiry.
func BenchmarkExpired(b *testing.B) {
	const leases = 100_000
	for _, due := range []int{0, 100, 1000} {
		b.Run(fmt.Sprintf("leases=%d/due=%d", leases, due), func(b *testing.B) {
			l, clk := newTestLessor(b, Options{})
			l.Promote(0)
			for i := range leases {
				if _, err := l.Grant(int64(i+1), int64(10+i)); err != nil {
					b.Fatal(err)
				}
			}
			// Lease i expires at 10+i s: after 9+due s exactly due are due.
			clk.Advance(time.Duration(9+due) * time.Second)
			b.ReportAllocs()
			for b.Loop() {
				if got := l.Expired(1000); len(got) != due {
					b.Fatalf("Expired returned %d, want %d", len(got), due)
				}
			}
		})
	}
}
