package nemesis

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// anyDuration draws durations including the extremes, where a string form
// is most likely to lose a nanosecond.
func anyDuration(t *rapid.T, label string) time.Duration {
	return time.Duration(rapid.OneOf(
		rapid.Int64(),
		rapid.SampledFrom([]int64{0, 1, -1, math.MaxInt64, math.MinInt64, int64(time.Hour) + 1, 999_999_999}),
	).Draw(t, label))
}

func anyParams(t *rapid.T, label string) map[string]float64 {
	n := rapid.IntRange(0, 3).Draw(t, label+"N")
	if n == 0 {
		return nil
	}
	p := make(map[string]float64, n)
	for range n {
		name := rapid.SampledFrom([]string{ParamProbability, ParamDelayMs, ParamOffsetMs, ParamRate}).Draw(t, label+"Name")
		p[name] = rapid.Float64Range(-1e300, 1e300).Draw(t, label+"Value")
	}
	return p
}

// Any schedule, valid or not, survives JSON unchanged: the encoding loses
// nothing a hand edit or a shrink might produce.
func TestJSONRoundTripArbitrarySchedule(t *testing.T) {
	checkAtLeast(t, func(t *rapid.T) {
		s := Schedule{
			Seed:     rapid.Uint64().Draw(t, "seed"),
			Duration: anyDuration(t, "duration"),
			Profile:  rapid.SampledFrom(append(Profiles(), "")).Draw(t, "profile"),
		}
		if nodes := rapid.SliceOfN(rapid.Uint64(), 0, 5).Draw(t, "nodes"); len(nodes) > 0 {
			s.Nodes = nodes
		}
		for range rapid.IntRange(0, 5).Draw(t, "faults") {
			f := Fault{
				At:     anyDuration(t, "at"),
				Kind:   rapid.SampledFrom(Kinds()).Draw(t, "kind"),
				Until:  anyDuration(t, "until"),
				Params: anyParams(t, "params"),
			}
			if targets := rapid.SliceOfN(rapid.Uint64(), 0, 4).Draw(t, "targets"); len(targets) > 0 {
				f.Targets = targets
			}
			s.Faults = append(s.Faults, f)
		}
		s.Swarm = SwarmParams{
			Settle:        anyDuration(t, "settle"),
			BeyondBudget:  rapid.Bool().Draw(t, "beyond"),
			FaultsDropped: rapid.IntRange(0, 1000).Draw(t, "dropped"),
		}
		for range rapid.IntRange(0, 3).Draw(t, "kinds") {
			s.Swarm.Kinds = append(s.Swarm.Kinds, KindParams{
				Kind:                   rapid.SampledFrom(Kinds()).Draw(t, "swarmKind"),
				FaultsPerMinute:        rapid.Float64Range(0, 100).Draw(t, "rate"),
				WindowMean:             anyDuration(t, "window"),
				TargetsAutoProbability: rapid.Float64Range(0, 1).Draw(t, "auto"),
				Params:                 anyParams(t, "swarmParams"),
			})
		}

		data, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var back Schedule
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", data, err)
		}
		if !reflect.DeepEqual(s, back) {
			t.Fatalf("round trip changed the schedule\n was %+v\n now %+v\njson %s", s, back, data)
		}
		again, err := json.Marshal(back)
		if err != nil || string(again) != string(data) {
			t.Fatalf("second encoding differs (%v):\n%s\n%s", err, data, again)
		}
	})
}

func TestJSONIsReadable(t *testing.T) {
	s := Schedule{Nodes: []uint64{1, 2, 3}, Duration: time.Minute, Faults: []Fault{
		{At: 1500 * time.Millisecond, Kind: PacketLoss, Params: map[string]float64{ParamProbability: 0.25}, Until: 4 * time.Second},
		{At: 5 * time.Second, Kind: LeaderTransfer},
	}}
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"seed":0,"nodes":[1,2,3],"duration":"1m0s","swarm":{},"faults":[` +
		`{"at":"1.5s","kind":"packet-loss","params":{"probability":0.25},"until":"4s"},` +
		`{"at":"5s","kind":"leader-transfer"}]}`
	if string(data) != want {
		t.Fatalf("JSON\n got %s\nwant %s", data, want)
	}
}

func TestParseScheduleRejects(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"unknown field", `{"seed":1,"nodes":[1],"duration":"1m","swarm":{},"faults":[],"typo":1}`, "unknown field"},
		{"unknown fault field", `{"nodes":[1],"duration":"1m","faults":[{"at":"1s","kind":"pause","untill":"2s"}]}`, "unknown field"},
		{"bad duration", `{"nodes":[1],"duration":"a minute"}`, "a minute"},
		{"integer duration", `{"nodes":[1],"duration":60000000000}`, "duration"},
		{"invalid schedule", `{"nodes":[1,2,3],"duration":"1m","faults":[{"at":"1s","kind":"pause","targets":[9],"until":"2s"}]}`, "target 9"},
		{"trailing data", `{"nodes":[1],"duration":"1m"} {}`, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSchedule([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseSchedule error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// FuzzParseSchedule: whatever parses, re-encodes to an equal schedule.
func FuzzParseSchedule(f *testing.F) {
	for seed := uint64(1); seed <= 4; seed++ {
		data, err := json.Marshal(Generate(seed, GenerateOptions{Nodes: []uint64{1, 2, 3, 4, 5}}))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"nodes":[1],"duration":"1m"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSchedule(data)
		if err != nil {
			return
		}
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("a parsed schedule does not encode: %v", err)
		}
		back, err := ParseSchedule(out)
		if err != nil {
			t.Fatalf("re-encoded schedule does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(s, back) {
			t.Fatalf("re-encoding changed the schedule\n%+v\n%+v", s, back)
		}
		s.WithinBudget() // must not panic on any valid schedule
	})
}
