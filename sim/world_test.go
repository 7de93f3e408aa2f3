package sim

import (
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestEventsRunInTimeThenScheduleOrder(t *testing.T) {
	w := New(1, Options{})
	var got []string
	w.After(2*time.Millisecond, func() { got = append(got, "b@2") })
	w.After(time.Millisecond, func() { got = append(got, "a@1") })
	w.After(2*time.Millisecond, func() { got = append(got, "c@2") })
	w.After(0, func() {
		got = append(got, "d@0")
		// Scheduled from inside an event at the same instant: runs after
		// everything already due now, before anything later.
		w.After(0, func() { got = append(got, "e@0") })
	})
	for w.Step() {
	}
	equal(t, []string{"d@0", "e@0", "a@1", "b@2", "c@2"}, got)
	equal(t, DefaultEpoch.Add(2*time.Millisecond), w.Now())
	equal(t, w.Now(), w.Clock().Now())
}

// TestQueueOrderProperty checks against a sort: whatever events are
// scheduled, and whatever they schedule in turn, they run ordered by
// (time, schedule order) and time never goes back.
func TestQueueOrderProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := New(rapid.Uint64().Draw(t, "seed"), Options{})
		type ran struct {
			at  time.Duration
			seq int
		}
		var order []ran
		seq := 0
		var schedule func(depth int)
		schedule = func(depth int) {
			d := time.Duration(rapid.IntRange(0, 5).Draw(t, "delay")) * time.Millisecond
			at := w.Elapsed() + d
			mySeq := seq
			seq++
			w.After(d, func() {
				equal(t, at, w.Elapsed(), "event ran at the wrong time")
				order = append(order, ran{at, mySeq})
				if depth < 2 && rapid.Bool().Draw(t, "spawn") {
					schedule(depth + 1)
				}
			})
		}
		for range rapid.IntRange(1, 40).Draw(t, "events") {
			schedule(0)
		}
		for w.Step() {
		}
		for i := 1; i < len(order); i++ {
			prev, cur := order[i-1], order[i]
			check(t, prev.at < cur.at || (prev.at == cur.at && prev.seq < cur.seq),
				"event ", prev, " ran before ", cur)
		}
		equal(t, seq, len(order), "every scheduled event ran once")
	})
}

func TestRunUntilRunsDueEventsAndMovesTime(t *testing.T) {
	w := New(1, Options{})
	ran := 0
	w.After(time.Second, func() { ran++ })
	w.After(3*time.Second, func() { ran++ })
	w.RunFor(2 * time.Second)
	equal(t, 1, ran)
	equal(t, 2*time.Second, w.Elapsed(), "time moves to the deadline even with no event there")
	next, ok := w.NextAt()
	check(t, ok)
	equal(t, DefaultEpoch.Add(3*time.Second), next)
	w.RunUntil(DefaultEpoch.Add(3 * time.Second))
	equal(t, 2, ran, "an event due exactly at the deadline runs")
	equal(t, 0, w.Pending())
}

func TestQueueRefusesToGoBackInTime(t *testing.T) {
	w := New(1, Options{})
	w.RunFor(time.Second)
	panics(t, "sim: scheduling an event at 500ms, before now 1s",
		func() { w.At(DefaultEpoch.Add(500*time.Millisecond), func() {}) })
	panics(t, "sim: After(-1ns): negative delay", func() { w.After(-time.Nanosecond, func() {}) })
	panics(t, "sim: RunUntil(0s): before now 1s", func() { w.RunUntil(DefaultEpoch) })
}

func TestLimitsPanic(t *testing.T) {
	w := New(1, Options{EventsQueuedMax: 3})
	for range 3 {
		w.After(time.Second, func() {})
	}
	panics(t, "sim: more than EventsQueuedMax=3 events queued", func() { w.After(time.Second, func() {}) })

	w = New(1, Options{EventsAtOneInstantMax: 100})
	var again func()
	again = func() { w.After(0, again) }
	w.After(0, again)
	panics(t, "sim: more than EventsAtOneInstantMax=100 events at 0s: livelock",
		func() { w.RunFor(time.Second) })
}

func TestOptionsValidateReportsEveryProblem(t *testing.T) {
	o := Options{
		EventsQueuedMax: -1,
		Network:         NetworkOptions{Link: LinkOptions{DropProbability: 2, LatencyJitter: -1}},
		Disk:            DiskOptions{CapacityBytes: -5},
	}
	o.EnsureDefaults()
	err := o.Validate()
	check(t, err != nil, "invalid options pass Validate")
	for _, want := range []string{"EventsQueuedMax -1", "DropProbability 2", "LatencyJitter -1ns", "CapacityBytes -5"} {
		check(t, strings.Contains(err.Error(), want), "Validate's error lacks ", want, ": ", err)
	}
	panicValue(t, func() { New(1, o) })

	var zero Options
	noError(t, zero.EnsureDefaults().Validate(), "defaults are valid")
}

func TestRandStreamsAreIndependentOfOtherComponents(t *testing.T) {
	draw := func(w *World, name string) []uint64 {
		r := w.Rand(name)
		out := make([]uint64, 8)
		for i := range out {
			out[i] = r.Uint64()
		}
		return out
	}
	alone := draw(New(7, Options{}), "client/1")

	w := New(7, Options{})
	other := draw(w, "nemesis") // a component added before it
	withOther := draw(w, "client/1")
	equal(t, alone, withOther, "adding a component reshuffled another's stream")
	notEqual(t, alone, other, "different names share a stream")
	notEqual(t, alone, draw(New(8, Options{}), "client/1"), "different seeds share a stream")
	panics(t, `sim: random stream "nemesis" requested twice`, func() { w.Rand("nemesis") })
}

func TestTraceRecordsAndHash(t *testing.T) {
	w := New(1, Options{TraceRecordsKeptMax: 2})
	empty := w.TraceHash()
	w.Trace("a", "one")
	w.RunFor(1500 * time.Millisecond)
	w.Trace("b", "two %d", 2)
	w.Trace("c", "three")
	notEqual(t, empty, w.TraceHash())
	equal(t, uint64(3), w.TraceCount())
	equal(t, []string{
		"000001.500000000 #1 b two 2",
		"000001.500000000 #2 c three",
	}, w.TraceLines(), "only the newest TraceRecordsKeptMax records are kept")
	var sb strings.Builder
	noError(t, w.WriteTrace(&sb))
	equal(t, strings.Join(w.TraceLines(), "\n")+"\n", sb.String())
	panics(t, `sim: trace kind "two words" must be one non-empty word`, func() { w.Trace("two words", "") })
}

// TestTraceHashIsCanonical: moving a byte between kind and text, or
// changing only the time, changes the hash.
func TestTraceHashIsCanonical(t *testing.T) {
	hash := func(kind, text string, at time.Duration) [32]byte {
		w := New(1, Options{})
		w.RunFor(at)
		w.Trace(kind, "%s", text)
		return w.TraceHash()
	}
	base := hash("ab", "c", 0)
	equal(t, base, hash("ab", "c", 0))
	notEqual(t, base, hash("a", "bc", 0))
	notEqual(t, base, hash("ab", "c", time.Nanosecond))
}
