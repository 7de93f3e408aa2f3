// Package mvcc is kvd's multi-version key-value store: etcd v3's data model
// (revisions, key generations, range, txn, compaction) held in memory.
//
// Every write transaction gets one main revision; the writes inside it get
// sub-revisions 0, 1, 2, ... A key lives in generations: a put starts one
// (version 1, create_revision = its revision), further puts bump the version,
// and a delete writes a tombstone that ends it. Reads at an older revision
// see the versions that were current then, until Compact discards history
// at or below a revision.
//
// The semantics, including the validation order and the error values, are
// those of etcd's server/storage/mvcc and server/etcdserver/txn; the errors
// are the exact values from go.etcd.io/etcd/api/v3/v3rpc/rpctypes, so the gRPC
// layer passes them through untouched.
//
// Layout (memory matters: the target is at most 2x the raw key+value bytes):
//
//   - a tidwall/btree of *record ordered by key; a record keeps its latest
//     version inline (key||value in one string, revision fields as int64s)
//     and references to its older versions and tombstones in an overflow
//     slice that only keys with history allocate;
//   - the older versions themselves live encoded in a history arena outside
//     the Go heap (anonymous memory mappings), where the collector neither
//     scans nor doubles them; Compact frees whole chunks of it (histarena.go
//     says why no entry ever has to move);
//   - protobuf values are built only for responses;
//   - a revision-ordered log of (record, revision) pairs in fixed-size
//     chunks feeds Events, HashKV and Compact, and is trimmed by Compact.
//
// The store is part of the deterministic core: no goroutines, no clocks, no
// randomness, no map iteration that reaches output. It is single-threaded;
// the caller serializes every call.
package mvcc
