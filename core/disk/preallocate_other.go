//go:build !linux

package disk

// Preallocate reserves nothing where fallocate does not exist: the file
// grows with its writes, as it would anyway.
func (f *osFile) Preallocate(sizeBytes int64) error { return ErrPreallocateUnsupported }
