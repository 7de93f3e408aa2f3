package main

import (
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestBucketBoundsContainTheirValues(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := rapid.Uint64Range(0, 1<<62).Draw(t, "v")
		b := bucketOf(v)
		if up := bucketUpperNs(b); v > up {
			t.Fatalf("value %d above its bucket %d upper bound %d", v, b, up)
		}
		if b > 0 && v <= bucketUpperNs(b-1) {
			t.Fatalf("value %d also fits bucket %d (upper %d)", v, b-1, bucketUpperNs(b-1))
		}
		// Relative precision: the bucket is at most 1/histSubBuckets wide.
		if v >= histSubBuckets {
			if up := bucketUpperNs(b); float64(up-v) > float64(v)/histSubBuckets {
				t.Fatalf("bucket %d upper %d too far from %d", b, up, v)
			}
		}
	})
}

// TestQuantileMatchesSortedSample compares against the exact order statistic
// of the recorded values: the histogram may overstate by the bucket width,
// never understate.
func TestQuantileMatchesSortedSample(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		vals := rapid.SliceOfN(rapid.Int64Range(0, int64(10*time.Second)), 1, 500).Draw(t, "vals")
		q := rapid.Float64Range(0, 1).Draw(t, "q")
		var h Histogram
		for _, v := range vals {
			h.Record(time.Duration(v))
		}
		sorted := slices.Clone(vals)
		slices.Sort(sorted)
		rank := int(q * float64(len(sorted)))
		if float64(rank) < q*float64(len(sorted)) || rank == 0 {
			rank++
		}
		exact := sorted[rank-1]
		got := int64(h.Quantile(q))
		if got < exact || float64(got-exact) > float64(exact)/histSubBuckets+1 {
			t.Fatalf("q=%v: got %d, exact %d", q, got, exact)
		}
		if h.Quantile(1) != time.Duration(sorted[len(sorted)-1]) || h.Max() != time.Duration(sorted[len(sorted)-1]) {
			t.Fatalf("max: q1=%v Max=%v want %v", h.Quantile(1), h.Max(), sorted[len(sorted)-1])
		}
		if h.Min() != time.Duration(sorted[0]) {
			t.Fatalf("min %v want %v", h.Min(), sorted[0])
		}
	})
}

func TestMergeEqualsRecordingEverything(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := rapid.SliceOf(rapid.Int64Range(0, int64(time.Minute))).Draw(t, "a")
		b := rapid.SliceOf(rapid.Int64Range(0, int64(time.Minute))).Draw(t, "b")
		var ha, hb, all Histogram
		for _, v := range a {
			ha.Record(time.Duration(v))
			all.Record(time.Duration(v))
		}
		for _, v := range b {
			hb.Record(time.Duration(v))
			all.Record(time.Duration(v))
		}
		ha.Merge(&hb)
		if ha != all {
			t.Fatalf("merged histogram differs from one that recorded everything")
		}
	})
}

func TestEmptyHistogram(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Max() != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Fatalf("empty histogram reports values: %+v", h)
	}
}

func TestNegativeLatencyPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("recording a negative latency did not panic")
		}
	}()
	var h Histogram
	h.Record(-time.Nanosecond)
}
