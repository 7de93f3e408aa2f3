package sim

import (
	"errors"
	"fmt"

	"github.com/kvdlabs/kvd/core/mvcc"
	"github.com/kvdlabs/kvd/core/node"
)

// A backup in the simulator is what kvd's Maintenance.Snapshot does for
// etcdctl snapshot save: node.BeginBackup at once, then the key history
// read a bounded step at a time between the member's rounds, while faults,
// writes and compactions go on. Once read, the copy is rebuilt into a
// store and judged: it must hash as the member's own history at the
// backup's revision (etcd's HashKV), the check a restore relies on.

// backupStepBytes is one step of a backup's read; small, so a backup spans
// many rounds of the member.
const backupStepBytes = 4 << 10

// backupStepsMax bounds one backup's steps (a stuck backup is a bug).
const backupStepsMax = 1 << 16

// startBackup begins a backup of the target.
func (c *Cluster) startBackup(a *activeFault) string {
	m := c.members[a.targets[0]]
	if m.node == nil {
		return "not carried out: the member is down"
	}
	b := m.node.BeginBackup()
	c.w.Trace("backup.start", "member=%d index=%d revision=%d compact=%d", m.id, b.Index, b.Revision, b.CompactRevision)
	c.stepBackup(m, m.incarnation, b, nil, 0)
	return ""
}

// stepBackup reads one step, and the next in a later event.
func (c *Cluster) stepBackup(m *Member, incarnation uint64, b *node.Backup, versions []mvcc.KeyVersion, steps int) {
	c.w.After(0, func() {
		if m.node == nil || m.incarnation != incarnation {
			c.w.Trace("backup.abandoned", "member=%d revision=%d why=member-stopped", m.id, b.Revision)
			return // the stream dies with the member
		}
		if steps >= backupStepsMax {
			c.violate(fmt.Sprintf("backup: member %d: backup at revision %d not read after %d steps", m.id, b.Revision, steps))
			return
		}
		vs, done, err := b.Next(versions, backupStepBytes)
		switch {
		case errors.Is(err, mvcc.ErrSnapshotStale):
			// A compaction overtook it; kvd retakes it, etcdctl sees nothing.
			c.w.Trace("backup.abandoned", "member=%d revision=%d why=compacted", m.id, b.Revision)
		case err != nil:
			c.violate(fmt.Sprintf("backup: member %d at revision %d: %v", m.id, b.Revision, err))
		case done:
			c.judgeBackup(m, b, vs)
		default:
			c.stepBackup(m, incarnation, b, vs, steps+1)
		}
	})
}

// judgeBackup rebuilds the copy and compares its hash with the member's
// history at the backup's revision, when the member still holds that
// history as it was (no compaction since).
func (c *Cluster) judgeBackup(m *Member, b *node.Backup, versions []mvcc.KeyVersion) {
	data, err := mvcc.BuildSnapshot(b.Revision, b.CompactRevision, versions)
	if err != nil {
		c.violate(fmt.Sprintf("backup: member %d at revision %d does not rebuild: %v", m.id, b.Revision, err))
		return
	}
	kv, err := mvcc.Restore(data, mvcc.Options{})
	if err != nil {
		c.violate(fmt.Sprintf("backup: member %d at revision %d does not restore: %v", m.id, b.Revision, err))
		return
	}
	got, _, _, err := kv.HashKV(0)
	if err != nil {
		c.violate(fmt.Sprintf("backup: member %d at revision %d: hash of the restored copy: %v", m.id, b.Revision, err))
		return
	}
	st := m.node.Status()
	if st.CompactRev != b.CompactRevision {
		c.w.Trace("backup.done", "member=%d revision=%d versions=%d judged=no-compacted-since", m.id, b.Revision, len(versions))
		return
	}
	want, err := m.node.HashKV(b.Revision)
	if err != nil {
		c.violate(fmt.Sprintf("backup: member %d: HashKV at the backup's revision %d: %v", m.id, b.Revision, err))
		return
	}
	if got != want.Hash {
		c.violate(fmt.Sprintf("backup: member %d: the backup at revision %d hashes %08x restored, the member's history there %08x",
			m.id, b.Revision, got, want.Hash))
		return
	}
	c.restoreBackup(m, b, versions, got)
	c.w.Trace("backup.done", "member=%d revision=%d versions=%d hash=%08x", m.id, b.Revision, len(versions), got)
}

// restoreBackup restores a judged backup as kvd snapshot restore does
// (node.CreateRestored) into a fresh one-member cluster on a disk of its
// own, opens the member, and judges what it holds: the backup's revision
// and hash, and its leases.
func (c *Cluster) restoreBackup(m *Member, b *node.Backup, versions []mvcc.KeyVersion, want uint32) {
	c.restores++
	cfg := c.opts.Node
	cfg.ID, cfg.ClusterID, cfg.Peers, cfg.Dir = 1, 0x7e57, []uint64{1}, "member"
	cfg.FS = c.w.NewDisk(fmt.Sprintf("restore-%d", c.restores))
	cfg.PeerContexts, cfg.BeforePersist, cfg.Join, cfg.Name = nil, nil, false, ""
	cfg.Logger = discardLogger
	r := node.Restored{Revision: b.Revision, CompactRevision: b.CompactRevision, Versions: versions, Leases: b.Leases, Alarms: b.Alarms}
	if err := node.CreateRestored(cfg, r); err != nil {
		c.violate(fmt.Sprintf("backup: member %d at revision %d does not restore into a new member: %v", m.id, b.Revision, err))
		return
	}
	n, err := node.Open(cfg)
	if err != nil {
		c.violate(fmt.Sprintf("backup: member %d at revision %d: the restored member does not open: %v", m.id, b.Revision, err))
		return
	}
	defer n.Close()
	h, err := n.HashKV(0)
	switch {
	case err != nil:
		c.violate(fmt.Sprintf("backup: member %d: the restored member's HashKV: %v", m.id, err))
	case h.Header.Revision != b.Revision || h.Hash != want:
		c.violate(fmt.Sprintf("backup: member %d: restored at revision %d hashes %08x, the backup was revision %d hashing %08x",
			m.id, h.Header.Revision, h.Hash, b.Revision, want))
	case n.Status().Leases != len(b.Leases):
		c.violate(fmt.Sprintf("backup: member %d: restored with %d leases, the backup held %d", m.id, n.Status().Leases, len(b.Leases)))
	}
}
