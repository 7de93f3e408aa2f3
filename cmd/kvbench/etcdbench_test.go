package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The testdata files are etcd v3.6.8's benchmark tool's stdout, captured
// against a one-member kvd on 127.0.0.1.
func TestParseEtcdBenchmarkSummaries(t *testing.T) {
	for _, tc := range []struct {
		file                     string
		rps, secs, p50, p90, p99 float64
		mean, max                float64
		ops                      uint64
	}{
		{"etcd-benchmark-put.txt", 8449.138385805714, 2.36710527, 5.016534, 16.154692, 29.147601, 7.4732747775999985, 44.129443, 20000},
		{"etcd-benchmark-range.txt", 28685.546519033098, 0.697215233, 1.431877, 3.961237, 14.494792, 2.1733314728999745, 50.18057, 20000},
		// Without --precise the tool prints %4.4f: coarse, still parsed.
		{"etcd-benchmark-range-4f.txt", 24333.2619, 0.0822, 1.5, 5.7, 8.9, 2.3, 9.6, 2000},
	} {
		r, err := parseEtcdBenchmark(readTestdata(t, tc.file))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if r.Tool != ToolEtcdBenchmark || r.Errors != 0 || len(r.ErrorSample) != 0 {
			t.Errorf("%s: tool %q, errors %d %v", tc.file, r.Tool, r.Errors, r.ErrorSample)
		}
		for _, f := range []struct {
			name      string
			got, want float64
		}{
			{"ops/s", r.OpsPerSec, tc.rps}, {"seconds", r.Seconds, tc.secs}, {"p50", r.P50Ms, tc.p50},
			{"p90", r.P90Ms, tc.p90}, {"p99", r.P99Ms, tc.p99}, {"mean", r.MeanMs, tc.mean}, {"max", r.MaxMs, tc.max},
		} {
			if d := f.got - f.want; d > 1e-9*max(1, f.want) || -d > 1e-9*max(1, f.want) {
				t.Errorf("%s: %s %v, want %v", tc.file, f.name, f.got, f.want)
			}
		}
		// Ops is recovered from the rate; %4.4f rounding costs a request or so.
		if d := int64(r.Ops) - int64(tc.ops); d > 2 || d < -2 {
			t.Errorf("%s: ops %d, want %d", tc.file, r.Ops, tc.ops)
		}
	}
}

