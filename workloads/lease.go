package workloads

import (
	"errors"
	"fmt"
	"slices"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/kvdlabs/kvd/linearizability"
	"github.com/kvdlabs/kvd/nemesis"
	"github.com/kvdlabs/kvd/workloads/driver"
)

// LeaseOptions configures the lease (service discovery) workload.
type LeaseOptions struct {
	// TTLsSeconds are the TTLs a run draws from: each seed picks a few of
	// them and each session one of those. Short TTLs make a lease that
	// expires a second early, or a new leader that does not extend its
	// leases, stand out; long ones keep leases alive across elections.
	// Default 2, 3, 4, 5, 8, 10. etcd raises anything below its minimum
	// (2 s with the default node config), so none may be below 2.
	TTLsSeconds []int64
	// KeepAliveInterval is how often a steady session renews its lease
	// (never less often than three times a TTL); default 1 s.
	KeepAliveInterval time.Duration
	// LateLeadMin and LateLeadMax bound how long before expiry a late
	// session renews: it keeps alive only just before its lease would
	// expire, so an early expiry revokes it while it is still kept alive.
	// Defaults 250 ms and 800 ms; LateLeadMin must exceed the checker's
	// ClockStep so a correct leader never finds the lease due first.
	LateLeadMin, LateLeadMax time.Duration
	// DiscoverInterval is the longest a client waits between registry
	// reads once the pacer has no budget to spread; default 700 ms.
	DiscoverInterval time.Duration
	// AbandonOneIn: one session in this many stops its keepalives at a
	// random moment and lets its lease expire; default 3.
	AbandonOneIn int
	// TimeToLiveOneIn: after one keepalive in this many, a session asks
	// its lease's TimeToLive at a random moment before the next one;
	// default 2.
	TimeToLiveOneIn int
	// KeysPerSessionMax bounds the keys a session registers; default 2.
	KeysPerSessionMax int
	// SessionsMax bounds sessions over the whole run; default 200.
	SessionsMax int
	// Checker tunes the checker's timing judgements.
	Checker linearizability.LeaseOptions
	// Suspect, if set, adds windows (beyond the cluster's clock and pause
	// faults) where leader timing is not judged.
	Suspect func() []linearizability.Window
}

// EnsureDefaults fills zero fields with their documented defaults.
func (o *LeaseOptions) EnsureDefaults() {
	if len(o.TTLsSeconds) == 0 {
		o.TTLsSeconds = []int64{2, 3, 4, 5, 8, 10}
	}
	if o.KeepAliveInterval == 0 {
		o.KeepAliveInterval = time.Second
	}
	if o.LateLeadMin == 0 {
		o.LateLeadMin = 250 * time.Millisecond
	}
	if o.LateLeadMax == 0 {
		o.LateLeadMax = 800 * time.Millisecond
	}
	if o.DiscoverInterval == 0 {
		o.DiscoverInterval = 700 * time.Millisecond
	}
	if o.AbandonOneIn == 0 {
		o.AbandonOneIn = 3
	}
	if o.TimeToLiveOneIn == 0 {
		o.TimeToLiveOneIn = 2
	}
	if o.KeysPerSessionMax == 0 {
		o.KeysPerSessionMax = 2
	}
	if o.SessionsMax == 0 {
		o.SessionsMax = 200
	}
	o.Checker.EnsureDefaults()
}

