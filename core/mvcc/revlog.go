package mvcc

// logChunkEntries is the fixed capacity of one log chunk: chunks are
// allocated exactly, so the log carries no append slack, and Compact frees
// whole chunks.
const logChunkEntries = 4096

// logEntry names one change: the record and the main revision of the
// version written. The sub-revision is the entry's position within its
// main revision (the log holds every change of every revision it holds).
type logEntry struct {
	rec *record
	rev int64
}

// revLog is every change with revision above the compaction revision, in
// (revision, sub-revision) order, and what of the compaction revision's own
// changes was there when it was compacted (Events reads those through
// record.keptAt, since compaction may have dropped their versions).
type revLog struct {
	chunks [][]logEntry // all full except the last
	head   int          // index of the first live entry in chunks[0]
	n      int          // live entries
}

func (l *revLog) len() int { return l.n }

func (l *revLog) at(i int) *logEntry {
	assert(i >= 0 && i < l.n, "revLog.at out of range")
	i += l.head
	return &l.chunks[i/logChunkEntries][i%logChunkEntries]
}

func (l *revLog) append(e logEntry) {
	assert(l.n == 0 || l.at(l.n-1).rev <= e.rev, "log revisions must ascend")
	last := len(l.chunks) - 1
	if last < 0 || len(l.chunks[last]) == logChunkEntries {
		l.chunks = append(l.chunks, make([]logEntry, 0, logChunkEntries))
		last++
	}
	l.chunks[last] = append(l.chunks[last], e)
	l.n++
}

// search returns the index of the first entry with revision >= rev.
func (l *revLog) search(rev int64) int {
	lo, hi := 0, l.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l.at(m).rev < rev {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// trimThrough drops every entry with revision <= rev.
func (l *revLog) trimThrough(rev int64) {
	k := l.search(rev + 1)
	l.head += k
	l.n -= k
	dropped := l.head / logChunkEntries
	if dropped > 0 {
		for i := range dropped {
			l.chunks[i] = nil
		}
		l.chunks = append(l.chunks[:0], l.chunks[dropped:]...)
		l.head -= dropped * logChunkEntries
	}
	if l.n == 0 && len(l.chunks) > 0 && len(l.chunks[len(l.chunks)-1]) == logChunkEntries {
		// everything dropped and the last chunk is full: start afresh
		l.chunks = l.chunks[:0]
		l.head = 0
	}
}
