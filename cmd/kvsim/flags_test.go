package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/kvdlabs/kvd/nemesis"
)

// TestParseSeedsProperty: any list of seeds and ranges parses to the
// sorted union of its members.
func TestParseSeedsProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		parts := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) [2]uint64 {
			lo := rapid.Uint64Range(0, 1000).Draw(t, "lo")
			return [2]uint64{lo, lo + rapid.Uint64Range(0, 20).Draw(t, "width")}
		}), 1, 6).Draw(t, "parts")
		var text []string
		want := map[uint64]bool{}
		for _, p := range parts {
			if p[0] == p[1] && rapid.Bool().Draw(t, "single") {
				text = append(text, fmt.Sprint(p[0]))
			} else {
				text = append(text, fmt.Sprintf("%d-%d", p[0], p[1]))
			}
			for s := p[0]; s <= p[1]; s++ {
				want[s] = true
			}
		}
		got, err := parseSeeds(strings.Join(text, ","))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.IsSorted(got) || len(got) != len(want) {
			t.Fatalf("parseSeeds(%q) = %v", strings.Join(text, ","), got)
		}
		for _, s := range got {
			if !want[s] {
				t.Fatalf("parseSeeds(%q) has %d", strings.Join(text, ","), s)
			}
		}
	})
}

func TestParseSeedsErrors(t *testing.T) {
	for _, bad := range []string{"", "x", "5-3", "1-", "-4", "1,,2", "0-99999999999"} {
		if _, err := parseSeeds(bad); err == nil {
			t.Errorf("parseSeeds(%q) accepted", bad)
		}
	}
}

// TestShardsPartitionTheSeeds: the n shards are disjoint, cover every
// seed, and differ in size by at most one.
func TestShardsPartitionTheSeeds(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		seeds, _ := parseSeeds(fmt.Sprintf("1-%d", rapid.IntRange(1, 300).Draw(t, "seeds")))
		n := rapid.IntRange(1, 12).Draw(t, "n")
		seen := map[uint64]int{}
		sizes := []int{}
		for i := 1; i <= n; i++ {
			idx, count, err := parseShard(fmt.Sprintf("%d/%d", i, n))
			if err != nil {
				t.Fatal(err)
			}
			part := shard(seeds, idx, count)
			sizes = append(sizes, len(part))
			for _, s := range part {
				seen[s]++
			}
		}
		if len(seen) != len(seeds) || slices.Max(sizes)-slices.Min(sizes) > 1 {
			t.Fatalf("%d shards of %d seeds: covered %d, sizes %v", n, len(seeds), len(seen), sizes)
		}
		for s, k := range seen {
			if k != 1 {
				t.Fatalf("seed %d in %d shards", s, k)
			}
		}
	})
	for _, bad := range []string{"0/4", "5/4", "1/0", "a/b", "3"} {
		if _, _, err := parseShard(bad); err == nil {
			t.Errorf("parseShard(%q) accepted", bad)
		}
	}
}

// TestJobJSONRoundTrip: what the campaign sends a worker is what the
// worker runs, schedule included.
func TestJobJSONRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := testConfig(rapid.SampledFrom(workloadNames()).Draw(t, "workload"), rapid.SampledFrom(nemesis.Profiles()).Draw(t, "profile"))
		cfg.Unsafe = rapid.SampledFrom(append(variantNames(), "")).Draw(t, "unsafe")
		cfg.BeyondBudget = rapid.Bool().Draw(t, "beyond")
		j := job{Seed: rapid.Uint64().Draw(t, "seed"), Config: cfg, OutDir: "/tmp/x", CheckDeterminism: rapid.Bool().Draw(t, "det")}
		if rapid.Bool().Draw(t, "withSchedule") {
			s := nemesis.Generate(j.Seed, nemesis.GenerateOptions{Nodes: []uint64{1, 2, 3}, Duration: 40 * time.Second, Profile: cfg.Nemesis})
			j.Schedule = &s
		}
		data, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		var back job
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, j) {
			t.Fatalf("round trip changed the job:\n%+v\n%+v", j, back)
		}
	})
}

func TestResolveMixedCoversEveryPair(t *testing.T) {
	pairs := map[[2]string]bool{}
	n := len(mixedWorkloads) * len(mixedProfiles)
	for seed := uint64(0); seed < uint64(n); seed++ {
		w, p := resolveMixed(seed, mixedWorkload, mixedNemesis)
		pairs[[2]string{w, p}] = true
	}
	if len(pairs) != n {
		t.Fatalf("%d consecutive seeds gave %d of %d workload/profile pairs", n, len(pairs), n)
	}
	if w, p := resolveMixed(7, "register", "crash"); w != "register" || p != "crash" {
		t.Fatalf("named choices changed: %s %s", w, p)
	}
}

// Every member configuration the swarm may draw passes the members' own
// rules: an invalid one would leave a cluster that never starts, a
// liveness failure with nothing wrong in the core.
func TestSwarmMemberChoicesAreValid(t *testing.T) {
	for _, c := range nemesis.MemberChoices() {
		if _, err := memberOptions(c); err != nil {
			t.Errorf("the swarm may draw %q: %v", c, err)
		}
	}
	if _, err := memberOptions("snapshot-count=20,snapshot-catchup=50"); err == nil {
		t.Error("a catch-up window longer than the snapshot interval passed the rules")
	}
}
