package mvcc

// History spill: a store that runs on a real disk (kvd; Options.HistorySpillDir)
// writes each full mapped arena chunk to a scratch file and maps the chunk's
// own addresses onto that file, read-only. The bytes and the addresses stay
// the same — a version viewed before the spill reads the same memory after it
// — but the pages now belong to the kernel's page cache, which writes them
// back and drops them under memory pressure, instead of to the member's
// anonymous memory, which only a compaction frees.
//
// Why: etcd keeps its history on disk (bbolt) and only an index of it in
// memory; kvd kept every version in memory, about 130 B resident per
// revision of a 100 B value. 60,000 puts over 10,000 keys grew a member by
// 10.5–12.5 MiB where etcd grew by 7.5 MiB, so after a few such loads a kvd
// member held more memory than an etcd one. Spilled, a revision costs the
// member its index entries (about 24 B on the Go heap).
//
// What it costs: the history is written to disk once (by the kernel's
// writeback, not on the member's fsync path), and reading history that the
// kernel has dropped from its cache reads the disk, as etcd's reads of
// old revisions do. The file is unlinked as soon as it is made: it is a cache
// of memory, never read after a restart, and nothing needs removing after a
// crash. A chunk that cannot be spilled (disk full, no directory) stays in
// memory: spilling saves memory, it never changes what the store holds.

import "sync/atomic"

// spilledHistoryBytes is what every store of the process has spilled and
// not yet freed.
var spilledHistoryBytes atomic.Int64

// spillFailures counts chunks that stayed in memory because the spill file
// could not be made or written.
var spillFailures atomic.Int64

// SpilledHistoryBytes is the history every store of the process keeps in
// its spill file (see Options.HistorySpillDir): on disk and in the kernel's
// page cache, not in the member's anonymous memory.
func SpilledHistoryBytes() int64 { return spilledHistoryBytes.Load() }

// HistorySpillFailures counts the history chunks that stayed in memory
// because their spill failed.
func HistorySpillFailures() int64 { return spillFailures.Load() }
