// Package wal is a raft member's durable log: hard state, entries and
// snapshot markers appended to checksummed segment files, and snapshots in
// checksummed files of their own. All I/O goes through disk.FS, so the same
// code runs on a real disk (kvd) and a simulated, faulty one (kvsim).
//
// # Files
//
// A WAL directory holds segments named SSSSSSSSSSSSSSSS-IIIIIIIIIIIIIIII.wal
// (sequence, index of the first entry that may follow, both 16 hex digits)
// and snapshots named TTTTTTTTTTTTTTTT-IIIIIIIIIIIIIIII.snap (term, index).
// Other names are ignored; *.tmp files are leftovers of interrupted writes
// and are removed by Open.
//
// # Records
//
// A segment is a sequence of records:
//
//	[payload length uint32 LE][crc32c uint32 LE][type byte][payload]
//
// The checksum (CRC-32C, Castagnoli) covers type and payload. Types:
//
//	1 segment header  [sequence u64][first index u64][metadata]
//	2 entry           [index u64][term u64][entry type u32][data]
//	3 hard state      [term u64][vote u64][commit u64]
//	4 snapshot marker [index u64][term u64]
//
// Type 0 does not exist, so zero-filled space never parses as a record. Every
// segment opens with a segment header, then the hard state and newest
// snapshot marker current when it was started, so older segments can be
// released without losing either. The header's checksum is seeded with zero;
// every later record's checksum is seeded with the header's checksum, which
// binds each record to its segment (a record copied from another segment or
// another WAL does not verify). Checksums are not chained record to record:
// each record verifies on its own, which is what lets recovery look past a
// damaged record (below). Order is checked by content instead: sequences
// must be consecutive, each segment's first index must follow the last index
// of the segments before it, and each entry's index must be at most one past
// the last index.
//
// A length prefix above Options.RecordSizeBytesMax (16 MiB by default) is
// damage, never an allocation. Segments rotate when the next record would
// take the current one past Options.SegmentSizeBytesMax (64 MiB by default).
//
// # Index bookkeeping
//
// The writer and recovery keep the "last index" by the same two rules: an
// entry sets it to the entry's index (a lower index overwrites the entries
// from there on, as raft does after a log conflict), and a snapshot marker
// raises it to the snapshot's index if higher. A new segment is named after
// last index + 1.
//
// # Durability
//
// Save writes entries, then the hard state, with one write and one fsync
// (plus those of a segment rotation); a call that only advances the commit
// index is written without the fsync (raft.MustSync). A new segment's prelude is written
// under a temporary name, synced, and renamed into place, and the directory
// synced, so a segment under its final name always has a durable header.
// SaveSnapshot writes the snapshot file (temporary name, sync, rename,
// directory sync) before appending and syncing its marker, so a marker
// always names a whole file; BeginSnapshot, Write and Commit do the same
// with data the caller streams in over many calls, the file's checksum
// trailing it. A write or sync error marks the WAL failed:
// every later write returns ErrFailed, since the kernel may have dropped the
// dirty pages and what is on disk is unknown until Open reads it back. The
// member must stop acknowledging and reopen.
//
// # Preallocation
//
// A segment reserves its disk space ahead of its records
// (Options.PreallocateBytes, by default the whole segment when it starts, as
// etcd does), through disk.Preallocate: the file is extended with zeroes and
// records are written over them. A sync after an append then has no new file
// size to record; on ext4 it measured 95 µs where a growing file's took 150.
// A full segment is cut to its last record before the sync that completes
// it, so only the last segment ever ends in zeroes. A file system that
// cannot preallocate leaves segments growing with their writes.
//
// # Recovery
//
// Open replays every segment in order and loads the snapshot named by the
// newest marker. Snapshot files newer than that marker are leftovers of an
// interrupted SaveSnapshot and are removed. A damaged or missing snapshot
// named by the newest marker is ErrCorrupt: recovery does not fall back to an
// older one.
//
// A record is bad if its header is cut short, its type is unknown, its
// length is above the limit or runs past the end of the file, or its
// checksum fails. A bad record is a torn tail, and is cut away (reported as
// Recovered.TornTailBytes), exactly when all of these hold:
//
//   - it is in the last segment (earlier segments were synced whole before
//     the next one was started), and is not that segment's header;
//   - no valid record starts at any later byte offset of that segment, that
//     is, no offset holds a complete record of a known type, within the
//     length limit, whose checksum verifies with this segment's seed.
//
// So a torn tail is a bad record followed by nothing valid: zeroes, garbage
// or the end of the file. Zeroes at the very end hold no record (type 0 does
// not exist) and are not counted as torn (Recovered.UnwrittenTailBytes):
// they are reserved space never written, or written and lost unsynced, and
// a tail of nothing else is the clean end of the log. Open cuts both, so
// that new records follow the last valid one. Anything else is ErrCorrupt and nothing is
// skipped: a bad record in an earlier segment, a bad record followed by a
// valid one (a flipped bit in the middle of the log), a record that verifies
// but does not make sense (a gap in the indexes, a misplaced header, a
// payload of the wrong size), a missing segment, a hard state committing
// past the last durable index. The search past a bad record hashes at most
// 1 GiB; if it cannot finish, recovery reports corruption rather than guess.
//
// One limit is inherent: damage to the very last records of the log, with
// nothing valid after them, looks exactly like a torn write, and is cut. If
// those records had been synced and acknowledged, the member has lost them;
// raft tolerates that on a minority of members, which is the fault budget
// the simulator keeps to.
package wal
