package main

import "testing"

func TestGCPercentBoundsHeadroom(t *testing.T) {
	for _, tt := range []struct {
		liveBytes uint64
		want      int
	}{
		{0, gcPercentMax},
		{4 << 20, gcPercentMax},   // tiny store: the cap (252 MiB would be 6300%)
		{16 << 20, 1500},          // small store: 240 MiB of headroom
		{64 << 20, 300},           // 192 MiB
		{128 << 20, 100},          // 128 MiB: Go's default
		{192 << 20, 33},           // the floor of 64 MiB
		{256 << 20, gcPercentMin}, // 64 MiB would be 25%
		{300 << 20, gcPercentMin}, // 1M keys of 100 B is about here
		{100 << 30, gcPercentMin},
	} {
		if got := gcPercentFor(tt.liveBytes); got != tt.want {
			t.Errorf("live %d MiB: GOGC %d, want %d", tt.liveBytes>>20, got, tt.want)
		}
	}
}
