package main

import (
	"fmt"
	"strings"
)

// configsMarkdown says how each configuration that was asked for ran,
// with the sizes this run used; empty when none was.
func (r *VsReport) configsMarkdown() string {
	v := r.Options
	c := v.Configs
	if len(c.Names) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("Other configurations, each in the same alternation and rounds unless said:\n\n")
	for _, name := range Configs {
		if !c.has(name) {
			continue
		}
		switch name {
		case "latency":
			fmt.Fprintf(&b, "- latency: put and linearizable get with 1 connection and 1 request in flight, to the leader (as etcd's performance documentation measures it), %d ops per run; p50 is judged.\n", c.LatencyTotal)
		case "members5":
			fmt.Fprintf(&b, "- members5: put as the main loads run it (%d connections, %d in flight), on a second pair of 5-member clusters started after the %d-member ones were stopped.\n",
				v.Run.Clients, v.Run.Concurrency, v.Cluster.Members)
		case "clients1000":
			fmt.Fprintf(&b, "- clients1000: put and linearizable get with %d requests in flight over %d connections (etcd's documentation uses --conns=100 --clients=1000); any error misses the target.\n",
				clients1000InFlight, c.Clients1000Conns)
		case "values":
			fmt.Fprintf(&b, "- values: put of %d B and %d B values, %d and %d puts per run (--total, capped at %d bytes of values), keyspace at most %d and %d keys (%d MiB of live values), "+
				"history compacted before each run; any error misses the target.\n",
				valueSize4KiB, valueSize64KiB, valuesTotal(v.Run.Total, c.ValuesBytesPerRun, valueSize4KiB), valuesTotal(v.Run.Total, c.ValuesBytesPerRun, valueSize64KiB),
				c.ValuesBytesPerRun, min(v.Run.Keyspace, valuesLiveBytesMax/valueSize4KiB), min(v.Run.Keyspace, valuesLiveBytesMax/valueSize64KiB), valuesLiveBytesMax>>20)
		case "watchers":
			f := c.Fanout
			fmt.Fprintf(&b, "- watchers: %d watchers on one prefix over %d connections (one Watch call each, all created before the first put), then %d puts via the leader, one at a time, %v apart; "+
				"latency is from sending a put to a watcher receiving its event, over every (put, watcher) pair; an event missed, duplicated or out of revision order is an error and misses the target.\n",
				f.Watchers, f.Conns, f.Puts, f.PutInterval)
		case "restart":
			fmt.Fprintf(&b, "- restart: after the memory phase, a follower of each system's loaded cluster is stopped with SIGTERM and started again with the same flags and data dir, "+
				"timed from its start until a linearizable get on its own endpoint succeeds; %d rounds alternating the systems. "+
				"For it the loaded clusters stay up, so the first system's idles while the next one's memory is measured.\n", c.RestartRounds)
		}
	}
	b.WriteString("\n")
	return b.String()
}

// configChartRows are the configuration targets with a ratio, for the
// HTML chart: name, ratio and bound.
func (r *VsReport) configChartRows() (rows []string, spreads []Spread, bounds []bound) {
	ratios := r.Ratios()
	for _, ct := range configTargets {
		lr, ok := findRatio(ratios, ct.config, "", ct.load)
		if !ok {
			continue
		}
		if s, _, _ := ct.metric.of(lr); s.N > 0 {
			rows, spreads, bounds = append(rows, ct.name), append(spreads, s), append(bounds, ct.b)
		}
	}
	if s, _, _, _, _ := r.restartRatios(); s.N > 0 {
		rows, spreads, bounds = append(rows, "restart until it serves"), append(spreads, s), append(bounds, bound{targetRestartRatio, true})
	}
	return rows, spreads, bounds
}