// Validate reports every problem at once.
func (o *LeaseOptions) Validate() error {
	var errs []error
	for _, ttl := range o.TTLsSeconds {
		if ttl < 2 {
			errs = append(errs, fmt.Errorf("lease workload: TTL %ds in TTLsSeconds %v is below etcd's minimum 2", ttl, o.TTLsSeconds))
		}
	}
	if len(o.TTLsSeconds) == 0 {
		errs = append(errs, errors.New("lease workload: TTLsSeconds is empty"))
	}
	ttlMin := time.Duration(slices.Min(append([]int64{2}, o.TTLsSeconds...))) * time.Second
	if o.KeepAliveInterval <= 0 || o.KeepAliveInterval >= ttlMin-o.Checker.Margin {
		errs = append(errs, fmt.Errorf("lease workload: KeepAliveInterval %v must be positive and below the shortest TTL %v minus the checker's margin %v", o.KeepAliveInterval, ttlMin, o.Checker.Margin))
	}
	if o.LateLeadMin <= o.Checker.ClockStep || o.LateLeadMax < o.LateLeadMin || o.LateLeadMax >= ttlMin/2 {
		errs = append(errs, fmt.Errorf("lease workload: LateLeadMin %v and LateLeadMax %v must satisfy checker ClockStep %v < min <= max < half the shortest TTL %v", o.LateLeadMin, o.LateLeadMax, o.Checker.ClockStep, ttlMin))
	}
	if o.DiscoverInterval <= 0 {
		errs = append(errs, fmt.Errorf("lease workload: DiscoverInterval %v must be positive", o.DiscoverInterval))
	}
	if o.AbandonOneIn < 1 || o.TimeToLiveOneIn < 1 {
		errs = append(errs, fmt.Errorf("lease workload: AbandonOneIn %d and TimeToLiveOneIn %d must be at least 1", o.AbandonOneIn, o.TimeToLiveOneIn))
	}
	if o.KeysPerSessionMax < 1 || o.SessionsMax < 1 {
		errs = append(errs, fmt.Errorf("lease workload: KeysPerSessionMax %d and SessionsMax %d must be positive", o.KeysPerSessionMax, o.SessionsMax))
	}
	return errors.Join(append(errs, o.Checker.Validate())...)
}

// servicesPrefix is where sessions register.
var servicesPrefix = []byte("/services/")

// serviceNames are the services sessions register under.
var serviceNames = []string{"api", "db", "cache"}

// Lease is the service-discovery workload (the seed's pattern): sessions
// grant a lease, register /services/<name>/<id> under it, keep it alive,
// discover by prefix and watch the prefix; some sessions stop their
// keepalives on purpose so their leases must expire. Sessions ask their
// lease's TimeToLive now and then. Each seed draws the TTLs its sessions
// use and how many sessions renew only just before expiry, so lease
// timing is judged over many shapes, not one.
type Lease struct {
	opts LeaseOptions
	env  Env
	hist linearizability.LeaseHistory

	// readPace paces the registry reads.
	readPace *pacer
	// ttlsSeconds are the TTLs this seed's sessions draw from.
	ttlsSeconds []int64
	// lateInFour: a session renews late with probability lateInFour/4.
	lateInFour int

	ops       int
	sessions  int
	finishing bool
	watches   []*resumingWatch
	collector *historyCollector
}

// NewLease returns the lease workload; it panics on invalid options (a
// programmer's mistake, not an input error).
func NewLease(opts LeaseOptions) *Lease {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	return &Lease{opts: opts}
}

// Name implements Workload.
func (l *Lease) Name() string { return "lease" }

// Ops implements Workload.
func (l *Lease) Ops() int { return l.ops }

// Start implements Workload.
func (l *Lease) Start(env Env) {
	l.env = env
	c := env.Cluster
	// Draw the seed's lease shapes first, from the workload's own stream,
	// so the rest of the run's draws follow them deterministically.
	pool := slices.Clone(l.opts.TTLsSeconds)
	env.Rand.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	l.ttlsSeconds = pool[:1+env.Rand.IntN(min(3, len(pool)))]
	l.lateInFour = 1 + env.Rand.IntN(3)
	progressTicker(c, func() bool { return l.collector != nil && l.collectorDone() })
	for i := range 2 {
		rw := newResumingWatch(c, fmt.Sprintf("services-%d", i), servicesPrefix, prefixEnd(servicesPrefix), false)
		rw.onResponse = func(r linearizability.WatchResponse) {
			if len(r.Events) > 0 {
				l.hist.Sightings = append(l.hist.Sightings, linearizability.LeaseSighting{At: r.At, Events: r.Events})
			}
		}
		rw.start(0)
		l.watches = append(l.watches, rw)
	}
	l.readPace = newPacer(env, max(env.Clients, 1), l.opts.DiscoverInterval)
	for i := range max(env.Clients, 1) {
		cl := c.NewSession(driver.SessionOptions{})
		l.discover(cl, i, l.opts.DiscoverInterval)
		c.After(time.Duration(i)*100*time.Millisecond, func() { l.session(cl, i) })
	}
}

func (l *Lease) running() bool {
	return !l.finishing && l.ops < l.env.OpsMax && l.env.Cluster.Now().Before(l.env.End)
}

