package lease

import (
	"flag"
	"os"
	"strconv"
	"testing"
)

// propertyChecksMin is the number of cases every rapid property runs unless
// -rapid.checks (or RAPID_CHECKS) asks for a different number.
const propertyChecksMin = 1000

func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.checks" })
	if _, ok := os.LookupEnv("RAPID_CHECKS"); !ok && !explicit {
		if err := flag.Set("rapid.checks", strconv.Itoa(propertyChecksMin)); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
