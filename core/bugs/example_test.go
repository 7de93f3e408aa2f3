package bugs_test

import (
	"fmt"

	"github.com/kvdlabs/kvd/core/bugs"
)

// A bug site costs nothing outside a kvdbugs build: On is a constant
// false there, and Set refuses every name.
func Example() {
	limit, keys := 2, []string{"a", "b", "c"}
	n := min(limit, len(keys))
	if bugs.On(bugs.MVCCRangeLimitOffByOne) {
		n = min(limit+1, len(keys))
	}
	fmt.Println(keys[:n], bugs.Planted || n == 2)
	// Output: [a b] true
}
