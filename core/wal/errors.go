package wal

import "errors"

// ErrCorrupt is wrapped by every error that reports damaged durable state:
// a record or snapshot that fails its checksum anywhere but the torn tail, a
// missing segment or snapshot, records out of order. The wrapping error
// names the file, the byte offset and what failed. A member that gets it must
// not vote or acknowledge on this state.
var ErrCorrupt = errors.New("wal: corrupt")

// ErrFailed is wrapped by every write refused because an earlier write or
// sync failed. After a failed fsync the kernel may have dropped the dirty
// pages, so nothing written since the last good sync can be trusted to be
// on disk; the WAL must be reopened (which recovers what is really there).
var ErrFailed = errors.New("wal: failed by an earlier write or sync error")

// ErrClosed is wrapped by every operation on a closed WAL.
var ErrClosed = errors.New("wal: closed")

// ErrExist is returned by Create when dir already holds a WAL.
var ErrExist = errors.New("wal: already exists")
