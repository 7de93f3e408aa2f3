package nemesis

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestGeneratedSchedulesAreValidWithinBudgetAndReproducible(t *testing.T) {
	checkAtLeast(t, func(t *rapid.T) {
		seed := rapid.Uint64().Draw(t, "seed")
		opts := genOptions(t)
		s := Generate(seed, opts)

		if err := s.Validate(); err != nil {
			t.Fatalf("generated schedule invalid: %v", err)
		}
		if ok, v := s.WithinBudget(); !ok && !opts.BeyondBudget {
			t.Fatalf("generated schedule over budget: %v", v)
		}
		if s.HealedBy() > s.Duration-DefaultSettle {
			t.Fatalf("last fault heals at %s, less than the settle %s before %s", s.HealedBy(), DefaultSettle, s.Duration)
		}
		if again := Generate(seed, opts); !reflect.DeepEqual(s, again) {
			t.Fatalf("same seed, different schedule:\n%+v\n%+v", s, again)
		}
		profile, _ := LookupProfile(opts.Profile)
		for _, f := range s.Faults {
			if !slices.ContainsFunc(profile.Kinds, func(k KindIntensity) bool { return k.Kind == f.Kind }) {
				t.Fatalf("fault kind %s not allowed by profile %s", f.Kind, opts.Profile)
			}
			if !slices.ContainsFunc(s.Swarm.Kinds, func(k KindParams) bool { return k.Kind == f.Kind }) {
				t.Fatalf("fault kind %s not among the enabled kinds %v", f.Kind, s.Swarm)
			}
		}

		data, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		back, err := ParseSchedule(data)
		if err != nil {
			t.Fatalf("parse %s: %v", data, err)
		}
		if !reflect.DeepEqual(s, back) {
			t.Fatalf("JSON round trip changed the schedule:\n%+v\n%+v", s, back)
		}
	})
}

func TestDifferentSeedsGiveDifferentSchedules(t *testing.T) {
	seen := make(map[string]uint64)
	for seed := uint64(1); seed <= 200; seed++ {
		s := Generate(seed, GenerateOptions{Nodes: []uint64{1, 2, 3, 4, 5}, Duration: 2 * time.Minute})
		s.Seed = 0 // compare content only
		data, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if prev, ok := seen[string(data)]; ok {
			t.Fatalf("seeds %d and %d gave the same schedule %s", prev, seed, data)
		}
		seen[string(data)] = seed
	}
}

// Each kind draws from its own stream, so a kind's intensity under a seed
// does not depend on which other kinds the profile allows.
func TestKindIntensityIndependentOfProfile(t *testing.T) {
	compared := 0
	for seed := uint64(1); seed <= 100; seed++ {
		opts := GenerateOptions{Nodes: []uint64{1, 2, 3}, Duration: time.Minute}
		opts.Profile = "all"
		all := Generate(seed, opts)
		opts.Profile = "crash"
		crash := Generate(seed, opts)
		for _, kp := range crash.Swarm.Kinds {
			i := slices.IndexFunc(all.Swarm.Kinds, func(k KindParams) bool { return k.Kind == kp.Kind })
			if i < 0 {
				continue // enabled only by the crash profile's fallback
			}
			compared++
			if !reflect.DeepEqual(kp, all.Swarm.Kinds[i]) {
				t.Fatalf("seed %d: %s drawn as %+v under crash, %+v under all", seed, kp.Kind, kp, all.Swarm.Kinds[i])
			}
		}
	}
	if compared < 50 {
		t.Fatalf("only %d kinds compared, want a meaningful sample", compared)
	}
}

func TestGenerateEnablesASubsetOfKinds(t *testing.T) {
	counts := make(map[Kind]int)
	all, _ := LookupProfile(DefaultProfile)
	const seeds = 300
	for seed := uint64(1); seed <= seeds; seed++ {
		s := Generate(seed, GenerateOptions{Nodes: []uint64{1, 2, 3, 4, 5}})
		if len(s.Swarm.Kinds) == 0 {
			t.Fatalf("seed %d enabled no kind", seed)
		}
		if len(s.Swarm.Kinds) == len(all.Kinds) {
			t.Fatalf("seed %d enabled every kind: not a swarm", seed)
		}
		for _, k := range s.Swarm.Kinds {
			counts[k.Kind]++
		}
	}
	// Each kind of the profile is enabled with probability 1/2: far from
	// never and always.
	for _, ki := range all.Kinds {
		if k := ki.Kind; counts[k] < seeds/4 || counts[k] > seeds*3/4 {
			t.Errorf("kind %s enabled in %d of %d seeds, want about half", k, counts[k], seeds)
		}
	}
}

func TestGenerateNoneProfileHasNoFaults(t *testing.T) {
	s := Generate(42, GenerateOptions{Profile: "none"})
	if len(s.Faults) != 0 || len(s.Swarm.Kinds) != 0 {
		t.Fatalf("profile none gave %d faults, %d kinds", len(s.Faults), len(s.Swarm.Kinds))
	}
}

