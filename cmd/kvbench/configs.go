package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Configs are the configurations of the targets that vs measures beside
// its main loads, as --configs names them:
//
//   - latency: put and linearizable get with 1 connection and 1 request in
//     flight, to the leader, on the 3-member clusters;
//   - members5: put as the main loads run it, on a second pair of clusters
//     of 5 members each, started after the 3-member phase;
//   - clients1000: put and linearizable get with 1,000 requests in flight
//     on the 3-member clusters;
//   - values: put of 4 KiB and of 64 KiB values on the 3-member clusters;
//   - watchers: 10,000 watchers on one prefix, put-to-delivery latency;
//   - restart: a follower of the memory phase's clusters stopped and
//     started again, timed until it serves.
var Configs = []string{"latency", "members5", "clients1000", "values", "watchers", "restart"}

// Sizes the targets name; the configurations run them as they are.
const (
	latencyInFlight     = 1
	members5Members     = 5
	clients1000InFlight = 1000
	valueSize4KiB       = 4 << 10
	valueSize64KiB      = 64 << 10
	// valuesLiveBytesMax bounds the live data of one values run: its
	// keyspace is cut to this over the value size (1,024 keys of 64 KiB),
	// so 64 KiB values do not make every member hold the main keyspace's
	// 10,000 keys × 64 KiB.
	valuesLiveBytesMax = 64 << 20
	// compactTimeout bounds compacting a cluster's history before a
	// values run (the first one drops every earlier load's history).
	compactTimeout = 2 * time.Minute
)

// configRun is one kind of run a configuration adds, tagged in results as
// name (Result.Config): the values configuration adds two.
type configRun struct {
	name, load string
}

// configRuns are the runs of each configuration that makes Results (the
// restart configuration makes RestartResults), in run order within it.
var configRuns = map[string][]configRun{
	"latency":     {{"latency", "put"}, {"latency", "get"}},
	"members5":    {{"members5", "put"}},
	"clients1000": {{"clients1000", "put"}, {"clients1000", "get"}},
	"values":      {{"values-4KiB", "put"}, {"values-64KiB", "put"}},
	"watchers":    {{"watchers", fanoutLoad}},
}

// ConfigOptions configures the configurations vs runs beside its main
// loads. Zero fields take the documented defaults (EnsureDefaults).
type ConfigOptions struct {
	// Names are the configurations to run, of Configs; empty runs none.
	// The --configs flag's default is all of them.
	Names []string
	// LatencyTotal is the measured operations of one run with 1 request in
	// flight; default 2,000 (a few seconds at 1–3 ms each; their p50, the
	// figure judged, is steady long before that). Run.Duration caps it too.
	LatencyTotal int
	// Clients1000Conns is how many gRPC connections the 1,000 requests in
	// flight share; default 100, as in etcd's own benchmark documentation
	// (--conns=100 --clients=1000): enough that no one HTTP/2 connection's
	// stream limit or flow control is what is measured, few enough to be
	// what a real fleet of clients behind a handful of hosts would open.
	Clients1000Conns int
	// ValuesBytesPerRun caps what one values run writes: it makes
	// min(Run.Total, ValuesBytesPerRun / value size) puts; default 256 MiB
	// (4,096 puts of 64 KiB).
	ValuesBytesPerRun int64
	// Fanout configures the watchers configuration.
	Fanout FanoutOptions
	// RestartRounds is how many times each system restarts a follower,
	// alternating; default 3.
	RestartRounds int
	// RestartTimeout bounds one restart, from starting the process until
	// it serves; past it the restart counts as failed; default 2 min.
	RestartTimeout time.Duration
}

// Limits that keep a mistyped flag from exhausting the machine.
const (
	fanoutWatchersMax    = 100_000
	fanoutPutsMax        = 10_000
	fanoutDeliveriesMax  = 10_000_000 // watchers × puts: 16 bytes of record each
	fanoutIntervalMax    = 10 * time.Second
	valuesBytesPerRunMax = 16 << 30
	restartRoundsMax     = 100
)

