//go:build !kvdbugs

package bugs

import "fmt"

// Planted says whether this build has the planted bugs: false here, so
// every bug site is dead code the compiler removes.
const Planted = false

// On is false: built without the kvdbugs tag, no bug can be on.
func On(string) bool { return false }

// Set refuses any bug: this build has none.
func Set(name string) error {
	if name == "" {
		return nil
	}
	return fmt.Errorf("planted bug %q: this binary was built without the kvdbugs tag (go build -tags kvdbugs, or make mutation)", name)
}

// Active is "": no bug is on in this build.
func Active() string { return "" }
