package nemesis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Schedules are written for people as much as for machines: durations are
// Go duration strings ("1.5s", "1m0s"), which time.ParseDuration reads back
// to the same nanosecond. Decoding rejects unknown fields, so a typo in a
// hand-edited schedule is an error, not a silently ignored fault.

// jsonDuration is a time.Duration written as its String form.
type jsonDuration time.Duration

func (d jsonDuration) MarshalText() ([]byte, error) {
	return []byte(time.Duration(d).String()), nil
}

func (d *jsonDuration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("nemesis: duration %q: %w", text, err)
	}
	*d = jsonDuration(v)
	return nil
}

type faultJSON struct {
	At      jsonDuration       `json:"at"`
	Kind    Kind               `json:"kind"`
	Targets []uint64           `json:"targets,omitempty"`
	Params  map[string]float64 `json:"params,omitempty"`
	Until   jsonDuration       `json:"until,omitempty"`
}

// MarshalJSON writes the fault with readable durations.
func (f Fault) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultJSON{
		At: jsonDuration(f.At), Kind: f.Kind, Targets: f.Targets, Params: f.Params, Until: jsonDuration(f.Until),
	})
}

// UnmarshalJSON reads what MarshalJSON writes; empty targets and params
// become nil.
func (f *Fault) UnmarshalJSON(data []byte) error {
	var w faultJSON
	if err := decodeStrict(data, &w); err != nil {
		return fmt.Errorf("nemesis: decoding fault: %w", err)
	}
	*f = Fault{At: time.Duration(w.At), Kind: w.Kind, Until: time.Duration(w.Until)}
	if len(w.Targets) > 0 {
		f.Targets = w.Targets
	}
	if len(w.Params) > 0 {
		f.Params = w.Params
	}
	return nil
}

type kindParamsJSON struct {
	Kind                   Kind               `json:"kind"`
	FaultsPerMinute        float64            `json:"faults_per_minute"`
	WindowMean             jsonDuration       `json:"window_mean,omitempty"`
	TargetsAutoProbability float64            `json:"targets_auto_probability"`
	Params                 map[string]float64 `json:"params,omitempty"`
}

type swarmJSON struct {
	Settle        jsonDuration     `json:"settle,omitempty"`
	BeyondBudget  bool             `json:"beyond_budget,omitempty"`
	Kinds         []kindParamsJSON `json:"kinds,omitempty"`
	FaultsDropped int              `json:"faults_dropped,omitempty"`
	Members       string           `json:"members,omitempty"`
}

// MarshalJSON writes the swarm parameters with readable durations.
func (p SwarmParams) MarshalJSON() ([]byte, error) {
	w := swarmJSON{Settle: jsonDuration(p.Settle), BeyondBudget: p.BeyondBudget, FaultsDropped: p.FaultsDropped, Members: p.Members}
	for _, k := range p.Kinds {
		w.Kinds = append(w.Kinds, kindParamsJSON{
			Kind: k.Kind, FaultsPerMinute: k.FaultsPerMinute, WindowMean: jsonDuration(k.WindowMean),
			TargetsAutoProbability: k.TargetsAutoProbability, Params: k.Params,
		})
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads what MarshalJSON writes; empty lists and maps become
// nil.
func (p *SwarmParams) UnmarshalJSON(data []byte) error {
	var w swarmJSON
	if err := decodeStrict(data, &w); err != nil {
		return fmt.Errorf("nemesis: decoding swarm params: %w", err)
	}
	*p = SwarmParams{Settle: time.Duration(w.Settle), BeyondBudget: w.BeyondBudget, FaultsDropped: w.FaultsDropped, Members: w.Members}
	for _, k := range w.Kinds {
		kp := KindParams{
			Kind: k.Kind, FaultsPerMinute: k.FaultsPerMinute, WindowMean: time.Duration(k.WindowMean),
			TargetsAutoProbability: k.TargetsAutoProbability,
		}
		if len(k.Params) > 0 {
			kp.Params = k.Params
		}
		p.Kinds = append(p.Kinds, kp)
	}
	return nil
}

type scheduleJSON struct {
	Seed     uint64       `json:"seed"`
	Profile  string       `json:"profile,omitempty"`
	Nodes    []uint64     `json:"nodes"`
	Duration jsonDuration `json:"duration"`
	Swarm    SwarmParams  `json:"swarm"`
	Faults   []Fault      `json:"faults"`
}

// MarshalJSON writes the schedule, faults last so the header reads first.
func (s Schedule) MarshalJSON() ([]byte, error) {
	w := scheduleJSON{
		Seed: s.Seed, Profile: s.Profile, Nodes: s.Nodes, Duration: jsonDuration(s.Duration),
		Swarm: s.Swarm, Faults: s.Faults,
	}
	if w.Nodes == nil {
		w.Nodes = []uint64{}
	}
	if w.Faults == nil {
		w.Faults = []Fault{}
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads what MarshalJSON writes; empty lists become nil. It
// does not validate: ParseSchedule does.
func (s *Schedule) UnmarshalJSON(data []byte) error {
	var w scheduleJSON
	if err := decodeStrict(data, &w); err != nil {
		return fmt.Errorf("nemesis: decoding schedule: %w", err)
	}
	*s = Schedule{Seed: w.Seed, Profile: w.Profile, Duration: time.Duration(w.Duration), Swarm: w.Swarm}
	if len(w.Nodes) > 0 {
		s.Nodes = w.Nodes
	}
	if len(w.Faults) > 0 {
		s.Faults = w.Faults
	}
	return nil
}

// ParseSchedule decodes a schedule written by MarshalJSON (or by hand) and
// validates it.
func ParseSchedule(data []byte) (Schedule, error) {
	var s Schedule
	if err := json.Unmarshal(data, &s); err != nil {
		return Schedule{}, err
	}
	if err := s.Validate(); err != nil {
		return Schedule{}, fmt.Errorf("nemesis: parsed schedule is invalid: %w", err)
	}
	return s, nil
}

// decodeStrict decodes one JSON value into v, refusing unknown fields.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
