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
//
// Records are kept in their canonical encoding — the very bytes the hash
// consumes — in fixed-size chunks that hold no pointers: appending a record
// allocates nothing, the garbage collector never scans the kept trace, and
// records are decoded only when someone reads the trace.
type traceLog struct {
	hash        hash.Hash
	recordCount uint64
	// chunks hold encoded records, oldest first; the last one is being
	// filled. hashed is how much of the last chunk the hash has consumed.
	chunks       []*traceChunk
	hashed       int
	keptCountMax int
	// spare is a dropped chunk kept for reuse.
	spare *traceChunk
}

// traceChunk is a run of encoded records.
type traceChunk struct {
	b       []byte
	records int
}

// traceChunkBytes is the size of one chunk of encoded records.
const traceChunkBytes = 64 << 10

func (t *traceLog) init(keptCountMax int) {
	t.hash = sha256.New()
	t.keptCountMax = keptCountMax
	t.chunks = []*traceChunk{{b: make([]byte, 0, traceChunkBytes)}}
}

// append encodes one record. Canonical encoding: every field
// length-prefixed, so no two different record sequences hash the same bytes.
func (t *traceLog) append(atElapsed time.Duration, kind string, text []byte) {
	c := t.chunks[len(t.chunks)-1]
	need := 3*binary.MaxVarintLen64 + len(kind) + len(text)
	if len(c.b)+need > cap(c.b) {
		c = t.newChunk(need)
	}
	b := c.b
	b = binary.AppendUvarint(b, uint64(atElapsed))
	b = binary.AppendUvarint(b, t.recordCount)
	b = binary.AppendUvarint(b, uint64(len(kind)))
	b = append(b, kind...)
	b = binary.AppendUvarint(b, uint64(len(text)))
	c.b = append(b, text...)
	c.records++
	t.recordCount++
}

// newChunk hashes the rest of the current chunk, starts a new one, and
// drops the oldest chunks that the newest keptCountMax records do not need.
func (t *traceLog) newChunk(need int) *traceChunk {
	t.flush()
	kept := 0
	for _, c := range t.chunks {
		kept += c.records
	}
	for len(t.chunks) > 1 && kept-t.chunks[0].records >= t.keptCountMax {
		kept -= t.chunks[0].records
		t.spare = t.chunks[0]
		t.chunks[0] = nil
		t.chunks = t.chunks[1:]
	}
	var c *traceChunk
	if t.spare != nil && cap(t.spare.b) >= need {
		c, t.spare = t.spare, nil
		c.b, c.records = c.b[:0], 0
	} else {
		c = &traceChunk{b: make([]byte, 0, max(traceChunkBytes, need))}
	}
	t.chunks = append(t.chunks, c)
	t.hashed = 0
	return c
}

// flush feeds the hash what it has not seen of the current chunk.
func (t *traceLog) flush() {
	c := t.chunks[len(t.chunks)-1]
	t.hash.Write(c.b[t.hashed:])
	t.hashed = len(c.b)
}

// records decodes the kept records, oldest first, at most the newest
// keptCountMax.
func (t *traceLog) records() []TraceRecord {
	var out []TraceRecord
	for _, c := range t.chunks {
		b := c.b
		for len(b) > 0 {
			var r TraceRecord
			var at, n uint64
			at, b = readUvarint(b)
			r.AtElapsed = time.Duration(at)
			r.Seq, b = readUvarint(b)
			n, b = readUvarint(b)
			r.Kind, b = string(b[:n]), b[n:]
			n, b = readUvarint(b)
			r.Text, b = string(b[:n]), b[n:]
			out = append(out, r)
		}
	}
	if len(out) > t.keptCountMax {
		out = out[len(out)-t.keptCountMax:]
	}
	return out
}

func readUvarint(b []byte) (uint64, []byte) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		panic("sim: corrupt trace encoding")
	}
	return v, b[n:]
}

// Trace appends a record of kind, with text formatted from format and args,
// at the current virtual time. Arguments must render deterministically:
// never trace a pointer or anything holding one.
func (w *World) Trace(kind string, format string, args ...any) {
	if kind == "" || strings.ContainsAny(kind, " \t\n") {
		panic(fmt.Sprintf("sim: trace kind %q must be one non-empty word", kind))
	}
	w.traceScratch = fmt.Appendf(w.traceScratch[:0], format, args...)
	w.traceText(kind, w.traceScratch)
}

// traceText appends a record whose text is already rendered: the hot
// paths build it with strconv rather than fmt, and pass constant kinds.
// text is copied; the caller may reuse it.
func (w *World) traceText(kind string, text []byte) {
	w.trace.append(w.nowElapsed, kind, text)
}

// TraceHash returns the sha256 of the canonical encoding of every record
// traced so far: the fingerprint of the run up to now.
func (w *World) TraceHash() [32]byte {
	w.trace.flush()
	var sum [32]byte
	w.trace.hash.Sum(sum[:0])
	return sum
}

// TraceCount returns how many records were traced, kept or not.
func (w *World) TraceCount() uint64 { return w.trace.recordCount }

// TraceRecords returns the kept records, oldest first (at most
// Options.TraceRecordsKeptMax of the newest).
func (w *World) TraceRecords() []TraceRecord { return w.trace.records() }

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
