package nemesis

import (
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestBudget(t *testing.T) {
	crash := func(at, until float64, targets ...uint64) Fault {
		return Fault{At: sec(at), Kind: CrashRestart, Targets: targets, Until: sec(until)}
	}
	tests := []struct {
		name   string
		nodes  int
		faults []Fault
		want   []Violation
	}{
		{"one crash of three", 3, []Fault{crash(1, 5, 1)}, nil},
		{"same member twice", 3, []Fault{crash(1, 5, 1), crash(2, 6, 1)}, nil},
		{"two members overlapping", 3, []Fault{crash(1, 5, 1), crash(3, 8, 2)},
			[]Violation{{From: sec(3), To: sec(5), Affected: 2, AffectedMax: 1, Members: []uint64{1, 2}, Faults: []int{0, 1}}}},
		{"back to back do not overlap", 3, []Fault{crash(1, 5, 1), crash(5, 8, 2)}, nil},
		{"leader counts as another member", 3, []Fault{crash(1, 5), crash(2, 3, 2)},
			[]Violation{{From: sec(2), To: sec(3), Affected: 2, AffectedMax: 1, Members: []uint64{2}, Unresolved: 1, Faults: []int{0, 1}}}},
		{"partitions do not count", 3, []Fault{
			{At: sec(1), Kind: PartitionHalves, Targets: []uint64{1}, Until: sec(9)},
			{At: sec(1), Kind: PacketLoss, Params: map[string]float64{ParamProbability: 1}, Until: sec(9)},
			crash(2, 4, 2)}, nil},
		{"damage and down add up", 5, []Fault{
			{At: sec(1), Kind: DiskBitFlip, Targets: []uint64{1}, Params: map[string]float64{ParamFlips: 1}, Until: sec(10)},
			{At: sec(2), Kind: DiskTornWrite, Targets: []uint64{2}, Params: map[string]float64{ParamKeptFraction: 0.5}, Until: sec(4)},
			{At: sec(3), Kind: Pause, Targets: []uint64{3}, Until: sec(6)}},
			[]Violation{{From: sec(3), To: sec(4), Affected: 3, AffectedMax: 2, Members: []uint64{1, 2, 3}, Faults: []int{0, 1, 2}}}},
		{"one fault on a majority", 3, []Fault{crash(1, 2, 1, 3)},
			[]Violation{{From: sec(1), To: sec(2), Affected: 2, AffectedMax: 1, Members: []uint64{1, 3}, Faults: []int{0}}}},
		{"single member has no budget", 1, []Fault{crash(1, 2, 1)},
			[]Violation{{From: sec(1), To: sec(2), Affected: 1, AffectedMax: 0, Members: []uint64{1}, Faults: []int{0}}}},
		{"violation split where the set changes", 5, []Fault{crash(1, 9, 1), crash(2, 5, 2), crash(3, 4, 3), crash(4, 6, 4)},
			[]Violation{
				{From: sec(3), To: sec(4), Affected: 3, AffectedMax: 2, Members: []uint64{1, 2, 3}, Faults: []int{0, 1, 2}},
				{From: sec(4), To: sec(5), Affected: 3, AffectedMax: 2, Members: []uint64{1, 2, 4}, Faults: []int{0, 1, 3}},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Schedule{Duration: time.Minute, Faults: tt.faults}
			for id := uint64(1); id <= uint64(tt.nodes); id++ {
				s.Nodes = append(s.Nodes, id)
			}
			if err := s.Validate(); err != nil {
				t.Fatalf("test schedule invalid: %v", err)
			}
			ok, got := s.WithinBudget()
			if ok != (len(tt.want) == 0) {
				t.Errorf("WithinBudget ok = %v with violations %v", ok, got)
			}
			if !slices.EqualFunc(got, tt.want, violationEqual) {
				t.Fatalf("violations\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func violationEqual(a, b Violation) bool {
	return a.From == b.From && a.To == b.To && a.Affected == b.Affected && a.AffectedMax == b.AffectedMax &&
		slices.Equal(a.Members, b.Members) && a.Unresolved == b.Unresolved && slices.Equal(a.Faults, b.Faults)
}

func TestMinorityBudget(t *testing.T) {
	for nodes, want := range map[int]int{0: 0, 1: 0, 2: 0, 3: 1, 4: 1, 5: 2, 6: 2, 7: 3} {
		if got := MinorityBudget(nodes).AffectedMax; got != want {
			t.Errorf("MinorityBudget(%d) = %d, want %d", nodes, got, want)
		}
	}
}

// The sweep agrees with counting the affected members at every instant by
// brute force.
func TestBudgetMatchesBruteForce(t *testing.T) {
	checkAtLeast(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 6).Draw(t, "nodes")
		kinds := []Kind{CrashRestart, Pause, DiskFull, PacketLoss}
		var faults []Fault
		for range rapid.IntRange(0, 8).Draw(t, "faults") {
			at := rapid.IntRange(0, 20).Draw(t, "at")
			f := Fault{
				At:    time.Duration(at) * time.Second,
				Kind:  rapid.SampledFrom(kinds).Draw(t, "kind"),
				Until: time.Duration(at+rapid.IntRange(1, 10).Draw(t, "window")) * time.Second,
			}
			for id := 1; id <= n; id++ {
				if rapid.IntRange(0, 3).Draw(t, "target") == 0 {
					f.Targets = append(f.Targets, uint64(id))
				}
			}
			faults = append(faults, f)
		}
		slices.SortStableFunc(faults, func(a, b Fault) int { return int(a.At - b.At) })
		budget := Budget{AffectedMax: rapid.IntRange(0, 3).Draw(t, "max")}
		violations := budget.Check(Schedule{Faults: faults})

		for instant := time.Duration(0); instant < 31*time.Second; instant += time.Second / 2 {
			members := map[uint64]bool{}
			unresolved := 0
			for _, f := range faults {
				if f.Kind == PacketLoss || instant < f.At || instant >= f.Until {
					continue
				}
				if len(f.Targets) == 0 {
					unresolved++
				}
				for _, id := range f.Targets {
					members[id] = true
				}
			}
			over := len(members)+unresolved > budget.AffectedMax
			covered := slices.ContainsFunc(violations, func(v Violation) bool { return v.From <= instant && instant < v.To })
			if over != covered {
				t.Fatalf("at %s: %d affected, budget %d, but violations %v", instant, len(members)+unresolved, budget.AffectedMax, violations)
			}
		}
	})
}
