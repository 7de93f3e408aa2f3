package watch

import "errors"

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
	// ErrInvalidWatchRequest: a negative watch id or start revision.
	ErrInvalidWatchRequest = errors.New("watch: invalid watch request")
)
