package bugs

// Planted bugs in core/wal.
const (
	WALChecksumIgnored   = "wal-checksum-ignored"
	WALTornTailAccepted  = "wal-torn-tail-accepted"
	WALHardStateUnsynced = "wal-hardstate-unsynced"
	WALSnapshotUnsynced  = "wal-snapshot-unsynced"
	WALTruncateOffByOne  = "wal-truncate-off-by-one"
)

func walBugs() []Bug {
	return []Bug{
		{WALChecksumIgnored, "core/wal", "a record whose checksum does not match is skipped and reading goes on", "a corrupted record silently skipped"},
		{WALTornTailAccepted, "core/wal", "a torn last record is decoded as if zero-filled to its length (or as the zeroes of preallocated space fill it), its checksum unchecked, and left in the log for later records to follow", "torn-write recovery without the checksum"},
		{WALHardStateUnsynced, "core/wal", "a save of a new term or vote with no entries is not synced", "etcd/raft's missed persist of HardState (double vote after a crash)"},
		{WALSnapshotUnsynced, "core/wal", "a snapshot file is renamed into place and named by a synced marker without its data ever being synced", "rename without fsync (ext4 zero-length files)"},
		{WALTruncateOffByOne, "core/wal", "recovery truncates a torn tail one byte past the last whole record", "off-by-one in tail repair"},
	}
}
