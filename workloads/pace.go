package workloads

import "time"

// pacer spreads a workload's operations over its whole window, so that
// faults — which the nemesis schedules from the first second to the
// settle — meet a cluster with client calls in flight. Left to its think
// time alone, a closed loop of clients spends OpsMax operations in the
// first seconds of a run, and every later fault hits an idle cluster that
// no client observes.
//
// Each pause aims at the rate that ends the remaining operations at End,
// given the time left; a pause is drawn uniformly around that gap, so
// calls still overlap. Per run the pacer draws whether clients burst: a
// client in a burst runs several operations back to back with only its
// think time between them, as real clients do after a reconnect or a
// batch job's start.
type pacer struct {
	env Env
	// sessions is how many clients run operations at once; thinkMax
	// bounds their own pauses.
	sessions int
	thinkMax time.Duration
	// burstChance is each operation's chance to start a burst;
	// burstOpsMax bounds a burst's length.
	burstChance float64
	burstOpsMax int
	burstLeft   []int
}

// burstChances are the per-run choices of burstiness: none, now and then,
// often.
var burstChances = []float64{0, 1.0 / 64, 1.0 / 16}

// newPacer paces sessions clients numbered from 0, whose own pauses are
// at most thinkMax.
func newPacer(env Env, sessions int, thinkMax time.Duration) *pacer {
	return &pacer{
		env: env, sessions: sessions, thinkMax: thinkMax,
		burstChance: burstChances[env.Rand.IntN(len(burstChances))],
		burstOpsMax: 4 + env.Rand.IntN(29),
		burstLeft:   make([]int, sessions),
	}
}

// pause is client's wait before its next operation, issued operations
// having been started over all clients and think being the client's own
// pause (the shortest it waits, and its pause in a burst).
func (p *pacer) pause(client, issued int, think time.Duration) time.Duration {
	if p.burstLeft[client] > 0 {
		p.burstLeft[client]--
		return think
	}
	if p.burstChance > 0 && p.env.Rand.Float64() < p.burstChance {
		p.burstLeft[client] = p.env.Rand.IntN(p.burstOpsMax)
		return think
	}
	opsLeft := int64(p.env.OpsMax - issued)
	left := p.env.End.Sub(p.env.Cluster.Now())
	if opsLeft <= 0 || left <= 0 {
		return think
	}
	// Each client runs one operation at a time: together they keep
	// opsLeft/left operations a second if each waits sessions·left/opsLeft.
	gap := time.Duration(int64(left) / opsLeft * int64(p.sessions))
	if gap <= p.thinkMax {
		return think // the cluster is the bottleneck, or OpsMax is ample
	}
	return time.Duration(p.env.Rand.Int64N(2*int64(gap) + 1))
}
