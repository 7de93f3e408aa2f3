package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
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
	for _, want := range []string{"go_gc_gomemlimit_bytes 1.23456789e+08\n", "go_gc_gogc_percent 100\n"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code := run(context.Background(), []string{"--memory-limit-bytes", "-1"}, io.Discard); code != 2 {
		t.Errorf("--memory-limit-bytes -1: exit %d, want 2", code)
	}
}