// EnsureDefaults fills every zero field but Names with its documented default.
func (c *ConfigOptions) EnsureDefaults() {
	if c.LatencyTotal == 0 {
		c.LatencyTotal = 2000
	}
	if c.Clients1000Conns == 0 {
		c.Clients1000Conns = 100
	}
	if c.ValuesBytesPerRun == 0 {
		c.ValuesBytesPerRun = 256 << 20
	}
	if c.Fanout.Watchers == 0 {
		c.Fanout.Watchers = 10_000
	}
	if c.Fanout.Conns == 0 {
		c.Fanout.Conns = 100
	}
	if c.Fanout.Puts == 0 {
		c.Fanout.Puts = 100
	}
	if c.Fanout.PutInterval == 0 {
		c.Fanout.PutInterval = 50 * time.Millisecond
	}
	if c.Fanout.DeliveryTimeout == 0 {
		c.Fanout.DeliveryTimeout = 30 * time.Second
	}
	if c.RestartRounds == 0 {
		c.RestartRounds = 3
	}
	if c.RestartTimeout == 0 {
		c.RestartTimeout = 2 * time.Minute
	}
}

// Validate reports every problem at once.
func (c *ConfigOptions) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, n := range c.Names {
		if !slices.Contains(Configs, n) {
			add("--configs: unknown configuration %q, want %s or none", n, strings.Join(Configs, ","))
		}
	}
	if c.LatencyTotal < 1 || c.LatencyTotal > totalMax {
		add("--latency-total %d: want 1..%d", c.LatencyTotal, totalMax)
	}
	if c.Clients1000Conns < 1 || c.Clients1000Conns > min(clientsMax, clients1000InFlight) {
		add("--clients1000-conns %d: want 1..%d (no more connections than the %d requests in flight)",
			c.Clients1000Conns, min(clientsMax, clients1000InFlight), clients1000InFlight)
	}
	if b := c.ValuesBytesPerRun; b < valueSize64KiB || b > valuesBytesPerRunMax {
		add("--values-bytes-per-run %d: want %d..%d (at least one 64 KiB put)", b, valueSize64KiB, int64(valuesBytesPerRunMax))
	}
	f := c.Fanout
	if f.Watchers < 1 || f.Watchers > fanoutWatchersMax {
		add("--fanout-watchers %d: want 1..%d", f.Watchers, fanoutWatchersMax)
	}
	if f.Conns < 1 || f.Conns > clientsMax {
		add("--fanout-conns %d: want 1..%d", f.Conns, clientsMax)
	} else if f.Conns > f.Watchers && f.Watchers > 0 {
		add("--fanout-conns %d: more connections than the %d watchers", f.Conns, f.Watchers)
	}
	if f.Puts < 1 || f.Puts > fanoutPutsMax {
		add("--fanout-puts %d: want 1..%d", f.Puts, fanoutPutsMax)
	} else if d := int64(f.Watchers) * int64(f.Puts); d > fanoutDeliveriesMax {
		add("--fanout-watchers %d × --fanout-puts %d: %d deliveries, want at most %d", f.Watchers, f.Puts, d, fanoutDeliveriesMax)
	}
	if f.PutInterval <= 0 || f.PutInterval > fanoutIntervalMax {
		add("--fanout-put-interval %v: want more than 0, at most %v", f.PutInterval, fanoutIntervalMax)
	}
	if f.DeliveryTimeout <= 0 {
		add("--fanout-timeout %v: must be positive", f.DeliveryTimeout)
	}
	if c.RestartRounds < 1 || c.RestartRounds > restartRoundsMax {
		add("--restart-rounds %d: want 1..%d", c.RestartRounds, restartRoundsMax)
	}
	if c.RestartTimeout <= 0 {
		add("--restart-timeout %v: must be positive", c.RestartTimeout)
	}
	return errors.Join(errs...)
}

// has reports whether configuration name is to run.
func (c *ConfigOptions) has(name string) bool { return slices.Contains(c.Names, name) }

// parseConfigs reads --configs: a comma-separated list, or none.
func parseConfigs(s string) []string {
	if strings.TrimSpace(s) == "none" {
		return nil
	}
	return splitList(s)
}

