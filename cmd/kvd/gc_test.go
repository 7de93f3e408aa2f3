package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/core/mvcc"
)

func TestGCPercentBoundsHeadroom(t *testing.T) {
	for _, tt := range []struct {
		liveBytes uint64
		want      int
	}{
		{0, gcPercentMax},
		{4 << 20, gcPercentMax},   // small store: Go's default, never more
		{64 << 20, 100},           // 64 MiB of headroom is GOGC 100 here
		{128 << 20, 50},           // 64 MiB
		{200 << 20, 32},           // 64 MiB
		{256 << 20, gcPercentMin}, // 64 MiB is 25%
		{300 << 20, gcPercentMin}, // 1M keys of 100 B is about here: a quarter
		{100 << 30, gcPercentMin},
	} {
		if got := gcPercentFor(tt.liveBytes); got != tt.want {
			t.Errorf("live %d MiB: GOGC %d, want %d", tt.liveBytes>>20, got, tt.want)
		}
	}
}

// --memory-limit-bytes sets the Go runtime's soft memory limit, as
// GOMEMLIMIT would, and the member reports it among Go's metrics; the
// tuner leaves a small store at Go's default GOGC.
func TestMemoryLimitFlag(t *testing.T) {
	c := startProcCluster(t, 1, "--memory-limit-bytes", "123456789")
	c.leader(c.client(), nil)
	resp, err := http.Get(c.procs[0].clientURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"go_gc_gomemlimit_bytes 1.23456789e+08\n", "go_gc_gogc_percent 100\n", "kvd_memory_idle_releases_total "} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code := run(context.Background(), []string{"--memory-limit-bytes", "-1"}, io.Discard); code != 2 {
		t.Errorf("--memory-limit-bytes -1: exit %d, want 2", code)
	}
}

// The tuner runs after every collection: a heap that grows by hundreds of
// MiB within a second (a restart restoring its snapshot) meets a lowered
// GOGC on its way up, not a second later.
func TestGCTunerFollowsEveryCollection(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tuner := tuneGC(ctx, true)
	live := make([][]byte, 0, 400)
	for range 400 { // 400 MiB live: GOGC must fall to its floor
		live = append(live, make([]byte, 1<<20))
	}
	for range 3 {
		runtime.GC()
	}
	deadline := time.Now().Add(5 * time.Second)
	for tuner.retuned.Load() < 2 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if n := tuner.retuned.Load(); n < 2 {
		t.Fatalf("tuner ran after %d collections, want every one", n)
	}
	if got := debug.SetGCPercent(gcPercentMin); got != gcPercentMin {
		t.Errorf("GOGC %d with %d MiB live, want %d", got, len(live), gcPercentMin)
	}
	runtime.KeepAlive(live)
}

// The member's memory limit covers the store's history, which lives outside
// the Go heap: Go gets the limit less what the arenas hold, and at least a
// quarter of it.
func TestMemoryLimitLeavesRoomForHistory(t *testing.T) {
	prevMember, prevGo := memoryLimitBytes.Load(), debug.SetMemoryLimit(-1)
	defer func() {
		memoryLimitBytes.Store(prevMember)
		debug.SetMemoryLimit(prevGo)
	}()
	s := mvcc.New(mvcc.Options{})
	value := make([]byte, 100)
	for i := range 30000 {
		if _, err := s.Put(&etcdserverpb.PutRequest{Key: fmt.Appendf(nil, "k%d", i%16), Value: value}); err != nil {
			t.Fatal(err)
		}
	}
	// The first chunks of a store are on the Go heap, the rest mapped: only
	// the mapped ones are outside what Go's limit sees.
	mapped := mvcc.MappedHistoryBytes()
	if mapped < 1<<20 {
		t.Fatalf("30000 puts over 16 keys mapped %d bytes of history", mapped)
	}
	setMemoryLimit(1 << 30)
	got, after := debug.SetMemoryLimit(-1), mvcc.MappedHistoryBytes()
	if got < 1<<30-max(mapped, after) || got > 1<<30-min(mapped, after) {
		t.Errorf("member limit 1 GiB with %d bytes of history mapped: Go's limit %d", mapped, got)
	}
	setMemoryLimit(mapped)
	if got := debug.SetMemoryLimit(-1); got != mapped/4 {
		t.Errorf("member limit %d, all of it history: Go's limit %d, want a quarter", mapped, got)
	}
	runtime.KeepAlive(s)
}
