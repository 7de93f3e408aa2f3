package workloads

import (
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/linearizability"
	"github.com/kvdlabs/kvd/workloads/driver"
)

const (
	// watchSilenceMax is how long a watcher hears nothing (not even a
	// progress notification, sent every progressIntervalTicks) before it
	// takes its member for dead and resumes elsewhere: a simulated stream
	// has no TCP reset to tell it.
	watchSilenceMax = 3 * time.Second
	// progressInterval is the period of the server-side progress ticker
	// the workloads run on every member (etcd's is 10 min; a short one
	// keeps silent-failure detection quick).
	progressInterval = time.Second
	// watchAttemptsMax bounds a watcher's resumes.
	watchAttemptsMax = 1000
)

// resumingWatch follows a key range across member failures, as clientv3's
// watcher does: when its stream goes silent it opens a new watcher on the
// next member, starting at the last revision seen + 1.
type resumingWatch struct {
	cluster driver.Cluster
	client  driver.Session
	rec     *linearizability.Watcher
	// pinned watchers stay on their member (history collection).
	pinned bool
	// fragment: the watcher takes large responses in fragments, which
	// the simulated client joins before the watcher sees them.
	fragment bool
	// onResponse sees every accepted response (after recording).
	onResponse func(r linearizability.WatchResponse)

	lastSeen  int64
	attempt   int // index into rec.Attempts of the live attempt, -1 before the first
	watchID   int64
	idKnown   bool
	buffered  []*pb.WatchResponse
	lastHeard time.Time
	stopped   bool
	// compacted: the server canceled the watcher as compacted; resume
	// after the compaction revision.
	compacted int64
}

func newResumingWatch(c driver.Cluster, name string, key, end []byte, prevKV bool) *resumingWatch {
	rw := &resumingWatch{
		cluster: c,
		client:  c.NewSession(driver.SessionOptions{}),
		rec:     &linearizability.Watcher{Name: name, Key: key, RangeEnd: end, PrevKV: prevKV},
		attempt: -1,
	}
	rw.client.OnWatch(rw.receive)
	return rw
}

// start opens the first attempt at startRev (0: from now).
func (rw *resumingWatch) start(startRev int64) {
	rw.open(startRev)
	rw.watchdog()
}

func (rw *resumingWatch) stop() { rw.stopped = true }

func (rw *resumingWatch) open(startRev int64) {
	if len(rw.rec.Attempts) >= watchAttemptsMax || rw.stopped {
		return
	}
	w := rw.cluster
	member := rw.client.Target()
	rw.rec.Attempts = append(rw.rec.Attempts, linearizability.WatchAttempt{Member: member, StartRevision: startRev})
	rw.attempt = len(rw.rec.Attempts) - 1
	rw.idKnown, rw.buffered, rw.lastHeard = false, nil, w.Now()
	attempt := rw.attempt
	rw.client.Watch(&pb.WatchCreateRequest{
		Key: rw.rec.Key, RangeEnd: rw.rec.RangeEnd, StartRevision: startRev,
		PrevKv: rw.rec.PrevKV, ProgressNotify: true, Fragment: rw.fragment,
	}, func(call driver.Call) {
		if attempt != rw.attempt {
			return
		}
		resp, _ := call.Response.(*pb.WatchResponse)
		if call.Err != nil || call.TimedOut || resp == nil {
			rw.resume()
			return
		}
		rw.watchID, rw.idKnown = resp.WatchId, true
		buffered := rw.buffered
		rw.buffered = nil
		for _, b := range buffered {
			rw.accept(b)
		}
	})
}

// resume opens a new attempt after the last revision seen, on the next
// member unless pinned.
func (rw *resumingWatch) resume() {
	if rw.stopped {
		return
	}
	if !rw.pinned {
		ids := rw.cluster.IDs()
		cur := rw.client.Target()
		for i, id := range ids {
			if id == cur {
				rw.client.SetTarget(ids[(i+1)%len(ids)])
				break
			}
		}
	}
	// A new stream, as clientv3 opens after a failure: whatever the old
	// one still carries is not this attempt's.
	rw.client.ReopenWatchStream()
	next := rw.lastSeen + 1
	if rw.lastSeen == 0 && rw.compacted == 0 && len(rw.rec.Attempts) > 0 {
		next = rw.rec.Attempts[0].StartRevision
	}
	rw.open(next)
}

