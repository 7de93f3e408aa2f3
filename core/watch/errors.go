package watch

import (
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// Errors of Watch and Cancel. The messages of the first three are etcd's own
// (storage/mvcc), because a rejected create carries the message to the client
// as CancelReason.
var (
	// ErrWatcherDuplicateID: the requested watch id is taken on the stream.
	ErrWatcherDuplicateID = errors.New("mvcc: duplicate watch ID provided on the WatchStream")
	// ErrEmptyWatcherRange: range_end is set and not above key.
	ErrEmptyWatcherRange = errors.New("mvcc: watcher range is empty")
	// ErrWatcherNotExist: Cancel of a watch id the stream does not hold.
	ErrWatcherNotExist = errors.New("mvcc: watcher does not exist")
	// ErrTooManyWatchers: the stream holds Options.WatchersPerStreamMax
	// watchers already.
	ErrTooManyWatchers = errors.New("watch: too many watchers on the stream")
	// ErrInvalidWatchRequest: a nil create request or a negative watch id.
	ErrInvalidWatchRequest = errors.New("watch: invalid watch request")
	// ErrStartRevisionNegative: a negative start revision, which etcd
	// refuses as compacted, with the compacted error's message as reason.
	ErrStartRevisionNegative = rpctypes.ErrCompacted
)