func (l *Lease) after(d time.Duration, fn func()) { l.env.Cluster.After(d, fn) }

// session runs one registration after another on client cl.
func (l *Lease) session(cl driver.Session, client int) {
	if !l.running() || l.sessions >= l.opts.SessionsMax {
		return
	}
	l.sessions++
	id := l.sessions
	ttlSeconds := l.ttlsSeconds[l.env.Rand.IntN(len(l.ttlsSeconds))]
	late := l.env.Rand.IntN(4) < l.lateInFour
	lateLead := l.opts.LateLeadMin + l.randDuration(l.opts.LateLeadMax-l.opts.LateLeadMin+1)
	abandon := l.env.Rand.IntN(l.opts.AbandonOneIn) == 0
	// An abandoned session keeps alive for a while, then goes quiet.
	lifetime := time.Duration(2+l.env.Rand.IntN(8)) * time.Second
	next := func() {
		l.after(time.Duration(l.env.Rand.IntN(500))*time.Millisecond, func() { l.session(cl, client) })
	}
	l.ops++
	cl.Do(&pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: ttlSeconds}}, func(call driver.Call) {
		resp, ok := call.Response.(*pb.LeaseGrantResponse)
		if call.Err != nil || call.TimedOut || !ok {
			next()
			return
		}
		lease := resp.ID
		ttl := time.Duration(resp.TTL) * time.Second
		l.hist.Grants = append(l.hist.Grants, linearizability.LeaseGrant{
			Lease: lease, TTL: ttl, Invoke: call.Invoke, Return: call.Return,
		})
		// A steady session renews well inside the TTL; a late one only
		// just before the lease would expire, so a lease that expires
		// early is revoked while still kept alive.
		interval := min(l.opts.KeepAliveInterval, ttl/3)
		if late {
			interval = ttl - lateLead
		}
		svc := serviceNames[l.env.Rand.IntN(len(serviceNames))]
		keys := 1 + l.env.Rand.IntN(l.opts.KeysPerSessionMax)
		for k := range keys {
			key := fmt.Sprintf("%s%s/s%d-c%d-k%d", servicesPrefix, svc, id, client, k)
			l.ops++
			cl.Do(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(key), Value: []byte(fmt.Sprintf("addr-%d-%d", id, k)), Lease: lease}}, nil)
		}
		until := l.env.Cluster.Now().Add(lifetime)
		var keep func()
		keep = func() {
			now := l.env.Cluster.Now()
			if l.finishing || (abandon && now.After(until)) || !now.Before(l.env.End) {
				if !l.finishing {
					// Watch the abandoned lease run out: one question
					// somewhere in its last TTL and the time after it.
					l.after(l.randDuration(ttl+2*time.Second), func() { l.timeToLive(cl, lease) })
					next()
				}
				return
			}
			l.ops++
			cl.KeepAlive(lease, func(call driver.Call) {
				resp, ok := call.Response.(*pb.LeaseKeepAliveResponse)
				good := call.Err == nil && !call.TimedOut && ok && resp.TTL > 0
				ka := linearizability.LeaseKeepAlive{Lease: lease, Invoke: call.Invoke, Return: call.Return, OK: good, TimedOut: call.TimedOut}
				if good {
					ka.Term = resp.GetHeader().GetRaftTerm()
				}
				l.hist.KeepAlives = append(l.hist.KeepAlives, ka)
				if call.Err == rpctypes.ErrGRPCLeaseNotFound {
					next() // the lease is gone; register anew
					return
				}
				if l.env.Rand.IntN(l.opts.TimeToLiveOneIn) == 0 {
					l.after(l.randDuration(interval), func() { l.timeToLive(cl, lease) })
				}
				l.after(interval, keep)
			})
		}
		l.after(interval, keep)
	})
}

// randDuration draws a duration in [0, d) from the workload's stream.
func (l *Lease) randDuration(d time.Duration) time.Duration {
	return time.Duration(l.env.Rand.Int64N(int64(d)))
}

