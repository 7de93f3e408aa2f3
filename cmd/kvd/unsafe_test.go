package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvdlabs/kvd/core/node"
	"github.com/kvdlabs/kvd/internal/procs"
)

// kvd built with the kvdunsafe tag, beside kvdBin on first use: only the
// --unsafe tests need it.
var (
	unsafeBuild    sync.Once
	kvdUnsafeBin   string
	unsafeBuildErr error
)

func kvdUnsafe(t *testing.T) string {
	t.Helper()
	unsafeBuild.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		var bins []string
		bins, unsafeBuildErr = procs.Build(filepath.Join(filepath.Dir(file), "..", ".."), filepath.Dir(kvdBin), "kvd-unsafe")
		if unsafeBuildErr == nil {
			kvdUnsafeBin = bins[0]
		}
	})
	if unsafeBuildErr != nil {
		t.Fatal(unsafeBuildErr)
	}
	return kvdUnsafeBin
}

// runKvd runs bin to completion in a fresh directory and returns its exit
// code and output.
func runKvd(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return 0, string(out)
}

// The kvd people deploy has no --unsafe and does not even carry the names
// of the planted bugs; kvd built with kvdunsafe switches them on by kvsim's
// names, refuses a name it does not know with the list of those it does,
// and says loudly at start which are on.
func TestUnsafeFlagOnlyInTaggedBuild(t *testing.T) {
	variants := node.UnsafeVariants()

	// Default build.
	if code, out := runKvd(t, kvdBin, "--unsafe", "stale-read"); code != 2 || !strings.Contains(out, "unknown flag --unsafe") {
		t.Fatalf("default kvd --unsafe stale-read: exit %d, want 2 and an unknown flag:\n%s", code, out)
	}
	if code, out := runKvd(t, kvdBin, "--help"); code != 0 || strings.Contains(out, "unsafe") {
		t.Fatalf("default kvd --help: exit %d, want 0 and no mention of unsafe:\n%s", code, out)
	}
	deployed, err := os.ReadFile(kvdBin)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range variants {
		if bytes.Contains(deployed, []byte(v.Name)) {
			t.Errorf("the default kvd binary contains the unsafe variant name %q: the name table is linked", v.Name)
		}
	}

	// Tagged build.
	bin := kvdUnsafe(t)
	code, out := runKvd(t, bin, "--unsafe", "stale-read,no-such-bug")
	if code != 2 || !strings.Contains(out, `--unsafe "no-such-bug": unknown variant`) {
		t.Fatalf("kvd-unsafe --unsafe stale-read,no-such-bug: exit %d, want 2 and the bad name:\n%s", code, out)
	}
	help := func(what, out string) {
		t.Helper()
		for _, v := range variants {
			if !strings.Contains(out, v.Name) {
				t.Errorf("%s does not list %q:\n%s", what, v.Name, out)
			}
		}
		if !strings.Contains(out, "ack-before-fsync") || !strings.Contains(out, "range-stream-unpinned") {
			t.Errorf("%s does not say the simulator-only variants are not offered:\n%s", what, out)
		}
	}
	help("the unknown-name error", out)
	code, out = runKvd(t, bin, "--help")
	if code != 0 {
		t.Fatalf("kvd-unsafe --help: exit %d\n%s", code, out)
	}
	help("kvd-unsafe --help", out)

	// Accepted: the member serves and warns even when --log-level would
	// hide a warning.
	ms := loopbackMembers(t, t.TempDir(), "u", "unsafe-"+t.Name(), 1)
	ms[0].extra = []string{"--unsafe", "stale-read", "--log-level", "error"}
	c := startMembers(t, bin, ms)
	cli := c.client()
	if _, err := cli.Put(ctxT(t, 10*time.Second), "k", "v"); err != nil {
		t.Fatalf("put on kvd --unsafe stale-read: %v\n%s", err, c.procs[0].log)
	}
	if r, err := cli.Get(ctxT(t, 5*time.Second), "k"); err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "v" {
		t.Fatalf("get on kvd --unsafe stale-read: %v, %v", r, err)
	}
	warning := lineWith(c.procs[0].log.String(), "UNSAFE KVD")
	if warning == "" || !strings.Contains(warning, `"unsafe":["stale-read"]`) || !strings.Contains(warning, `"level":"WARN"`) {
		t.Fatalf("kvd --unsafe stale-read --log-level error: want a warning naming stale-read, log:\n%s", c.procs[0].log)
	}
}
