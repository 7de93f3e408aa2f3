//go:build kvdbugs

package bugs

import (
	"fmt"
	"os"
)

// Planted says whether this build has the planted bugs: true here.
const Planted = true

// active is the one bug switched on, "" for none.
var active string

func init() {
	name := os.Getenv(EnvVar)
	if name == "" {
		return
	}
	// A misspelt name would measure nothing and look like a bug the tests
	// miss: refuse to start.
	if err := Set(name); err != nil {
		panic(fmt.Sprintf("%s=%s: %v", EnvVar, name, err))
	}
}

// On says whether the bug called name is switched on.
func On(name string) bool { return name == active && name != "" }

// Set switches on the bug called name, and every other one off; "" turns
// them all off.
func Set(name string) error {
	if name != "" {
		if _, err := Lookup(name); err != nil {
			return err
		}
	}
	active = name
	return nil
}

// Active is the name of the bug switched on, "" for none.
func Active() string { return active }
