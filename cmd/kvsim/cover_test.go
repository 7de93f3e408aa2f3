package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A campaign with --cover runs instrumented workers and sums what they
// reached of the core and of raft.
func TestCampaignCoverage(t *testing.T) {
	dir := t.TempDir()
	cover := filepath.Join(dir, "cover")
	code, stdout, stderr := runCLI(t, "run", "--seeds", "1-3", "--workers", "2", "--workload", "register", "--nemesis", "crash",
		"--duration", "20s", "--cover", cover, "--out", filepath.Join(dir, "report"))
	if code != exitPass {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "coverage: core ") || !strings.Contains(stdout, ", raft ") {
		t.Fatalf("no coverage line:\n%s", stdout)
	}
	areas, err := sumProfile(filepath.Join(cover, coverProfileFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range areas {
		if a.Statements == 0 || a.Covered == 0 || a.Covered >= a.Statements {
			t.Errorf("%s: %d of %d statements reached: want some, not all", a.Name, a.Covered, a.Statements)
		}
	}
}

// A block the profile lists twice (two counter files merged) counts once,
// reached if either run reached it; blocks outside the areas are not
// counted.
func TestSumProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.out")
	profile := `mode: atomic
github.com/kvdlabs/kvd/core/mvcc/kv.go:1.1,2.2 3 0
github.com/kvdlabs/kvd/core/mvcc/kv.go:1.1,2.2 3 5
github.com/kvdlabs/kvd/core/mvcc/kv.go:3.1,4.2 2 0
go.etcd.io/raft/v3/raft.go:1.1,2.2 4 1
github.com/kvdlabs/kvd/cmd/kvsim/main.go:1.1,2.2 9 1
`
	if err := os.WriteFile(path, []byte(profile), 0o644); err != nil {
		t.Fatal(err)
	}
	areas, err := sumProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	if areas[0].Name != "core" || areas[0].Covered != 3 || areas[0].Statements != 5 || areas[1].Covered != 4 || areas[1].Statements != 4 {
		t.Fatalf("areas %+v: want core 3 of 5, raft 4 of 4", areas)
	}
	if err := os.WriteFile(path, []byte("mode: atomic\nbroken line\n"), 0o644); err == nil {
		if _, err := sumProfile(path); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Fatalf("a broken profile: %v", err)
		}
	}
}
