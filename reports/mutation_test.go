package reports

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestMutationSummarizeCountsOnlySmallExactShrinks(t *testing.T) {
	caught := func(firstWall time.Duration, s MutationShrink) MutationRow {
		return MutationRow{CampaignCaught: true, FirstSeed: 1, FirstFailureWall: Duration(firstWall), MutationShrink: s}
	}
	m := Mutation{Rows: []MutationRow{
		caught(time.Second, MutationShrink{ShrunkSeed: 1, FaultsAfter: ShrunkFaultsGoal, ReplaysExact: true}),
		caught(2*time.Second, MutationShrink{ShrunkSeed: 9, FaultsAfter: 1, ReplaysExact: true}),
		caught(3*time.Second, MutationShrink{ShrunkSeed: 1, FaultsAfter: ShrunkFaultsGoal + 1, ReplaysExact: true}),
		caught(4*time.Second, MutationShrink{ShrunkSeed: 1, FaultsAfter: 2}),
		caught(5*time.Second, MutationShrink{ShrunkSeed: 1, ShrinkError: "seed 1 passes"}),
		{UnitCaught: true},
	}}
	m.Summarize()
	if m.ShrunkWithin10 != 2 {
		t.Fatalf("ShrunkWithin10 = %d, want 2: only shrinks within the goal that replay exact count", m.ShrunkWithin10)
	}
	if m.Caught() != 5 || m.Score != 5.0/6 {
		t.Fatalf("caught %d, score %v; want 5 and 5/6", m.Caught(), m.Score)
	}
	// The shrink's fields stay flat in the JSON, as before they had a type.
	b, err := json.Marshal(m.Rows[1])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"shrunk_seed":9,"faults_after":1`) {
		t.Fatalf("row JSON %s: want shrunk_seed and faults_after at the top level", b)
	}
}
