package nemesis

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Budget bounds how many members may be affected at one instant, where a
// member is affected while a fault that takes it down (crash, pause, a
// failing or full disk, removal) or damages its durable state (lost
// unsynced writes, torn write, bit flip) lasts, from At to Until.
//
// Damage is modelled as lasting for the fault's window: a crash that loses
// unsynced data or tears a write damages the member until it restarts at
// Until; a bit flip until the executor repairs the member at Until. A fault
// whose targets are resolved at execution time (empty Targets) counts as one
// more member, distinct from every named one: the budget cannot know whom
// the leader will be, so it assumes the worst.
type Budget struct {
	// AffectedMax is the most members that may be affected at once.
	AffectedMax int
}

// MinorityBudget is the budget raft survives in a cluster of nodes members:
// floor((nodes-1)/2) affected, leaving a quorum intact.
func MinorityBudget(nodes int) Budget {
	assert(nodes >= 0, fmt.Sprintf("MinorityBudget(%d)", nodes))
	return Budget{AffectedMax: max(0, (nodes-1)/2)}
}

// Violation is a stretch of the run over budget.
type Violation struct {
	// From and To bound the stretch: [From, To).
	From, To time.Duration
	// Affected members in the stretch, and the budget's limit.
	Affected, AffectedMax int
	// Members are the named affected members, sorted.
	Members []uint64
	// Unresolved counts the affected members named only at execution time.
	Unresolved int
	// Faults are the indices of the faults active in the stretch.
	Faults []int
}

// String renders the violation on one line.
func (v Violation) String() string {
	return fmt.Sprintf("%s..%s: %d members affected, budget %d (members %v, %d resolved at execution, faults %v)",
		v.From, v.To, v.Affected, v.AffectedMax, v.Members, v.Unresolved, v.Faults)
}

// Check returns every stretch of s over the budget, in time order. Nil
// means s is within it.
func (b Budget) Check(s Schedule) []Violation {
	var out []Violation
	sweepAffected(s.Faults, func(from, to time.Duration, active []int, members []uint64, unresolved int) {
		if affected := len(members) + unresolved; affected > b.AffectedMax {
			out = append(out, Violation{
				From: from, To: to,
				Affected: affected, AffectedMax: b.AffectedMax,
				Members: members, Unresolved: unresolved,
				Faults: active,
			})
		}
	})
	return out
}

// WithinBudget checks s against the minority budget of its nodes.
func (s Schedule) WithinBudget() (bool, []Violation) {
	v := MinorityBudget(len(s.Nodes)).Check(s)
	return len(v) == 0, v
}

// peakAffected returns the most members the faults affect at one instant.
func peakAffected(faults []Fault) int {
	peak := 0
	sweepAffected(faults, func(_, _ time.Duration, _ []int, members []uint64, unresolved int) {
		peak = max(peak, len(members)+unresolved)
	})
	return peak
}

// sweepAffected calls visit for every maximal stretch [from, to) during
// which the set of active budgeted faults is constant and not empty, with
// those faults' indices, the named members they affect (sorted, distinct)
// and the count of faults whose target is resolved at execution time.
// Windows are half open, so a fault ending at t and one starting at t
// never overlap.
func sweepAffected(faults []Fault, visit func(from, to time.Duration, active []int, members []uint64, unresolved int)) {
	type edge struct {
		at    time.Duration
		start bool
		fault int
	}
	var edges []edge
	for i, f := range faults {
		k, ok := catalogueIndex[f.Kind]
		if !ok || !catalogue[k].Budgeted() || f.End() <= f.At {
			continue
		}
		edges = append(edges, edge{f.At, true, i}, edge{f.End(), false, i})
	}
	// Ends sort before starts at one instant; then by fault, so the order
	// is total and deterministic.
	slices.SortFunc(edges, func(a, b edge) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		if a.start != b.start {
			if a.start {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.fault, b.fault)
	})

	var active []int
	for e := 0; e < len(edges); {
		at := edges[e].at
		for ; e < len(edges) && edges[e].at == at; e++ {
			if edges[e].start {
				active = append(active, edges[e].fault)
			} else {
				i := slices.Index(active, edges[e].fault)
				assert(i >= 0, "budget sweep: a fault ended that never started")
				active = slices.Delete(active, i, i+1)
			}
		}
		if len(active) == 0 {
			continue
		}
		assert(e < len(edges), "budget sweep: faults still active after the last edge")
		var members []uint64
		unresolved := 0
		for _, i := range active {
			if len(faults[i].Targets) == 0 {
				unresolved++
			}
			members = append(members, faults[i].Targets...)
		}
		slices.Sort(members)
		members = slices.Compact(members)
		ids := slices.Clone(active)
		slices.Sort(ids)
		visit(at, edges[e].at, ids, members, unresolved)
	}
}
