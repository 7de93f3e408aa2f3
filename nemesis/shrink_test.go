package nemesis

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func overlap(a, b Fault) bool { return a.At < b.End() && b.At < a.End() }

// failsOnOverlap is a synthetic bug: the run fails iff a fault of kind x
// and one of kind y overlap in time.
func failsOnOverlap(x, y Kind) func(Schedule) bool {
	return func(s Schedule) bool {
		for _, a := range s.Faults {
			for _, b := range s.Faults {
				if a.Kind == x && b.Kind == y && overlap(a, b) {
					return true
				}
			}
		}
		return false
	}
}

// countRuns wraps a predicate to count its calls.
func countRuns(pred func(Schedule) bool, runs *int) func(Schedule) bool {
	return func(s Schedule) bool {
		*runs++
		return pred(s)
	}
}

func TestMinimizeFindsTheOverlappingPair(t *testing.T) {
	pred := failsOnOverlap(CrashRestart, PartitionIsolateLeader)
	var s Schedule
	for seed := uint64(1); ; seed++ {
		if seed > 500 {
			t.Fatal("no seed in 1..500 makes the synthetic bug fail")
		}
		s = Generate(seed, GenerateOptions{Nodes: []uint64{1, 2, 3, 4, 5}, Duration: 3 * time.Minute})
		if pred(s) && len(s.Faults) >= 30 {
			break
		}
	}
	const maxRuns = 2000
	runs := 0
	got := Minimize(s, countRuns(pred, &runs), maxRuns)

	if runs > maxRuns {
		t.Fatalf("%d runs, over the limit %d", runs, maxRuns)
	}
	if !pred(got) {
		t.Fatalf("minimized schedule no longer fails: %v", got.Faults)
	}
	if len(got.Faults) != 2 {
		t.Fatalf("minimized from %d to %d faults, want the 2 that overlap: %v", len(s.Faults), len(got.Faults), got.Faults)
	}
	for i := range got.Faults {
		if pred(got.Without(i)) {
			t.Fatalf("not 1-minimal: still fails without fault %d of %v", i, got.Faults)
		}
		if sh := got.Shorten(i, 0.5); sh.Faults[i].Until != got.Faults[i].Until && pred(sh) {
			t.Fatalf("window of fault %d could still be halved: %v", i, got.Faults)
		}
	}
	if want := got.HealedBy() + got.Settle(); got.Duration != want {
		t.Fatalf("duration %s, want trimmed to %s (healed by %s plus settle)", got.Duration, want, got.HealedBy())
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("minimized schedule invalid: %v", err)
	}

	again := Minimize(s, pred, maxRuns)
	if !reflect.DeepEqual(got, again) {
		t.Fatalf("Minimize is not deterministic:\n%v\n%v", got.Faults, again.Faults)
	}
	if !pred(s) || len(s.Faults) < 30 {
		t.Fatal("Minimize modified its input")
	}
}

// When the predicate is monotone in the set of faults (fails iff a given
// subset is present), ddmin finds exactly that subset.
func TestMinimizeFindsTheCulpritSubset(t *testing.T) {
	checkAtLeast(t, func(t *rapid.T) {
		s := Generate(rapid.Uint64().Draw(t, "seed"), GenerateOptions{Nodes: []uint64{1, 2, 3, 4, 5}, Duration: 2 * time.Minute})
		var culprits []int // none: a bug that needs no fault
		if len(s.Faults) > 0 {
			culprits = rapid.SliceOfNDistinct(rapid.IntRange(0, len(s.Faults)-1), 0, min(4, len(s.Faults)), rapid.ID[int]).
				Draw(t, "culprits")
		}
		type key struct {
			at   time.Duration
			kind Kind
		}
		want := map[key]bool{}
		for _, i := range culprits {
			want[key{s.Faults[i].At, s.Faults[i].Kind}] = true
		}
		pred := func(c Schedule) bool {
			have := map[key]bool{}
			for _, f := range c.Faults {
				have[key{f.At, f.Kind}] = true
			}
			for k := range want {
				if !have[k] {
					return false
				}
			}
			return true
		}
		runs := 0
		got := Minimize(s, countRuns(pred, &runs), 10_000)
		if !pred(got) {
			t.Fatalf("result does not fail")
		}
		if len(got.Faults) != len(want) {
			t.Fatalf("minimized to %d faults, want the %d culprits: %v", len(got.Faults), len(want), got.Faults)
		}
		for _, f := range got.Faults {
			if f.Window() > time.Millisecond {
				t.Fatalf("window of %s not shortened although the bug ignores windows", f)
			}
		}
		if got.Duration != got.HealedBy()+got.Settle() {
			t.Fatalf("duration %s not trimmed to %s", got.Duration, got.HealedBy()+got.Settle())
		}
	})
}

func TestMinimizeStopsAtMaxRuns(t *testing.T) {
	s := Generate(11, GenerateOptions{Nodes: []uint64{1, 2, 3, 4, 5}, Duration: 3 * time.Minute})
	pred := func(c Schedule) bool { return len(c.Faults) >= 3 }
	if !pred(s) {
		t.Fatalf("seed 11 has only %d faults", len(s.Faults))
	}
	for _, maxRuns := range []int{0, 1, 3, 10} {
		runs := 0
		got := Minimize(s, countRuns(pred, &runs), maxRuns)
		if runs > maxRuns {
			t.Errorf("maxRuns %d: %d runs", maxRuns, runs)
		}
		if !pred(got) {
			t.Errorf("maxRuns %d: result does not fail", maxRuns)
		}
		if maxRuns == 0 && !reflect.DeepEqual(got, s) {
			t.Errorf("no runs allowed, yet the schedule changed")
		}
	}
}

func TestMinimizeBugWithoutFaults(t *testing.T) {
	s := Generate(5, GenerateOptions{})
	got := Minimize(s, func(Schedule) bool { return true }, 100)
	if len(got.Faults) != 0 || got.Duration != got.Settle() {
		t.Fatalf("a bug that needs no fault shrank to %d faults over %s, want none over %s",
			len(got.Faults), got.Duration, got.Settle())
	}
}

func TestSplit(t *testing.T) {
	idx := []int{0, 1, 2, 3, 4, 5, 6}
	got := split(idx, 3)
	want := [][]int{{0, 1}, {2, 3}, {4, 5, 6}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("split = %v, want %v", got, want)
	}
	if c := complement(got, 1); !slices.Equal(c, []int{0, 1, 4, 5, 6}) {
		t.Fatalf("complement = %v", c)
	}
}
