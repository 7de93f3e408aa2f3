package sim

import (
	"fmt"
	"time"
)

// event is a function due at a virtual time. seq breaks ties between
// events due at the same instant: first scheduled, first run.
type event struct {
	atElapsed time.Duration
	seq       uint64
	fn        func()
}

func (e *event) before(o *event) bool {
	if e.atElapsed != o.atElapsed {
		return e.atElapsed < o.atElapsed
	}
	return e.seq < o.seq
}

// eventQueue is a binary min-heap of events. It is written out rather than
// using container/heap to keep events unboxed on the hot path.
type eventQueue struct {
	events  []event
	seqNext uint64
}

func (q *eventQueue) push(e event) {
	q.events = append(q.events, e)
	i := len(q.events) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !q.events[i].before(&q.events[parent]) {
			break
		}
		q.events[i], q.events[parent] = q.events[parent], q.events[i]
		i = parent
	}
}

func (q *eventQueue) pop() event {
	n := len(q.events) - 1
	top := q.events[0]
	q.events[0] = q.events[n]
	q.events[n] = event{} // release the closure
	q.events = q.events[:n]
	i := 0
	for {
		left := 2*i + 1
		if left >= n {
			break
		}
		least := left
		if right := left + 1; right < n && q.events[right].before(&q.events[left]) {
			least = right
		}
		if !q.events[least].before(&q.events[i]) {
			break
		}
		q.events[i], q.events[least] = q.events[least], q.events[i]
		i = least
	}
	return top
}

// At schedules fn to run at virtual time t. Scheduling in the past panics:
// the queue never goes back in time.
func (w *World) At(t time.Time, fn func()) {
	w.atElapsed(t.Sub(w.opts.Epoch), fn)
}

// After schedules fn to run d after now. A negative d panics.
func (w *World) After(d time.Duration, fn func()) {
	if d < 0 {
		panic(fmt.Sprintf("sim: After(%v): negative delay", d))
	}
	w.atElapsed(w.nowElapsed+d, fn)
}

func (w *World) atElapsed(atElapsed time.Duration, fn func()) {
	if fn == nil {
		panic("sim: scheduling a nil event")
	}
	if atElapsed < w.nowElapsed {
		panic(fmt.Sprintf("sim: scheduling an event at %v, before now %v", atElapsed, w.nowElapsed))
	}
	if len(w.queue.events) >= w.opts.EventsQueuedMax {
		panic(fmt.Sprintf("sim: more than EventsQueuedMax=%d events queued", w.opts.EventsQueuedMax))
	}
	w.queue.push(event{atElapsed: atElapsed, seq: w.queue.seqNext, fn: fn})
	w.queue.seqNext++
}

// Pending returns the number of events waiting to run.
func (w *World) Pending() int { return len(w.queue.events) }

// NextAt returns when the next event is due, and false if none is queued.
func (w *World) NextAt() (time.Time, bool) {
	if len(w.queue.events) == 0 {
		return time.Time{}, false
	}
	return w.opts.Epoch.Add(w.queue.events[0].atElapsed), true
}

// Step runs the next event to completion, first moving virtual time to its
// due time. It returns false if no event was queued.
func (w *World) Step() bool {
	if len(w.queue.events) == 0 {
		return false
	}
	e := w.queue.pop()
	if e.atElapsed < w.nowElapsed {
		panic(fmt.Sprintf("sim: event #%d due at %v popped at %v: time went backwards", e.seq, e.atElapsed, w.nowElapsed))
	}
	if e.atElapsed > w.nowElapsed {
		w.nowElapsed = e.atElapsed
		w.eventsAtNow = 0
	}
	w.eventsAtNow++
	if w.eventsAtNow > w.opts.EventsAtOneInstantMax {
		panic(fmt.Sprintf("sim: more than EventsAtOneInstantMax=%d events at %v: livelock", w.opts.EventsAtOneInstantMax, w.nowElapsed))
	}
	e.fn()
	return true
}

// RunUntil runs every event due at or before t, then moves virtual time to
// t. A t before now panics.
func (w *World) RunUntil(t time.Time) {
	untilElapsed := t.Sub(w.opts.Epoch)
	if untilElapsed < w.nowElapsed {
		panic(fmt.Sprintf("sim: RunUntil(%v): before now %v", untilElapsed, w.nowElapsed))
	}
	for len(w.queue.events) > 0 && w.queue.events[0].atElapsed <= untilElapsed {
		w.Step()
	}
	if untilElapsed > w.nowElapsed {
		w.nowElapsed = untilElapsed
		w.eventsAtNow = 0
	}
}

// RunFor runs the world for d of virtual time.
func (w *World) RunFor(d time.Duration) {
	if d < 0 {
		panic(fmt.Sprintf("sim: RunFor(%v): negative duration", d))
	}
	w.RunUntil(w.Now().Add(d))
}
