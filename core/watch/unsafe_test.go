package watch

import "testing"

// The watch-skip variant must lose exactly the first event a watcher reads
// right after the compaction revision, and only when switched on.
func TestUnsafeSkipEventAtCompaction(t *testing.T) {
	for _, unsafe := range []bool{false, true} {
		h, f := newFakeHub(Options{UnsafeSkipEventAtCompaction: unsafe})
		f.put("a", "1") // rev 2
		f.put("a", "2") // rev 3
		f.put("a", "3") // rev 4
		f.compact(2)
		_, err := h.Watch(1, watchReq("a", "", 3))
		must.NoError(t, err)
		h.Drain() // created
		h.CatchUp()
		got := eventKeys(h.Drain())
		want := 2
		if unsafe {
			want = 1
		}
		must.Equal(t, want, len(got), "unsafe=%v: events %v", unsafe, got)
	}
}
