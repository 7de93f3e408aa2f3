package workloads

import "time"

// pacer spreads a workload's operations over its whole window, so that
// faults — which the nemesis schedules from the first second to the
// settle — meet a cluster with client calls in flight. Left to its think
// time alone, a closed loop of clients spends OpsMax operations in the
// first seconds of a run, and every later fault hits an idle cluster that
// no client observes.
//
// Two rules share the budget. The relay: a client whose call completes
// while no other call of the cluster is in flight becomes the relay and
// runs its calls back to back, so the cluster is never left idle while the
// budget lasts — at the cost of one call per call latency, which spreading
// alone would need several times over (random gaps overlap and leave
// holes). One client at most is the relay: it stays one while other
// calls (a workload's own protocol calls) are in flight, since those end
// without asking the pacer and would break a chain handed on by them.
// The spread: every other pause aims at the rate that ends the remaining
// operations at End, less the relay's rate, drawn uniformly around that
// gap so calls still overlap. The relay runs only while the budget's rate is above its
// own (one call per relayed call's latency), so a small --ops-max is
// spread, not spent in the first seconds.
//
// Per run the pacer draws whether clients burst: a client in a burst runs
// several operations back to back with only its think time between them,
// as real clients do after a reconnect or a batch job's start.
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
	// relayedAt is when the relay started each client's call (zero when
	// it did not); relayLatency averages those calls' latencies (zero
	// before the first), which gives the relay's rate.
	relayedAt    []time.Time
	relayLatency time.Duration
	// relay is the client that relays, or -1.
	relay int
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
		relayedAt:   make([]time.Time, sessions),
		relay:       -1,
	}
}

// pause is client's wait before its next operation, issued operations
// having been started over all clients and think being the client's own
// pause (the shortest it waits, and its pause in a burst). It is called
// once the client's previous call completed.
func (p *pacer) pause(client, issued int, think time.Duration) time.Duration {
	now := p.env.Cluster.Now()
	if at := p.relayedAt[client]; !at.IsZero() {
		p.relayedAt[client] = time.Time{}
		if p.relayLatency == 0 {
			p.relayLatency = now.Sub(at)
		} else {
			p.relayLatency += (now.Sub(at) - p.relayLatency) / relayLatencyWeight
		}
	}
	opsLeft := int64(p.env.OpsMax - issued)
	left := p.env.End.Sub(now)
	if opsLeft <= 0 || left <= 0 {
		p.relay = -1
		return think
	}
	// The relay's rate is 1/relayLatency; the budget's is opsLeft/left.
	// Both fit int64 in nanoseconds: opsLeft ≤ 1e6, latency ≤ a timeout.
	lat := int64(p.relayLatency)
	relayOn := lat == 0 || opsLeft*lat > int64(left)
	if !relayOn {
		p.relay = -1
	}
	if relayOn && (p.relay == client || p.relay < 0 && p.env.Cluster.CallsInFlight() == 0) {
		p.relay = client
		p.relayedAt[client] = now
		return 0
	}
	if p.burstLeft[client] > 0 {
		p.burstLeft[client]--
		return think
	}
	if p.burstChance > 0 && p.env.Rand.Float64() < p.burstChance {
		p.burstLeft[client] = p.env.Rand.IntN(p.burstOpsMax)
		return think
	}
	// Each client runs one operation at a time: together they keep rate
	// operations a second if each waits sessions/rate. With the relay on,
	// rate is what it leaves: opsLeft/left − 1/lat.
	gap := time.Duration(int64(left) / opsLeft * int64(p.sessions))
	if relayOn && lat > 0 {
		gap = min(left, time.Duration(float64(p.sessions)*(float64(left)*float64(lat))/float64(opsLeft*lat-int64(left))))
	}
	if gap <= p.thinkMax {
		return think // the cluster is the bottleneck, or OpsMax is ample
	}
	return time.Duration(p.env.Rand.Int64N(2*int64(gap) + 1))
}

// relayLatencyWeight is the weight of the running latency against one new
// sample: the average follows a fault's slow calls within tens of calls.
const relayLatencyWeight = 8
