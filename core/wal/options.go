package wal

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
)

// Defaults for Options; EnsureDefaults fills them in for zero fields.
const (
	// SegmentSizeBytesMaxDefault is etcd's segment size.
	SegmentSizeBytesMaxDefault = 64 << 20
	// RecordSizeBytesMaxDefault bounds one record's payload. It is above
	// etcd's largest request (--max-request-bytes is 1.5 MiB by default and
	// a raft entry carries one request), with room for raft's own overhead.
	RecordSizeBytesMaxDefault = 16 << 20
	// SnapshotSizeBytesMaxDefault is etcd's largest backend quota (8 GiB):
	// a snapshot carries the whole keyspace.
	SnapshotSizeBytesMaxDefault = 8 << 30
	// MetadataSizeBytesMax bounds the opaque metadata given to Create; it is
	// repeated at the head of every segment, so it must stay small.
	MetadataSizeBytesMax = 64 << 10
)

// Options configure a WAL. The zero value, after EnsureDefaults, is valid.
type Options struct {
	// SegmentSizeBytesMax is the size at which the WAL starts a new segment
	// file. A segment exceeds it only when one record alone does.
	// Default: SegmentSizeBytesMaxDefault.
	SegmentSizeBytesMax int64
	// RecordSizeBytesMax bounds a record's payload. Save refuses a larger
	// entry; recovery treats a larger length prefix as damage instead of
	// allocating it. Default: RecordSizeBytesMaxDefault.
	RecordSizeBytesMax int64
	// PreallocateBytes is how much disk space the WAL reserves ahead of its
	// writes: when a segment starts, and again whenever the records reach
	// the end of what was reserved, it extends the segment file by this
	// much, never past SegmentSizeBytesMax. Records then fill space the file
	// already owns, and a sync need not record a new size. Negative turns
	// it off. Default: SegmentSizeBytesMax (the whole segment at its start,
	// as etcd does).
	PreallocateBytes int64
	// SnapshotSizeBytesMax bounds an encoded snapshot file.
	// Default: SnapshotSizeBytesMaxDefault.
	SnapshotSizeBytesMax int64
	// Logger receives recovery notices (a cut torn tail, removed leftovers).
	// Default: a logger that discards.
	Logger *slog.Logger
}

// EnsureDefaults fills every zero field with its default and returns o.
func (o *Options) EnsureDefaults() *Options {
	if o.SegmentSizeBytesMax == 0 {
		o.SegmentSizeBytesMax = SegmentSizeBytesMaxDefault
	}
	if o.PreallocateBytes == 0 {
		o.PreallocateBytes = o.SegmentSizeBytesMax
	}
	if o.RecordSizeBytesMax == 0 {
		o.RecordSizeBytesMax = RecordSizeBytesMaxDefault
	}
	if o.SnapshotSizeBytesMax == 0 {
		o.SnapshotSizeBytesMax = SnapshotSizeBytesMaxDefault
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Validate reports every problem with o at once.
func (o *Options) Validate() error {
	var errs []error
	if o.SegmentSizeBytesMax <= 0 {
		errs = append(errs, fmt.Errorf("wal: SegmentSizeBytesMax %d must be positive", o.SegmentSizeBytesMax))
	}
	if o.RecordSizeBytesMax <= 0 || o.RecordSizeBytesMax > math.MaxUint32-recordHeaderBytes {
		errs = append(errs, fmt.Errorf("wal: RecordSizeBytesMax %d must be in [1, %d]",
			o.RecordSizeBytesMax, int64(math.MaxUint32-recordHeaderBytes)))
	}
	// A segment header carries the metadata; it must fit in one record.
	if o.RecordSizeBytesMax > 0 && o.RecordSizeBytesMax < segmentHeaderFixedBytes+MetadataSizeBytesMax {
		errs = append(errs, fmt.Errorf("wal: RecordSizeBytesMax %d must hold a segment header (%d bytes)",
			o.RecordSizeBytesMax, segmentHeaderFixedBytes+MetadataSizeBytesMax))
	}
	if o.SnapshotSizeBytesMax <= 0 {
		errs = append(errs, fmt.Errorf("wal: SnapshotSizeBytesMax %d must be positive", o.SnapshotSizeBytesMax))
	}
	if o.Logger == nil {
		errs = append(errs, errors.New("wal: Logger must be set (EnsureDefaults sets a discarding one)"))
	}
	return errors.Join(errs...)
}
