//go:build linux

package mvcc

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

func spilledChunks(s *Store) (n int) {
	for _, c := range s.hist.chunks {
		if c.spilled {
			n++
		}
	}
	return n
}

func TestSpilledHistoryReadsAsInMemory(t *testing.T) {
	const keys, rounds = 16, 2000 // about 4 MiB of history: several chunks
	dir := t.TempDir()
	failuresBefore := HistorySpillFailures()
	spilled, kept := New(Options{HistorySpillDir: dir}), New(Options{})
	revs := fillHistory(t, spilled, keys, 0, rounds)
	fillHistory(t, kept, keys, 0, rounds)

	// Every mapped chunk but the one being written has moved to the file;
	// the small first ones live on the Go heap and stay.
	mappedChunks := 0
	for _, c := range spilled.hist.chunks {
		if c.mapped {
			mappedChunks++
		}
	}
	if n := spilledChunks(spilled); n < 3 || n != mappedChunks-1 {
		t.Fatalf("%d of %d mapped chunks spilled, want all but the last (and at least 3)", n, mappedChunks)
	}
	if got := HistorySpillFailures() - failuresBefore; got != 0 {
		t.Fatalf("%d spill failures", got)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Fatalf("spill dir holds %v (%v), want nothing: the file is unlinked", entries, err)
	}

	checkRound(t, spilled, keys, revs[10], 10)
	checkRound(t, spilled, keys, revs[rounds/2], rounds/2)
	if a, b := spilled.Snapshot(), kept.Snapshot(); !bytes.Equal(a, b) {
		t.Fatalf("snapshots differ: %d and %d bytes", len(a), len(b))
	}
	for _, rev := range []int64{revs[3], revs[rounds-2], 0} {
		h1, _, _, err1 := spilled.HashKV(rev)
		h2, _, _, err2 := kept.HashKV(rev)
		if err1 != nil || err2 != nil || h1 != h2 {
			t.Fatalf("hash at %d: %08x (%v), in memory %08x (%v)", rev, h1, err1, h2, err2)
		}
	}
	e1, next1, err1 := spilled.Events(nil, []byte{0}, revs[5], 5000)
	e2, next2, err2 := kept.Events(nil, []byte{0}, revs[5], 5000)
	if err1 != nil || err2 != nil || next1 != next2 || len(e1) != len(e2) || len(e1) == 0 {
		t.Fatalf("events: %d to %d (%v), in memory %d to %d (%v)", len(e1), next1, err1, len(e2), next2, err2)
	}
	for i := range e1 {
		if !bytes.Equal(e1[i].Kv.Value, e2[i].Kv.Value) || e1[i].Kv.ModRevision != e2[i].Kv.ModRevision {
			t.Fatalf("event %d: %s at %d, in memory %s at %d", i, e1[i].Kv.Value, e1[i].Kv.ModRevision, e2[i].Kv.Value, e2[i].Kv.ModRevision)
		}
	}

	// Compaction frees spilled regions, and later chunks reuse them: the
	// file grows no further than the most history held at once.
	endBefore := spilled.hist.spill.endOff
	spilledBefore := SpilledHistoryBytes()
	if _, err := spilled.Compact(revs[rounds/2]); err != nil {
		t.Fatal(err)
	}
	if SpilledHistoryBytes() >= spilledBefore {
		t.Fatalf("compacting half the history left %d spilled bytes of %d", SpilledHistoryBytes(), spilledBefore)
	}
	checkRound(t, spilled, keys, revs[rounds*3/4], rounds*3/4)
	more := fillHistory(t, spilled, keys, rounds, rounds+rounds/2)
	checkRound(t, spilled, keys, more[len(more)-2], rounds+rounds/2-2)
	if end := spilled.hist.spill.endOff; end > endBefore+2*HistoryChunkBytesDefault {
		t.Fatalf("the spill file grew from %d to %d bytes while the history it held stayed the same size", endBefore, end)
	}
}

// TestWholeHistoryPassesLeaveSpilledPagesUnmapped: a snapshot reads every
// version, and must not leave the spilled history resident in the member.
func TestWholeHistoryPassesLeaveSpilledPagesUnmapped(t *testing.T) {
	const keys, rounds = 16, 1000
	s := New(Options{HistorySpillDir: t.TempDir()})
	revs := fillHistory(t, s, keys, 0, rounds)
	if spilledChunks(s) == 0 {
		t.Fatal("nothing spilled")
	}
	checkRound(t, s, keys, revs[100], 100) // reads map some spilled pages
	if rss := spilledResidentBytes(t, s); rss == 0 {
		t.Fatal("a read of spilled history mapped no page: the measure below could not fail")
	}
	checkRound(t, s, keys, s.Rev(), rounds-1)
	for _, pass := range []struct {
		name string
		run  func()
	}{
		{"snapshot", func() { s.Snapshot() }},
		{"hash", func() { s.HashKV(0) }},
		{"events", func() { s.Events(nil, []byte{0}, revs[1], 1<<20) }},
	} {
		checkRound(t, s, keys, revs[200], 200)
		pass.run()
		if rss := spilledResidentBytes(t, s); rss != 0 {
			t.Fatalf("after a %s, %d bytes of spilled history are resident", pass.name, rss)
		}
	}
	checkRound(t, s, keys, revs[300], 300) // and still read right
}

