package sim

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// ping is the message of the ping-pong workload; its fields are all that
// the trace shows of it.
type ping struct {
	origin uint64
	hop    int
}

// pingPong runs a randomized workload: five endpoints bounce pings to
// random peers, new pings start on timers, and a nemesis partitions,
// blocks, isolates, heals, degrades links and restarts endpoints. It
// returns the world after 5s of virtual time.
func pingPong(seed uint64) *World {
	w := New(seed, Options{Network: NetworkOptions{
		Link: LinkOptions{LatencyBase: time.Millisecond, LatencyJitter: 3 * time.Millisecond},
		Describe: func(msg any) string {
			p := msg.(ping)
			return fmt.Sprintf("ping{origin=%d hop=%d}", p.origin, p.hop)
		},
	}})
	net := w.Network()
	ids := []uint64{1, 2, 3, 4, 5}
	workload := w.Rand("workload")
	nemesis := w.Rand("nemesis")

	deliver := func(self uint64) func(from uint64, msg any) {
		return func(from uint64, msg any) {
			p := msg.(ping)
			w.Trace("app.recv", "%d got hop %d from %d", self, p.hop, from)
			if p.hop < 6 {
				to := ids[workload.IntN(len(ids))]
				net.Send(self, to, ping{origin: p.origin, hop: p.hop + 1}, 64+workload.IntN(512))
			}
		}
	}
	for _, id := range ids {
		net.Register(id, deliver(id))
	}
	var tick func()
	tick = func() {
		from := ids[workload.IntN(len(ids))]
		to := ids[workload.IntN(len(ids))]
		net.Send(from, to, ping{origin: from}, 64)
		w.After(time.Duration(1+workload.IntN(20))*time.Millisecond, tick)
	}
	w.After(0, tick)

	var fault func()
	fault = func() {
		switch nemesis.IntN(7) {
		case 0:
			shuffled := slices.Clone(ids)
			nemesis.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			cut := 1 + nemesis.IntN(len(ids)-1)
			net.Partition(shuffled[:cut], shuffled[cut:])
		case 1:
			net.Block(ids[nemesis.IntN(len(ids))], ids[nemesis.IntN(len(ids))])
		case 2:
			net.Isolate(ids[nemesis.IntN(len(ids))])
		case 3:
			net.Heal()
		case 4:
			net.SetLink(ids[nemesis.IntN(len(ids))], ids[nemesis.IntN(len(ids))], LinkOptions{
				LatencyJitter:        time.Duration(nemesis.IntN(10)) * time.Millisecond,
				DropProbability:      nemesis.Float64() / 2,
				DuplicateProbability: nemesis.Float64() / 2,
				ReorderProbability:   nemesis.Float64() / 2,
			})
		case 5:
			id := ids[nemesis.IntN(len(ids))]
			if slices.Contains(net.Endpoints(), id) {
				net.Unregister(id)
				w.After(time.Duration(nemesis.IntN(200))*time.Millisecond, func() { net.Register(id, deliver(id)) })
			}
		case 6:
			net.SetDefaultLink(LinkOptions{
				LatencyJitter:   time.Duration(1+nemesis.IntN(5)) * time.Millisecond,
				DropProbability: nemesis.Float64() / 4,
			})
		}
		w.After(time.Duration(nemesis.IntN(300))*time.Millisecond, fault)
	}
	w.After(50*time.Millisecond, fault)
	w.RunFor(5 * time.Second)
	return w
}

func TestSameSeedSameTraceDifferentSeedDifferentTrace(t *testing.T) {
	for _, seed := range []uint64{1, 2, 42} {
		a, b := pingPong(seed), pingPong(seed)
		if a.TraceHash() != b.TraceHash() {
			la, lb := a.TraceLines(), b.TraceLines()
			for i := range min(len(la), len(lb)) {
				if la[i] != lb[i] {
					t.Fatalf("seed %d: runs diverge at trace line %d:\n%s\n%s", seed, i, la[i], lb[i])
				}
			}
			t.Fatalf("seed %d: trace hashes differ, kept lines agree (%d vs %d)", seed, len(la), len(lb))
		}
		// The workload must actually exercise the faults it claims to.
		kinds := map[string]int{}
		for _, r := range a.TraceRecords() {
			kinds[r.Kind]++
		}
		for _, kind := range []string{"net.deliver", "net.drop", "net.partition", "net.heal", "app.recv", "net.unregister"} {
			check(t, kinds[kind] > 0, "seed ", seed, ": no ", kind, " in the trace")
		}
		check(t, a.TraceCount() > 1000, "seed ", seed, ": only ", a.TraceCount(), " trace records")
	}
	hashes := map[[32]byte]uint64{}
	for seed := uint64(100); seed < 110; seed++ {
		h := pingPong(seed).TraceHash()
		if prev, ok := hashes[h]; ok {
			t.Fatalf("seeds %d and %d produced the same trace", prev, seed)
		}
		hashes[h] = seed
	}
}

