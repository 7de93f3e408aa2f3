package disk

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Preallocate reserves the file's blocks up to sizeBytes with fallocate
// (mode 0: allocate, and extend the size), so later writes fill space the
// file already owns. The write offset does not move.
func (f *osFile) Preallocate(sizeBytes int64) error {
	err := unix.Fallocate(int(f.f.Fd()), 0, 0, sizeBytes)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return ErrPreallocateUnsupported
	}
	if err != nil {
		return fmt.Errorf("disk: preallocate %q to %d bytes: %w", f.name, sizeBytes, err)
	}
	return nil
}
