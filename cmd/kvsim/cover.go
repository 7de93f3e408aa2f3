package main

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Campaign coverage (kvsim run --cover DIR): the workers are a kvsim built
// with Go's coverage instrumentation of the core packages and of raft, and
// write their counters into DIR/raw; the campaign merges them into a
// profile a person can open with go tool cover. What a campaign never
// reached is a blind spot of the harness, not of the code.

// coverPackages are the packages a campaign's coverage counts. kvsim's
// own main package is instrumented too, though not summed: without it
// the binary writes no counters at exit (go1.26).
var coverPackages = []string{"github.com/kvdlabs/kvd/cmd/kvsim", "github.com/kvdlabs/kvd/core/...", "go.etcd.io/raft/v3/..."}

// Where a coverage folder keeps things.
const (
	coverRawDir      = "raw"
	coverProfileFile = "coverage.out"
)

// coverArea is one group of packages a coverage summary reports.
type coverArea struct {
	name, prefix string
}

var coverAreas = []coverArea{
	{"core", "github.com/kvdlabs/kvd/core/"},
	{"raft", "go.etcd.io/raft/v3/"},
}

// coverWorker prepares dir (emptied of earlier counters) and the
// instrumented worker that counts into it.
func coverWorker(dir string) (workerProgram, error) {
	raw := filepath.Join(dir, coverRawDir)
	if err := os.RemoveAll(raw); err != nil {
		return workerProgram{}, err
	}
	if err := os.MkdirAll(raw, 0o755); err != nil {
		return workerProgram{}, err
	}
	abs, err := filepath.Abs(raw)
	if err != nil {
		return workerProgram{}, err
	}
	bin, err := buildCoverWorker(dir)
	if err != nil {
		return workerProgram{}, err
	}
	return workerProgram{path: bin, env: []string{"GOCOVERDIR=" + abs}}, nil
}

// buildCoverWorker builds an instrumented kvsim from the module this
// command runs in (the source tree of go run) into dir.
func buildCoverWorker(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "kvsim-cover")
	cmd := exec.Command("go", "build", "-cover", "-covermode=atomic", "-coverpkg="+strings.Join(coverPackages, ","), "-o", bin, "./cmd/kvsim")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the instrumented worker (%s in %s): %w\n%s", strings.Join(cmd.Args, " "), root, err, out)
	}
	return bin, nil
}

// moduleRoot is the directory of the kvd module around the working
// directory.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/kvdlabs/kvd").Output()
	if err != nil {
		return "", fmt.Errorf("--cover needs the kvd source tree (run kvsim from it): go list -m: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// coverSummary is a campaign's coverage: per area, statements reached
// and in all.
type coverSummary struct {
	Profile string
	Areas   []coverAreaResult
}

type coverAreaResult struct {
	Name                string
	Covered, Statements int
}

func (a coverAreaResult) percent() float64 {
	if a.Statements == 0 {
		return 0
	}
	return 100 * float64(a.Covered) / float64(a.Statements)
}

// String is the summary's line.
func (s coverSummary) String() string {
	var parts []string
	for _, a := range s.Areas {
		parts = append(parts, fmt.Sprintf("%s %.1f%% of %d statements", a.Name, a.percent(), a.Statements))
	}
	return fmt.Sprintf("coverage: %s (profile %s; go tool cover -html=%s)", strings.Join(parts, ", "), s.Profile, s.Profile)
}

// mergeCoverage turns the workers' counters in dir/raw into
// dir/coverage.out and sums it by area.
func mergeCoverage(dir string) (coverSummary, error) {
	profile := filepath.Join(dir, coverProfileFile)
	cmd := exec.Command("go", "tool", "covdata", "textfmt", "-i="+filepath.Join(dir, coverRawDir), "-o="+profile)
	if out, err := cmd.CombinedOutput(); err != nil {
		return coverSummary{}, fmt.Errorf("merging coverage (%s): %w\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	areas, err := sumProfile(profile)
	if err != nil {
		return coverSummary{}, err
	}
	return coverSummary{Profile: profile, Areas: areas}, nil
}

// sumProfile reads a text coverage profile ("file:l.c,l.c statements
// count" per block) and counts statements, and those run at least once,
// per area. A block listed twice counts once, reached if either says so.
func sumProfile(path string) ([]coverAreaResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type block struct {
		stmts   int
		reached bool
	}
	blocks := map[string]*block{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if line == 1 && strings.HasPrefix(text, "mode:") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 3 {
			return nil, fmt.Errorf("coverage profile %s line %d: %q is not \"block statements count\"", path, line, text)
		}
		stmts, err1 := strconv.Atoi(fields[1])
		count, err2 := strconv.ParseInt(fields[2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("coverage profile %s line %d: %q has no numbers where expected", path, line, text)
		}
		b := blocks[fields[0]]
		if b == nil {
			b = &block{stmts: stmts}
			blocks[fields[0]] = b
		}
		b.reached = b.reached || count > 0
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	out := make([]coverAreaResult, len(coverAreas))
	for i, a := range coverAreas {
		out[i].Name = a.name
	}
	for _, name := range slices.Sorted(maps.Keys(blocks)) {
		b := blocks[name]
		for i, a := range coverAreas {
			if strings.HasPrefix(name, a.prefix) {
				out[i].Statements += b.stmts
				if b.reached {
					out[i].Covered += b.stmts
				}
			}
		}
	}
	return out, nil
}
