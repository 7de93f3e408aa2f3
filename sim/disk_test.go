package sim

import (
	"bytes"
	"errors"
	"io/fs"
	"math/bits"
	"syscall"
	"testing"
	"time"

	"github.com/kvdlabs/kvd/core/disk"
	"pgregory.net/rapid"
)

// diskOps wraps a Disk so that a setup step reads as a script and any
// unexpected error fails the test.
type diskOps struct {
	t fataler
	d *Disk
}

func (o diskOps) write(name, content string, sync bool) disk.File {
	o.t.Helper()
	f, err := o.d.OpenAppend(name)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = o.d.Create(name)
	}
	noError(o.t, err, "open ", name)
	_, err = f.Write([]byte(content))
	noError(o.t, err, "write ", name)
	if sync {
		noError(o.t, f.Sync(), "sync ", name)
	}
	return f
}

func (o diskOps) do(err error, what string) {
	o.t.Helper()
	noError(o.t, err, what)
}

func TestDiskCrashModel(t *testing.T) {
	const absent = "<absent>"
	for _, tc := range []struct {
		name  string
		setup func(o diskOps)
		want  map[string]string // path → content after the crash
	}{{
		name: "synced bytes in a synced directory survive",
		setup: func(o diskOps) {
			o.do(o.d.MkdirAll("wal"), "mkdir")
			o.do(o.d.SyncDir("."), "syncdir root")
			o.write("wal/0", "hello", true)
			o.do(o.d.SyncDir("wal"), "syncdir wal")
		},
		want: map[string]string{"wal/0": "hello"},
	}, {
		name: "unsynced bytes are lost",
		setup: func(o diskOps) {
			o.write("f", "hello", true)
			o.do(o.d.SyncDir(""), "syncdir")
			o.write("f", " world", false)
		},
		want: map[string]string{"f": "hello"},
	}, {
		name: "a synced file whose creation was not synced is lost",
		setup: func(o diskOps) {
			o.write("f", "hello", true)
		},
		want: map[string]string{"f": absent},
	}, {
		name: "a durable entry with unsynced bytes survives empty",
		setup: func(o diskOps) {
			o.write("f", "hello", false)
			o.do(o.d.SyncDir(""), "syncdir")
		},
		want: map[string]string{"f": ""},
	}, {
		name: "a directory whose creation was not synced is lost with its files",
		setup: func(o diskOps) {
			o.do(o.d.MkdirAll("a/b"), "mkdir")
			o.do(o.d.SyncDir("a"), "syncdir a")
			o.write("a/b/f", "x", true)
			o.do(o.d.SyncDir("a/b"), "syncdir a/b")
		},
		want: map[string]string{"a/b/f": absent},
	}, {
		name: "a rename is durable after SyncDir",
		setup: func(o diskOps) {
			o.write("snap.tmp", "state", true)
			o.do(o.d.SyncDir(""), "syncdir")
			o.do(o.d.Rename("snap.tmp", "snap"), "rename")
			o.do(o.d.SyncDir(""), "syncdir")
		},
		want: map[string]string{"snap": "state", "snap.tmp": absent},
	}, {
		name: "a rename without SyncDir reverts",
		setup: func(o diskOps) {
			o.write("snap.tmp", "new", true)
			o.write("snap", "old", true)
			o.do(o.d.SyncDir(""), "syncdir")
			o.do(o.d.Rename("snap.tmp", "snap"), "rename")
		},
		want: map[string]string{"snap": "old", "snap.tmp": "new"},
	}, {
		name: "a remove without SyncDir reverts",
		setup: func(o diskOps) {
			o.write("f", "kept", true)
			o.do(o.d.SyncDir(""), "syncdir")
			o.do(o.d.Remove("f"), "remove")
		},
		want: map[string]string{"f": "kept"},
	}, {
		name: "a truncate without Sync reverts",
		setup: func(o diskOps) {
			o.write("f", "hello world", true)
			o.do(o.d.SyncDir(""), "syncdir")
			o.do(o.d.Truncate("f", 5), "truncate")
		},
		want: map[string]string{"f": "hello world"},
	}, {
		name: "a truncate then Sync is durable",
		setup: func(o diskOps) {
			o.write("f", "hello world", true)
			o.do(o.d.SyncDir(""), "syncdir")
			o.do(o.d.Truncate("f", 5), "truncate")
			o.write("f", "!", true)
		},
		want: map[string]string{"f": "hello!"},
	}, {
		name: "Create over an existing file without Sync reverts",
		setup: func(o diskOps) {
			o.write("f", "old", true)
			o.do(o.d.SyncDir(""), "syncdir")
			f, err := o.d.Create("f")
			o.do(err, "create")
			_, err = f.Write([]byte("new"))
			o.do(err, "write")
		},
		want: map[string]string{"f": "old"},
	}, {
		name: "a renamed directory carries its durable children",
		setup: func(o diskOps) {
			o.do(o.d.MkdirAll("wal.tmp"), "mkdir")
			o.write("wal.tmp/0", "rec", true)
			o.do(o.d.SyncDir("wal.tmp"), "syncdir wal.tmp")
			o.do(o.d.Rename("wal.tmp", "wal"), "rename")
			o.do(o.d.SyncDir(""), "syncdir")
		},
		want: map[string]string{"wal/0": "rec", "wal.tmp/0": absent},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			d := New(1, Options{}).NewDisk("m1")
			tc.setup(diskOps{t, d})
			d.Crash()
			for name, want := range tc.want {
				got, err := d.ReadFile(name)
				if want == absent {
					check(t, errors.Is(err, fs.ErrNotExist), name, " should be absent, got ", string(got), " ", err)
					continue
				}
				noError(t, err, "read ", name)
				equal(t, want, string(got), name)
			}
		})
	}
}