func (rw *resumingWatch) watchdog() {
	w := rw.cluster
	w.After(progressInterval, func() {
		if rw.stopped {
			return
		}
		if w.Now().Sub(rw.lastHeard) > watchSilenceMax {
			rw.resume()
		}
		rw.watchdog()
	})
}

func (rw *resumingWatch) receive(member uint64, resp *pb.WatchResponse) {
	if rw.stopped || rw.attempt < 0 || member != rw.rec.Attempts[rw.attempt].Member {
		return
	}
	if !rw.idKnown {
		rw.buffered = append(rw.buffered, resp)
		return
	}
	rw.accept(resp)
}

func (rw *resumingWatch) accept(resp *pb.WatchResponse) {
	progressOfStream := resp.WatchId == -1
	if resp.WatchId != rw.watchID && !progressOfStream {
		return // an earlier attempt's watcher still alive on this member
	}
	if resp.Created && len(resp.Events) == 0 && !resp.Canceled {
		return
	}
	w := rw.cluster
	rw.lastHeard = w.Now()
	r := linearizability.WatchResponse{At: w.Now(), Revision: resp.GetHeader().GetRevision(), Events: resp.Events}
	switch {
	case resp.CompactRevision != 0:
		r.CompactRevision = resp.CompactRevision
		rw.compacted = resp.CompactRevision
		rw.lastSeen = max(rw.lastSeen, resp.CompactRevision)
	case resp.Canceled:
		rw.record(r)
		rw.resume()
		return
	case len(resp.Events) == 0:
		r.Progress = true
		rw.lastSeen = max(rw.lastSeen, r.Revision)
	default:
		rw.lastSeen = max(rw.lastSeen, resp.Events[len(resp.Events)-1].GetKv().GetModRevision())
	}
	rw.record(r)
	if r.CompactRevision != 0 {
		rw.resume()
	}
}

func (rw *resumingWatch) record(r linearizability.WatchResponse) {
	a := &rw.rec.Attempts[rw.attempt]
	a.Responses = append(a.Responses, r)
	if rw.onResponse != nil {
		rw.onResponse(r)
	}
}

// progressTicker has every live member notify its watchers' progress once
// a progressInterval until stop returns true: the server-side ticker kvd
// runs on its own clock, which simulated members leave to their driver.
func progressTicker(c driver.Cluster, stop func() bool) {
	var tick func()
	tick = func() {
		if stop() {
			return
		}
		c.ProgressNotify()
		c.After(progressInterval, tick)
	}
	c.After(progressInterval, tick)
}

// historyCollector reads every member's history of a key range with a
// watch from revision 1 pinned to that member, complete once a progress
// notification reaches the revision the member had when collection began.
type historyCollector struct {
	watches []*resumingWatch
	targets []int64
	members []uint64
}

func collectHistories(c driver.Cluster, key, end []byte) *historyCollector {
	hc := &historyCollector{}
	for _, id := range c.Up() {
		rev, ok := c.Revision(id)
		if !ok {
			continue
		}
		rw := newResumingWatch(c, "history", key, end, false)
		rw.pinned = true
		rw.client.SetTarget(id)
		rw.start(1)
		hc.watches = append(hc.watches, rw)
		hc.targets = append(hc.targets, rev)
		hc.members = append(hc.members, id)
	}
	return hc
}

// histories returns the member histories complete so far and stops the
// collection watches.
func (hc *historyCollector) histories() []linearizability.MemberHistory {
	var out []linearizability.MemberHistory
	for i, rw := range hc.watches {
		rw.stop()
		if rw.lastSeen < hc.targets[i] {
			continue
		}
		mh := linearizability.MemberHistory{Member: hc.members[i], Revision: rw.lastSeen}
		for _, a := range rw.rec.Attempts {
			for _, r := range a.Responses {
				mh.Events = append(mh.Events, r.Events...)
			}
		}
		out = append(out, mh)
	}
	return out
}

// prefixEnd is etcd's clientv3.GetPrefixRangeEnd.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}
