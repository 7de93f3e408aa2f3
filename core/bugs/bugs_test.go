package bugs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kvdlabs/kvd/core/bugs"
)

// Every bug of the catalogue has a unique name and at least one site in
// the package it names: a catalogue entry without a site would count as a
// bug the harness misses.
func TestEveryBugIsPlantedInItsPackage(t *testing.T) {
	consts := map[string]string{} // name → constant
	re := regexp.MustCompile(`(?m)^\s*([A-Z][A-Za-z0-9]*)\s*=\s*"([a-z0-9-]+)"`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			consts[m[2]] = m[1]
		}
	}
	seen := map[string]bool{}
	for _, b := range bugs.Catalogue() {
		if seen[b.Name] {
			t.Errorf("%s: named twice", b.Name)
		}
		seen[b.Name] = true
		if b.About == "" || b.ModelledOn == "" {
			t.Errorf("%s: say what goes wrong and what it imitates", b.Name)
		}
		c, ok := consts[b.Name]
		if !ok {
			t.Errorf("%s: no constant names it", b.Name)
			continue
		}
		dir := filepath.Join("..", "..", b.Package)
		srcs, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		found := false
		for _, f := range srcs {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(src), "bugs.On(bugs."+c+")") {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s: no bugs.On(bugs.%s) in %s", b.Name, c, b.Package)
		}
	}
	if len(seen) < 30 {
		t.Errorf("the catalogue holds %d bugs, want at least 30", len(seen))
	}
}

func TestLookupRefusesUnknownNames(t *testing.T) {
	if _, err := bugs.Lookup("no-such-bug"); err == nil || !strings.Contains(err.Error(), "unknown planted bug") {
		t.Fatalf("Lookup(no-such-bug) = %v", err)
	}
	if err := bugs.Set("no-such-bug"); err == nil {
		t.Fatal("Set(no-such-bug) succeeded")
	}
}