// configJobs are the runs of the selected configurations that use the
// 3-member clusters of the main loads, after them: latency, clients1000,
// values, watchers.
func configJobs(v *VsOptions, status io.Writer) []job {
	var jobs []job
	// runWith is a run of load on c with v.Run's options, adjusted.
	runWith := func(load string, adjust func(ctx context.Context, o *Options, c *cluster) error) func(context.Context, *cluster) (Result, error) {
		return func(ctx context.Context, c *cluster) (Result, error) {
			o := v.Run
			o.Load, o.Endpoints = load, c.endpoints()
			if err := adjust(ctx, &o, c); err != nil {
				return Result{}, err
			}
			return Run(ctx, o, status)
		}
	}
	if v.Configs.has("latency") {
		for _, cr := range configRuns["latency"] {
			jobs = append(jobs, job{config: cr.name, load: cr.load, run: runWith(cr.load, func(ctx context.Context, o *Options, c *cluster) error {
				// etcd's performance documentation measures one client
				// against the leader only: against a follower, a put takes
				// a forwarding hop and a read a ReadIndex round trip, and
				// which member leads differs between the two clusters.
				leader, err := c.leaderIndex(ctx)
				if err != nil {
					return err
				}
				o.Endpoints = []string{c.members[leader].clientURL}
				o.Clients, o.Concurrency, o.Total = latencyInFlight, latencyInFlight, v.Configs.LatencyTotal
				return nil
			})})
		}
	}
	if v.Configs.has("clients1000") {
		for _, cr := range configRuns["clients1000"] {
			jobs = append(jobs, job{config: cr.name, load: cr.load, run: runWith(cr.load, func(_ context.Context, o *Options, _ *cluster) error {
				o.Clients, o.Concurrency = v.Configs.Clients1000Conns, clients1000InFlight
				return nil
			})})
		}
	}
	if v.Configs.has("values") {
		for i, size := range []int{valueSize4KiB, valueSize64KiB} {
			cr := configRuns["values"][i]
			jobs = append(jobs, job{config: cr.name, load: cr.load,
				// Without compaction every run's values stay as history:
				// kvd keeps history in memory, and three rounds of two
				// sizes would hold gigabytes on every member.
				prepare: func(ctx context.Context, c *cluster) error {
					return compactToNow(ctx, c.endpoints(), v.Run.RequestTimeout)
				},
				run: runWith(cr.load, func(_ context.Context, o *Options, _ *cluster) error {
					o.ValueSizeBytes = size
					o.Total = valuesTotal(o.Total, v.Configs.ValuesBytesPerRun, size)
					o.Keyspace = min(o.Keyspace, valuesLiveBytesMax/size)
					return nil
				})})
		}
	}
	if v.Configs.has("watchers") {
		cr := configRuns["watchers"][0]
		jobs = append(jobs, job{config: cr.name, load: cr.load, run: func(ctx context.Context, c *cluster) (Result, error) {
			// Puts go to the leader for the same reason as the latency
			// configuration's: no forwarding hop in one system only.
			leader, err := c.leaderIndex(ctx)
			if err != nil {
				return Result{}, err
			}
			return runWatchFanout(ctx, c.endpoints(), c.members[leader].clientURL, &v.Configs.Fanout, &v.Run, status)
		}})
	}
	return jobs
}

// members5Jobs is the members5 configuration's run: put as the main loads
// run it (v.Run's connections and requests in flight), on 5-member clusters.
func members5Jobs(v *VsOptions, status io.Writer) []job {
	if !v.Configs.has("members5") {
		return nil
	}
	cr := configRuns["members5"][0]
	return []job{{config: cr.name, load: cr.load, run: func(ctx context.Context, c *cluster) (Result, error) {
		o := v.Run
		o.Load, o.Endpoints = cr.load, c.endpoints()
		return Run(ctx, o, status)
	}}}
}

// valuesTotal is a values run's puts: total, but at most bytesPerRun of
// values, and at least one.
func valuesTotal(total int, bytesPerRun int64, sizeBytes int) int {
	return int(max(1, min(int64(total), bytesPerRun/int64(sizeBytes))))
}

// compactToNow compacts the cluster's history up to its current revision
// and waits until the members have done so physically. A revision already
// compacted (nothing written since) is not an error.
func compactToNow(ctx context.Context, endpoints []string, requestTimeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, compactTimeout)
	defer cancel()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return fmt.Errorf("compact: dial %v: %w", endpoints, err)
	}
	defer cli.Close()
	gctx, gcancel := context.WithTimeout(ctx, requestTimeout)
	resp, err := cli.Get(gctx, "kvbench/ready")
	gcancel()
	if err != nil {
		return fmt.Errorf("compact: read the current revision from %v: %w", endpoints, err)
	}
	rev := resp.Header.GetRevision()
	if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		return fmt.Errorf("compact %v to revision %d: %w", endpoints, rev, err)
	}
	return nil
}