// endpoints registers ids on w's network and returns what each received,
// in order, as "from:msg".
func endpoints(w *World, ids ...uint64) map[uint64][]string {
	got := map[uint64][]string{}
	for _, id := range ids {
		w.Network().Register(id, func(from uint64, msg any) {
			got[id] = append(got[id], fmt.Sprintf("%d:%v", from, msg))
		})
	}
	return got
}

func TestLatencyWithinBoundsAndLinksAreFIFO(t *testing.T) {
	w := New(3, Options{Network: NetworkOptions{Link: LinkOptions{
		LatencyBase: 2 * time.Millisecond, LatencyJitter: 5 * time.Millisecond,
	}}})
	var arrivals []time.Duration
	var order []int
	w.Network().Register(2, func(from uint64, msg any) {
		arrivals = append(arrivals, w.Elapsed())
		order = append(order, msg.(int))
	})
	w.Network().Register(1, func(uint64, any) {})
	for i := range 200 {
		w.Network().Send(1, 2, i, 10)
	}
	w.RunFor(time.Second)
	equal(t, 200, len(order))
	for i, at := range arrivals {
		check(t, at >= 2*time.Millisecond && at < 7*time.Millisecond, "arrival ", at, " outside [base, base+jitter)")
		equal(t, i, order[i], "a link without reorder delivers in send order")
	}
}

func TestReorderLetsMessagesOvertake(t *testing.T) {
	w := New(3, Options{})
	w.Network().SetLink(1, 2, LinkOptions{ReorderProbability: 0.5, ReorderDelayMax: 20 * time.Millisecond})
	var order []int
	w.Network().Register(2, func(_ uint64, msg any) { order = append(order, msg.(int)) })
	for i := range 100 {
		w.Network().Send(1, 2, i, 10)
	}
	w.RunFor(time.Second)
	equal(t, 100, len(order), "reordering loses nothing")
	check(t, !slices.IsSorted(order), "no message overtook another")
}

func TestDropAndDuplicate(t *testing.T) {
	w := New(3, Options{})
	got := endpoints(w, 1, 2, 3)
	w.Network().SetLink(1, 2, LinkOptions{DropProbability: 1})
	w.Network().SetLink(1, 3, LinkOptions{DuplicateProbability: 1})
	w.Network().Send(1, 2, "lost", 1)
	w.Network().Send(1, 3, "twice", 1)
	w.RunFor(time.Second)
	equal(t, []string(nil), got[2])
	equal(t, []string{"1:twice", "1:twice"}, got[3])
	equal(t, 0, w.Network().MessagesInFlight())

	w.Network().ResetLink(1, 2)
	w.Network().Send(1, 2, "back", 1)
	w.RunFor(time.Second)
	equal(t, []string{"1:back"}, got[2], "ResetLink restores the default")
}

func TestPartitionBlockIsolateHeal(t *testing.T) {
	w := New(3, Options{})
	net := w.Network()
	got := endpoints(w, 1, 2, 3, 4, 9)
	sendAll := func(tag string) {
		for _, from := range []uint64{1, 2, 3, 4, 9} {
			for _, to := range []uint64{1, 2, 3, 4, 9} {
				if from != to {
					net.Send(from, to, tag, 1)
				}
			}
		}
		w.RunFor(time.Second)
	}
	heard := func(id uint64, tag string) []uint64 {
		var from []uint64
		for _, m := range got[id] {
			var f uint64
			var msg string
			fmt.Sscanf(m, "%d:%s", &f, &msg)
			if msg == tag {
				from = append(from, f)
			}
		}
		slices.Sort(from)
		return from
	}

	net.Partition([]uint64{1, 2}, []uint64{3, 4})
	sendAll("p")
	equal(t, []uint64{2, 9}, heard(1, "p"), "1 hears its group and the unlisted 9")
	equal(t, []uint64{4, 9}, heard(3, "p"))
	equal(t, []uint64{1, 2, 3, 4}, heard(9, "p"), "an id in no group is unaffected")

	net.Heal()
	net.Block(1, 2)
	sendAll("b")
	equal(t, []uint64{3, 4, 9}, heard(2, "b"), "1->2 is blocked")
	equal(t, []uint64{2, 3, 4, 9}, heard(1, "b"), "2->1 is not")

	net.Unblock(1, 2)
	net.Isolate(4)
	sendAll("i")
	equal(t, []uint64(nil), heard(4, "i"))
	equal(t, []uint64{2, 3, 9}, heard(1, "i"))

	net.Heal()
	sendAll("h")
	equal(t, []uint64{1, 2, 3, 9}, heard(4, "h"), "Heal ends isolation")

	panicValue(t, func() { net.Partition([]uint64{1, 2}, []uint64{2, 3}) })
}

