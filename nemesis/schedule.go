package nemesis

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Limits on what a schedule may hold; Validate enforces them.
const (
	// NodesMax bounds the members of a cluster under test.
	NodesMax = 64
	// FaultsMax bounds the faults of one schedule.
	FaultsMax = 4096
	// DurationMax bounds a run's virtual duration.
	DurationMax = 24 * time.Hour
	// DefaultSettle is how long before the end of a run every fault must
	// have healed, so that liveness can be judged, when the schedule does
	// not say (Swarm.Settle 0).
	DefaultSettle = 10 * time.Second
)

// Schedule is a whole run's faults plus what it takes to reproduce it.
type Schedule struct {
	// Seed the schedule was generated from (0 for a hand-written one).
	Seed uint64 `json:"seed"`
	// Nodes are the member ids of the cluster, distinct and non-zero.
	Nodes []uint64 `json:"nodes"`
	// Duration is the virtual length of the run.
	Duration time.Duration `json:"duration"`
	// Faults sorted by At (ties keep their order).
	Faults []Fault `json:"faults"`
	// Profile names the profile the faults were drawn from ("" if none).
	Profile string `json:"profile,omitempty"`
	// Swarm records every choice Generate made for this seed.
	Swarm SwarmParams `json:"swarm"`
}

// Settle returns how long before Duration every fault must heal.
func (s Schedule) Settle() time.Duration {
	if s.Swarm.Settle > 0 {
		return s.Swarm.Settle
	}
	return DefaultSettle
}

// HealedBy returns the time by which every fault has ended (0 with none).
func (s Schedule) HealedBy() time.Duration {
	var end time.Duration
	for _, f := range s.Faults {
		end = max(end, f.End())
	}
	return end
}

// Clone returns a deep copy, so shrinking never aliases the original.
func (s Schedule) Clone() Schedule {
	s.Nodes = slices.Clone(s.Nodes)
	if s.Faults != nil {
		faults := make([]Fault, len(s.Faults))
		for i, f := range s.Faults {
			faults[i] = f.Clone()
		}
		s.Faults = faults
	}
	s.Swarm = s.Swarm.Clone()
	return s
}

// Validate reports every problem with the schedule at once. The fault
// budget is not part of validity (a BeyondBudget schedule is valid); see
// WithinBudget.
func (s Schedule) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("nemesis: schedule: "+format, args...))
	}

	if len(s.Nodes) == 0 || len(s.Nodes) > NodesMax {
		bad("%d nodes, want 1..%d", len(s.Nodes), NodesMax)
	}
	known := make(map[uint64]bool, len(s.Nodes))
	for _, id := range s.Nodes {
		if id == 0 {
			bad("node id 0 is not a valid raft member id")
		}
		if known[id] {
			bad("node id %d listed twice", id)
		}
		known[id] = true
	}
	if s.Duration <= 0 || s.Duration > DurationMax {
		bad("duration %s, want in (0, %s]", s.Duration, DurationMax)
	}
	if s.Swarm.Settle < 0 {
		bad("swarm settle %s is negative", s.Swarm.Settle)
	}
	if s.Profile != "" {
		if _, ok := LookupProfile(s.Profile); !ok {
			bad("unknown profile %q, want one of %v", s.Profile, Profiles())
		}
	}
	for _, k := range s.Swarm.Kinds {
		if !k.Kind.Valid() {
			bad("swarm params name unknown kind %q", k.Kind)
		}
	}
	if len(s.Faults) > FaultsMax {
		bad("%d faults, want at most %d", len(s.Faults), FaultsMax)
	}
	healBy := s.Duration - s.Settle()
	for i, f := range s.Faults {
		if i > 0 && f.At < s.Faults[i-1].At {
			bad("fault %d (%s) at %s comes before fault %d at %s: faults must be sorted by At",
				i, f.Kind, f.At, i-1, s.Faults[i-1].At)
		}
		for _, err := range validateFault(f, s.Nodes, known) {
			errs = append(errs, fmt.Errorf("nemesis: schedule: fault %d (%s at %s): %w", i, f.Kind, f.At, err))
		}
		if f.At > s.Duration || f.Until > s.Duration {
			bad("fault %d (%s) spans %s..%s, beyond the duration %s", i, f.Kind, f.At, f.Until, s.Duration)
		} else if f.End() > healBy {
			bad("fault %d (%s) heals at %s, later than %s (duration %s minus settle %s)",
				i, f.Kind, f.End(), healBy, s.Duration, s.Settle())
		}
	}
	return errors.Join(errs...)
}

