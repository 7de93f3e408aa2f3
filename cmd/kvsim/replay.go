package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kvdlabs/kvd/nemesis"
	"github.com/kvdlabs/kvd/reports"
	"github.com/kvdlabs/kvd/sim"
)

// seedSource is how replay and shrink name the run they repeat: a seed and
// the run flags, or a seed folder a campaign wrote; optionally a schedule
// file in place of the generated schedule.
type seedSource struct {
	cf       configFlags
	seed     uint64
	record   string
	schedule string
}

func (s *seedSource) register(fs *flag.FlagSet) {
	s.cf.register(fs, "register", "all", durationDefault)
	fs.Uint64Var(&s.seed, "seed", 0, "the seed to run")
	fs.StringVar(&s.record, "record", "", "a seed folder written by kvsim run (its result.json and schedule.json): repeat that run, and check its trace hash")
	fs.StringVar(&s.schedule, "schedule", "", "run this schedule JSON (e.g. from kvsim shrink) instead of the one drawn from the seed")
}

// scheduleFlag applies --schedule to a campaign's configuration: every
// seed gets the file's schedule (nil when path is ""), and the runs take
// its duration under the nemesis name "file".
func scheduleFlag(path string, cfg *reports.Config) (*nemesis.Schedule, error) {
	if path == "" {
		return nil, nil
	}
	s, err := readSchedule(path, cfg.Nodes)
	if err != nil {
		return nil, err
	}
	cfg.Nemesis, cfg.Duration = "file", reports.Duration(s.Duration)
	return &s, nil
}

// readSchedule reads a schedule file (--schedule) for a run of members
// 1..nodes.
func readSchedule(path string, nodes int) (nemesis.Schedule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nemesis.Schedule{}, fmt.Errorf("--schedule: %w", err)
	}
	sched, err := nemesis.ParseSchedule(data)
	if err != nil {
		return nemesis.Schedule{}, fmt.Errorf("--schedule %s: %w", path, err)
	}
	for i, id := range sched.Nodes {
		if id != uint64(i+1) || len(sched.Nodes) != nodes {
			return nemesis.Schedule{}, fmt.Errorf("--schedule %s: written for members %v, the run's are 1..%d", path, sched.Nodes, nodes)
		}
	}
	return sched, nil
}

// job returns the job to repeat and the trace hash it must reproduce ("" if
// none is recorded).
func (s *seedSource) job(fs *flag.FlagSet) (job, string, error) {
	var j job
	var wantHash string
	if s.record != "" {
		explicit := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
		if explicit["seed"] || explicit["workload"] || explicit["nemesis"] || explicit["nodes"] || explicit["duration"] ||
			explicit["clients"] || explicit["ops-max"] || explicit["unsafe"] {
			return j, "", errors.New("--record carries the seed and its configuration: give no run flags with it")
		}
		r, err := reports.ReadResult(s.record)
		if err != nil {
			return j, "", err
		}
		j = job{Seed: r.Seed, Config: r.Config}
		wantHash = r.TraceHash
		if s.schedule == "" {
			if _, err := os.Stat(filepath.Join(s.record, reports.ScheduleFile)); err == nil {
				s.schedule = filepath.Join(s.record, reports.ScheduleFile)
			}
		}
	} else {
		cfg, err := s.cf.config()
		if err != nil {
			return j, "", err
		}
		if cfg.Workload == mixedWorkload || cfg.Nemesis == mixedNemesis {
			cfg = resolve(cfg, s.seed)
		}
		j = job{Seed: s.seed, Config: cfg}
	}
	if s.schedule != "" {
		sched, err := readSchedule(s.schedule, j.Config.Nodes)
		if err != nil {
			return j, "", err
		}
		j.Schedule = &sched
		j.Config.Duration = reports.Duration(sched.Duration)
		if s.record == "" {
			j.Config.Nemesis = "file"
		}
	}
	return j, wantHash, nil
}

