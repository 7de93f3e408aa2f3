package nemesis

import (
	"fmt"
	"time"
)

// Minimize shrinks a failing schedule to a smaller one that still fails,
// running stillFails at most maxRuns times, and returns the smallest
// failing schedule found. s itself is assumed to fail and is not re-run.
//
// It works in three passes, each keeping only changes that still fail:
//
//  1. delta debugging (ddmin) over the fault list, after first trying no
//     faults at all; the result is 1-minimal: dropping any one remaining
//     fault makes the failure go away (if runs allowed finishing);
//  2. halving each remaining fault's window while it still fails;
//  3. trimming Duration towards the least that keeps Settle after the last
//     fault heals, by bisection.
//
// Every candidate is valid when s is: dropping faults keeps the order,
// shortening keeps Until > At, trimming keeps the settle rule. Minimize is
// deterministic: the same s and predicate give the same runs and result.
func Minimize(s Schedule, stillFails func(Schedule) bool, maxRuns int) Schedule {
	assert(maxRuns >= 0, fmt.Sprintf("Minimize: maxRuns %d is negative", maxRuns))
	m := minimizer{stillFails: stillFails, runsLeft: maxRuns}
	best := s.Clone()
	best = m.ddmin(best)
	best = m.shortenWindows(best)
	best = m.trimDuration(best)
	return best
}

type minimizer struct {
	stillFails func(Schedule) bool
	runsLeft   int
}

// fails runs the predicate if any runs are left; with none left every
// candidate counts as passing, so the current best stands.
func (m *minimizer) fails(c Schedule) bool {
	if m.runsLeft <= 0 {
		return false
	}
	m.runsLeft--
	return m.stillFails(c)
}

// withFaults is s with the faults at the given indices, in order.
func withFaults(s Schedule, keep []int) Schedule {
	c := s.Clone()
	c.Faults = nil
	for _, i := range keep {
		c.Faults = append(c.Faults, s.Faults[i].Clone())
	}
	return c
}

// ddmin is Zeller's delta debugging over s.Faults.
func (m *minimizer) ddmin(s Schedule) Schedule {
	if len(s.Faults) == 0 {
		return s
	}
	if empty := withFaults(s, nil); m.fails(empty) {
		return empty
	}
	idx := make([]int, len(s.Faults))
	for i := range idx {
		idx[i] = i
	}
	granularity := 2
	for len(idx) >= 2 && m.runsLeft > 0 {
		chunks := split(idx, granularity)
		reduced := false
		// Try each chunk alone, then each complement.
		for _, c := range chunks {
			if m.fails(withFaults(s, c)) {
				idx, granularity, reduced = c, 2, true
				break
			}
		}
		if !reduced && granularity > 2 {
			for i := range chunks {
				comp := complement(chunks, i)
				if m.fails(withFaults(s, comp)) {
					idx, granularity, reduced = comp, max(granularity-1, 2), true
					break
				}
			}
		}
		if !reduced {
			if granularity >= len(idx) {
				break
			}
			granularity = min(2*granularity, len(idx))
		}
	}
	return withFaults(s, idx)
}

// split cuts idx into n nearly equal, non-empty, contiguous chunks.
func split(idx []int, n int) [][]int {
	assert(n >= 1 && n <= len(idx), fmt.Sprintf("split %d items into %d", len(idx), n))
	chunks := make([][]int, 0, n)
	start := 0
	for i := range n {
		end := start + (len(idx)-start)/(n-i)
		chunks = append(chunks, idx[start:end:end])
		start = end
	}
	return chunks
}

// complement is every chunk but chunks[skip], concatenated.
func complement(chunks [][]int, skip int) []int {
	var out []int
	for i, c := range chunks {
		if i != skip {
			out = append(out, c...)
		}
	}
	return out
}

// shortenWindows halves each fault's window while the schedule still fails.
func (m *minimizer) shortenWindows(s Schedule) Schedule {
	for i := range s.Faults {
		for m.runsLeft > 0 {
			c := s.Shorten(i, 0.5)
			if c.Faults[i].Until == s.Faults[i].Until || !m.fails(c) {
				break
			}
			s = c
		}
	}
	return s
}

// trimDuration bisects Duration between the least the settle rule allows
// (known not to be tried yet) and the current one (known to fail), to the
// millisecond.
func (m *minimizer) trimDuration(s Schedule) Schedule {
	least := s.HealedBy() + s.Settle()
	if least <= 0 || least >= s.Duration {
		return s
	}
	try := func(d time.Duration) bool {
		c := s.Clone()
		c.Duration = d
		if m.fails(c) {
			s = c
			return true
		}
		return false
	}
	if try(least) {
		return s
	}
	lo := least // passes, or untested for want of runs
	for s.Duration-lo > time.Millisecond && m.runsLeft > 0 {
		mid := (lo + (s.Duration-lo)/2).Round(time.Millisecond)
		if mid <= lo || mid >= s.Duration {
			break
		}
		if !try(mid) {
			lo = mid
		}
	}
	return s
}
