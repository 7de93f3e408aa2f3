package main

import "testing"

func TestGCPercentBoundsHeadroom(t *testing.T) {
	for _, tt := range []struct {
		liveBytes uint64
		want      int
	}{
		{0, gcPercentMax},
		{10 << 20, gcPercentMax},        // small store: Go's default
		{gcHeadroomBytes, gcPercentMax}, // headroom equals live
		{2 * gcHeadroomBytes, 50},       // 1M keys of 100 B is about here
		{4 * gcHeadroomBytes, gcPercentMin},
		{100 * gcHeadroomBytes, gcPercentMin},
	} {
		if got := gcPercentFor(tt.liveBytes); got != tt.want {
			t.Errorf("live %d MiB: GOGC %d, want %d", tt.liveBytes>>20, got, tt.want)
		}
	}
}