// spilledResidentBytes sums the Rss of the mappings of s's spilled chunks,
// from /proc/self/smaps.
func spilledResidentBytes(t *testing.T, s *Store) int64 {
	t.Helper()
	type span struct{ lo, hi uintptr }
	var spans []span
	for _, c := range s.hist.chunks {
		if c.spilled {
			lo := uintptr(unsafe.Pointer(unsafe.SliceData(c.mem)))
			spans = append(spans, span{lo, lo + uintptr(cap(c.mem))})
		}
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var total int64
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x", &lo, &hi); n == 2 && strings.Contains(line, " ") {
			in = false
			for _, sp := range spans {
				if lo < sp.hi && sp.lo < hi {
					in = true
				}
			}
			continue
		}
		var kb int64
		if in && strings.HasPrefix(line, "Rss:") {
			if _, err := fmt.Sscanf(line, "Rss: %d kB", &kb); err != nil {
				t.Fatalf("smaps line %q: %v", line, err)
			}
			total += kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}

func TestHistoryThatCannotSpillStaysInMemory(t *testing.T) {
	const keys, rounds = 16, 1000
	before := HistorySpillFailures()
	s := New(Options{HistorySpillDir: filepath.Join(t.TempDir(), "missing")})
	revs := fillHistory(t, s, keys, 0, rounds)
	if HistorySpillFailures() == before {
		t.Fatal("no spill failure counted for a missing directory")
	}
	if n := spilledChunks(s); n != 0 {
		t.Fatalf("%d chunks spilled into a missing directory", n)
	}
	checkRound(t, s, keys, revs[10], 10)
	checkRound(t, s, keys, s.Rev(), rounds-1)
	if _, err := s.Compact(revs[rounds/2]); err != nil {
		t.Fatal(err)
	}
	checkRound(t, s, keys, revs[rounds*3/4], rounds*3/4)
}

// TestSnapshotMapsOneSpilledChunkAtATime: a snapshot reads history in the
// arena's order and unmaps each chunk as it leaves it, so however much has
// spilled, a stepped snapshot holds at most the chunk it is in (and the
// one it just opened) resident between steps. A pass in key order — the
// HistoryReader's — maps versions from every chunk at once, which is what
// the measure is shown to catch first.
func TestSnapshotMapsOneSpilledChunkAtATime(t *testing.T) {
	const keys, rounds = 16, 4000 // about 8 MiB of history
	s := New(Options{HistorySpillDir: t.TempDir()})
	fillHistory(t, s, keys, 0, rounds)
	if n := spilledChunks(s); n < 6 {
		t.Fatalf("%d chunks spilled, want at least 6", n)
	}
	const stepBytes = 64 << 10
	boundBytes := int64(2 * HistoryChunkBytesDefault)

	r := s.NewHistoryReader()
	if _, _, err := r.Next(nil, 4*stepBytes); err != nil {
		t.Fatal(err)
	}
	if rss := spilledResidentBytes(t, s); rss <= boundBytes {
		t.Fatalf("a key-order step mapped %d bytes of spilled history, within %d: the measure below could not fail", rss, boundBytes)
	}
	s.hist.dropTouched()

	want := s.Snapshot()
	e := s.NewSnapshotEncoder()
	var got []byte
	steps, rssMax := 0, int64(0)
	for ; !e.Done(); steps++ {
		var err error
		if !e.Measured() {
			_, err = e.Measure(stepBytes)
		} else {
			got, _, err = e.Encode(got, stepBytes)
		}
		if err != nil {
			t.Fatal(err)
		}
		rssMax = max(rssMax, spilledResidentBytes(t, s))
	}
	t.Logf("%d steps; spilled history resident between steps: at most %d bytes", steps, rssMax)
	if rssMax > boundBytes {
		t.Fatalf("a stepped snapshot held %d bytes of spilled history resident, want at most %d (two chunks)", rssMax, boundBytes)
	}
	if rssMax == 0 {
		t.Fatal("a stepped snapshot never had spilled history resident between steps: it read none of it")
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("stepped snapshot (%d bytes, %d steps) differs from Snapshot (%d bytes)", len(got), steps, len(want))
	}

	// A restore spills as it goes, and reads back what it spilled to check
	// each version against the one before; it leaves none of it mapped.
	restored, err := Restore(want, Options{HistorySpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if n := spilledChunks(restored); n < 6 {
		t.Fatalf("restore spilled %d chunks, want at least 6", n)
	}
	if rss := spilledResidentBytes(t, restored); rss != 0 {
		t.Fatalf("after a restore, %d bytes of spilled history are resident", rss)
	}
	if again := restored.Snapshot(); !bytes.Equal(again, want) {
		t.Fatalf("the restored store snapshots to %d bytes, not the %d it was restored from", len(again), len(want))
	}
}
