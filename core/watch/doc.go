// Package watch is the watch hub of the deterministic core: it keeps the
// watchers of every client stream, fans committed events out to them, lets
// watchers that fell behind catch up from mvcc history, and cancels those whose
// start revision was compacted away.
//
// The hub is a value the caller drives; it never blocks, spawns goroutines or
// reads a clock:
//
//   - Watch, Cancel, CloseStream and RequestProgress come from client streams
//     (the gRPC layer's sessions in kvd, simulated sessions in kvsim).
//   - Notify is wired to mvcc's OnCommit and runs once per committed revision.
//   - CatchUp is called by the owner's loop while it reports more work; each
//     call moves every lagging watcher forward by one bounded batch.
//   - ProgressNotify is called on the owner's clock period.
//   - Drain hands over the queued responses in the order they were queued.
//   - Hold marks a stream whose reader is behind: its responses stay in the
//     hub, where later revisions merge into them, until the hold ends.
//
// A watcher is either synced (it has every matching event up to the revision
// of the last Notify and receives new ones directly) or unsynced (it reads
// history through CatchUp). Watchers start unsynced when they ask for past
// revisions, and become unsynced again when their stream stops draining
// (Options.PendingResponsesMax), so memory stays bounded by the limits and not
// by the slowest reader.
//
// Every watcher sees its events in revision order with no gap and no
// duplicate; the hub asserts this and panics on a violation, because it would
// be a bug, never an input error.
//
// Responses follow etcd's watch API (go.etcd.io/etcd/server/etcdserver/api/v3rpc
// and storage/mvcc): the created response (also for a rejected create, with
// Canceled and CancelReason), the cancel response, the compacted response
// (CompactRevision set, Canceled true, a header without a revision; a
// watcher starting at the compaction revision itself is served what
// compaction kept of it), progress responses with WatchId -1
// (clientv3.InvalidWatchID) only once every watcher of the stream is synced,
// no progress response below a watcher's start revision - 1 (clients resume
// from a progress revision + 1),
// and the NOPUT/NODELETE filters and prev_kv. A response carries at most
// one catch-up batch, which
// Options.CatchUpEventsMax bounds, or the events of the revisions notified
// between two Drains, up to 1 MiB and 1000 events. Those revisions share a
// response only while no response without events (created, canceled,
// progress) was queued on the stream after it, so such responses keep
// their place among the events; on a held stream they share one across
// Drains, until the hold ends. For a watcher that asked for fragments, the
// sender splits a response over its size limit with Fragments once the
// header is complete (Delivery.Fragment), as etcd's send loop does.
//
// Responses share *mvccpb.Event values between watchers and with the store;
// every receiver must treat them as read-only.
package watch
