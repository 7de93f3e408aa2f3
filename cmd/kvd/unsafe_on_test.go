//go:build kvdunsafe

package main

import (
	"io"
	"strings"
	"testing"

	"github.com/kvdlabs/kvd/core/node"
)

// Each name reaches its own field of node.Unsafe; lists and repeated flags
// add up, and a name given twice is named once in the warning.
func TestUnsafeFlagsParse(t *testing.T) {
	for _, v := range node.UnsafeVariants() {
		f, err := parseFlags([]string{"--unsafe", v.Name}, io.Discard)
		if err != nil {
			t.Fatalf("--unsafe %s: %v", v.Name, err)
		}
		var want node.Unsafe
		v.Enable(&want)
		if got := f.unsafe.options(); got != want {
			t.Errorf("--unsafe %s: options %+v, want %+v", v.Name, got, want)
		}
	}
	f, err := parseFlags([]string{"--unsafe", "stale-read, watch-skip", "--unsafe", "stale-read"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.unsafe.options(), (node.Unsafe{StaleReads: true, WatchSkip: true}); got != want {
		t.Errorf("options %+v, want %+v", got, want)
	}
	var log strings.Builder
	f.unsafe.warn(&log)
	if !strings.Contains(log.String(), `"unsafe":["stale-read","watch-skip"]`) {
		t.Errorf("warning %q: want stale-read and watch-skip, once each", log.String())
	}
	f, err = parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	log.Reset()
	f.unsafe.warn(&log)
	if f.unsafe.options() != (node.Unsafe{}) || log.Len() != 0 {
		t.Errorf("no --unsafe: options %+v, warning %q; want none", f.unsafe.options(), log.String())
	}
}