// validateFault lists what is wrong with one fault on its own.
func validateFault(f Fault, nodes []uint64, known map[uint64]bool) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if f.At < 0 {
		bad("at %s is negative", f.At)
	}
	i, ok := catalogueIndex[f.Kind]
	if !ok {
		bad("unknown kind %q", f.Kind)
		return errs
	}
	info := &catalogue[i]
	if info.Windowed && f.Until <= f.At {
		bad("until %s is not after at %s: the kind lasts a window", f.Until, f.At)
	}
	if !info.Windowed && f.Until != 0 {
		bad("until %s set on an instantaneous kind, want 0", f.Until)
	}
	if len(nodes) < info.NodesMin {
		bad("needs at least %d nodes, the cluster has %d", info.NodesMin, len(nodes))
	}

	seen := make(map[uint64]bool, len(f.Targets))
	for _, id := range f.Targets {
		if !known[id] {
			bad("target %d is not a node of the cluster %v", id, nodes)
		}
		if seen[id] {
			bad("target %d listed twice", id)
		}
		seen[id] = true
	}
	n, t := len(nodes), len(f.Targets)
	if t > 0 {
		switch info.Targets {
		case TargetsMembers:
			// Any set of members.
		case TargetsOne:
			if t != 1 {
				bad("%d targets, want none or one", t)
			}
		case TargetsSide:
			if t > n-1 {
				bad("%d targets, want 1..%d so the other side is not empty", t, n-1)
			}
		case TargetsBridge:
			if t < 2 || t > n-1 {
				bad("%d targets, want a bridge and a side: 2..%d", t, n-1)
			}
		case TargetsRing:
			if t != n {
				bad("%d targets, want none or a permutation of all %d nodes", t, n)
			}
		case TargetsAll:
			bad("%d targets, want none: the kind hits every member", t)
		default:
			assert(false, fmt.Sprintf("kind %s has no target rule", f.Kind))
		}
	}

	for _, p := range info.Params {
		v, ok := f.Params[p.Name]
		switch {
		case !ok && p.Optional:
		case !ok:
			bad("param %q missing", p.Name)
		case math.IsNaN(v) || v < p.Min || v > p.Max:
			bad("param %q is %g, want in [%g, %g]", p.Name, v, p.Min, p.Max)
		case p.Integer && v != math.Trunc(v):
			bad("param %q is %g, want a whole number", p.Name, v)
		case p.NonZero && v == 0:
			bad("param %q is 0, want non-zero", p.Name)
		}
	}
	for _, name := range sortedParamNames(f) {
		if !slices.ContainsFunc(info.Params, func(p ParamSpec) bool { return p.Name == name }) {
			bad("unknown param %q", name)
		}
	}
	return errs
}

// Without returns a copy of s without fault i.
func (s Schedule) Without(i int) Schedule {
	assert(i >= 0 && i < len(s.Faults), fmt.Sprintf("Without(%d) of %d faults", i, len(s.Faults)))
	c := s.Clone()
	c.Faults = slices.Delete(c.Faults, i, i+1)
	if len(c.Faults) == 0 {
		c.Faults = nil
	}
	return c
}

// Shorten returns a copy of s whose fault i lasts factor (in (0, 1]) of its
// window, truncated to whole milliseconds and never below 1ms (nor above
// the old window): a shorter window means nothing to a cluster that ticks
// in milliseconds. Instantaneous faults are returned unchanged.
func (s Schedule) Shorten(i int, factor float64) Schedule {
	assert(i >= 0 && i < len(s.Faults), fmt.Sprintf("Shorten(%d) of %d faults", i, len(s.Faults)))
	assert(factor > 0 && factor <= 1, fmt.Sprintf("Shorten factor %g, want in (0, 1]", factor))
	c := s.Clone()
	f := &c.Faults[i]
	w := f.Window()
	if w == 0 {
		return c
	}
	shorter := time.Duration(float64(w) * factor).Truncate(time.Millisecond)
	f.Until = f.At + min(max(shorter, time.Millisecond), w)
	return c
}
