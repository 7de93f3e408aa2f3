package wal

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"path"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/kvdlabs/kvd/core/disk"
)

// memFS is a minimal in-memory disk.FS for fast tests: every write is
// immediately "durable". Crash behaviour is modelled by the tests editing
// file contents directly (cutting, zeroing, flipping bits).
type memFS struct {
	files map[string][]byte
	dirs  map[string]bool
	// failWrite and failSync, when set, make every File write or sync fail.
	failWrite, failSync error
}

func newMemFS() *memFS {
	return &memFS{files: map[string][]byte{}, dirs: map[string]bool{".": true}}
}

var errInjected = errors.New("injected I/O error")

type memFile struct {
	fs     *memFS
	name   string
	closed bool
}

func (f *memFile) Write(p []byte) (int, error) {
	if f.closed {
		return 0, fmt.Errorf("write %s: %w", f.name, iofs.ErrClosed)
	}
	if f.fs.failWrite != nil {
		return 0, f.fs.failWrite
	}
	f.fs.files[f.name] = append(f.fs.files[f.name], p...)
	return len(p), nil
}

func (f *memFile) Sync() error {
	if f.closed {
		return fmt.Errorf("sync %s: %w", f.name, iofs.ErrClosed)
	}
	return f.fs.failSync
}

func (f *memFile) Close() error {
	if f.closed {
		return fmt.Errorf("close %s: %w", f.name, iofs.ErrClosed)
	}
	f.closed = true
	return nil
}

func (f *memFile) Name() string { return f.name }

func clean(name string) string { return path.Clean(name) }

func (m *memFS) Create(name string) (disk.File, error) {
	name = clean(name)
	if !m.dirs[path.Dir(name)] {
		return nil, fmt.Errorf("create %s: %w", name, iofs.ErrNotExist)
	}
	m.files[name] = []byte{}
	return &memFile{fs: m, name: name}, nil
}

func (m *memFS) OpenAppend(name string) (disk.File, error) {
	name = clean(name)
	if _, ok := m.files[name]; !ok {
		return nil, fmt.Errorf("open %s: %w", name, iofs.ErrNotExist)
	}
	return &memFile{fs: m, name: name}, nil
}

func (m *memFS) ReadFile(name string) ([]byte, error) {
	b, ok := m.files[clean(name)]
	if !ok {
		return nil, fmt.Errorf("read %s: %w", name, iofs.ErrNotExist)
	}
	return slices.Clone(b), nil
}

func (m *memFS) Rename(oldname, newname string) error {
	oldname, newname = clean(oldname), clean(newname)
	b, ok := m.files[oldname]
	if !ok {
		return fmt.Errorf("rename %s: %w", oldname, iofs.ErrNotExist)
	}
	delete(m.files, oldname)
	m.files[newname] = b
	return nil
}

func (m *memFS) Remove(name string) error {
	name = clean(name)
	if _, ok := m.files[name]; !ok {
		return fmt.Errorf("remove %s: %w", name, iofs.ErrNotExist)
	}
	delete(m.files, name)
	return nil
}

func (m *memFS) List(dir string) ([]string, error) {
	dir = clean(dir)
	if !m.dirs[dir] {
		return nil, fmt.Errorf("list %s: %w", dir, iofs.ErrNotExist)
	}
	var names []string
	for name := range m.files {
		if path.Dir(name) == dir {
			names = append(names, path.Base(name))
		}
	}
	slices.Sort(names)
	return names, nil
}

func (m *memFS) Truncate(name string, sizeBytes int64) error {
	name = clean(name)
	b, ok := m.files[name]
	if !ok || sizeBytes > int64(len(b)) {
		return fmt.Errorf("truncate %s: %w", name, iofs.ErrInvalid)
	}
	m.files[name] = b[:sizeBytes]
	return nil
}

func (m *memFS) MkdirAll(dir string) error {
	for d := clean(dir); ; d = path.Dir(d) {
		m.dirs[d] = true
		if d == "." || d == "/" {
			return nil
		}
	}
}

func (m *memFS) SyncDir(dir string) error {
	if !m.dirs[clean(dir)] {
		return fmt.Errorf("sync dir %s: %w", dir, iofs.ErrNotExist)
	}
	return nil
}

// segmentFiles lists the segment paths in dir, oldest first.
func (m *memFS) segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := m.List(dir)
	noErr(t, err)
	var segs []string
	for _, n := range names {
		if strings.HasSuffix(n, segmentSuffix) {
			segs = append(segs, path.Join(dir, n))
		}
	}
	return segs
}

func (m *memFS) clone() *memFS {
	c := newMemFS()
	for k, v := range m.files {
		c.files[k] = slices.Clone(v)
	}
	for k := range m.dirs {
		c.dirs[k] = true
	}
	return c
}

func entry(index, term uint64, data string) *raftpb.Entry {
	e := &raftpb.Entry{Index: &index, Term: &term, Type: raftpb.EntryType_EntryNormal.Enum()}
	if data != "" {
		e.Data = []byte(data)
	}
	return e
}

func entries(from, to, term uint64) []*raftpb.Entry {
	var ents []*raftpb.Entry
	for i := from; i <= to; i++ {
		ents = append(ents, entry(i, term, fmt.Sprintf("value-%d-%d", i, term)))
	}
	return ents
}

func hardStateOfValues(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: &term, Vote: &vote, Commit: &commit}
}

func snapshotAt(index, term uint64, data string) *raftpb.Snapshot {
	return &raftpb.Snapshot{
		Data: []byte(data),
		Metadata: &raftpb.SnapshotMetadata{
			Index:     &index,
			Term:      &term,
			ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}},
		},
	}
}

// sameEntries compares by value (pointer fields make reflect.DeepEqual
// compare addresses' targets, but nil and empty Data must count as equal).
func sameEntries(t *testing.T, want, got []*raftpb.Entry) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("want %d entries %s, got %d %s", len(want), describe(want), len(got), describe(got))
	}
	for i := range want {
		w, g := want[i], got[i]
		if w.GetIndex() != g.GetIndex() || w.GetTerm() != g.GetTerm() || w.GetType() != g.GetType() || string(w.GetData()) != string(g.GetData()) {
			t.Fatalf("entry %d: want %v, got %v", i, w, g)
		}
	}
}

func describe(ents []*raftpb.Entry) string {
	if len(ents) == 0 {
		return "[]"
	}
	return fmt.Sprintf("[%d/%d .. %d/%d]", ents[0].GetIndex(), ents[0].GetTerm(), ents[len(ents)-1].GetIndex(), ents[len(ents)-1].GetTerm())
}

func sameHardState(t *testing.T, want, got *raftpb.HardState) {
	t.Helper()
	if got == nil {
		t.Fatalf("hard state is nil")
	}
	if hardStateOf(want) != hardStateOf(got) {
		t.Fatalf("want hard state %v, got %v", want, got)
	}
}

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func errIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("want an error wrapping %q, got %v", target, err)
	}
}

func mustCreate(t testing.TB, fs disk.FS, opts Options) *WAL {
	t.Helper()
	w, err := Create(fs, "wal", []byte("cluster=7 member=1"), opts)
	noErr(t, err)
	return w
}

func mustOpen(t testing.TB, fs disk.FS, opts Options) (*WAL, *Recovered) {
	t.Helper()
	w, rec, err := Open(fs, "wal", opts)
	noErr(t, err)
	return w, rec
}
