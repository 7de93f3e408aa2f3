package sim

import (
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/kvdlabs/kvd/core/disk"
)

// Disk is a simulated file system implementing disk.FS, one per member.
//
// It models the durability contract of package disk: bytes written to a
// file are volatile until File.Sync; creations, renames and removals are
// volatile until SyncDir on the parent directory. Crash forgets everything
// volatile (with torn writes on, it keeps a random prefix of each file's
// unsynced tail). Preallocated space (File's disk.Preallocator) reads as
// zeroes, writes fill it, and its size is durable after the next Sync.
// The caller — the nemesis — injects faults: EIO on the
// next write or sync, a full disk, bit flips in durable data, slowness.
//
// Every operation has a virtual cost, LastOpCost, for the member driver to
// charge; the Disk itself never advances time.
type Disk struct {
	w    *World
	name string
	opts DiskOptions
	rand *rand.Rand

	root *inode
	// generation counts crashes; a File from an earlier generation belongs
	// to a process that no longer exists.
	generation uint64
	usedBytes  int64

	writeErr  error // fails the next Write, then clears
	syncErr   error // fails the next Sync or SyncDir, then clears
	full      bool
	torn      bool
	slowExtra time.Duration

	// syncs counts Sync and SyncDir calls, failed ones too.
	syncs uint64
	// rewrites counts changes to durable content that no write made: bit
	// flips and restored images.
	rewrites uint64

	lastOpCost time.Duration
	// roundCost is the cost of the slowest operation since the last
	// TakeRoundCost.
	roundCost time.Duration
}

var _ disk.FS = (*Disk)(nil)

// inode is a file or a directory. Directory entries and file bytes each
// have a current (volatile) and a durable state.
type inode struct {
	dir bool

	// Directories: entries is what List sees; durableEntries what a crash
	// leaves.
	entries        map[string]*inode
	durableEntries map[string]*inode

	// Files: data is what ReadFile sees. Because files are appended to,
	// the durable content is usually data[:durableLen] and needs no copy;
	// only when data is cut below durableLen does the durable content move
	// to durableCopy (durableIsPrefix false). This keeps Sync O(1).
	data            []byte
	durableLen      int
	durableIsPrefix bool
	durableCopy     []byte
	// zeroTailBytes is preallocated space after data: it reads as zeroes,
	// and writes fill it. durableSizeBytes is the size (data and zeroes)
	// the last Sync made durable: what a crash leaves, unsynced writes into
	// the reserved space reading as zeroes again, as on a real disk.
	zeroTailBytes    int
	durableSizeBytes int
}

func newDirInode() *inode {
	return &inode{dir: true, entries: map[string]*inode{}, durableEntries: map[string]*inode{}}
}

func newFileInode() *inode { return &inode{durableIsPrefix: true} }

// sizeBytes is the file's size as ReadFile sees it.
func (n *inode) sizeBytes() int { return len(n.data) + n.zeroTailBytes }

// materializeZeroTail turns the reserved zeroes into data, for operations
// that write after them.
func (n *inode) materializeZeroTail() {
	n.data = append(n.data, make([]byte, n.zeroTailBytes)...)
	n.zeroTailBytes = 0
}

// durable returns the content a crash would leave (before any tearing).
func (n *inode) durable() []byte {
	if n.durableIsPrefix {
		if n.durableLen > len(n.data) {
			panic(fmt.Sprintf("sim: inode durable length %d beyond its %d bytes", n.durableLen, len(n.data)))
		}
		return n.data[:n.durableLen]
	}
	return n.durableCopy
}

// cut truncates data to size, first saving the durable content if the cut
// would reach into it.
func (n *inode) cut(size int) {
	if n.durableIsPrefix && size < n.durableLen {
		n.durableCopy = slices.Clone(n.data[:n.durableLen])
		n.durableIsPrefix = false
	}
	n.data = n.data[:size]
}

func newDisk(w *World, name string, opts DiskOptions) *Disk {
	return &Disk{
		w:    w,
		name: name,
		opts: opts,
		rand: w.Rand("sim/disk/" + name),
		root: newDirInode(),
		torn: opts.TornWrites,
	}
}

// Name returns the disk's name.
func (d *Disk) Name() string { return d.name }

// LastOpCost returns the virtual time the latest operation took.
func (d *Disk) LastOpCost() time.Duration { return d.lastOpCost }

// TakeRoundCost returns the cost of the slowest operation since the
// previous call — zero if there was none — and starts a new round. A
// driver charges each round of work for the operations that round did:
// charging LastOpCost instead would bill a round that never touched the
// disk for an operation long past (say, a sync during a healed latency
// spike). The slowest, not the sum: a round's cost stands for its fsync.
func (d *Disk) TakeRoundCost() time.Duration {
	c := d.roundCost
	d.roundCost = 0
	return c
}

