package realdriver

import (
	"container/heap"
	"time"
)

// timer is one After waiting on the loop.
type timer struct {
	due time.Time
	// seq orders timers due at the same instant by when they were set,
	// as the simulator's event queue does.
	seq uint64
	fn  func()
}

// timerHeap is the loop's timers, earliest (due, seq) first.
type timerHeap []timer

func (h timerHeap) Len() int { return len(h) }

func (h timerHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}

func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }

func (h *timerHeap) Push(x any) { *h = append(*h, x.(timer)) }

func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = timer{} // drop the closure for the collector
	*h = old[:len(old)-1]
	return t
}

// push adds t.
func (h *timerHeap) push(t timer) { heap.Push(h, t) }

// popDue removes and returns the earliest timer if it is due at now.
func (h *timerHeap) popDue(now time.Time) (timer, bool) {
	if len(*h) == 0 || (*h)[0].due.After(now) {
		return timer{}, false
	}
	return heap.Pop(h).(timer), true
}

// next is the earliest due time; false when no timer waits.
func (h timerHeap) next() (time.Time, bool) {
	if len(h) == 0 {
		return time.Time{}, false
	}
	return h[0].due, true
}