// TestTornTailIsAPrefix: whatever is written and synced, a torn crash
// leaves the durable content plus a prefix of the unsynced tail, and the
// result is durable.
func TestTornTailIsAPrefix(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := New(rapid.Uint64().Draw(t, "seed"), Options{Disk: DiskOptions{TornWrites: true}})
		d := w.NewDisk("m1")
		o := diskOps{t, d}
		var durable, written []byte
		f := o.write("wal", "", true)
		o.do(d.SyncDir(""), "syncdir")
		for range rapid.IntRange(0, 20).Draw(t, "writes") {
			p := rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "p")
			_, err := f.Write(p)
			o.do(err, "write")
			written = append(written, p...)
			if rapid.Bool().Draw(t, "sync") {
				o.do(f.Sync(), "sync")
				durable = bytes.Clone(written)
			}
		}
		d.Crash()
		got, err := d.ReadFile("wal")
		o.do(err, "read")
		check(t, bytes.HasPrefix(written, got), "torn content is not a prefix of what was written")
		check(t, len(got) >= len(durable), "synced bytes were lost: ", len(got), " < ", len(durable))
		d.Crash()
		again, err := d.ReadFile("wal")
		o.do(err, "read")
		equal(t, got, again, "what survived a crash is durable")
	})
}

func TestTornCrashIsDeterministic(t *testing.T) {
	kept := func(seed uint64) int {
		d := New(seed, Options{Disk: DiskOptions{TornWrites: true}}).NewDisk("m1")
		o := diskOps{t, d}
		o.write("wal", "", true)
		o.do(d.SyncDir(""), "syncdir")
		o.write("wal", string(make([]byte, 1<<16)), false)
		d.Crash()
		got, err := d.ReadFile("wal")
		o.do(err, "read")
		return len(got)
	}
	equal(t, kept(5), kept(5))
	lengths := map[int]bool{}
	for seed := range uint64(10) {
		lengths[kept(seed)] = true
	}
	check(t, len(lengths) > 1, "ten seeds tore 64 KiB at the same length")
}