// With one or two members no minority may fail, so no budgeted kind runs.
func TestGenerateSmallClusterHasNoBudgetedFaults(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		s := Generate(seed, GenerateOptions{Nodes: []uint64{1, 2}, Profile: "disk"})
		for _, f := range s.Faults {
			if mustInfo(f.Kind).Budgeted() {
				t.Fatalf("seed %d: budgeted fault %s in a 2-member cluster", seed, f)
			}
		}
	}
}

// Beyond the budget, generation must actually go beyond it sometimes, or the
// option would test nothing.
func TestGenerateBeyondBudgetExceedsBudget(t *testing.T) {
	over := 0
	for seed := uint64(1); seed <= 50; seed++ {
		s := Generate(seed, GenerateOptions{Nodes: []uint64{1, 2, 3}, Profile: "crash", BeyondBudget: true})
		if ok, _ := s.WithinBudget(); !ok {
			over++
		}
	}
	if over == 0 {
		t.Fatal("no BeyondBudget schedule of 50 broke the budget")
	}
}

func TestSwarmParamsStringPrintsEveryChoice(t *testing.T) {
	s := Generate(3, GenerateOptions{Nodes: []uint64{1, 2, 3, 4, 5}})
	line := s.Swarm.String()
	if strings.Contains(line, "\n") {
		t.Fatalf("String spans lines: %q", line)
	}
	for _, k := range s.Swarm.Kinds {
		for _, want := range []string{string(k.Kind), "rate=" + fmtFloat(k.FaultsPerMinute)} {
			if !strings.Contains(line, want) {
				t.Errorf("String lacks %q: %s", want, line)
			}
		}
		for name, v := range k.Params {
			if want := name + "=" + fmtFloat(v); !strings.Contains(line, want) {
				t.Errorf("String lacks %q: %s", want, line)
			}
		}
	}
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func TestGenerateOptionsValidateReportsEveryProblem(t *testing.T) {
	o := GenerateOptions{Nodes: []uint64{0, 2, 2}, Duration: -time.Second, Profile: "chaos", Settle: -1}
	err := o.Validate()
	if err == nil {
		t.Fatal("invalid options accepted")
	}
	for _, want := range []string{"id 0", "id 2 twice", "Duration", "Settle is", "Profile"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	o = GenerateOptions{}
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}

func TestGeneratePanicsOnInvalidOptions(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Generate accepted settle longer than the run")
		}
	}()
	Generate(1, GenerateOptions{Duration: time.Second, Settle: 2 * time.Second})
}

func TestProfilesSortedAndKnown(t *testing.T) {
	names := Profiles()
	want := []string{"all", "clock", "crash", "disk", "network", "none", "operations", "real"}
	if !slices.Equal(names, want) {
		t.Fatalf("Profiles() = %v, want %v", names, want)
	}
	all, _ := LookupProfile("all")
	// Every kind the simulator carries out is generated, membership
	// changes included; profile all has every one but the WholeCluster
	// kinds, which would break the budget it keeps.
	if len(GeneratedKinds()) != len(Kinds()) {
		t.Fatalf("catalogue: %d generated of %d", len(GeneratedKinds()), len(Kinds()))
	}
	for _, k := range Kinds() {
		info, _ := Info(k)
		in := slices.ContainsFunc(all.Kinds, func(ki KindIntensity) bool { return ki.Kind == k })
		if in == info.WholeCluster {
			t.Errorf("kind %s: in profile all %v, whole cluster %v", k, in, info.WholeCluster)
		}
	}
	if _, ok := LookupProfile("nope"); ok {
		t.Fatal("unknown profile found")
	}
}

// A long run gets faults throughout, not only until a per-kind limit is hit.
func TestGenerateLongRunSpreadsFaults(t *testing.T) {
	s := Generate(9, GenerateOptions{Nodes: []uint64{1, 2, 3, 4, 5}, Duration: DurationMax})
	if len(s.Faults) == 0 || len(s.Faults) > FaultsMax {
		t.Fatalf("%d faults, want 1..%d", len(s.Faults), FaultsMax)
	}
	if last := s.Faults[len(s.Faults)-1].At; last < DurationMax*3/4 {
		t.Fatalf("last fault at %s of a %s run: faults stop early", last, DurationMax)
	}
}

// Profile real draws full-cluster restarts, always aimed at every member
// and never dropped by the budget they are exempt from.
func TestGenerateRealProfileRestartsTheCluster(t *testing.T) {
	restarts := 0
	for seed := uint64(1); seed <= 50; seed++ {
		s := Generate(seed, GenerateOptions{Profile: "real"})
		if ok, v := s.WithinBudget(); !ok {
			t.Fatalf("seed %d: over budget: %v", seed, v[0])
		}
		for _, f := range s.Faults {
			if f.Kind != ClusterRestart {
				continue
			}
			restarts++
			if len(f.Targets) != 0 {
				t.Fatalf("seed %d: %s names targets", seed, f)
			}
		}
	}
	if restarts == 0 {
		t.Fatal("50 seeds of profile real restarted the cluster never")
	}
	bad := Schedule{Nodes: DefaultNodes(), Duration: time.Minute, Faults: []Fault{
		{At: time.Second, Kind: ClusterRestart, Targets: []uint64{1}, Until: 2 * time.Second},
	}}
	if err := bad.Validate(); err == nil {
		t.Fatal("a cluster restart naming a target was accepted")
	}
}
