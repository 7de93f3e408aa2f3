package workloads

import (
	"errors"
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/kvdlabs/kvd/linearizability"
	"github.com/kvdlabs/kvd/nemesis"
	"github.com/kvdlabs/kvd/workloads/driver"
)

// LeaseOptions configures the lease (service discovery) workload.
type LeaseOptions struct {
	// TTLSeconds is the TTL each session's lease asks for; default 5.
	// etcd raises anything below its minimum (2 s with the default node
	// config), and the checker's margin must stay below it.
	TTLSeconds int64
	// KeepAliveInterval is how often a session renews its lease; default 1 s.
	KeepAliveInterval time.Duration
	// DiscoverInterval is how often each client reads the registry; default 700 ms.
	DiscoverInterval time.Duration
	// AbandonOneIn: one session in this many stops its keepalives at a
	// random moment and lets its lease expire; default 3.
	AbandonOneIn int
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
	if o.TTLSeconds == 0 {
		o.TTLSeconds = 5
	}
	if o.KeepAliveInterval == 0 {
		o.KeepAliveInterval = time.Second
	}
	if o.DiscoverInterval == 0 {
		o.DiscoverInterval = 700 * time.Millisecond
	}
	if o.AbandonOneIn == 0 {
		o.AbandonOneIn = 3
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
	if o.TTLSeconds < 2 {
		errs = append(errs, fmt.Errorf("lease workload: TTLSeconds %d below etcd's minimum 2", o.TTLSeconds))
	}
	if o.KeepAliveInterval <= 0 || o.KeepAliveInterval >= time.Duration(o.TTLSeconds)*time.Second-o.Checker.Margin {
		errs = append(errs, fmt.Errorf("lease workload: KeepAliveInterval %v must be positive and below TTL %ds minus the checker's margin %v", o.KeepAliveInterval, o.TTLSeconds, o.Checker.Margin))
	}
	if o.DiscoverInterval <= 0 {
		errs = append(errs, fmt.Errorf("lease workload: DiscoverInterval %v must be positive", o.DiscoverInterval))
	}
	if o.AbandonOneIn < 1 {
		errs = append(errs, fmt.Errorf("lease workload: AbandonOneIn %d must be at least 1", o.AbandonOneIn))
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
// keepalives on purpose so their leases must expire.
type Lease struct {
	opts LeaseOptions
	env  Env
	hist linearizability.LeaseHistory

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
	for i := range max(env.Clients, 1) {
		cl := c.NewSession(driver.SessionOptions{})
		l.discover(cl)
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
	abandon := l.env.Rand.IntN(l.opts.AbandonOneIn) == 0
	// An abandoned session keeps alive for a while, then goes quiet.
	lifetime := time.Duration(2+l.env.Rand.IntN(8)) * time.Second
	next := func() {
		l.after(time.Duration(l.env.Rand.IntN(500))*time.Millisecond, func() { l.session(cl, client) })
	}
	l.ops++
	cl.Do(&pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: l.opts.TTLSeconds}}, func(call driver.Call) {
		resp, ok := call.Response.(*pb.LeaseGrantResponse)
		if call.Err != nil || call.TimedOut || !ok {
			next()
			return
		}
		lease := resp.ID
		l.hist.Grants = append(l.hist.Grants, linearizability.LeaseGrant{
			Lease: lease, TTL: time.Duration(resp.TTL) * time.Second, Invoke: call.Invoke, Return: call.Return,
		})
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
					next()
				}
				return
			}
			l.ops++
			cl.KeepAlive(lease, func(call driver.Call) {
				resp, ok := call.Response.(*pb.LeaseKeepAliveResponse)
				good := call.Err == nil && !call.TimedOut && ok && resp.TTL > 0
				l.hist.KeepAlives = append(l.hist.KeepAlives, linearizability.LeaseKeepAlive{Lease: lease, Invoke: call.Invoke, Return: call.Return, OK: good})
				if call.Err == rpctypes.ErrGRPCLeaseNotFound {
					next() // the lease is gone; register anew
					return
				}
				l.after(l.opts.KeepAliveInterval, keep)
			})
		}
		l.after(l.opts.KeepAliveInterval, keep)
	})
}

// discover reads the registry periodically (linearizable reads).
func (l *Lease) discover(cl driver.Session) {
	l.after(l.opts.DiscoverInterval, func() {
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
			l.discover(cl)
		})
	})
}

// finishDelay is how long after Finish the member histories are read: every
// lease's TTL plus the lateness the checker allows plus slack for a leader
// election, so every abandoned lease must be gone by then.
func (l *Lease) finishDelay() time.Duration {
	return time.Duration(l.opts.TTLSeconds)*time.Second + l.opts.Checker.ExpiryLatenessMax + 3*time.Second
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
