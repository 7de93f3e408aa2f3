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
	System      string   `json:"system,omitempty"`
	Round       int      `json:"round,omitempty"`
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
	fmt.Fprintf(&b, "%-8s %-5s %-17s %5s %5s %9s %11s %9s %9s %9s %9s %7s %9s\n",
		"system", "round", "load", "conns", "conc", "ops", "ops/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "cpu us/op")
	for _, r := range rs {
		sys := r.System
		if sys == "" {
			sys = "-"
		}
		fmt.Fprintf(&b, "%-8s %5d %-17s %5d %5d %9d %11.1f %9.3f %9.3f %9.3f %9.3f %7d %9.1f\n",
			sys, r.Round, r.Load, r.Clients, r.Concurrency, r.Ops, r.OpsPerSec, r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs, r.Errors, r.ServerCPUUsPerOp)
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
