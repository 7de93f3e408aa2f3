package disk

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// OSFS is the FS of a real disk, used by kvd. Every path is taken relative
// to Root (an empty Root means the process's working directory).
//
// Errors are the os package's *PathError values (wrapped with the operation
// and name), so errors.Is(err, fs.ErrNotExist) keeps working.
type OSFS struct {
	// Root is the directory all names are relative to.
	Root string
}

var _ FS = OSFS{}

// filePermissions are those etcd uses for its data files: private to the
// member's user, since the log holds every value ever written.
const (
	filePermissions = 0o600
	dirPermissions  = 0o700
)

func (o OSFS) path(name string) string {
	return filepath.Join(o.Root, filepath.FromSlash(name))
}

// Create makes a new empty file (truncating one that exists) for appending.
func (o OSFS) Create(name string) (File, error) {
	// Not O_APPEND: that would write past preallocated space (Preallocate).
	// A new file's offset is its start; each Write moves it on.
	f, err := os.OpenFile(o.path(name), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, filePermissions)
	if err != nil {
		return nil, fmt.Errorf("disk: create %q: %w", name, err)
	}
	return &osFile{f: f, name: name}, nil
}

// OpenAppend opens an existing file for appending at its end
// (preallocated space included).
func (o OSFS) OpenAppend(name string) (File, error) {
	f, err := os.OpenFile(o.path(name), os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("disk: open %q for append: %w", name, err)
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("disk: open %q for append: seek to its end: %w", name, err)
	}
	return &osFile{f: f, name: name}, nil
}

// ReadFile returns the whole content of a file.
func (o OSFS) ReadFile(name string) ([]byte, error) {
	b, err := os.ReadFile(o.path(name))
	if err != nil {
		return nil, fmt.Errorf("disk: read %q: %w", name, err)
	}
	return b, nil
}

// Rename atomically replaces newname with oldname. Like every directory
// change it is durable only after SyncDir.
func (o OSFS) Rename(oldname, newname string) error {
	if err := os.Rename(o.path(oldname), o.path(newname)); err != nil {
		return fmt.Errorf("disk: rename %q to %q: %w", oldname, newname, err)
	}
	return nil
}

// Remove deletes a file.
func (o OSFS) Remove(name string) error {
	if err := os.Remove(o.path(name)); err != nil {
		return fmt.Errorf("disk: remove %q: %w", name, err)
	}
	return nil
}

// List returns the names of the entries of dir, sorted.
func (o OSFS) List(dir string) ([]string, error) {
	entries, err := os.ReadDir(o.path(dir))
	if err != nil {
		return nil, fmt.Errorf("disk: list %q: %w", dir, err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// os.ReadDir sorts today; the contract must not rest on that.
	slices.Sort(names)
	return names, nil
}

// Truncate cuts a file to sizeBytes bytes.
func (o OSFS) Truncate(name string, sizeBytes int64) error {
	if err := os.Truncate(o.path(name), sizeBytes); err != nil {
		return fmt.Errorf("disk: truncate %q to %d bytes: %w", name, sizeBytes, err)
	}
	return nil
}

// MkdirAll creates dir and any missing parents.
func (o OSFS) MkdirAll(dir string) error {
	if err := os.MkdirAll(o.path(dir), dirPermissions); err != nil {
		return fmt.Errorf("disk: mkdir %q: %w", dir, err)
	}
	return nil
}

// SyncDir fsyncs the directory itself, which is what makes creations,
// renames and removals of its entries survive a power loss.
func (o OSFS) SyncDir(dir string) error {
	d, err := os.Open(o.path(dir))
	if err != nil {
		return fmt.Errorf("disk: open dir %q for sync: %w", dir, err)
	}
	syncErr := d.Sync()
	closeErr := d.Close()
	if syncErr != nil {
		return fmt.Errorf("disk: sync dir %q: %w", dir, syncErr)
	}
	if closeErr != nil {
		return fmt.Errorf("disk: close dir %q after sync: %w", dir, closeErr)
	}
	return nil
}

// osFile is a File on the real disk; it remembers the name it was opened
// with so that errors and Name() speak in FS-relative paths.
type osFile struct {
	f    *os.File
	name string
}

func (f *osFile) Write(p []byte) (int, error) {
	n, err := f.f.Write(p)
	if err != nil {
		return n, fmt.Errorf("disk: write %d bytes to %q: %w", len(p), f.name, err)
	}
	return n, nil
}

func (f *osFile) Sync() error {
	if err := f.f.Sync(); err != nil {
		return fmt.Errorf("disk: sync %q: %w", f.name, err)
	}
	return nil
}

func (f *osFile) Close() error {
	if err := f.f.Close(); err != nil {
		return fmt.Errorf("disk: close %q: %w", f.name, err)
	}
	return nil
}

func (f *osFile) Name() string { return f.name }
