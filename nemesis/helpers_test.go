package nemesis

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// Property tests run at least this many cases whatever -rapid.checks says.
const propertyChecksMin = 200

// checkAtLeast runs a rapid property until propertyChecksMin cases have run.
func checkAtLeast(t *testing.T, prop func(*rapid.T)) {
	t.Helper()
	for runs := 0; runs < propertyChecksMin; runs += 100 {
		rapid.Check(t, prop)
		if t.Failed() {
			return
		}
	}
}

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// genOptions draws generator options covering every profile and cluster
// sizes from 1 to 7.
func genOptions(t *rapid.T) GenerateOptions {
	n := rapid.IntRange(1, 7).Draw(t, "nodes")
	first := rapid.Uint64Range(1, 1000).Draw(t, "firstID")
	nodes := make([]uint64, n)
	for i := range nodes {
		nodes[i] = first + uint64(i)*3
	}
	return GenerateOptions{
		Nodes:        nodes,
		Duration:     time.Duration(rapid.Int64Range(int64(11*time.Second), int64(10*time.Minute)).Draw(t, "duration")),
		Profile:      rapid.SampledFrom(Profiles()).Draw(t, "profile"),
		BeyondBudget: rapid.Bool().Draw(t, "beyond"),
	}
}
