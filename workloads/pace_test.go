package workloads

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/kvdlabs/kvd/sim"
	"github.com/kvdlabs/kvd/workloads/driver"
)

// clockCluster is a driver.Cluster whose time and calls in flight the test
// sets; the pacer asks nothing else.
type clockCluster struct {
	driver.Cluster
	now      time.Time
	inFlight int
}

func (c *clockCluster) Now() time.Time     { return c.now }
func (c *clockCluster) CallsInFlight() int { return c.inFlight }

// clockPacer paces 4 clients over a 50 s window holding opsMax operations,
// without bursts, on a cluster whose clock the test moves.
func clockPacer(opsMax int, seed uint64) (*clockCluster, *pacer) {
	epoch := time.Unix(0, 0)
	c := &clockCluster{now: epoch}
	env := Env{Cluster: c, Rand: rand.New(rand.NewPCG(seed, seed)), OpsMax: opsMax, End: epoch.Add(50 * time.Second)}
	p := newPacer(env, 4, 10*time.Millisecond)
	p.burstChance = 0
	return c, p
}

func TestPacerRelaysOneClientAndSpreadsTheRest(t *testing.T) {
	c, p := clockPacer(10_000, 1)

	// Idle cluster: the first client to finish becomes the relay.
	if d := p.pause(0, 0, 5*time.Millisecond); d != 0 {
		t.Fatalf("idle cluster, ample budget: pause %v, want 0 (relay)", d)
	}
	// Its call takes 8 ms; meanwhile another client's call is in flight.
	// The relay goes on regardless: that call ends without asking.
	c.now, c.inFlight = c.now.Add(8*time.Millisecond), 1
	if d := p.pause(0, 1, 5*time.Millisecond); d != 0 {
		t.Fatalf("relay with another call in flight: pause %v, want 0", d)
	}
	if p.relayLatency != 8*time.Millisecond {
		t.Fatalf("relay latency %v, want the relayed call's 8ms", p.relayLatency)
	}
	// Another client, even on an idle cluster, is spread: the relay's
	// 125 calls a second leave 200−125 = 75 for 4 clients, a gap of
	// about 53 ms, drawn in [0, 2·gap].
	c.inFlight = 0
	var gaps []time.Duration
	for range 200 {
		gaps = append(gaps, p.pause(1, 2, 5*time.Millisecond))
	}
	slices.Sort(gaps)
	if median := gaps[len(gaps)/2]; median < 35*time.Millisecond || median > 75*time.Millisecond {
		t.Fatalf("spread client: median pause %v, want about 53ms", median)
	}
	if gaps[len(gaps)-1] > 110*time.Millisecond {
		t.Fatalf("spread client: pause %v beyond twice the gap", gaps[len(gaps)-1])
	}
}

func TestPacerLeavesTheRelayWhenTheBudgetCannotPayIt(t *testing.T) {
	c, p := clockPacer(1000, 3)
	if d := p.pause(2, 0, 5*time.Millisecond); d != 0 {
		t.Fatalf("first pause %v, want 0: no latency measured yet", d)
	}
	// 20 calls a second left, a relay would take 125: no relay, every
	// client spread at 4 / 20 per second = 200 ms.
	c.now = c.now.Add(8 * time.Millisecond)
	d := p.pause(2, 1, 5*time.Millisecond)
	if d == 0 || p.relay != -1 {
		t.Fatalf("budget of 20/s against a relay of 125/s: pause %v, relay %d; want a spread pause and no relay", d, p.relay)
	}
	if d > 400*time.Millisecond {
		t.Fatalf("pause %v beyond twice the 200ms gap", d)
	}
}

// TestPacedRegisterKeepsCallsInFlight runs the register workload on a
// simulated cluster and measures what the pacer is for: the share of its
// window with some call in flight.
func TestPacedRegisterKeepsCallsInFlight(t *testing.T) {
	restore := sim.InstallCryptoRand(7)
	defer restore()
	w := sim.New(7, sim.Options{Network: sim.NetworkOptions{Link: sim.LinkOptions{LatencyBase: time.Millisecond, LatencyJitter: 2 * time.Millisecond}}})
	c := sim.NewCluster(w, sim.ClusterOptions{})
	var calls [][2]time.Time
	c.Observe(func(call sim.Call) { calls = append(calls, [2]time.Time{call.Invoke, call.Return}) })
	w.RunFor(2 * time.Second)
	start := w.Now()
	const window = 10 * time.Second
	env := Env{Cluster: c.Driver(), Rand: w.Rand("workload"), Clients: 4, OpsMax: 1500, End: start.Add(window)}
	wl := NewRegister(RegisterOptions{})
	wl.Start(env)
	w.RunUntil(env.End)
	busy := coveredDuration(calls, start, env.End)
	if share := busy.Seconds() / window.Seconds(); share < 0.95 {
		t.Fatalf("calls in flight during %.0f%% of the window (%d operations), want at least 95%%", 100*share, wl.Ops())
	}
	if wl.Ops() >= env.OpsMax {
		t.Fatalf("budget spent before the end: %d operations", wl.Ops())
	}
}

// coveredDuration is how much of [from, to] some interval in spans covers.
func coveredDuration(spans [][2]time.Time, from, to time.Time) time.Duration {
	slices.SortFunc(spans, func(a, b [2]time.Time) int { return a[0].Compare(b[0]) })
	var covered time.Duration
	at := from
	for _, s := range spans {
		lo, hi := s[0], s[1]
		if lo.Before(at) {
			lo = at
		}
		if hi.After(to) {
			hi = to
		}
		if hi.After(lo) {
			covered += hi.Sub(lo)
			at = hi
		}
	}
	return covered
}
