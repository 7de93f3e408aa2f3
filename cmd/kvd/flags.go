package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kvdlabs/kvd/core/api"
	"github.com/kvdlabs/kvd/core/node"
)

// flags are etcd's flags that kvd supports, with etcd's defaults.
type flags struct {
	authFlags
	name                     string
	dataDir                  string
	listenClientURLs         []string
	advertiseClientURLs      []string
	listenPeerURLs           []string
	initialAdvertisePeerURLs []string
	initialCluster           string
	initialClusterState      string
	initialClusterToken      string
	heartbeatIntervalMs      uint
	electionTimeoutMs        uint
	snapshotCount            uint64
	quotaBackendBytes        int64
	memoryLimitBytes         int64
	idleMemoryRelease        bool
	historySpill             bool
	corruptCheckTime         time.Duration
	stopSnapshotTimeout      time.Duration
	watchProgressNotify      time.Duration
	autoCompactionMode       string
	autoCompactionRetention  string
	maxRequestBytes          uint
	maxTxnOps                uint
	listenMetricsURLs        []string
	logLevel                 string
	enablePprof              bool
	featureGates             string
	// gates are --feature-gates parsed: etcd's gate names, on or off.
	gates map[string]bool
	tls   tlsFlags // tls.go
	// unsafe is --unsafe in a kvd built with the kvdunsafe tag, nothing
	// otherwise (unsafe_on.go, unsafe_off.go).
	unsafe unsafeFlags
}

// errHelp asks main to exit 0 after printing usage.
var errHelp = flag.ErrHelp

func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("kvd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var lcu, acu, lpu, iapu, lmu string
	fs.StringVar(&f.name, "name", "default", "human-readable name for this member")
	fs.StringVar(&f.dataDir, "data-dir", "", "path to the data directory (default \"${name}.etcd\")")
	fs.StringVar(&lcu, "listen-client-urls", "http://127.0.0.1:2379", "comma-separated URLs to serve client traffic on")
	fs.StringVar(&acu, "advertise-client-urls", "http://127.0.0.1:2379", "comma-separated client URLs to advertise to the cluster")
	fs.StringVar(&lpu, "listen-peer-urls", "http://127.0.0.1:2380", "comma-separated URLs to serve peer traffic on")
	fs.StringVar(&iapu, "initial-advertise-peer-urls", "http://127.0.0.1:2380", "comma-separated peer URLs to advertise to the cluster")
	fs.StringVar(&f.initialCluster, "initial-cluster", "", "initial cluster: name=peerURL,... (default \"${name}=${initial-advertise-peer-urls}\")")
	fs.StringVar(&f.initialClusterState, "initial-cluster-state", "new", "initial cluster state: new or existing")
	fs.StringVar(&f.initialClusterToken, "initial-cluster-token", "etcd-cluster", "initial cluster token, part of member and cluster ids")
	fs.UintVar(&f.heartbeatIntervalMs, "heartbeat-interval", 100, "time (in milliseconds) of a heartbeat interval")
	fs.UintVar(&f.electionTimeoutMs, "election-timeout", 1000, "time (in milliseconds) for an election to timeout")
	fs.Uint64Var(&f.snapshotCount, "snapshot-count", 10000, "number of committed entries to trigger a snapshot")
	fs.Int64Var(&f.quotaBackendBytes, "quota-backend-bytes", 0, "raise the NOSPACE alarm when the data exceeds this size (0: 2 GiB)")
	fs.BoolVar(&f.historySpill, "history-spill", true, "keep the store's older versions in an unlinked scratch file under --data-dir that the kernel caches, not in the member's memory, as etcd keeps them in its backend file (Linux; see kvd_mvcc_history_spilled_bytes)")
	fs.BoolVar(&f.idleMemoryRelease, "idle-memory-release", true, "once the member is quiet, collect and return the heap's free memory to the OS, so a quiet member holds what it stores (see kvd_memory_idle_releases_total)")
	fs.Int64Var(&f.memoryLimitBytes, "memory-limit-bytes", 0, "soft limit on the member's memory (Go heap, runtime and the store's history, kept outside the heap): the collector works harder near it (0: GOMEMLIMIT's, or none)")
	fs.DurationVar(&f.corruptCheckTime, "corrupt-check-time", 0, "duration of time between cluster corruption check passes (0: off)")
	fs.DurationVar(&f.stopSnapshotTimeout, "stop-snapshot-timeout", api.StopSnapshotTimeoutDefault, "kvd's own: how long a graceful stop (SIGTERM, SIGINT) waits for a state snapshot when the restart would otherwise replay at least --snapshot-count entries (0 or negative: never wait)")
	fs.DurationVar(&f.watchProgressNotify, "watch-progress-notify-interval", 10*time.Minute, "duration of periodical watch progress notification")
	fs.StringVar(&f.autoCompactionMode, "auto-compaction-mode", "periodic", "interpret --auto-compaction-retention as periodic (a duration, hours if no unit) or revision (a count)")
	fs.StringVar(&f.autoCompactionRetention, "auto-compaction-retention", "0", "auto compaction retention for the key-value store; 0 disables auto compaction")
	fs.UintVar(&f.maxRequestBytes, "max-request-bytes", api.RequestBytesMaxDefault, "maximum client request size in bytes")
	fs.UintVar(&f.maxTxnOps, "max-txn-ops", api.TxnOpsMaxDefault, "maximum operations per txn request")
	fs.StringVar(&lmu, "listen-metrics-urls", "", "comma-separated URLs to serve /metrics and /health on")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&f.enablePprof, "enable-pprof", false, "serve Go's /debug/pprof on the client and metrics URLs")
	f.authFlags.register(fs)
	fs.StringVar(&f.featureGates, "feature-gates", "", "etcd's feature gates, key=true|false,...: InitialCorruptCheck checks this member's data against its peers' before serving; etcd's other gates are accepted and change nothing in kvd")
	f.tls.register(fs)
	f.unsafe.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "Usage: kvd [flags]  (etcd's flag names)")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return nil, errHelp
		}
		if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: "); ok {
			return nil, fmt.Errorf("unknown flag %s: kvd supports a subset of etcd's flags, see kvd --help", "--"+strings.TrimLeft(name, "-"))
		}
		return nil, fmt.Errorf("bad flags: %w (see kvd --help)", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: kvd takes flags only (see kvd --help)", fs.Arg(0))
	}
	f.listenClientURLs = splitURLs(lcu)
	f.advertiseClientURLs = splitURLs(acu)
	f.listenPeerURLs = splitURLs(lpu)
	f.initialAdvertisePeerURLs = splitURLs(iapu)
	f.listenMetricsURLs = splitURLs(lmu)
	f.defaultsFromName()
	return f, f.validate()
}

