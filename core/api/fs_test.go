package api

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kvdlabs/kvd/core/disk"
)

// TestTimedFilePassesOptionalMethodsOn: the fsync-timing wrapper embeds
// disk.File, which hides a File's optional methods; each must be passed on
// by hand, or the WAL silently loses it (preallocation once went missing
// this way, and only a segment's size on disk showed it).
func TestTimedFilePassesOptionalMethodsOn(t *testing.T) {
	base := disk.OSFS{Root: t.TempDir()}
	probe, err := base.Create("probe")
	if err != nil {
		t.Fatal(err)
	}
	canPreallocate, err := disk.Preallocate(probe, 4096)
	if err != nil {
		t.Fatal(err)
	}
	probe.Close()

	fs := timedFS{FS: base, fsync: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "test_fsync_seconds"})}
	for _, open := range []func(string) (disk.File, error){fs.Create, fs.OpenAppend} {
		f, err := open("probe")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := f.(disk.WritebackStarter); !ok {
			t.Errorf("%T hides StartWriteback", f)
		}
		if _, ok := f.(disk.Preallocator); !ok {
			t.Errorf("%T hides Preallocate", f)
		}
		ok, err := disk.Preallocate(f, 8192)
		if err != nil || ok != canPreallocate {
			t.Errorf("preallocating through %T: %t, %v; the file system itself: %t", f, ok, err, canPreallocate)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
