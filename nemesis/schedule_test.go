package nemesis

import (
	"strings"
	"testing"
	"time"
)

// base is a valid five-member schedule that each case spoils.
func base() Schedule {
	return Schedule{
		Nodes:    []uint64{1, 2, 3, 4, 5},
		Duration: time.Minute,
		Faults: []Fault{
			{At: sec(1), Kind: CrashRestart, Targets: []uint64{2}, Until: sec(3)},
			{At: sec(2), Kind: PacketLoss, Params: map[string]float64{ParamProbability: 0.2}, Until: sec(10)},
			{At: sec(5), Kind: ClockJump, Targets: []uint64{3}, Params: map[string]float64{ParamOffsetMs: -500}},
		},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(s *Schedule)
		want  []string // substrings of the error; none means valid
	}{
		{"valid", func(s *Schedule) {}, nil},
		{"no nodes", func(s *Schedule) { s.Nodes, s.Faults = nil, nil }, []string{"0 nodes"}},
		{"node zero and duplicate", func(s *Schedule) { s.Nodes = []uint64{0, 1, 2, 2, 3, 4, 5} },
			[]string{"node id 0", "node id 2 listed twice"}},
		{"duration too long", func(s *Schedule) { s.Duration = DurationMax + 1 }, []string{"duration"}},
		{"unknown profile", func(s *Schedule) { s.Profile = "chaos" }, []string{`unknown profile "chaos"`}},
		{"unsorted", func(s *Schedule) { s.Faults[1].At, s.Faults[1].Until = 0, sec(1) }, []string{"sorted by At"}},
		{"until before at", func(s *Schedule) { s.Faults[0].Until = sec(1) }, []string{"not after at"}},
		{"until on instantaneous", func(s *Schedule) { s.Faults[2].Until = sec(6) }, []string{"instantaneous"}},
		{"unknown target", func(s *Schedule) { s.Faults[0].Targets = []uint64{9} }, []string{"target 9 is not a node"}},
		{"duplicate target", func(s *Schedule) { s.Faults[0].Targets = []uint64{2, 2} }, []string{"target 2 listed twice"}},
		{"param out of range", func(s *Schedule) { s.Faults[1].Params[ParamProbability] = 1.5 }, []string{`"probability" is 1.5`}},
		{"param zero", func(s *Schedule) { s.Faults[1].Params[ParamProbability] = 0 }, []string{"want non-zero"}},
		{"param missing", func(s *Schedule) { s.Faults[1].Params = nil }, []string{`"probability" missing`}},
		{"param unknown", func(s *Schedule) { s.Faults[0].Params = map[string]float64{"speed": 1} }, []string{`unknown param "speed"`}},
		{"unknown kind", func(s *Schedule) { s.Faults[0].Kind = "meteor" }, []string{`unknown kind "meteor"`}},
		{"beyond duration", func(s *Schedule) { s.Faults[1].Until = 2 * time.Minute }, []string{"beyond the duration"}},
		{"heals inside settle", func(s *Schedule) { s.Faults[1].Until = 55 * time.Second }, []string{"later than 50s"}},
		{"settle from swarm", func(s *Schedule) { s.Swarm.Settle = 55 * time.Second }, []string{"later than 5s"}},
		{"one target too many for a side", func(s *Schedule) {
			s.Faults[0] = Fault{At: sec(1), Kind: PartitionHalves, Targets: []uint64{1, 2, 3, 4, 5}, Until: sec(2)}
		}, []string{"5 targets, want 1..4"}},
		{"ring not a permutation", func(s *Schedule) {
			s.Faults[0] = Fault{At: sec(1), Kind: PartitionRing, Targets: []uint64{1, 2, 3}, Until: sec(2)}
		}, []string{"permutation"}},
		{"bridge without a side", func(s *Schedule) {
			s.Faults[0] = Fault{At: sec(1), Kind: PartitionBridge, Targets: []uint64{1}, Until: sec(2)}
		}, []string{"a bridge and a side"}},
		{"leader transfer to two", func(s *Schedule) {
			s.Faults[2] = Fault{At: sec(5), Kind: LeaderTransfer, Targets: []uint64{1, 2}}
		}, []string{"want none or one"}},
		{"whole flips", func(s *Schedule) {
			s.Faults[0] = Fault{At: sec(1), Kind: DiskBitFlip, Params: map[string]float64{ParamFlips: 1.5}, Until: sec(2)}
		}, []string{"whole number"}},
		{"ring on two nodes", func(s *Schedule) {
			s.Nodes = []uint64{1, 2}
			s.Faults = []Fault{{At: sec(1), Kind: PartitionRing, Until: sec(2)}}
		}, []string{"needs at least 3 nodes"}},
		{"every problem at once", func(s *Schedule) {
			s.Faults[0].Targets = []uint64{7}
			s.Faults[1].Params[ParamProbability] = -1
			s.Faults[2].Until = sec(9)
		}, []string{"fault 0", "target 7", "fault 1", `"probability" is -1`, "fault 2", "instantaneous"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base()
			tt.spoil(&s)
			err := s.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("valid schedule rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("invalid schedule accepted, want errors %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestWithoutAndShortenDoNotAlias(t *testing.T) {
	s := base()
	w := s.Without(0)
	if len(w.Faults) != 2 || w.Faults[0].Kind != PacketLoss || w.Faults[1].Kind != ClockJump {
		t.Fatalf("Without(0) = %v", w.Faults)
	}
	w.Faults[0].Params[ParamProbability] = 0.9
	if s.Faults[1].Params[ParamProbability] != 0.2 {
		t.Fatal("Without shares params with the original")
	}

	sh := s.Shorten(1, 0.25) // window 8s -> 2s
	if got := sh.Faults[1].Window(); got != 2*time.Second {
		t.Fatalf("Shorten(1, 0.25) window %s, want 2s", got)
	}
	if s.Faults[1].Window() != 8*time.Second {
		t.Fatal("Shorten changed the original")
	}
	if got := s.Shorten(0, 1e-9).Faults[0].Window(); got != time.Millisecond {
		t.Fatalf("Shorten below 1ms gave window %s, want the 1ms floor", got)
	}
	if got := s.Shorten(2, 0.5).Faults[2]; got.Until != 0 {
		t.Fatalf("Shorten of an instantaneous fault set Until %s", got.Until)
	}
	if err := sh.Validate(); err != nil {
		t.Fatalf("shortened schedule invalid: %v", err)
	}
}

func TestFaultString(t *testing.T) {
	f := Fault{At: sec(1.5), Kind: PacketDelay, Targets: []uint64{2, 3}, Until: sec(4),
		Params: map[string]float64{ParamJitterMs: 5, ParamDelayMs: 20}}
	want := "packet-delay@1.5s..4s targets=[2 3] delay_ms=20 jitter_ms=5"
	if got := f.String(); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}

func TestCatalogueIsComplete(t *testing.T) {
	want := []Kind{
		"partition-halves", "partition-isolate-leader", "partition-bridge", "partition-ring", "partition-one-way",
		"packet-loss", "packet-duplicate", "packet-delay", "packet-reorder",
		"crash-restart", "crash-lose-unsynced", "graceful-restart", "cluster-restart",
		"disk-torn-write", "disk-bit-flip", "disk-eio-write", "disk-eio-sync", "disk-full", "disk-latency",
		"clock-jump", "clock-skew", "clock-drift", "pause", "leader-transfer", "membership-change", "alarm-nospace", "defragment", "backup",
	}
	got := Kinds()
	if len(got) != len(want) {
		t.Fatalf("%d kinds, want %d", len(got), len(want))
	}
	for i, k := range want {
		if got[i] != k {
			t.Errorf("kind %d is %q, want %q", i, got[i], k)
		}
		info, ok := Info(k)
		if !ok {
			t.Fatalf("Info(%s) missing", k)
		}
		if info.Windowed != (info.WindowMin > 0) {
			t.Errorf("%s: windowed %v but generation window %s..%s", k, info.Windowed, info.WindowMin, info.WindowMax)
		}
		for _, p := range info.Params {
			if p.GenerateMin < p.Min || p.GenerateMax > p.Max || p.GenerateMin > p.GenerateMax {
				t.Errorf("%s param %s: generation range [%g, %g] outside [%g, %g]", k, p.Name, p.GenerateMin, p.GenerateMax, p.Min, p.Max)
			}
		}
	}
	if Kind("meteor").Valid() {
		t.Fatal("unknown kind reported valid")
	}
}