// UsedBytes returns the bytes held by files reachable from the root.
func (d *Disk) UsedBytes() int64 { return d.usedBytes }

func (d *Disk) charge(sync bool) {
	base, jitter := d.opts.OpCostBase, d.opts.OpCostJitter
	if sync {
		base, jitter = d.opts.SyncCostBase, d.opts.SyncCostJitter
	}
	cost := base + d.slowExtra
	if jitter > 0 {
		cost += time.Duration(d.rand.Int64N(int64(jitter)))
	}
	d.lastOpCost = cost
	d.roundCost = max(d.roundCost, cost)
}

func pathErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// split cleans name into its components; the root is no components.
func split(name string) []string {
	p := path.Clean("/" + name)
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

// walk finds the inode at components.
func (d *Disk) walk(components []string) (*inode, error) {
	n := d.root
	for _, c := range components {
		if !n.dir {
			return nil, syscall.ENOTDIR
		}
		child, ok := n.entries[c]
		if !ok {
			return nil, syscall.ENOENT
		}
		n = child
	}
	return n, nil
}

func (d *Disk) lookup(op, name string) (*inode, error) {
	components := split(name)
	n, err := d.walk(components)
	if err != nil {
		return nil, pathErr(op, name, err)
	}
	return n, nil
}

// lookupParent finds the directory that holds name, and name's base.
func (d *Disk) lookupParent(op, name string) (*inode, string, error) {
	components := split(name)
	if len(components) == 0 {
		return nil, "", pathErr(op, name, syscall.EINVAL)
	}
	parent, err := d.walk(components[:len(components)-1])
	if err == nil && !parent.dir {
		err = syscall.ENOTDIR
	}
	if err != nil {
		return nil, "", pathErr(op, name, err)
	}
	return parent, components[len(components)-1], nil
}

// Create makes a new empty file, truncating one that exists.
func (d *Disk) Create(name string) (disk.File, error) {
	d.charge(false)
	parent, base, err := d.lookupParent("open", name)
	if err != nil {
		return nil, err
	}
	n, ok := parent.entries[base]
	switch {
	case ok && n.dir:
		return nil, pathErr("open", name, syscall.EISDIR)
	case ok:
		d.usedBytes -= int64(n.sizeBytes())
		n.cut(0)
		n.zeroTailBytes = 0
	default:
		n = newFileInode()
		parent.entries[base] = n
	}
	d.w.Trace("disk.create", "%s %s", d.name, name)
	return &file{d: d, n: n, name: name, generation: d.generation}, nil
}

// OpenAppend opens an existing file for appending at its end
// (preallocated space included: the zeroes become data).
func (d *Disk) OpenAppend(name string) (disk.File, error) {
	d.charge(false)
	n, err := d.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if n.dir {
		return nil, pathErr("open", name, syscall.EISDIR)
	}
	n.materializeZeroTail()
	return &file{d: d, n: n, name: name, generation: d.generation}, nil
}

// ReadFile returns a copy of a file's current content.
func (d *Disk) ReadFile(name string) ([]byte, error) {
	d.charge(false)
	n, err := d.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if n.dir {
		return nil, pathErr("read", name, syscall.EISDIR)
	}
	b := make([]byte, n.sizeBytes())
	copy(b, n.data)
	return b, nil
}

// Rename atomically replaces newname with oldname; durable after SyncDir
// of both parents.
func (d *Disk) Rename(oldname, newname string) error {
	d.charge(false)
	oldParent, oldBase, err := d.lookupParent("rename", oldname)
	if err != nil {
		return err
	}
	n, ok := oldParent.entries[oldBase]
	if !ok {
		return pathErr("rename", oldname, syscall.ENOENT)
	}
	newParent, newBase, err := d.lookupParent("rename", newname)
	if err != nil {
		return err
	}
	oldClean := split(oldname)
	newClean := split(newname)
	if slices.Equal(oldClean, newClean) {
		return nil
	}
	if n.dir && len(newClean) > len(oldClean) && slices.Equal(newClean[:len(oldClean)], oldClean) {
		return pathErr("rename", newname, syscall.EINVAL) // into its own subtree
	}
	if target, ok := newParent.entries[newBase]; ok {
		switch {
		case !n.dir && target.dir:
			return pathErr("rename", newname, syscall.EISDIR)
		case n.dir && !target.dir:
			return pathErr("rename", newname, syscall.ENOTDIR)
		case target.dir && len(target.entries) > 0:
			return pathErr("rename", newname, syscall.ENOTEMPTY)
		}
	}
	delete(oldParent.entries, oldBase)
	newParent.entries[newBase] = n
	d.recountUsed()
	d.w.Trace("disk.rename", "%s %s -> %s", d.name, oldname, newname)
	return nil
}

// Remove deletes a file or an empty directory; durable after SyncDir of
// the parent.
func (d *Disk) Remove(name string) error {
	d.charge(false)
	parent, base, err := d.lookupParent("remove", name)
	if err != nil {
		return err
	}
	n, ok := parent.entries[base]
	if !ok {
		return pathErr("remove", name, syscall.ENOENT)
	}
	if n.dir && len(n.entries) > 0 {
		return pathErr("remove", name, syscall.ENOTEMPTY)
	}
	delete(parent.entries, base)
	d.recountUsed()
	d.w.Trace("disk.remove", "%s %s", d.name, name)
	return nil
}

// List returns the sorted names of the entries of dir.
func (d *Disk) List(dir string) ([]string, error) {
	d.charge(false)
	n, err := d.lookup("open", dir)
	if err != nil {
		return nil, err
	}
	if !n.dir {
		return nil, pathErr("readdirent", dir, syscall.ENOTDIR)
	}
	return slices.Sorted(maps.Keys(n.entries)), nil
}

// Truncate cuts (or zero-extends) a file to sizeBytes; durable after the
// next Sync of the file.
func (d *Disk) Truncate(name string, sizeBytes int64) error {
	d.charge(false)
	n, err := d.lookup("truncate", name)
	if err != nil {
		return err
	}
	if n.dir {
		return pathErr("truncate", name, syscall.EISDIR)
	}
	if sizeBytes < 0 {
		return pathErr("truncate", name, syscall.EINVAL)
	}
	growthBytes := sizeBytes - int64(n.sizeBytes())
	switch {
	case growthBytes > 0:
		if err := d.reserve("truncate", name, growthBytes); err != nil {
			return err
		}
		n.materializeZeroTail()
		n.data = append(n.data, make([]byte, growthBytes)...)
	case sizeBytes >= int64(len(n.data)):
		n.zeroTailBytes = int(sizeBytes) - len(n.data) // cuts reserved space only
	default:
		n.cut(int(sizeBytes))
		n.zeroTailBytes = 0
	}
	d.usedBytes += growthBytes
	d.w.Trace("disk.truncate", "%s %s size=%d", d.name, name, sizeBytes)
	return nil
}

// MkdirAll creates dir and any missing parents; each is durable after
// SyncDir of its parent.
func (d *Disk) MkdirAll(dir string) error {
	d.charge(false)
	components := split(dir)
	n := d.root
	for i, c := range components {
		child, ok := n.entries[c]
		if !ok {
			child = newDirInode()
			n.entries[c] = child
			d.w.Trace("disk.mkdir", "%s /%s", d.name, strings.Join(components[:i+1], "/"))
		} else if !child.dir {
			return pathErr("mkdir", dir, syscall.ENOTDIR)
		}
		n = child
	}
	return nil
}

// SyncDir makes the entries of dir (creations, renames, removals) durable.
func (d *Disk) SyncDir(dir string) error {
	d.syncs++
	d.charge(true)
	n, err := d.lookup("open", dir)
	if err != nil {
		return err
	}
	if !n.dir {
		return pathErr("fsync", dir, syscall.ENOTDIR)
	}
	if err := d.takeSyncErr("fsync", dir); err != nil {
		return err
	}
	n.durableEntries = maps.Clone(n.entries)
	d.w.Trace("disk.syncdir", "%s %s", d.name, dir)
	return nil
}

func (d *Disk) takeSyncErr(op, name string) error {
	if d.syncErr == nil {
		return nil
	}
	err := d.syncErr
	d.syncErr = nil
	d.w.Trace("disk.fault", "%s %s %s fails: %v", d.name, op, name, err)
	return pathErr(op, name, err)
}

// reserve fails with ENOSPC if sizeBytes more would not fit.
func (d *Disk) reserve(op, name string, sizeBytes int64) error {
	if d.full || d.usedBytes+sizeBytes > d.opts.CapacityBytes {
		d.w.Trace("disk.fault", "%s %s %s fails: no space", d.name, op, name)
		return pathErr(op, name, syscall.ENOSPC)
	}
	return nil
}

// recountUsed recomputes usedBytes from the files reachable from the root;
// files kept alive only by open handles stop counting, as after a close.
func (d *Disk) recountUsed() {
	seen := make(map[*inode]struct{})
	var used int64
	var visit func(n *inode)
	visit = func(n *inode) {
		if _, ok := seen[n]; ok {
			return
		}
		seen[n] = struct{}{}
		if !n.dir {
			used += int64(n.sizeBytes())
			return
		}
		for _, child := range n.entries { // summing: order does not matter
			visit(child)
		}
	}
	visit(d.root)
	d.usedBytes = used
}
