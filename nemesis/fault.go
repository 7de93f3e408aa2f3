package nemesis

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// Fault is one scheduled fault: what happens (Kind, Params), to whom
// (Targets), and when (At, until Until).
type Fault struct {
	// At is the virtual time, since the start of the run, at which the
	// fault begins.
	At time.Duration `json:"at"`
	// Kind selects the fault; see the Kind constants.
	Kind Kind `json:"kind"`
	// Targets are member ids. Empty means the executor resolves them when
	// the fault begins (for most kinds "the leader"); each Kind documents
	// its meaning. Empty is always nil: decoding yields nil, never [].
	Targets []uint64 `json:"targets,omitempty"`
	// Params are the kind's parameters by name (the Param constants);
	// every parameter the kind declares is present and no other. Nil when
	// the kind has none.
	Params map[string]float64 `json:"params,omitempty"`
	// Until is when a windowed fault heals, > At. 0 for instantaneous
	// kinds.
	Until time.Duration `json:"until,omitempty"`
}

// Param returns the value of a parameter the fault's kind declares; an
// optional one absent reads 0. A missing required one panics: Validate
// guarantees every required one is present.
func (f Fault) Param(name string) float64 {
	v, ok := f.Params[name]
	if !ok {
		info, _ := Info(f.Kind)
		i := slices.IndexFunc(info.Params, func(p ParamSpec) bool { return p.Name == name })
		assert(i >= 0 && info.Params[i].Optional, fmt.Sprintf("fault %s has no param %q", f.Kind, name))
	}
	return v
}

// End returns when the fault's effect ends: Until for a windowed fault, At
// for an instantaneous one.
func (f Fault) End() time.Duration {
	if f.Until > f.At {
		return f.Until
	}
	return f.At
}

// Window returns Until-At for a windowed fault, 0 for an instantaneous one.
func (f Fault) Window() time.Duration { return f.End() - f.At }

// Clone returns a deep copy.
func (f Fault) Clone() Fault {
	f.Targets = slices.Clone(f.Targets)
	f.Params = maps.Clone(f.Params)
	return f
}

// String renders the fault on one line for logs and traces, params sorted
// by name.
func (f Fault) String() string {
	s := fmt.Sprintf("%s@%s", f.Kind, f.At)
	if f.Until != 0 {
		s += fmt.Sprintf("..%s", f.Until)
	}
	if len(f.Targets) > 0 {
		s += fmt.Sprintf(" targets=%v", f.Targets)
	}
	for _, name := range sortedParamNames(f) {
		s += fmt.Sprintf(" %s=%g", name, f.Params[name])
	}
	return s
}

// sortedParamNames lists f's param names sorted, so nothing printed or
// reported depends on map order.
func sortedParamNames(f Fault) []string {
	names := make([]string, 0, len(f.Params))
	for name := range f.Params {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
