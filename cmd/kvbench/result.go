package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Result is one run's outcome, also its JSON line.
type Result struct {
	System string `json:"system,omitempty"`
	Round  int    `json:"round,omitempty"`
	// Tool is who drove the load: empty for kvbench itself, ToolEtcdBenchmark
	// for etcd's own benchmark program (vs only).
	Tool string `json:"tool,omitempty"`
	// Config is the configuration of the targets the run belongs to (one
	// of configRuns' names, e.g. "clients1000" or "values-64KiB"); empty
	// for vs's main loads and for a single run.
	Config      string   `json:"config,omitempty"`
	Load        string   `json:"load"`
	Endpoints   []string `json:"endpoints"`
	Clients     int      `json:"clients"`
	Concurrency int      `json:"concurrency"`
	Ops         uint64   `json:"ops"`
	Errors      int      `json:"errors"`
	ErrorSample []string `json:"errorSample,omitempty"`
	Seconds     float64  `json:"seconds"`
	OpsPerSec   float64  `json:"opsPerSec"`
	P50Ms       float64  `json:"p50Ms"`
	P90Ms       float64  `json:"p90Ms"`
	P99Ms       float64  `json:"p99Ms"`
	MaxMs       float64  `json:"maxMs"`
	MeanMs      float64  `json:"meanMs"`
	// ServerCPUUsPerOp is the servers' CPU time (all members, user and
	// system) per measured operation, preload included; vs only. Less
	// sensitive than ops/s to other load on a shared machine.
	ServerCPUUsPerOp float64 `json:"serverCpuUsPerOp,omitempty"`
	// PeakRSSBytes is each member's largest VmRSS seen while the run ran
	// (preload included), sampled every rssSampleInterval; vs only.
	PeakRSSBytes []int64 `json:"peakRssBytes,omitempty"`
}

// ToolEtcdBenchmark marks results of etcd's own benchmark tool.
const ToolEtcdBenchmark = "etcd-benchmark"

// Label names the load, the tool that drove it when it is not kvbench,
// and the configuration when it is not vs's main one.
func (r Result) Label() string { return runLabel(r.Config, r.Tool, r.Load) }

func loadLabel(tool, load string) string {
	if tool == "" {
		return load
	}
	return tool + " " + load
}

// runLabel is loadLabel with the configuration in brackets, e.g.
// "put [clients1000]".
func runLabel(config, tool, load string) string {
	if config == "" {
		return loadLabel(tool, load)
	}
	return loadLabel(tool, load) + " [" + config + "]"
}

// MaxPeakRSS is the largest member's peak RSS, 0 when none was sampled.
func (r Result) MaxPeakRSS() int64 {
	var m int64
	for _, b := range r.PeakRSSBytes {
		m = max(m, b)
	}
	return m
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func newResult(o *Options, h *Histogram, errs int, elapsed time.Duration, samples []string) Result {
	return Result{
		Load: o.Load, Endpoints: o.Endpoints, Clients: o.Clients, Concurrency: o.Concurrency,
		Ops: h.Count(), Errors: errs, ErrorSample: samples,
		Seconds:   elapsed.Seconds(),
		OpsPerSec: float64(h.Count()) / max(elapsed.Seconds(), 1e-9),
		P50Ms:     ms(h.Quantile(0.50)), P90Ms: ms(h.Quantile(0.90)), P99Ms: ms(h.Quantile(0.99)),
		MaxMs: ms(h.Max()), MeanMs: ms(h.Mean()),
	}
}

// WriteTable prints results as an aligned table.
func WriteTable(w io.Writer, rs []Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%-8s %-5s %-26s %5s %5s %9s %11s %9s %9s %9s %9s %7s %9s %8s\n",
		"system", "round", "load", "conns", "conc", "ops", "ops/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "cpu us/op", "peak MiB")
	for _, r := range rs {
		sys := r.System
		if sys == "" {
			sys = "-"
		}
		fmt.Fprintf(&b, "%-8s %5d %-26s %5d %5d %9d %11.1f %9.3f %9.3f %9.3f %9.3f %7d %9.1f %8.1f\n",
			sys, r.Round, r.Label(), r.Clients, r.Concurrency, r.Ops, r.OpsPerSec, r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs, r.Errors, r.ServerCPUUsPerOp, mib(r.MaxPeakRSS()))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSONLine prints r as one JSON line.
func WriteJSONLine(w io.Writer, r Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode result of %s: %w", r.Load, err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
