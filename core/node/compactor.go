package node

import (
	"errors"
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// AutoCompaction is etcd's auto compaction: the leader proposes compactions
// on its own, keeping either a span of time or a number of revisions. Only
// the leader proposes; every member samples, so a new leader knows the
// revisions of the span behind it. Time is the member's ticks, so the
// simulator runs it on virtual time.
type AutoCompaction struct {
	// Period keeps the revisions of the last Period (etcd's periodic
	// mode): every Period/10 (at most 6 minutes) the member samples its
	// revision; once Period has passed since the last compaction (then
	// every min(Period, 1 hour)) the leader compacts at the sample taken
	// Period ago. 0: not periodic.
	Period time.Duration
	// Revisions keeps the last Revisions revisions (etcd's revision mode):
	// every CheckInterval the leader compacts at the current revision minus
	// Revisions. 0: not by revisions.
	Revisions int64
	// CheckInterval is how often revision mode looks; default 5 minutes,
	// as etcd. Ignored in periodic mode.
	CheckInterval time.Duration
	// OnPropose, if set, hears every revision the leader proposes to
	// compact at (the simulator's watch checker must know them).
	OnPropose func(rev int64)
}

func (a AutoCompaction) validate() error {
	var errs []error
	if a.Period < 0 || a.Revisions < 0 || a.CheckInterval < 0 {
		errs = append(errs, fmt.Errorf("node: AutoCompaction %+v: negative", a))
	}
	if a.Period > 0 && a.Revisions > 0 {
		errs = append(errs, fmt.Errorf("node: AutoCompaction keeps a Period (%v) or Revisions (%d), not both", a.Period, a.Revisions))
	}
	return errors.Join(errs...)
}

const (
	autoCompactionCheckDefault = 5 * time.Minute
	// autoCompactionRetryDivisor: a period is sampled ten times, as etcd.
	autoCompactionRetryDivisor = 10
)

// compactor is the member's auto compaction state (AutoCompaction).
type compactor struct {
	cfg AutoCompaction
	// everyTicks is how often the compactor looks.
	everyTicks uint64
	// Periodic mode: samples of the revision, oldest first, one per look;
	// the first is the revision Period ago once the window is full.
	samples     []int64
	samplesMax  int
	baseTicks   uint64 // ticks since the last compaction before the next
	periodTicks uint64 // min(Period, 1 hour) in ticks
	lastTick    uint64 // tick of the last proposal
	// lastRev is the revision last proposed, so it is not proposed again.
	lastRev int64
}

func newCompactor(cfg AutoCompaction, tick time.Duration) *compactor {
	ticks := func(d time.Duration) uint64 { return max(1, uint64(d/tick)) }
	c := &compactor{cfg: cfg}
	switch {
	case cfg.Period > 0:
		span := min(cfg.Period, time.Hour)
		c.everyTicks = ticks(span / autoCompactionRetryDivisor)
		c.samplesMax = int(cfg.Period/(span/autoCompactionRetryDivisor)) + 1
		c.baseTicks = ticks(cfg.Period)
		c.periodTicks = ticks(span)
	case cfg.Revisions > 0:
		every := cfg.CheckInterval
		if every == 0 {
			every = autoCompactionCheckDefault
		}
		c.everyTicks = ticks(every)
	default:
		return nil
	}
	return c
}

// tick runs the compactor at the member's tick n.ticks.
func (n *Node) tickCompactor() {
	c := n.compactor
	if c == nil || n.ticks%c.everyTicks != 0 {
		return
	}
	rev := n.kv.Rev()
	var at int64
	switch {
	case c.cfg.Period > 0:
		c.samples = append(c.samples, rev)
		if len(c.samples) > c.samplesMax {
			c.samples = c.samples[1:]
		}
		if n.ticks-c.lastTick < c.baseTicks || c.samples[0] == c.lastRev {
			return
		}
		at = c.samples[0]
	default:
		at = rev - c.cfg.Revisions
	}
	if !n.isLeader || at <= n.kv.CompactRev() || at == c.lastRev {
		return
	}
	c.lastRev, c.lastTick = at, n.ticks
	if c.cfg.Period > 0 {
		c.baseTicks = c.periodTicks // after the first wait of a whole Period
	}
	if c.cfg.OnPropose != nil {
		c.cfg.OnPropose(at)
	}
	// Like a lease revoke, the leader's own request: its result goes to
	// nobody, and a failed one is tried again at the next look.
	n.Submit(&pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: at}})
}