func splitURLs(s string) []string {
	var out []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// autoCompaction reads --auto-compaction-mode and -retention as etcd does:
// periodic takes a duration, in hours when it has no unit; revision takes
// a count of revisions; "0" is off in either.
func (f *flags) autoCompaction() (node.AutoCompaction, error) {
	r := strings.TrimSpace(f.autoCompactionRetention)
	switch f.autoCompactionMode {
	case "periodic":
		if h, err := strconv.ParseInt(r, 10, 64); err == nil && h >= 0 {
			return node.AutoCompaction{Period: time.Duration(h) * time.Hour}, nil
		}
		d, err := time.ParseDuration(r)
		if err != nil || d < 0 {
			return node.AutoCompaction{}, fmt.Errorf("--auto-compaction-retention %q: want a duration (e.g. 1h, 30m) or whole hours in periodic mode", r)
		}
		return node.AutoCompaction{Period: d}, nil
	case "revision":
		n, err := strconv.ParseInt(r, 10, 64)
		if err != nil || n < 0 {
			return node.AutoCompaction{}, fmt.Errorf("--auto-compaction-retention %q: want a count of revisions in revision mode", r)
		}
		return node.AutoCompaction{Revisions: n}, nil
	default:
		return node.AutoCompaction{}, fmt.Errorf("--auto-compaction-mode %q: want periodic or revision", f.autoCompactionMode)
	}
}

// validate reports every problem with the flags at once.
func (f *flags) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, err := f.autoCompaction(); err != nil {
		errs = append(errs, err)
	}
	if f.memoryLimitBytes < 0 {
		add("--memory-limit-bytes %d must not be negative", f.memoryLimitBytes)
	}
	for _, group := range []struct {
		flag string
		urls []string
	}{
		{"--listen-client-urls", f.listenClientURLs}, {"--advertise-client-urls", f.advertiseClientURLs},
		{"--listen-peer-urls", f.listenPeerURLs}, {"--initial-advertise-peer-urls", f.initialAdvertisePeerURLs},
		{"--listen-metrics-urls", f.listenMetricsURLs},
	} {
		for _, u := range group.urls {
			if err := checkURL(u); err != nil {
				add("%s: %w", group.flag, err)
			}
		}
	}
	for _, g := range []struct {
		flag string
		urls []string
	}{{"--listen-client-urls", f.listenClientURLs}, {"--advertise-client-urls", f.advertiseClientURLs}, {"--listen-peer-urls", f.listenPeerURLs}, {"--initial-advertise-peer-urls", f.initialAdvertisePeerURLs}} {
		if len(g.urls) == 0 {
			add("%s must name at least one URL", g.flag)
		}
	}
	members, err := f.cluster()
	if err != nil {
		errs = append(errs, err)
	} else if urls, ok := members[f.name]; !ok {
		add("--initial-cluster %q has no member named %q (--name)", f.initialCluster, f.name)
	} else if !slices.Equal(slices.Sorted(slices.Values(urls)), slices.Sorted(slices.Values(f.initialAdvertisePeerURLs))) {
		add("--initial-cluster gives %s the peer URLs %v but --initial-advertise-peer-urls says %v", f.name, urls, f.initialAdvertisePeerURLs)
	}
	if f.initialClusterState != "new" && f.initialClusterState != "existing" {
		add("--initial-cluster-state %q: want new or existing", f.initialClusterState)
	}
	if f.heartbeatIntervalMs == 0 {
		add("--heartbeat-interval must be positive")
	}
	if f.electionTimeoutMs < 5*f.heartbeatIntervalMs {
		// etcd requires election >= 5 * heartbeat as well.
		add("--election-timeout %d ms must be at least 5 times --heartbeat-interval %d ms", f.electionTimeoutMs, f.heartbeatIntervalMs)
	}
	if f.snapshotCount == 0 {
		add("--snapshot-count must be positive")
	}
	if f.maxRequestBytes == 0 {
		add("--max-request-bytes must be positive")
	}
	if f.maxTxnOps == 0 {
		add("--max-txn-ops must be positive")
	}
	if gates, err := parseFeatureGates(f.featureGates); err != nil {
		errs = append(errs, err)
	} else {
		f.gates = gates
	}
	if _, err := f.level(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, f.validateTLS()...)
	errs = append(errs, f.authFlags.validate()...)
	errs = append(errs, f.unsafe.validate()...)
	return errors.Join(errs...)
}

