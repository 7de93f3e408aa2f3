package disk

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// StartWriteback asks Linux to write the file's dirty pages back now
// (sync_file_range with SYNC_FILE_RANGE_WRITE): it returns without waiting
// for them and without flushing the device cache, so it promises nothing
// Sync would.
func (f *osFile) StartWriteback() error {
	if err := unix.SyncFileRange(int(f.f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE); err != nil {
		return fmt.Errorf("disk: start writeback of %q: %w", f.name, err)
	}
	return nil
}
