package disk_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kvdlabs/kvd/core/disk"
)

func newOSFS(t *testing.T) disk.OSFS {
	t.Helper()
	return disk.OSFS{Root: t.TempDir()}
}

func writeFile(t *testing.T, fsys disk.FS, name string, chunks ...string) {
	t.Helper()
	f, err := fsys.Create(name)
	noErr(t, err)
	for _, c := range chunks {
		n, err := f.Write([]byte(c))
		noErr(t, err)
		equal(t, len(c), n)
	}
	noErr(t, f.Sync())
	noErr(t, f.Close())
}

func TestOSFSCreateWriteRead(t *testing.T) {
	fsys := newOSFS(t)
	noErr(t, fsys.MkdirAll("a/b"))
	writeFile(t, fsys, "a/b/f", "hello, ", "world")
	got, err := fsys.ReadFile("a/b/f")
	noErr(t, err)
	equal(t, "hello, world", string(got))

	// The bytes really are under Root, at the slash path translated.
	onDisk, err := os.ReadFile(filepath.Join(fsys.Root, "a", "b", "f"))
	noErr(t, err)
	equal(t, string(got), string(onDisk))
}

func TestOSFSCreateTruncatesExisting(t *testing.T) {
	fsys := newOSFS(t)
	writeFile(t, fsys, "f", "a long first content")
	writeFile(t, fsys, "f", "short")
	got, err := fsys.ReadFile("f")
	noErr(t, err)
	equal(t, "short", string(got))
}

func TestOSFSOpenAppendWritesAtEnd(t *testing.T) {
	fsys := newOSFS(t)
	writeFile(t, fsys, "f", "abc")
	f, err := fsys.OpenAppend("f")
	noErr(t, err)
	equal(t, "f", f.Name())
	got := finish(t, fsys, f, "def")
	equal(t, "abcdef", string(got))
}

// finish writes content to f, syncs and closes it, and reads the whole
// file back.
func finish(t *testing.T, fsys disk.FS, f disk.File, content string) []byte {
	t.Helper()
	_, err := f.Write([]byte(content))
	noErr(t, err)
	noErr(t, f.Sync())
	noErr(t, f.Close())
	got, err := fsys.ReadFile(f.Name())
	noErr(t, err)
	return got
}

func TestOSFSOpenAppendMissingFile(t *testing.T) {
	fsys := newOSFS(t)
	_, err := fsys.OpenAppend("missing")
	errIs(t, err, fs.ErrNotExist)
	errContains(t, err, `"missing"`)
}

func TestOSFSListSorted(t *testing.T) {
	fsys := newOSFS(t)
	for _, n := range []string{"c", "a", "b2", "b1"} {
		writeFile(t, fsys, n, n)
	}
	noErr(t, fsys.MkdirAll("d"))
	names, err := fsys.List(".")
	noErr(t, err)
	equal(t, "[a b1 b2 c d]", fmt.Sprint(names))

	_, err = fsys.List("nope")
	errIs(t, err, fs.ErrNotExist)
}

func TestOSFSRenameReplaces(t *testing.T) {
	fsys := newOSFS(t)
	writeFile(t, fsys, "old", "new content")
	writeFile(t, fsys, "target", "stale")
	noErr(t, fsys.Rename("old", "target"))
	noErr(t, fsys.SyncDir("."))
	got, err := fsys.ReadFile("target")
	noErr(t, err)
	equal(t, "new content", string(got))
	_, err = fsys.ReadFile("old")
	errIs(t, err, fs.ErrNotExist)
}

func TestOSFSRemove(t *testing.T) {
	fsys := newOSFS(t)
	writeFile(t, fsys, "f", "x")
	noErr(t, fsys.Remove("f"))
	names, err := fsys.List(".")
	noErr(t, err)
	equal(t, 0, len(names))
	errIs(t, fsys.Remove("f"), fs.ErrNotExist)
}

func TestOSFSTruncate(t *testing.T) {
	fsys := newOSFS(t)
	writeFile(t, fsys, "f", "0123456789")
	noErr(t, fsys.Truncate("f", 4))
	got, err := fsys.ReadFile("f")
	noErr(t, err)
	equal(t, "0123", string(got))

	// Appends after a truncate land at the new end.
	f, err := fsys.OpenAppend("f")
	noErr(t, err)
	_, err = f.Write([]byte("x"))
	noErr(t, err)
	noErr(t, f.Close())
	got, err = fsys.ReadFile("f")
	noErr(t, err)
	equal(t, "0123x", string(got))
}

func TestOSFSSyncDir(t *testing.T) {
	fsys := newOSFS(t)
	noErr(t, fsys.MkdirAll("d"))
	noErr(t, fsys.SyncDir("d"))
	noErr(t, fsys.SyncDir("."))
	err := fsys.SyncDir("missing")
	errIs(t, err, fs.ErrNotExist)
}

func TestOSFSWriteAfterCloseFails(t *testing.T) {
	fsys := newOSFS(t)
	f, err := fsys.Create("f")
	noErr(t, err)
	noErr(t, f.Close())
	_, err = f.Write([]byte("x"))
	errIs(t, err, os.ErrClosed)
	errContains(t, err, `"f"`)
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func equal(t *testing.T, want, got any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("want %#v, got %#v", want, got)
	}
}

func errIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("want an error wrapping %v, got %v", target, err)
	}
}

func errContains(t *testing.T, err error, substr string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), substr) {
		t.Fatalf("want an error containing %q, got %v", substr, err)
	}
}

// A real file takes the writeback hint (on Linux, sync_file_range), and
// its bytes are intact after it.
func TestOSFileStartsWriteback(t *testing.T) {
	fs := disk.OSFS{Root: t.TempDir()}
	f, err := fs.Create("snap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("state")); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.(disk.WritebackStarter); !ok {
		t.Fatal("OSFS files do not offer a writeback hint")
	}
	if err := disk.StartWriteback(f); err != nil {
		t.Fatalf("StartWriteback: %v", err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if b, err := fs.ReadFile("snap"); err != nil || string(b) != "state" {
		t.Fatalf("read back %q, %v", b, err)
	}
}

func TestOSFSPreallocateKeepsWritingAfterTheLastByteWritten(t *testing.T) {
	fsys := newOSFS(t)
	f, err := fsys.Create("f")
	noErr(t, err)
	_, err = f.Write([]byte("abc"))
	noErr(t, err)
	ok, err := disk.Preallocate(f, 4096)
	noErr(t, err)
	if !ok {
		t.Skip("this file system cannot preallocate") // the fallback is the plain file, tested above
	}
	got := finish(t, fsys, f, "def")
	equal(t, 4096, len(got))
	equal(t, "abcdef", string(got[:6]))
	equal(t, strings.Repeat("\x00", 4096-6), string(got[6:]))

	// OpenAppend opens at the end, past the zeroes, as the contract says.
	g, err := fsys.OpenAppend("f")
	noErr(t, err)
	got = finish(t, fsys, g, "z")
	equal(t, 4097, len(got))
	equal(t, byte('z'), got[4096])
}

// plainFile is a File that cannot preallocate.
type plainFile struct{ disk.File }

func TestPreallocateWithoutSupportChangesNothing(t *testing.T) {
	fsys := newOSFS(t)
	f, err := fsys.Create("f")
	noErr(t, err)
	ok, err := disk.Preallocate(plainFile{f}, 4096)
	noErr(t, err)
	equal(t, false, ok)
	noErr(t, f.Close())
	got, err := fsys.ReadFile("f")
	noErr(t, err)
	equal(t, 0, len(got))
}