func checkURL(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("URL %q: %w", u, err)
	}
	if p.Scheme != "http" && p.Scheme != "https" {
		return fmt.Errorf("URL %q: scheme %q not supported (http or https)", u, p.Scheme)
	}
	if p.Port() == "" {
		return fmt.Errorf("URL %q: no port", u)
	}
	return nil
}

// cluster parses --initial-cluster into name → peer URLs.
func (f *flags) cluster() (map[string][]string, error) {
	m := map[string][]string{}
	for _, part := range strings.Split(f.initialCluster, ",") {
		name, u, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || name == "" || u == "" {
			return nil, fmt.Errorf("--initial-cluster %q: entry %q is not name=peerURL", f.initialCluster, part)
		}
		if err := checkURL(u); err != nil {
			return nil, fmt.Errorf("--initial-cluster: member %s: %w", name, err)
		}
		m[name] = append(m[name], u)
	}
	return m, nil
}

func (f *flags) level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(f.logLevel)); err != nil {
		return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	return l, nil
}

// historySpillDir is node.Config.HistorySpillDir: the data dir, unless
// --history-spill=false.
func (f *flags) historySpillDir() string {
	if !f.historySpill {
		return ""
	}
	return f.dataDir
}

func (f *flags) tickInterval() time.Duration {
	return time.Duration(f.heartbeatIntervalMs) * time.Millisecond
}

func (f *flags) electionTicks() int { return int(f.electionTimeoutMs / f.heartbeatIntervalMs) }

// defaultsFromName fills what etcd derives from --name when unset: the
// data directory ${name}.etcd, and a one-member --initial-cluster of this
// member's advertised peer URLs.
func (f *flags) defaultsFromName() {
	if f.dataDir == "" {
		f.dataDir = f.name + ".etcd"
	}
	if f.initialCluster == "" {
		var parts []string
		for _, u := range f.initialAdvertisePeerURLs {
			parts = append(parts, f.name+"="+u)
		}
		f.initialCluster = strings.Join(parts, ",")
	}
}

// etcdFeatureGates are etcd v3.7's server feature gates with their
// defaults. kvd acts on InitialCorruptCheck; the others name etcd's
// internals (defrag, txn buffers, lease checkpoints, request priority),
// are accepted so etcd's command lines start kvd, and change nothing.
var etcdFeatureGates = map[string]bool{
	"StopGRPCServiceOnDefrag": false, "InitialCorruptCheck": false, "CompactHashCheck": false,
	"TxnModeWriteWithSharedBuffer": true, "LeaseCheckpoint": false, "LeaseCheckpointPersist": false,
	"SetMemberLocalAddr": false, "FastLeaseKeepAlive": true, "PriorityRequest": false,
}

// parseFeatureGates reads etcd's --feature-gates: comma-separated
// Name=true|false, names as etcd spells them.
func parseFeatureGates(s string) (map[string]bool, error) {
	gates := maps.Clone(etcdFeatureGates)
	if strings.TrimSpace(s) == "" {
		return gates, nil
	}
	var errs []error
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if _, known := gates[k]; !known {
			errs = append(errs, fmt.Errorf("--feature-gates: unrecognized feature gate: %s", k))
			continue
		}
		on, err := strconv.ParseBool(v)
		if !ok || err != nil {
			errs = append(errs, fmt.Errorf("--feature-gates: invalid value of %s: %q, want true or false", k, v))
			continue
		}
		gates[k] = on
	}
	return gates, errors.Join(errs...)
}
