package main

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Loads lists every load kvbench drives, in report order.
var Loads = []string{"put", "get", "get-serializable", "txn-cas", "range-prefix", "watch-latency", "lease-grant", "mixed"}

// Options configures one benchmark run. Zero fields take the documented
// defaults (EnsureDefaults); Validate reports every problem at once.
type Options struct {
	// Load is one of Loads; required.
	Load string
	// Endpoints are the etcd v3 client URLs; required. Connection i goes to
	// Endpoints[i % len(Endpoints)], as etcd's own benchmark tool does.
	Endpoints []string
	// Clients is the number of gRPC connections; default 8.
	Clients int
	// Concurrency is the number of requests in flight; default 64.
	Concurrency int
	// Total is the number of measured operations; default 10000.
	Total int
	// Duration caps the measured phase; default 60 s. The run stops at
	// whichever of Total and Duration comes first.
	Duration time.Duration
	// KeySizeBytes is the length of every key; default 16.
	KeySizeBytes int
	// ValueSizeBytes is the length of every value; default 100.
	ValueSizeBytes int
	// Keyspace is how many distinct keys the load touches; default 10000.
	// Read loads preload all of them first (not measured).
	Keyspace int
	// Seed makes key choice reproducible; default 1.
	Seed uint64
	// Watchers is W for watch-latency: each put is timed until all W
	// watchers have seen its event; default 8.
	Watchers int
	// RequestTimeout bounds one operation; default 10 s. An operation past
	// it counts as an error.
	RequestTimeout time.Duration
	// MeasureStarted, when set, is called as the measured phase begins
	// (after any preload), for whoever watches the servers during it.
	MeasureStarted func() `json:"-"`
}

// Limits that keep a mistyped flag from exhausting the machine.
const (
	clientsMax        = 1024
	concurrencyMax    = 1 << 16
	totalMax          = 100_000_000
	keySizeBytesMin   = 8
	keySizeBytesMax   = 4096
	valueSizeBytesMax = 1 << 20
	keyspaceMax       = 100_000_000
	watchersMax       = 4096
)

// EnsureDefaults fills every zero field with its documented default.
func (o *Options) EnsureDefaults() {
	if o.Clients == 0 {
		o.Clients = 8
	}
	if o.Concurrency == 0 {
		o.Concurrency = 64
	}
	if o.Total == 0 {
		o.Total = 10000
	}
	if o.Duration == 0 {
		o.Duration = time.Minute
	}
	if o.KeySizeBytes == 0 {
		o.KeySizeBytes = 16
	}
	if o.ValueSizeBytes == 0 {
		o.ValueSizeBytes = 100
	}
	if o.Keyspace == 0 {
		o.Keyspace = 10000
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Watchers == 0 {
		o.Watchers = 8
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 10 * time.Second
	}
}

// Validate reports every problem with the options at once.
func (o *Options) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !slices.Contains(Loads, o.Load) {
		add("load %q: want one of %s", o.Load, strings.Join(Loads, ", "))
	}
	if len(o.Endpoints) == 0 {
		add("--endpoints: at least one endpoint is required")
	}
	for _, e := range o.Endpoints {
		if e == "" {
			add("--endpoints: empty endpoint in %q", strings.Join(o.Endpoints, ","))
		}
	}
	if o.Clients < 1 || o.Clients > clientsMax {
		add("--clients %d: want 1..%d", o.Clients, clientsMax)
	}
	if o.Concurrency < 1 || o.Concurrency > concurrencyMax {
		add("--concurrency %d: want 1..%d", o.Concurrency, concurrencyMax)
	}
	if o.Total < 1 || o.Total > totalMax {
		add("--total %d: want 1..%d", o.Total, totalMax)
	}
	if o.Duration <= 0 {
		add("--duration %v: must be positive", o.Duration)
	}
	if o.KeySizeBytes < keySizeBytesMin || o.KeySizeBytes > keySizeBytesMax {
		add("--key-size %d: want %d..%d bytes", o.KeySizeBytes, keySizeBytesMin, keySizeBytesMax)
	}
	if o.ValueSizeBytes < 0 || o.ValueSizeBytes > valueSizeBytesMax {
		add("--value-size %d: want 0..%d bytes", o.ValueSizeBytes, valueSizeBytesMax)
	}
	if o.Keyspace < 1 || o.Keyspace > keyspaceMax {
		add("--keyspace %d: want 1..%d", o.Keyspace, keyspaceMax)
	} else if digits := len(fmt.Sprint(o.Keyspace - 1)); o.KeySizeBytes < len(keyPrefix)+digits {
		add("--key-size %d: too short for %d keys (need %d bytes)", o.KeySizeBytes, o.Keyspace, len(keyPrefix)+digits)
	}
	if o.Watchers < 1 || o.Watchers > watchersMax {
		add("--watchers %d: want 1..%d", o.Watchers, watchersMax)
	}
	if o.RequestTimeout <= 0 {
		add("--request-timeout %v: must be positive", o.RequestTimeout)
	}
	return errors.Join(errs...)
}

// register binds the run flags shared by the single-run command and vs.
func (o *Options) register(fs *flag.FlagSet, totalDefault int, durationDefault time.Duration) {
	fs.IntVar(&o.Clients, "clients", 8, "gRPC connections, spread over the endpoints")
	fs.IntVar(&o.Concurrency, "concurrency", 64, "requests in flight")
	fs.IntVar(&o.Total, "total", totalDefault, "measured operations per run")
	fs.DurationVar(&o.Duration, "duration", durationDefault, "cap on one run's measured phase")
	fs.IntVar(&o.KeySizeBytes, "key-size", 16, "key size in bytes")
	fs.IntVar(&o.ValueSizeBytes, "value-size", 100, "value size in bytes")
	fs.IntVar(&o.Keyspace, "keyspace", 10000, "distinct keys touched (read loads preload them)")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed for key choice")
	fs.IntVar(&o.Watchers, "watchers", 8, "watchers per put for watch-latency")
	fs.DurationVar(&o.RequestTimeout, "request-timeout", 10*time.Second, "timeout of one operation")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
