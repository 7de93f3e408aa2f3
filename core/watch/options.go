package watch

import (
	"errors"
	"fmt"
)

// Defaults for Options; EnsureDefaults fills these into zero fields.
const (
	// DefaultCatchUpEventsMax matches etcd's watchBatchMaxRevs order of
	// magnitude: large enough to catch up quickly, small enough that one
	// CatchUp call stays short.
	DefaultCatchUpEventsMax = 1000
	// DefaultWatchersPerStreamMax bounds the memory one client stream can pin.
	DefaultWatchersPerStreamMax = 1 << 16
	// DefaultPendingResponsesMax bounds the undrained responses of one stream.
	DefaultPendingResponsesMax = 1024
)

// Hard ceilings for Options, so a typo cannot disable a limit.
const (
	catchUpEventsMaxCeiling     = 1 << 20
	watchersPerStreamMaxCeiling = 1 << 24
	pendingResponsesMaxCeiling  = 1 << 24
)

// Options configure a Hub. The zero value is valid after EnsureDefaults.
type Options struct {
	// CatchUpEventsMax is the number of history events one unsynced watcher
	// reads per CatchUp call (whole revisions, so a batch may exceed it by
	// the rest of its last revision). Default DefaultCatchUpEventsMax.
	CatchUpEventsMax int
	// WatchersPerStreamMax is the number of live watchers one stream may
	// hold; Watch beyond it fails with ErrTooManyWatchers. Default
	// DefaultWatchersPerStreamMax.
	WatchersPerStreamMax int
	// PendingResponsesMax is the number of undrained responses a stream may
	// have queued. A watcher whose stream is at the limit is moved to
	// unsynced and later catches up from history, instead of growing the
	// queue. Control responses (created, canceled, compacted, requested
	// progress) are always queued. Default DefaultPendingResponsesMax.
	PendingResponsesMax int
	// UnsafeSkipEventAtCompaction drops the first event a catching-up
	// watcher reads right after the compaction revision: a known-unsafe
	// variant the simulator's watch checker must catch. Never set it
	// outside a simulation.
	UnsafeSkipEventAtCompaction bool
}

// EnsureDefaults sets every zero field to its default.
func (o *Options) EnsureDefaults() {
	if o.CatchUpEventsMax == 0 {
		o.CatchUpEventsMax = DefaultCatchUpEventsMax
	}
	if o.WatchersPerStreamMax == 0 {
		o.WatchersPerStreamMax = DefaultWatchersPerStreamMax
	}
	if o.PendingResponsesMax == 0 {
		o.PendingResponsesMax = DefaultPendingResponsesMax
	}
}

// Validate reports every field out of range at once.
func (o *Options) Validate() error {
	var errs []error
	check := func(name string, v, ceiling int) {
		if v < 1 || v > ceiling {
			errs = append(errs, fmt.Errorf("watch: options: %s = %d, want 1..%d", name, v, ceiling))
		}
	}
	check("CatchUpEventsMax", o.CatchUpEventsMax, catchUpEventsMaxCeiling)
	check("WatchersPerStreamMax", o.WatchersPerStreamMax, watchersPerStreamMaxCeiling)
	check("PendingResponsesMax", o.PendingResponsesMax, pendingResponsesMaxCeiling)
	return errors.Join(errs...)
}
