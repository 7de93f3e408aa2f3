//go:build !linux

package disk

// StartWriteback does nothing where sync_file_range does not exist: the
// final Sync does all the work, as it would anyway.
func (f *osFile) StartWriteback() error { return nil }