func TestPartitionCutsMessagesAlreadyOnTheWire(t *testing.T) {
	w := New(3, Options{})
	got := endpoints(w, 1, 2)
	w.Network().Send(1, 2, "late", 1) // due in 1ms
	w.Network().Partition([]uint64{1}, []uint64{2})
	w.RunFor(time.Second)
	equal(t, []string(nil), got[2])
	check(t, slices.Contains(w.TraceLines(), "000000.001000000 #5 net.drop m0 copy=0 1->2 reason=partition"),
		"the in-flight drop is traced: ", w.TraceLines())
}

func TestDownAndRestartedEndpointsDropMessages(t *testing.T) {
	w := New(3, Options{})
	net := w.Network()
	got := endpoints(w, 1, 2)
	net.Send(1, 2, "before-crash", 1)
	net.Unregister(2)
	net.Send(1, 2, "while-down", 1)
	net.Send(1, 7, "never-registered", 1)
	w.RunFor(time.Millisecond / 2)
	net.Register(2, func(from uint64, msg any) { got[2] = append(got[2], fmt.Sprint(msg)) })
	w.RunFor(time.Second)
	equal(t, []string(nil), got[2], "messages to an earlier life are not delivered to the next")
	net.Send(1, 2, "after-restart", 1)
	w.RunFor(time.Second)
	equal(t, []string{"after-restart"}, got[2])
	equal(t, []uint64{1, 2}, net.Endpoints())

	var reasons []string
	for _, r := range w.TraceRecords() {
		if r.Kind == "net.drop" {
			reasons = append(reasons, r.Text)
		}
	}
	equal(t, []string{
		"m1 1->2 reason=down",
		"m2 1->7 reason=down",
		"m0 copy=0 1->2 reason=restarted",
	}, reasons)
}

func TestBandwidthAddsTransmissionTime(t *testing.T) {
	w := New(3, Options{})
	w.Network().SetLink(1, 2, LinkOptions{LatencyBase: time.Millisecond, BandwidthBytesPerSecond: 1000})
	var at time.Duration
	w.Network().Register(2, func(uint64, any) { at = w.Elapsed() })
	w.Network().Send(1, 2, "x", 500)
	w.RunFor(time.Second)
	equal(t, 501*time.Millisecond, at)
}

// TestEveryCopyEndsOnce: whatever the link options, partitions and
// restarts, every scheduled copy of a message is delivered or dropped
// exactly once, a link that was cut at delivery time delivers nothing, and
// the network ends empty.
func TestEveryCopyEndsOnce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := New(rapid.Uint64().Draw(t, "seed"), Options{})
		net := w.Network()
		ids := []uint64{1, 2, 3}
		delivered := 0
		for _, id := range ids {
			net.Register(id, func(from uint64, msg any) {
				check(t, !net.cut(from, id), "delivered over a cut link ", from, "->", id)
				delivered++
			})
		}
		id := rapid.SampledFrom(ids)
		for range rapid.IntRange(1, 60).Draw(t, "ops") {
			switch rapid.IntRange(0, 6).Draw(t, "op") {
			case 0, 1, 2:
				net.Send(id.Draw(t, "from"), id.Draw(t, "to"), "m", rapid.IntRange(0, 1000).Draw(t, "size"))
			case 3:
				net.SetLink(id.Draw(t, "from"), id.Draw(t, "to"), LinkOptions{
					LatencyJitter:        time.Duration(rapid.IntRange(0, 5).Draw(t, "jitterMs")) * time.Millisecond,
					DropProbability:      rapid.Float64Range(0, 1).Draw(t, "drop"),
					DuplicateProbability: rapid.Float64Range(0, 1).Draw(t, "dup"),
					ReorderProbability:   rapid.Float64Range(0, 1).Draw(t, "reorder"),
				})
			case 4:
				net.Block(id.Draw(t, "from"), id.Draw(t, "to"))
			case 5:
				net.Heal()
			case 6:
				victim := id.Draw(t, "victim")
				if slices.Contains(net.Endpoints(), victim) {
					net.Unregister(victim)
				} else {
					net.Register(victim, func(uint64, any) { delivered++ })
				}
			}
			w.RunFor(time.Duration(rapid.IntRange(0, 3).Draw(t, "runMs")) * time.Millisecond)
		}
		w.RunFor(time.Minute)
		equal(t, 0, net.MessagesInFlight(), "messages left in flight")
		kinds := map[string]int{}
		copyDrops := 0
		for _, r := range w.TraceRecords() {
			kinds[r.Kind]++
			if r.Kind == "net.drop" && strings.Contains(r.Text, " copy=") {
				copyDrops++
			}
		}
		equal(t, kinds["net.schedule"], kinds["net.deliver"]+copyDrops, "scheduled copies vs. delivered + dropped")
		equal(t, kinds["net.deliver"], delivered, "traced deliveries vs. deliver calls")
	})
}