// timeToLive asks lease's remaining TTL through cl and records a definite
// answer: a remaining TTL, or "not found" (etcd's TTL -1, which both
// drivers turn into rpctypes.ErrGRPCLeaseNotFound). Other failures say
// nothing about the lease.
func (l *Lease) timeToLive(cl driver.Session, lease int64) {
	if !l.running() {
		return
	}
	l.ops++
	cl.TimeToLive(lease, func(call driver.Call) {
		q := linearizability.LeaseTimeToLive{Lease: lease, Invoke: call.Invoke, Return: call.Return}
		resp, ok := call.Response.(*pb.LeaseTimeToLiveResponse)
		switch {
		case call.TimedOut:
			return
		case call.Err == rpctypes.ErrGRPCLeaseNotFound:
			q.NotFound = true
		case call.Err == nil && ok:
			q.TTLSeconds, q.GrantedTTLSeconds, q.Term = resp.TTL, resp.GrantedTTL, resp.GetHeader().GetRaftTerm()
		default:
			return
		}
		l.hist.TimeToLives = append(l.hist.TimeToLives, q)
	})
}

// discover reads the registry (linearizable reads) after wait, and again
// as the pacer says: the reads take the budget the registrations leave,
// so the registry is read across the whole fault window, not only every
// DiscoverInterval.
func (l *Lease) discover(cl driver.Session, client int, wait time.Duration) {
	l.after(wait, func() {
		if !l.running() {
			return
		}
		l.ops++
		cl.Do(&pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: servicesPrefix, RangeEnd: prefixEnd(servicesPrefix)}}, func(call driver.Call) {
			if resp, ok := call.Response.(*pb.RangeResponse); ok && call.Err == nil && !call.TimedOut {
				l.hist.Reads = append(l.hist.Reads, linearizability.LeaseRead{
					Return: call.Return, Revision: resp.GetHeader().GetRevision(), Kvs: resp.Kvs, Prefix: servicesPrefix,
				})
			}
			l.discover(cl, client, l.readPace.pause(client, l.ops, l.opts.DiscoverInterval))
		})
	})
}

// finishDelay is how long after Finish the member histories are read: every
// lease's TTL plus the lateness the checker allows plus slack for a leader
// election, so every abandoned lease must be gone by then.
func (l *Lease) finishDelay() time.Duration {
	return time.Duration(slices.Max(l.opts.TTLsSeconds))*time.Second + l.opts.Checker.ExpiryLatenessMax + 3*time.Second
}

// FinishDuration is how much virtual time Finish's operations need.
func (l *Lease) FinishDuration() time.Duration { return l.finishDelay() + 10*time.Second }

// Finish implements Workload: every session stops keeping alive, and once
// every lease had time to expire each member's history is read.
func (l *Lease) Finish() {
	l.finishing = true
	l.hist.Suspect = nil
	l.after(l.finishDelay(), func() {
		for _, rw := range l.watches {
			rw.stop()
		}
		l.hist.CollectedAt = l.env.Cluster.Now()
		l.collector = collectHistories(l.env.Cluster, servicesPrefix, prefixEnd(servicesPrefix))
	})
}

func (l *Lease) collectorDone() bool {
	for i, rw := range l.collector.watches {
		if rw.lastSeen < l.collector.targets[i] {
			return false
		}
	}
	return true
}

// Check implements Workload.
func (l *Lease) Check(timeout time.Duration) []linearizability.Verdict {
	h := l.hist
	if l.collector != nil {
		h.Members = l.collector.histories()
	}
	h.Suspect = suspectWindows(l.env.Cluster)
	if l.opts.Suspect != nil {
		h.Suspect = append(h.Suspect, l.opts.Suspect()...)
	}
	return []linearizability.Verdict{linearizability.CheckLease(h, l.opts.Checker)}
}

// suspectWindows are the cluster's faults under which a correct leader may
// misjudge lease time: its clock drifted (ticks, and with them lease time,
// ran fast or slow), or it was paused and may answer keepalives after being
// deposed. Clock jumps and skews are not suspect: they step the wall clock,
// and leases are timed on a monotonic one (in kvd, ticks), so a lease
// revoked early or late across a step is a bug to report.
func suspectWindows(c driver.Cluster) []linearizability.Window {
	epoch := c.Epoch()
	var ws []linearizability.Window
	for _, f := range c.FaultWindows() {
		if f.Kind == string(nemesis.ClockDrift) || f.Kind == string(nemesis.Pause) {
			ws = append(ws, linearizability.Window{From: epoch.Add(f.From), To: epoch.Add(f.To)})
		}
	}
	return ws
}
