package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
)

// File names inside a run directory and a seed directory.
const (
	SummaryFile  = "summary.json"
	IndexFile    = "index.html"
	SeedsDir     = "seeds"
	ResultFile   = "result.json"
	ConfigFile   = "config.json"
	ScheduleFile = "schedule.json"
	HistoryFile  = "history.json"
	TraceFile    = "trace.txt"
	SeedPageFile = "index.html"
)

// Visualization is one checker's HTML view of a history.
type Visualization struct {
	Checker string
	HTML    []byte
}

// SeedFiles is everything written for one failing seed.
type SeedFiles struct {
	Result Result
	// Schedule is the nemesis schedule's JSON.
	Schedule []byte
	// History is the JSON of every client call.
	History []byte
	// WriteTrace writes the trace, one record per line; nil writes none.
	WriteTrace func(io.Writer) error
	// Visualizations are written as <checker>.html, each annotated with
	// the seed's fault windows.
	Visualizations []Visualization
}

// SeedDir returns the directory of seed's files under a run directory.
func SeedDir(runDir string, seed uint64) string {
	return filepath.Join(runDir, SeedsDir, strconv.FormatUint(seed, 10))
}

// WriteSeed writes f under SeedDir(runDir, seed) and returns that
// directory. f.Result.ReportDir is set to it in the written result.json.
func WriteSeed(runDir string, f SeedFiles) (string, error) {
	dir := SeedDir(runDir, f.Result.Seed)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("reports: seed %d: %w", f.Result.Seed, err)
	}
	f.Result.ReportDir = dir
	var errs []error
	errs = append(errs,
		writeJSON(filepath.Join(dir, ResultFile), f.Result),
		writeJSON(filepath.Join(dir, ConfigFile), f.Result.Config),
	)
	if f.Schedule != nil {
		errs = append(errs, writeFile(filepath.Join(dir, ScheduleFile), f.Schedule))
	}
	if f.History != nil {
		errs = append(errs, writeFile(filepath.Join(dir, HistoryFile), f.History))
	}
	if f.WriteTrace != nil {
		var buf bytes.Buffer
		if err := f.WriteTrace(&buf); err != nil {
			errs = append(errs, fmt.Errorf("reports: seed %d trace: %w", f.Result.Seed, err))
		}
		errs = append(errs, writeFile(filepath.Join(dir, TraceFile), buf.Bytes()))
	}
	var pages []string
	for _, v := range f.Visualizations {
		name := visualizationFile(v.Checker)
		pages = append(pages, name)
		errs = append(errs, writeFile(filepath.Join(dir, name), AnnotateVisualization(v.HTML, f.Result)))
	}
	var page bytes.Buffer
	if err := renderSeedPage(&page, f.Result, pages, f.WriteTrace != nil); err != nil {
		errs = append(errs, err)
	} else {
		errs = append(errs, writeFile(filepath.Join(dir, SeedPageFile), page.Bytes()))
	}
	return dir, errors.Join(errs...)
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// visualizationFile names a checker's page; checker names are ours, but a
// file name must never escape the seed directory.
func visualizationFile(checker string) string {
	name := unsafeFileChars.ReplaceAllString(checker, "_")
	if name == "" || name == "." || name == ".." || name == "index" {
		name = "checker-" + name
	}
	return "porcupine-" + name + ".html"
}

// WriteRun writes summary.json and index.html into runDir.
func WriteRun(runDir string, s Summary) error {
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	if err := writeJSON(filepath.Join(runDir, SummaryFile), s); err != nil {
		return err
	}
	var page bytes.Buffer
	if err := renderIndex(&page, s); err != nil {
		return err
	}
	return writeFile(filepath.Join(runDir, IndexFile), page.Bytes())
}

// ReadSummary reads the summary.json of runDir.
func ReadSummary(runDir string) (Summary, error) {
	var s Summary
	err := readJSON(filepath.Join(runDir, SummaryFile), &s)
	return s, err
}

// ReadResult reads the result.json of a seed directory.
func ReadResult(seedDir string) (Result, error) {
	var r Result
	err := readJSON(filepath.Join(seedDir, ResultFile), &r)
	return r, err
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("reports: encoding %s: %w", path, err)
	}
	return writeFile(path, append(data, '\n'))
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("reports: decoding %s: %w", path, err)
	}
	return nil
}

// writeFile writes through a temporary name and renames, so a reader never
// sees half a report.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	return nil
}
