package api

import (
	"io/fs"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kvdlabs/kvd/core/disk"
)

// timedFS wraps the member's FS to time every fsync for the WAL fsync
// histogram; it changes nothing else.
type timedFS struct {
	disk.FS
	fsync prometheus.Observer
}

func (t timedFS) Create(name string) (disk.File, error) {
	f, err := t.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return timedFile{File: f, fsync: fsyncFor(t.fsync, name)}, nil
}

func (t timedFS) OpenAppend(name string) (disk.File, error) {
	f, err := t.FS.OpenAppend(name)
	if err != nil {
		return nil, err
	}
	return timedFile{File: f, fsync: t.fsync}, nil
}

type timedFile struct {
	disk.File
	fsync prometheus.Observer
}

func (t timedFile) Sync() error {
	start := time.Now()
	err := t.File.Sync()
	t.fsync.Observe(time.Since(start).Seconds())
	return err
}

// StartWriteback passes the hint on: embedding hides the optional method.
func (t timedFile) StartWriteback() error { return disk.StartWriteback(t.File) }

// Preallocate passes the reservation on, for the same reason.
func (t timedFile) Preallocate(sizeBytes int64) error {
	return disk.PreallocateThrough(t.File, sizeBytes)
}

// dirSizeBytes sums the sizes of the regular files under dir; unreadable
// entries count as empty (the quota is an approximation, not an audit).
func dirSizeBytes(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil && info.Mode().IsRegular() {
			total += info.Size()
		}
		return nil
	})
	return total
}

func formatID(id uint64) string { return strconv.FormatUint(id, 16) }
