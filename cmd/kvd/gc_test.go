package main

import "testing"

func TestGCPercentBoundsHeadroom(t *testing.T) {
	for _, tt := range []struct {
		liveBytes uint64
		want      int
	}{
		{0, gcPercentMax},
		{4 << 20, gcPercentMax},             // tiny store: the cap
		{16 << 20, 400},                     // small store: 64 MiB of headroom
		{gcHeadroomBytes, 100},              // headroom equals live: Go's default
		{2 * gcHeadroomBytes, 50},           //
		{5 * gcHeadroomBytes, gcPercentMin}, // 1M keys of 100 B is about here
		{100 * gcHeadroomBytes, gcPercentMin},
	} {
		if got := gcPercentFor(tt.liveBytes); got != tt.want {
			t.Errorf("live %d MiB: GOGC %d, want %d", tt.liveBytes>>20, got, tt.want)
		}
	}
}
