package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	o := Options{Load: "nope", Clients: -1, Concurrency: -1, Total: -1, Duration: -time.Second,
		KeySizeBytes: 2, ValueSizeBytes: -1, Keyspace: -5, Watchers: -1, RequestTimeout: -1}
	err := o.Validate()
	if err == nil {
		t.Fatal("invalid options validated")
	}
	for _, want := range []string{"load \"nope\"", "--endpoints", "--clients", "--concurrency", "--total", "--duration",
		"--key-size", "--value-size", "--keyspace", "--watchers", "--request-timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

func TestDefaultsValidate(t *testing.T) {
	for _, load := range Loads {
		o := Options{Load: load, Endpoints: []string{"http://127.0.0.1:2379"}}
		o.EnsureDefaults()
		if err := o.Validate(); err != nil {
			t.Errorf("%s: defaults do not validate: %v", load, err)
		}
	}
}

func TestKeySizeMustFitTheKeyspace(t *testing.T) {
	o := Options{Load: "put", Endpoints: []string{"x"}, KeySizeBytes: 8, Keyspace: 10_000_000}
	o.EnsureDefaults()
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("8-byte keys for 10M keys: %v", err)
	}
	o.KeySizeBytes = len(keyPrefix) + 7
	if err := o.Validate(); err != nil {
		t.Fatalf("%d-byte keys for 10M keys: %v", o.KeySizeBytes, err)
	}
}

func TestKeysHaveTheirSizeAndStayDistinct(t *testing.T) {
	seen := map[string]bool{}
	for i := range 1000 {
		k := keyOf(i, 12)
		if len(k) != 12 || !strings.HasPrefix(k, keyPrefix) {
			t.Fatalf("key %d = %q", i, k)
		}
		if seen[k] {
			t.Fatalf("key %q twice", k)
		}
		seen[k] = true
	}
}

func TestFlagErrorsExitWithUsageStatus(t *testing.T) {
	// A closed port: if validation ever let one of these through, the run
	// fails fast instead of loading whatever listens on the default port.
	const nowhere = "--endpoints=http://127.0.0.1:1"
	for _, args := range [][]string{
		{"put", nowhere, "--concurrency", "0"},
		{"get", nowhere, "--total", "0"},
		{"put", nowhere, "--no-such-flag"},
		{"teleport", nowhere},
		{"vs", "--rounds", "0"},
		{"vs", "--mem-keys", "0"},
		{"vs", "--loads", "put,teleport"},
		{},
	} {
		var stderr strings.Builder
		if code := run(t.Context(), args, io.Discard, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tkvd\nVmPeak:\t  999 kB\nVmRSS:\t   12345 kB\nThreads:\t9\n"
	got, err := parseVmRSS(status)
	if err != nil || got != 12345*1024 {
		t.Fatalf("got %d, %v", got, err)
	}
	for _, bad := range []string{"Name:\tkvd\n", "VmRSS:\t12 MB\n", "VmRSS:\tmany kB\n"} {
		if _, err := parseVmRSS(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseStatCPUSeconds(t *testing.T) {
	// A command name with spaces and parentheses, utime 250 and stime 50 ticks.
	stat := "4242 (kvd (test) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 100 2000000 5000\n"
	got, err := parseStatCPUSeconds(stat)
	if err != nil || got != 3 {
		t.Fatalf("got %v s, %v; want 3 s", got, err)
	}
	if _, err := parseStatCPUSeconds("4242 (kvd) S 1 2"); err == nil {
		t.Fatal("a short stat line parsed")
	}
}