func TestDiskErrorsLookReal(t *testing.T) {
	w := New(1, Options{Disk: DiskOptions{CapacityBytes: 10}})
	d := w.NewDisk("m1")
	o := diskOps{t, d}

	_, err := d.ReadFile("missing")
	check(t, errors.Is(err, fs.ErrNotExist), "ReadFile of a missing file: ", err)
	_, err = d.OpenAppend("dir/missing")
	check(t, errors.Is(err, fs.ErrNotExist), "OpenAppend in a missing dir: ", err)
	check(t, errors.Is(d.Remove("missing"), fs.ErrNotExist), "Remove of a missing file")
	check(t, errors.Is(d.Rename("missing", "x"), fs.ErrNotExist), "Rename of a missing file")

	f := o.write("f", "12345", true)
	d.InjectWriteError(syscall.EIO)
	_, err = f.Write([]byte("x"))
	check(t, errors.Is(err, syscall.EIO), "injected write error: ", err)
	var pathErr *fs.PathError
	check(t, errors.As(err, &pathErr) && pathErr.Path == "f" && pathErr.Op == "write", "error names op and file: ", err)
	_, err = f.Write([]byte("6"))
	noError(t, err, "the write error is one-shot")

	d.InjectSyncError(syscall.EIO)
	check(t, errors.Is(f.Sync(), syscall.EIO), "injected sync error")
	o.do(d.SyncDir(""), "syncdir")
	d.Crash()
	got, err := d.ReadFile("f")
	o.do(err, "read")
	equal(t, "12345", string(got), "a failed sync made nothing durable")

	f = o.write("f", "", false)
	d.SetFull(true)
	_, err = f.Write([]byte("x"))
	check(t, errors.Is(err, syscall.ENOSPC), "full disk: ", err)
	d.SetFull(false)
	_, err = f.Write([]byte("67890"))
	noError(t, err, "10 bytes fit a 10-byte disk")
	_, err = f.Write([]byte("x"))
	check(t, errors.Is(err, syscall.ENOSPC), "beyond capacity: ", err)
	check(t, errors.Is(d.Truncate("f", 11), syscall.ENOSPC), "growing beyond capacity")
	equal(t, int64(10), d.UsedBytes())

	o.do(d.MkdirAll("dir"), "mkdir")
	o.write("dir/x", "", false)
	check(t, errors.Is(d.Remove("dir"), syscall.ENOTEMPTY), "removing a non-empty dir")
	_, err = d.Create("dir")
	check(t, errors.Is(err, syscall.EISDIR), "creating over a dir: ", err)
	_, err = d.List("f")
	check(t, errors.Is(err, syscall.ENOTDIR), "listing a file: ", err)
	names, err := d.List("/")
	o.do(err, "list")
	equal(t, []string{"dir", "f"}, names)
	check(t, errors.Is(d.Rename("dir", "dir/sub"), syscall.EINVAL), "renaming a dir into itself")

	check(t, errors.Is(f.Close(), nil), "close")
	_, err = f.Write([]byte("x"))
	check(t, errors.Is(err, fs.ErrClosed), "write after close: ", err)
}

func TestFlipBitCorruptsDurableData(t *testing.T) {
	d := New(1, Options{}).NewDisk("m1")
	o := diskOps{t, d}
	o.write("f", "abcdef", true)
	o.do(d.SyncDir(""), "syncdir")
	o.write("f", "unsynced", false)
	o.do(d.FlipBit("f", 2), "flip")
	d.Crash()
	got, err := d.ReadFile("f")
	o.do(err, "read")
	equal(t, 6, len(got))
	for i := range got {
		diff := bits.OnesCount8(got[i] ^ "abcdef"[i])
		if i == 2 {
			equal(t, 1, diff, "exactly one bit flipped at the offset")
		} else {
			equal(t, 0, diff, "byte ", i, " changed")
		}
	}
	check(t, d.FlipBit("f", 6) != nil, "flipping beyond the durable data")
	check(t, errors.Is(d.FlipBit("nope", 0), fs.ErrNotExist), "flipping in a missing file")
}

func TestFileFromBeforeACrashPanics(t *testing.T) {
	d := New(1, Options{}).NewDisk("m1")
	f := diskOps{t, d}.write("f", "x", true)
	d.Crash()
	panics(t, "sim: disk m1: file f used after a crash", func() { _, _ = f.Write([]byte("y")) })
}

func TestOpCost(t *testing.T) {
	d := New(1, Options{Disk: DiskOptions{
		OpCostBase: 5 * time.Microsecond, OpCostJitter: 10 * time.Microsecond,
		SyncCostBase: 2 * time.Millisecond,
	}}).NewDisk("m1")
	f, err := d.Create("f")
	noError(t, err, "create")
	for range 50 {
		_, err = f.Write([]byte("x"))
		noError(t, err, "write")
		c := d.LastOpCost()
		check(t, c >= 5*time.Microsecond && c < 15*time.Microsecond, "write cost ", c, " outside [base, base+jitter)")
	}
	noError(t, f.Sync(), "sync")
	equal(t, 2*time.Millisecond, d.LastOpCost())
	d.SetSlow(time.Second)
	noError(t, f.Sync(), "sync")
	equal(t, time.Second+2*time.Millisecond, d.LastOpCost(), "a latency spike adds to every op")
}

