package bugs

import (
	"fmt"
	"slices"
)

// EnvVar names the environment variable a kvdbugs build reads at start
// for the one bug to switch on.
const EnvVar = "KVD_BUG"

// Bug is one entry of the catalogue.
type Bug struct {
	// Name switches the bug on, e.g. "mvcc-range-limit-off-by-one".
	Name string
	// Package is the core package the mistake lives in, e.g. "core/mvcc".
	Package string
	// About says in a few words what goes wrong.
	About string
	// ModelledOn names the real bug or bug class it imitates.
	ModelledOn string
}

// Catalogue lists every planted bug, by package, in a fixed order. It is a
// function, so a binary that never asks for it does not link the table.
func Catalogue() []Bug {
	return slices.Concat(mvccBugs(), leaseBugs(), watchBugs(), walBugs(), nodeBugs(), apiBugs(), authBugs())
}

// Lookup returns the catalogue's bug called name.
func Lookup(name string) (Bug, error) {
	all := Catalogue()
	i := slices.IndexFunc(all, func(b Bug) bool { return b.Name == name })
	if i < 0 {
		names := make([]string, len(all))
		for j, b := range all {
			names[j] = b.Name
		}
		return Bug{}, fmt.Errorf("unknown planted bug %q (known: %v)", name, names)
	}
	return all[i], nil
}
