package nemesis

import (
	"flag"
	"os"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// Property tests run at least this many cases; -rapid.checks may ask for
// more, never fewer.
const propertyChecksMin = 300

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("rapid.checks"); f != nil {
		if n, err := strconv.Atoi(f.Value.String()); err == nil && n < propertyChecksMin {
			if err := f.Value.Set(strconv.Itoa(propertyChecksMin)); err != nil {
				panic(err)
			}
		}
	}
	os.Exit(m.Run())
}

// checkAtLeast runs a rapid property with at least propertyChecksMin cases
// (see TestMain).
func checkAtLeast(t *testing.T, prop func(*rapid.T)) {
	t.Helper()
	rapid.Check(t, prop)
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
