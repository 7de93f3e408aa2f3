package sim

import (
	"fmt"
	"maps"
	"slices"
	"syscall"
	"time"
)

// Crash models a power loss: every directory keeps only its durable
// entries and every file only its durable bytes — with torn writes on, plus
// a random prefix of its unsynced tail. Files opened before the crash
// belong to a dead process; using one panics.
func (d *Disk) Crash() {
	d.generation++
	d.w.Trace("disk.crash", "%s torn=%t", d.name, d.torn)
	seen := make(map[*inode]struct{})
	d.crashInode(d.root, "", seen)
	d.recountUsed()
}

func (d *Disk) crashInode(n *inode, name string, seen map[*inode]struct{}) {
	// A rename made durable in only one of two directories leaves an inode
	// reachable twice; restore it once.
	if _, ok := seen[n]; ok {
		return
	}
	seen[n] = struct{}{}
	if n.dir {
		n.entries = maps.Clone(n.durableEntries)
		// Sorted, because crashing a file may draw from the random stream.
		for _, base := range slices.Sorted(maps.Keys(n.entries)) {
			d.crashInode(n.entries[base], name+"/"+base, seen)
		}
		return
	}
	tailBytes := len(n.data) - n.durableLen
	switch {
	case !n.durableIsPrefix:
		n.data = slices.Clone(n.durableCopy)
	case d.torn && tailBytes > 0:
		keptBytes := d.rand.IntN(tailBytes + 1)
		n.data = n.data[:n.durableLen+keptBytes]
		d.w.Trace("disk.torn", "%s %s kept=%d of unsynced=%d", d.name, name, keptBytes, tailBytes)
	default:
		n.data = n.data[:n.durableLen]
	}
	// Reserved space keeps its durable size; what was written into it
	// and lost reads as zeroes again.
	n.zeroTailBytes = max(0, n.durableSizeBytes-len(n.data))
	// What survived a crash is on the platter: durable now.
	n.durableLen = len(n.data)
	n.durableIsPrefix = true
	n.durableCopy = nil
	n.durableSizeBytes = n.sizeBytes()
}

// InjectWriteError makes the next File.Write fail with err (typically
// syscall.EIO) wrapped in an *fs.PathError. A nil err cancels.
func (d *Disk) InjectWriteError(err error) {
	d.writeErr = err
	d.w.Trace("disk.inject", "%s write-error=%v", d.name, err)
}

// InjectSyncError makes the next File.Sync or SyncDir fail with err
// (typically syscall.EIO) wrapped in an *fs.PathError; nothing becomes
// durable. A nil err cancels.
func (d *Disk) InjectSyncError(err error) {
	d.syncErr = err
	d.w.Trace("disk.inject", "%s sync-error=%v", d.name, err)
}

// SetFull makes every write and growth fail with ENOSPC while full is true.
func (d *Disk) SetFull(full bool) {
	d.full = full
	d.w.Trace("disk.inject", "%s full=%t", d.name, full)
}

// SetTornWrites turns torn tails on crash on or off.
func (d *Disk) SetTornWrites(torn bool) {
	d.torn = torn
	d.w.Trace("disk.inject", "%s torn=%t", d.name, torn)
}

// SetSlow adds extra virtual cost to every operation (a latency spike);
// zero ends it.
func (d *Disk) SetSlow(extra time.Duration) {
	if extra < 0 {
		panic(fmt.Sprintf("sim: SetSlow(%v): negative", extra))
	}
	d.slowExtra = extra
	d.w.Trace("disk.inject", "%s slow=%v", d.name, extra)
}

// FlipBit flips one bit, chosen from the disk's random stream, of the
// durable byte at offsetBytes of a file: media corruption that a crash does
// not undo. It fails if the file does not exist or offsetBytes is outside
// its durable content.
func (d *Disk) FlipBit(name string, offsetBytes int64) error {
	n, err := d.lookup("flipbit", name)
	if err != nil {
		return err
	}
	if n.dir {
		return fmt.Errorf("sim: FlipBit(%q, %d): %w", name, offsetBytes, pathErr("flipbit", name, syscall.EISDIR))
	}
	durable := n.durable()
	if offsetBytes < 0 || offsetBytes >= int64(len(durable)) {
		return fmt.Errorf("sim: FlipBit(%q, %d): offset outside the %d durable bytes", name, offsetBytes, len(durable))
	}
	d.flipBitAt(name, offsetBytes, d.rand.IntN(8))
	return nil
}

// flipRandomBit is FlipBit reporting which bit it flipped.
func (d *Disk) flipRandomBit(name string, offsetBytes int64) (bit int, err error) {
	n, err := d.lookup("flipbit", name)
	if err != nil {
		return 0, err
	}
	if n.dir || offsetBytes < 0 || offsetBytes >= int64(len(n.durable())) {
		return 0, d.FlipBit(name, offsetBytes) // its error says why
	}
	bit = d.rand.IntN(8)
	d.flipBitAt(name, offsetBytes, bit)
	return bit, nil
}

// writtenBytes is how many bytes of name's durable content were written,
// the zeroes of preallocated space after them left out. The disk must be
// crashed, so that durable and current content agree.
func (d *Disk) writtenBytes(name string) (int, error) {
	n, err := d.lookup("stat", name)
	if err != nil {
		return 0, err
	}
	if n.dir {
		return 0, pathErr("stat", name, syscall.EISDIR)
	}
	return len(n.durable()), nil
}

// flipBitAt flips one chosen bit of durable data; the caller has checked
// that name is a file holding offsetBytes.
func (d *Disk) flipBitAt(name string, offsetBytes int64, bit int) {
	n, err := d.lookup("flipbit", name)
	if err != nil {
		panic(fmt.Sprintf("sim: flipBitAt(%q): %v", name, err))
	}
	durable := n.durable()
	durable[offsetBytes] ^= 1 << bit
	d.rewrites++
	d.w.Trace("disk.flipbit", "%s %s offset=%d bit=%d", d.name, name, offsetBytes, bit)
}

// diskImage is a copy of a disk's durable content, taken while its member
// is down: what an operator's copy of the data directory holds.
type diskImage struct{ root *inode }

// image copies the durable content. The disk must be crashed (its member
// down), so that durable and current content agree.
func (d *Disk) image() diskImage {
	return diskImage{root: cloneDurable(d.root, map[*inode]*inode{})}
}

// restoreImage puts img back as the disk's content, durable at once, as an
// operator copying a saved data directory back and syncing it would.
// Files opened before belong to a process that no longer exists.
func (d *Disk) restoreImage(img diskImage) {
	d.generation++
	d.rewrites++
	d.root = cloneDurable(img.root, map[*inode]*inode{})
	d.recountUsed()
	d.w.Trace("disk.restore", "%s", d.name)
}

// cloneDurable deep-copies n's durable content; an inode reachable twice
// (a rename durable in one directory only) stays one inode.
func cloneDurable(n *inode, seen map[*inode]*inode) *inode {
	if c, ok := seen[n]; ok {
		return c
	}
	if n.dir {
		c := newDirInode()
		seen[n] = c
		for _, base := range slices.Sorted(maps.Keys(n.durableEntries)) {
			child := cloneDurable(n.durableEntries[base], seen)
			c.entries[base], c.durableEntries[base] = child, child
		}
		return c
	}
	c := newFileInode()
	seen[n] = c
	c.data = slices.Clone(n.durable())
	c.durableLen = len(c.data)
	c.zeroTailBytes = max(0, n.durableSizeBytes-len(c.data))
	c.durableSizeBytes = c.sizeBytes()
	return c
}
