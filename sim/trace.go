package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"
)

// TraceRecord is one entry of the trace.
type TraceRecord struct {
	// AtElapsed is the virtual time since the epoch when it was recorded.
	AtElapsed time.Duration
	// Seq numbers records from 0 in the order they were appended.
	Seq uint64
	// Kind names what happened, e.g. "net.drop"; it has no spaces.
	Kind string
	// Text says the rest.
	Text string
}

// String renders the record as one line of a readable dump.
func (r TraceRecord) String() string {
	return fmt.Sprintf("%s #%d %s %s", formatElapsed(r.AtElapsed), r.Seq, r.Kind, r.Text)
}

// formatElapsed renders a virtual time as fixed-width seconds with
// nanoseconds, so dumps of two runs line up under diff.
func formatElapsed(d time.Duration) string {
	return string(appendElapsed(nil, d))
}

// appendElapsed appends formatElapsed's rendering of d to b.
func appendElapsed(b []byte, d time.Duration) []byte {
	b = appendZeroPadded(b, uint64(d/time.Second), 6)
	return appendZeroPadded(append(b, '.'), uint64(d%time.Second), 9)
}

func appendZeroPadded(b []byte, v uint64, width int) []byte {
	var digits [20]byte
	s := strconv.AppendUint(digits[:0], v, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// traceLog hashes every record as it is appended and keeps only the newest
// ones, so a long run's fingerprint costs constant memory.
type traceLog struct {
	hash        hash.Hash
	recordCount uint64
	// kept is a ring of the newest records; keptStart indexes the oldest.
	kept         []TraceRecord
	keptStart    int
	keptCountMax int
	// pending holds encoded records not yet fed to hash: one Write per
	// few kilobytes instead of one per record (same bytes, same hash).
	pending []byte
}

// tracePendingBytesMax is how much encoded trace the log buffers before
// hashing it.
const tracePendingBytesMax = 16 << 10

func (t *traceLog) init(keptCountMax int) {
	t.hash = sha256.New()
	t.keptCountMax = keptCountMax
}

func (t *traceLog) append(r TraceRecord) {
	// Canonical encoding: every field length-prefixed, so no two different
	// record sequences hash the same bytes.
	b := t.pending
	b = binary.AppendUvarint(b, uint64(r.AtElapsed))
	b = binary.AppendUvarint(b, r.Seq)
	b = binary.AppendUvarint(b, uint64(len(r.Kind)))
	b = append(b, r.Kind...)
	b = binary.AppendUvarint(b, uint64(len(r.Text)))
	b = append(b, r.Text...)
	if len(b) >= tracePendingBytesMax {
		t.hash.Write(b)
		b = b[:0]
	}
	t.pending = b
	t.recordCount++

	if len(t.kept) < t.keptCountMax {
		t.kept = append(t.kept, r)
		return
	}
	t.kept[t.keptStart] = r
	t.keptStart = (t.keptStart + 1) % len(t.kept)
}

// Trace appends a record of kind, with text formatted from format and args,
// at the current virtual time. Arguments must render deterministically:
// never trace a pointer or anything holding one.
func (w *World) Trace(kind string, format string, args ...any) {
	if kind == "" || strings.ContainsAny(kind, " \t\n") {
		panic(fmt.Sprintf("sim: trace kind %q must be one non-empty word", kind))
	}
	w.traceText(kind, fmt.Sprintf(format, args...))
}

// traceText appends a record whose text is already rendered: the hot
// paths build it with strconv rather than fmt, and pass constant kinds.
func (w *World) traceText(kind, text string) {
	w.trace.append(TraceRecord{
		AtElapsed: w.nowElapsed,
		Seq:       w.trace.recordCount,
		Kind:      kind,
		Text:      text,
	})
}

// TraceHash returns the sha256 of the canonical encoding of every record
// traced so far: the fingerprint of the run up to now.
func (w *World) TraceHash() [32]byte {
	w.trace.hash.Write(w.trace.pending)
	w.trace.pending = w.trace.pending[:0]
	var sum [32]byte
	w.trace.hash.Sum(sum[:0])
	return sum
}

// TraceCount returns how many records were traced, kept or not.
func (w *World) TraceCount() uint64 { return w.trace.recordCount }

// TraceRecords returns the kept records, oldest first (at most
// Options.TraceRecordsKeptMax of the newest).
func (w *World) TraceRecords() []TraceRecord {
	out := make([]TraceRecord, 0, len(w.trace.kept))
	out = append(out, w.trace.kept[w.trace.keptStart:]...)
	out = append(out, w.trace.kept[:w.trace.keptStart]...)
	return out
}

// TraceLines returns the kept records rendered one per line, oldest first.
func (w *World) TraceLines() []string {
	records := w.TraceRecords()
	lines := make([]string, len(records))
	for i, r := range records {
		lines[i] = r.String()
	}
	return lines
}

// WriteTrace writes the kept records to out, one per line, oldest first.
func (w *World) WriteTrace(out io.Writer) error {
	for _, r := range w.TraceRecords() {
		if _, err := io.WriteString(out, r.String()+"\n"); err != nil {
			return fmt.Errorf("sim: writing trace record #%d: %w", r.Seq, err)
		}
	}
	return nil
}
