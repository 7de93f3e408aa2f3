package wal

import (
	"fmt"
	iofs "io/fs"

	"github.com/kvdlabs/kvd/core/disk"
)

// ReadMetadata returns the metadata Create was given, from the header of the
// oldest segment in dir, without replaying the log: a member that must know
// who it is (its ids) before it starts reads it so.
func ReadMetadata(fs disk.FS, dir string) ([]byte, error) {
	names, err := fs.List(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: read metadata in %s: %w", dir, err)
	}
	var oldest string
	var oldestSeq uint64
	for _, name := range names {
		seq, _, ok := parseName(name, segmentSuffix)
		if ok && (oldest == "" || seq < oldestSeq) {
			oldest, oldestSeq = name, seq
		}
	}
	if oldest == "" {
		return nil, fmt.Errorf("wal: read metadata in %s: no segments: %w", dir, iofs.ErrNotExist)
	}
	path := join(dir, oldest)
	buf, err := fs.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("wal: read segment %s: %w", path, err)
	}
	rec, _, err := decodeRecord(buf, 0, int64(len(buf)))
	if err == nil && rec.typ != recordSegmentHeader {
		err = decodeProblem(fmt.Sprintf("first record is a %s, want a segment header", rec.typ))
	}
	var h segmentHeader
	if err == nil {
		h, err = decodeSegmentHeader(rec.payload)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s at offset 0: %w", ErrCorrupt, path, err)
	}
	return h.metadata, nil
}
