package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/kvdlabs/kvd/core/bugs"
)

// The kvd people deploy carries none of the planted bugs: built without
// the kvdbugs tag every bug site is dead code, so neither a bug's name nor
// the switch that would turn one on is in the binary, and KVD_BUG means
// nothing to it.
func TestKvdHasNoPlantedBugs(t *testing.T) {
	bin, err := os.ReadFile(kvdBin)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bugs.Catalogue() {
		if bytes.Contains(bin, []byte(b.Name)) {
			t.Errorf("bin/kvd holds the planted bug %q", b.Name)
		}
	}
	if bytes.Contains(bin, []byte(bugs.EnvVar)) {
		t.Errorf("bin/kvd reads %s", bugs.EnvVar)
	}
}
