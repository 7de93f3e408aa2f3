package main

import (
	"slices"
	"time"

	"github.com/kvdlabs/kvd/reports"
	"github.com/kvdlabs/kvd/sim"
	"github.com/kvdlabs/kvd/workloads/driver"
)

// metrics measures a simulated run for kvsim compare: leadership from
// the cluster's record of leader changes, I/O from its counters,
// availability and latency from the client calls. end is the run's end.
func metrics(c *sim.Cluster, calls []driver.Call, faults []reports.FaultWindow, epoch, end time.Time) *reports.Metrics {
	m := &reports.Metrics{}
	changes, dropped := c.LeaderChanges()
	// Changes beyond what the cluster keeps are counted, not timed: as
	// leader changes (some may be losses of the leader), so a run that
	// churned that much reads as churning.
	m.LeaderChanges = dropped
	var first bool
	var firstTerm, maxTerm uint64
	var lostAt time.Time
	for _, ch := range changes {
		switch {
		case ch.Leader == 0:
			if first && lostAt.IsZero() {
				lostAt = ch.At
			}
			continue
		case !first:
			first, firstTerm, maxTerm = true, ch.Term, ch.Term
			continue
		}
		m.LeaderChanges++
		terms := int(ch.Term) - int(maxTerm)
		maxTerm = max(maxTerm, ch.Term)
		if !lostAt.IsZero() {
			m.Leaderless += reports.Duration(ch.At.Sub(lostAt))
			lostAt = time.Time{}
		}
		at := reports.Duration(ch.At.Sub(epoch))
		for _, f := range faults {
			if f.From <= at && at <= f.To+reports.Duration(reports.FaultAftermath) {
				if m.LeaderChangesByFault == nil {
					m.LeaderChangesByFault, m.TermsByFault = map[string]int{}, map[string]int{}
				}
				m.LeaderChangesByFault[f.Kind]++
				m.TermsByFault[f.Kind] += max(terms, 0)
			}
		}
	}
	if !lostAt.IsZero() && end.After(lostAt) {
		m.Leaderless += reports.Duration(end.Sub(lostAt))
	}
	m.Terms = maxTerm - firstTerm
	m.LeadersOverlap = reports.Duration(c.LeadersOverlap())

	var latencies []time.Duration
	var writes []time.Time // OK writes' returns
	for _, call := range calls {
		if call.TimedOut || call.Err != nil {
			continue
		}
		latencies = append(latencies, call.Return.Sub(call.Invoke))
		if r := call.Req; r != nil && (r.Put != nil || r.DeleteRange != nil || r.Txn != nil) {
			writes = append(writes, call.Return)
		}
	}
	if len(latencies) > 0 {
		slices.Sort(latencies)
		m.LatencyP50 = reports.Duration(latencies[len(latencies)/2])
		m.LatencyP99 = reports.Duration(latencies[min(len(latencies)-1, len(latencies)*99/100)])
	}
	if span := end.Sub(epoch); span > 0 {
		m.OpsPerSecond = float64(len(latencies)) / span.Seconds()
	}
	slices.SortFunc(writes, func(a, b time.Time) int { return a.Compare(b) })
	var recoveries []time.Duration
	for _, f := range faults {
		if f.To <= f.From {
			continue // instantaneous: nothing heals
		}
		healed := epoch.Add(time.Duration(f.To))
		if !activeAt(calls, healed) {
			continue // the workload was done: no write to wait for
		}
		next := end
		if i, _ := slices.BinarySearchFunc(writes, healed, func(a, b time.Time) int { return a.Compare(b) }); i < len(writes) {
			next = writes[i]
		}
		recoveries = append(recoveries, max(0, next.Sub(healed)))
	}
	if len(recoveries) > 0 {
		slices.Sort(recoveries)
		m.HealToWriteP50 = reports.Duration(recoveries[len(recoveries)/2])
		m.HealToWriteMax = reports.Duration(recoveries[len(recoveries)-1])
	}
	io := c.IOStats()
	m.Messages, m.MessageBytes, m.DiskSyncs = io.Messages, io.MessageBytes, io.DiskSyncs
	return m
}

// activeAt reports whether the workload had a call in flight at t, or
// made one within a second after: a heal then has a write to wait for.
func activeAt(calls []driver.Call, t time.Time) bool {
	for _, c := range calls {
		if !c.Invoke.After(t.Add(time.Second)) && !c.Return.Before(t) {
			return true
		}
	}
	return false
}
