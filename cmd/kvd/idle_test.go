package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

// The releaser acts only on a quiet member with enough to return, and at
// most once per idleReleaseBytesMin allocated.
func TestIdleReleaserDecides(t *testing.T) {
	const mib = 1 << 20
	type step struct {
		allocMiB, releaseMiB uint64
		want                 bool
	}
	for _, tt := range []struct {
		name  string
		steps []step
	}{
		{"busy never releases", []step{{0, 100, false}, {50, 100, false}, {100, 100, false}, {150, 100, false}}},
		{"quiet after a load releases once", []step{
			{0, 0, false}, {200, 100, false}, {200, 100, false}, {200, 100, true}, {200, 100, false}, {200, 100, false}}},
		{"quiet with little to return waits", []step{{0, 0, false}, {200, 10, false}, {200, 10, false}, {200, 10, false}}},
		{"one busy sample restarts the quiet count", []step{
			{0, 0, false}, {100, 100, false}, {100, 100, false}, {110, 100, false}, {110, 100, false}, {110, 100, true}}},
		{"after a release, quiet again only re-arms after 32 MiB more", []step{
			{0, 0, false}, {100, 100, false}, {100, 100, false}, {100, 100, true},
			{131, 100, false}, {131, 100, false}, {131, 100, false}, {131, 100, false},
			{133, 100, false}, {133, 100, false}, {133, 100, true}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var r idleReleaser
			for i, s := range tt.steps {
				// a trickle: each sample adds < 1 MiB when the MiB count is unchanged
				got := r.observe(memorySample{allocBytes: s.allocMiB*mib + uint64(i)*1000, releaseBytes: s.releaseMiB * mib})
				if got != s.want {
					t.Fatalf("sample %d (%+v): release %v, want %v", i, s, got, s.want)
				}
			}
		})
	}
}

// On the real runtime, garbage left by a load shows as releasable, and a
// release returns it to the OS.
func TestIdleReleaseReturnsGarbage(t *testing.T) {
	prev := debug.SetGCPercent(-1) // the garbage stays until the release collects it
	defer debug.SetGCPercent(prev)
	s := newMemorySamples()
	runtime.GC()
	before := readMemorySample(s)
	for range 96 {
		garbageSink = append(garbageSink, make([]byte, 1<<20))
	}
	garbageSink = nil
	m := readMemorySample(s)
	if m.releaseBytes < idleReleaseBytesMin || m.allocBytes-before.allocBytes < 96<<20 {
		t.Fatalf("after dropping 96 MiB: %d releasable, %d allocated", m.releaseBytes, m.allocBytes-before.allocBytes)
	}
	released := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(released)
	r0 := released[0].Value.Uint64()
	debug.FreeOSMemory()
	metrics.Read(released)
	if got := released[0].Value.Uint64() - r0; got < 64<<20 {
		t.Fatalf("a release returned %d bytes of 96 MiB of garbage", got)
	}
	if after := readMemorySample(s); after.releaseBytes >= idleReleaseBytesMin {
		t.Fatalf("after a release %d bytes still releasable", after.releaseBytes)
	}
}

// garbageSink holds what the test allocates until it drops it all at once.
var garbageSink [][]byte