// TestPreallocatedFileCrashesLikeARealOne: writes fill reserved space, and
// a crash leaves the synced bytes, then a prefix of the unsynced ones (torn
// writes on) or none, then zeroes up to the size the last sync made
// durable; what survived is durable, and counted as used.
func TestPreallocatedFileCrashesLikeARealOne(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		torn := rapid.Bool().Draw(t, "torn")
		w := New(rapid.Uint64().Draw(t, "seed"), Options{Disk: DiskOptions{TornWrites: torn}})
		d := w.NewDisk("m1")
		o := diskOps{t, d}
		f := o.write("wal", "", true)
		o.do(d.SyncDir(""), "syncdir")
		var written []byte
		reserved, durableLen, durableSize := 0, 0, 0
		for range rapid.IntRange(0, 30).Draw(t, "steps") {
			switch rapid.IntRange(0, 2).Draw(t, "op") {
			case 0:
				p := rapid.SliceOfN(rapid.ByteRange(1, 255), 0, 64).Draw(t, "p")
				_, err := f.Write(p)
				o.do(err, "write")
				written = append(written, p...)
			case 1:
				size := rapid.IntRange(0, 512).Draw(t, "size")
				ok, err := disk.Preallocate(f, int64(size))
				o.do(err, "preallocate")
				check(t, ok, "the simulated disk preallocates")
				reserved = max(reserved, size)
			case 2:
				o.do(f.Sync(), "sync")
				durableLen, durableSize = len(written), max(reserved, len(written))
			}
			got, err := d.ReadFile("wal")
			o.do(err, "read")
			want := append(bytes.Clone(written), make([]byte, max(0, reserved-len(written)))...)
			check(t, bytes.Equal(want, got), "before a crash, a file reads as its writes then its reserved zeroes: ", got, ", want ", want)
		}
		d.Crash()
		got, err := d.ReadFile("wal")
		o.do(err, "read")
		check(t, len(got) >= max(durableSize, durableLen), "the synced size was lost: ", len(got), " < ", durableSize)
		check(t, bytes.Equal(written[:durableLen], got[:durableLen]), "synced bytes changed")
		kept := durableLen
		for kept < len(got) && kept < len(written) && got[kept] == written[kept] {
			kept++
		}
		check(t, torn || kept == durableLen, "without torn writes, unsynced bytes survived: ", kept-durableLen)
		check(t, bytes.Equal(make([]byte, len(got)-kept), got[kept:]), "after the bytes kept, only zeroes: ", got[kept:])
		check(t, len(got) == max(durableSize, kept), "size after the crash ", len(got), ", want ", max(durableSize, kept))
		equal(t, int64(len(got)), d.UsedBytes(), "used bytes")
		d.Crash()
		again, err := d.ReadFile("wal")
		o.do(err, "read")
		check(t, bytes.Equal(got, again), "what survived a crash is durable")
	})
}

func TestPreallocateOnAFullDiskFails(t *testing.T) {
	d := New(1, Options{Disk: DiskOptions{CapacityBytes: 100}}).NewDisk("m1")
	o := diskOps{t, d}
	f := o.write("f", "12345", true)
	_, err := disk.Preallocate(f, 101)
	check(t, errors.Is(err, syscall.ENOSPC), "preallocating past the capacity: ", err)
	ok, err := disk.Preallocate(f, 100)
	o.do(err, "preallocate to the capacity")
	check(t, ok, "preallocated")
	_, err = f.Write([]byte("67890"))
	o.do(err, "a write into reserved space needs no more room")
	equal(t, int64(100), d.UsedBytes(), "used bytes")
	o.do(d.Truncate("f", 10), "cut the reserved space")
	equal(t, int64(10), d.UsedBytes(), "used bytes after the cut")
	got, err := d.ReadFile("f")
	o.do(err, "read")
	equal(t, "1234567890", string(got), "content after the cut")
}