func TestParseEtcdBenchmarkErrors(t *testing.T) {
	// Every request failed: no summary, only the error distribution.
	r, err := parseEtcdBenchmark(readTestdata(t, "etcd-benchmark-errors.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Ops != 0 || r.OpsPerSec != 0 || r.Errors != 4 || len(r.ErrorSample) != 1 || !strings.Contains(r.ErrorSample[0], "request is too large") {
		t.Fatalf("all failed: %+v", r)
	}
	// Some failed: the tool prints the summary, then the error distribution.
	r, err = parseEtcdBenchmark(readTestdata(t, "etcd-benchmark-range.txt") + "\nError distribution:\n  [3]\tcontext deadline exceeded\n  [2]\tetcdserver: leader changed\n")
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 5 || len(r.ErrorSample) != 2 || r.Ops != 20000 {
		t.Fatalf("some failed: ops %d errors %d %v", r.Ops, r.Errors, r.ErrorSample)
	}
	// Output that is not a summary, or is cut short, is an error, not zeros.
	put := readTestdata(t, "etcd-benchmark-put.txt")
	for name, out := range map[string]string{
		"empty":     "",
		"usage":     "Error: unknown flag: --bogus\nUsage:\n  benchmark put [flags]\n",
		"no 99%":    strings.Replace(put, "  99% in", "  98% in", 1),
		"cut short": put[:strings.Index(put, "Latency distribution:")],
		"bad value": strings.Replace(put, "Requests/sec:\t8449.138385805714", "Requests/sec:\tmany", 1),
	} {
		if _, err := parseEtcdBenchmark(out); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

func TestEtcdBenchArgs(t *testing.T) {
	run := Options{Load: "put", Endpoints: []string{"x"}}
	run.EnsureDefaults()
	eb := EtcdBenchOptions{PutTotal: 30000, RangeTotal: 100000, ValueSizeBytes: 256}
	eps := []string{"http://127.0.0.1:1", "http://127.0.0.1:2"}
	put := strings.Join(etcdBenchArgs("put", eps, &run, &eb), " ")
	want := "--endpoints=http://127.0.0.1:1,http://127.0.0.1:2 --conns=8 --clients=64 --precise put --key-size=16 --val-size=256 --total=30000 --key-space-size=10000"
	if put != want {
		t.Errorf("put args\n%s\nwant\n%s", put, want)
	}
	rng := strings.Join(etcdBenchArgs("range", eps, &run, &eb), " ")
	if !strings.HasSuffix(rng, "--precise range "+etcdBenchRangeKey+" --consistency=l --total=100000") {
		t.Errorf("range args %s", rng)
	}
}

// fakeTool writes a shell script standing in for etcd's benchmark tool.
func fakeTool(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "benchmark")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunEtcdBenchmarkParsesKillsAndFails(t *testing.T) {
	run := Options{Load: "put", Endpoints: []string{"x"}}
	run.EnsureDefaults()
	summary, err := filepath.Abs(filepath.Join("testdata", "etcd-benchmark-put.txt"))
	if err != nil {
		t.Fatal(err)
	}
	eps := []string{"http://127.0.0.1:1"}

	eb := EtcdBenchOptions{Bin: fakeTool(t, "echo noise >&2; cat "+summary), PutTotal: 20000, RangeTotal: 1, Timeout: 10 * time.Second}
	r, err := runEtcdBenchmark(t.Context(), "put", eps, &run, &eb)
	if err != nil || r.Ops != 20000 || r.Tool != ToolEtcdBenchmark || r.Load != "put" || r.Clients != 8 || r.Concurrency != 64 {
		t.Fatalf("parsed run: %v %+v", err, r)
	}

	// A run past its timeout is killed and counted as failed; vs goes on.
	eb.Bin, eb.Timeout = fakeTool(t, "exec sleep 30"), 200*time.Millisecond
	start := time.Now()
	r, err = runEtcdBenchmark(t.Context(), "put", eps, &run, &eb)
	if err != nil || r.Ops != 0 || r.Errors != 20000 || !strings.Contains(strings.Join(r.ErrorSample, " "), "killed after") {
		t.Fatalf("timed-out run: %v %+v", err, r)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("timed-out run took %v", time.Since(start))
	}

	// A failing tool: its exit status and the end of its stderr are kept.
	eb.Bin, eb.Timeout = fakeTool(t, "echo 'Error: unknown flag' >&2; exit 1"), 10*time.Second
	r, err = runEtcdBenchmark(t.Context(), "put", eps, &run, &eb)
	if err != nil || r.Errors != 20000 || !strings.Contains(strings.Join(r.ErrorSample, " "), "unknown flag") {
		t.Fatalf("failed run: %v %+v", err, r)
	}

	// The end of vs's own context is an error, and ends the tool.
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	eb.Bin = fakeTool(t, "exec sleep 30")
	if _, err := runEtcdBenchmark(ctx, "put", eps, &run, &eb); err == nil {
		t.Fatal("cancelled run returned no error")
	}
}

func TestBuffersAreBounded(t *testing.T) {
	c := &cappedBuffer{max: 5}
	c.Write([]byte("abc"))
	c.Write([]byte("defg"))
	if c.String() != "abcde" {
		t.Fatalf("capped %q", c.String())
	}
	tb := &tailBuffer{max: 5}
	tb.Write([]byte("abc"))
	tb.Write([]byte("defg"))
	if tb.String() != "cdefg" {
		t.Fatalf("tail %q", tb.String())
	}
	if got := lastLines("a\n\nb\r\nc\rd\n", 2); got != "c | d" {
		t.Fatalf("lastLines %q", got)
	}
}

func TestSamplePeakRSSOfThisProcess(t *testing.T) {
	stop := samplePeakRSS([]int{os.Getpid(), 1 << 30}, 10*time.Millisecond)
	ballast := make([]byte, 32<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	time.Sleep(50 * time.Millisecond)
	peaks := stop()
	if peaks[0] < 32<<20 {
		t.Errorf("peak RSS %d bytes while holding 32 MiB", peaks[0])
	}
	if peaks[1] != 0 {
		t.Errorf("peak of a process that does not exist: %d", peaks[1])
	}
	if again := stop(); again[0] != peaks[0] {
		t.Errorf("second stop: %v then %v", peaks, again)
	}
	_ = ballast[len(ballast)-1]
}

func TestVsRefusesUnknownEtcdBenchmarkLoads(t *testing.T) {
	var stderr strings.Builder
	if code := run(t.Context(), []string{"vs", "--etcd-benchmark", "put,bogus"}, &strings.Builder{}, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2 (usage); stderr %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), `unknown load "bogus"`) {
		t.Fatalf("stderr %s", stderr.String())
	}
	if code := run(t.Context(), []string{"vs", "--etcd-benchmark-put-total", "0"}, &strings.Builder{}, &stderr); code != 2 {
		t.Fatalf("--etcd-benchmark-put-total 0: exit %d, want 2", code)
	}
}