// replayMain is "kvsim replay".
func replayMain(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("replay", stderr)
	var src seedSource
	src.register(fs)
	hash := fs.String("hash", "", "the trace hash (hex, a prefix will do) the run must reproduce")
	filterFlag := fs.String("filter", "", "show only trace records matching all of member=ID, kind=PREFIX[|PREFIX…], from=DURATION, to=DURATION")
	traceOut := fs.String("trace", "-", "where to write the trace: - for stdout, a file, or none")
	outDir := fs.String("out", "", "write the seed's report folder here (default kvsim-replay-<seed> when the run fails)")
	if err := parseFlags(fs, args); err != nil {
		return 0, err
	}
	j, wantHash, err := src.job(fs)
	if err != nil {
		return 0, err
	}
	if *hash != "" {
		wantHash = *hash
	}
	filter, err := parseFilter(*filterFlag)
	if err != nil {
		return 0, err
	}
	j.TraceKeptMax = traceKeptAll
	r := runSeed(j)

	if *traceOut != "none" {
		w := stdout
		if *traceOut != "-" {
			f, err := os.Create(*traceOut)
			if err != nil {
				return 0, fmt.Errorf("--trace: %w", err)
			}
			defer f.Close()
			w = f
		}
		if err := writeFilteredTrace(w, r.world, filter); err != nil {
			return 0, err
		}
	}
	if r.result.Failed() || *outDir != "" {
		dir := *outDir
		if dir == "" {
			dir = fmt.Sprintf("kvsim-replay-%d", j.Seed)
		}
		seedDir, err := writeSeedReport(r, dir)
		if err != nil {
			return 0, err
		}
		r.result.ReportDir = seedDir
	}
	fmt.Fprintln(stdout, describe(r.result))
	if wantHash != "" {
		if !strings.HasPrefix(r.result.TraceHash, strings.ToLower(wantHash)) {
			fmt.Fprintf(stdout, "NONDETERMINISM: trace hash %s, the record says %s\n", r.result.TraceHash, wantHash)
			return exitNondeterminism, nil
		}
		fmt.Fprintf(stdout, "trace hash matches the record: %s\n", r.result.TraceHash)
	}
	return exitCode(r.result.Outcome), nil
}

// traceFilter selects trace records; zero fields match everything.
type traceFilter struct {
	member   *regexp.Regexp
	kinds    []string
	from, to time.Duration
}

// parseFilter reads "member=2,kind=net.drop|fault,from=10s,to=20s".
func parseFilter(s string) (traceFilter, error) {
	f := traceFilter{to: -1}
	if s == "" {
		return f, nil
	}
	var errs []error
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			errs = append(errs, fmt.Errorf("--filter %q: %q is not key=value", s, part))
			continue
		}
		switch k {
		case "member":
			id, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("--filter member=%q: %w", v, err))
				continue
			}
			// A member appears as its disk (member-2), its id (id=2), an
			// end of a link (2->3, 3->2) or among a fault's targets.
			n := strconv.FormatUint(id, 10)
			f.member = regexp.MustCompile(`(^|[^0-9])(member-` + n + `|id=` + n + `|from=` + n + `)([^0-9]|$)` +
				`|->` + n + `([^0-9]|$)|(^|[^0-9])` + n + `->|targets=\[([0-9 ]* )?` + n + `[ \]]`)
		case "kind":
			f.kinds = strings.Split(v, "|")
		case "from", "to":
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("--filter %s=%q: %w", k, v, err))
				continue
			}
			if k == "from" {
				f.from = d
			} else {
				f.to = d
			}
		default:
			errs = append(errs, fmt.Errorf("--filter %q: unknown key %q (member, kind, from, to)", s, k))
		}
	}
	return f, errors.Join(errs...)
}

func (f traceFilter) match(r sim.TraceRecord) bool {
	if r.AtElapsed < f.from || (f.to >= 0 && r.AtElapsed > f.to) {
		return false
	}
	if len(f.kinds) > 0 {
		ok := false
		for _, k := range f.kinds {
			ok = ok || strings.HasPrefix(r.Kind, k)
		}
		if !ok {
			return false
		}
	}
	return f.member == nil || f.member.MatchString(r.Text)
}

func writeFilteredTrace(w io.Writer, world *sim.World, f traceFilter) error {
	if world == nil {
		return nil
	}
	for _, r := range world.TraceRecords() {
		if !f.match(r) {
			continue
		}
		if _, err := fmt.Fprintln(w, r); err != nil {
			return fmt.Errorf("writing the trace: %w", err)
		}
	}
	return nil
}
