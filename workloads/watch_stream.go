package workloads

import (
	"slices"
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

// watchSession is one client session's watch streams, shared by the
// logical watchers opened on it, as clientv3 multiplexes a client's
// watchers over one stream per endpoint. A failure any of them notices
// (silence, a failed create, a compacted or unasked-for cancel) resumes
// them all: as clientv3 with a broken stream, the session moves to the
// next member (unless pinned) and opens a new stream, on which each live
// watcher is re-created from its last revision seen + 1.
type watchSession struct {
	cluster driver.Cluster
	client  driver.Session
	// pinned sessions stay on their member (history collection).
	pinned   bool
	watchers []*resumingWatch
	// explicitIDs: the session names its watchers' ids itself (etcd's
	// WatchCreateRequest.watch_id), from 1 up and never reused, so a
	// response finds its attempt by id alone — also one for a watcher
	// whose cancel was acknowledged, and across a member's restart, which
	// restarts a member's own numbering. Without it (a session of one
	// watcher) the member picks ids and only the live attempt listens.
	explicitIDs bool
	lastWatchID int64
	// routes maps a watch id on the current streams to the attempt that
	// created it; looked up, never iterated.
	routes     map[int64]watchRoute
	watchdogOn bool
}

// watchRoute names one attempt of one watcher.
type watchRoute struct {
	rw      *resumingWatch
	attempt int
}

func newWatchSession(c driver.Cluster, explicitIDs bool) *watchSession {
	ws := &watchSession{cluster: c, client: c.NewSession(driver.SessionOptions{}), explicitIDs: explicitIDs, routes: map[int64]watchRoute{}}
	ws.client.OnWatch(ws.receive)
	return ws
}

// add puts a logical watcher on the session; it opens on start.
func (ws *watchSession) add(w linearizability.Watcher) *resumingWatch {
	rw := &resumingWatch{cluster: ws.cluster, client: ws.client, session: ws, rec: &w, attempt: -1}
	ws.watchers = append(ws.watchers, rw)
	return rw
}

// receive hands a response to the attempt it names.
func (ws *watchSession) receive(member uint64, resp *pb.WatchResponse) {
	if !ws.explicitIDs {
		for _, rw := range ws.watchers {
			rw.receive(member, resp)
		}
		return
	}
	if resp.WatchId == -1 {
		// The stream's own: a progress response is every live watcher's;
		// a refused create's answer also completes its create call,
		// which acts on it.
		if len(resp.Events) == 0 && !resp.Canceled && !resp.Created {
			for _, rw := range ws.watchers {
				if !rw.idle {
					rw.receive(member, resp)
				}
			}
		}
		return
	}
	route, ok := ws.routes[resp.WatchId]
	switch {
	case !ok:
	case route.attempt == route.rw.attempt:
		route.rw.receive(member, resp)
	default:
		// A watcher canceled on this stream and re-created since: what
		// still comes for its old id is the checker's to judge.
		route.rw.late(route.attempt, member, resp)
	}
}

// resume moves every live watcher to a new stream, after the last
// revision each has seen.
func (ws *watchSession) resume() {
	if !slices.ContainsFunc(ws.watchers, func(rw *resumingWatch) bool { return !rw.stopped }) {
		return
	}
	if !ws.pinned {
		ids := ws.cluster.IDs()
		cur := ws.client.Target()
		for i, id := range ids {
			if id == cur {
				ws.client.SetTarget(ids[(i+1)%len(ids)])
				break
			}
		}
	}
	// A new stream, as clientv3 opens after a failure: whatever the old
	// one still carries is not this attempt's.
	ws.client.ReopenWatchStream()
	clear(ws.routes)
	for _, rw := range ws.watchers {
		// An idle watcher (canceled, to be re-created) opens on its own
		// timer, on whatever stream is current then.
		if rw.attempt >= 0 && !rw.stopped && !rw.idle {
			rw.open(rw.nextStart())
		}
	}
}

// watchdog resumes the session when a live watcher has heard nothing for
// watchSilenceMax, and sends again the cancels not yet acknowledged (the
// request may have been lost; a member that already canceled ignores it).
func (ws *watchSession) watchdog() {
	if ws.watchdogOn {
		return
	}
	ws.watchdogOn = true
	var tick func()
	tick = func() {
		if !slices.ContainsFunc(ws.watchers, func(rw *resumingWatch) bool { return !rw.stopped }) {
			ws.watchdogOn = false
			return
		}
		now := ws.cluster.Now()
		for _, rw := range ws.watchers {
			if rw.live() && now.Sub(rw.lastHeard) > watchSilenceMax {
				ws.resume()
				break
			}
		}
		for _, rw := range ws.watchers {
			if rw.live() && rw.cancelAsked {
				rw.sendCancel()
			}
		}
		ws.cluster.After(progressInterval, tick)
	}
	ws.cluster.After(progressInterval, tick)
}

// resumingWatch follows a key range across member failures, as clientv3's
// watcher does: when its stream goes silent it opens a new watcher on the
// next member, starting at the last revision seen + 1.
type resumingWatch struct {
	cluster driver.Cluster
	client  driver.Session
	session *watchSession
	rec     *linearizability.Watcher
	// fragment: the watcher takes large responses in fragments, which
	// the simulated client joins before the watcher sees them.
	fragment bool
	// onResponse sees every accepted response (after recording).
	onResponse func(r linearizability.WatchResponse)
	// onCanceled runs when a cancel the watcher asked for is acknowledged.
	onCanceled func()

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
	// cancelAsked: the live attempt's cancel was sent, not yet
	// acknowledged.
	cancelAsked bool
	// idle: the live attempt's cancel was acknowledged; the watcher waits
	// to be re-created (reopenAfter).
	idle bool
}

// newResumingWatch is a watcher on a session of its own.
func newResumingWatch(c driver.Cluster, name string, key, end []byte, prevKV bool) *resumingWatch {
	return newWatchSession(c, false).add(linearizability.Watcher{Name: name, Key: key, RangeEnd: end, PrevKV: prevKV})
}

// start opens the first attempt at startRev (0: from now).
func (rw *resumingWatch) start(startRev int64) {
	rw.open(startRev)
	rw.session.watchdog()
}

func (rw *resumingWatch) stop() { rw.stopped = true }

// live reports whether the watcher has an attempt it expects to hear from.
func (rw *resumingWatch) live() bool { return rw.attempt >= 0 && !rw.stopped && !rw.idle }

// nextStart is where a new attempt starts: right after the last revision
// seen, or where the first attempt did while nothing was seen.
func (rw *resumingWatch) nextStart() int64 {
	if rw.lastSeen == 0 && rw.compacted == 0 && len(rw.rec.Attempts) > 0 {
		return rw.rec.Attempts[0].StartRevision
	}
	return rw.lastSeen + 1
}

func (rw *resumingWatch) open(startRev int64) {
	if len(rw.rec.Attempts) >= watchAttemptsMax || rw.stopped {
		return
	}
	ws := rw.session
	w := rw.cluster
	member := rw.client.Target()
	var id int64 // 0: the member picks
	if ws.explicitIDs {
		ws.lastWatchID++
		id = ws.lastWatchID
	}
	rw.rec.Attempts = append(rw.rec.Attempts, linearizability.WatchAttempt{Member: member, StartRevision: startRev, WatchID: id})
	rw.attempt = len(rw.rec.Attempts) - 1
	rw.idKnown, rw.buffered, rw.lastHeard = false, nil, w.Now()
	rw.cancelAsked, rw.idle = false, false
	attempt := rw.attempt
	if ws.explicitIDs {
		ws.routes[id] = watchRoute{rw: rw, attempt: attempt}
	}
	var filters []pb.WatchCreateRequest_FilterType
	if rw.rec.NoPut {
		filters = append(filters, pb.WatchCreateRequest_NOPUT)
	}
	if rw.rec.NoDelete {
		filters = append(filters, pb.WatchCreateRequest_NODELETE)
	}
	rw.client.Watch(&pb.WatchCreateRequest{
		Key: rw.rec.Key, RangeEnd: rw.rec.RangeEnd, StartRevision: startRev,
		PrevKv: rw.rec.PrevKV, ProgressNotify: true, Fragment: rw.fragment,
		Filters: filters, WatchId: id,
	}, func(call driver.Call) {
		if attempt != rw.attempt {
			return
		}
		resp, _ := call.Response.(*pb.WatchResponse)
		if call.Err != nil || call.TimedOut || resp == nil || (ws.explicitIDs && resp.WatchId != id) {
			// An id other than the one asked for would leave its
			// responses unrouted: as good as a failed create.
			ws.resume()
			return
		}
		rw.watchID, rw.idKnown = resp.WatchId, true
		rw.rec.Attempts[attempt].WatchID = resp.WatchId
		buffered := rw.buffered
		rw.buffered = nil
		for _, b := range buffered {
			rw.accept(b)
		}
	})
}

// cancel asks the member to cancel the live attempt's watcher; false when
// there is none to cancel (not created yet, canceling already, idle).
func (rw *resumingWatch) cancel() bool {
	if !rw.live() || rw.cancelAsked || !rw.idKnown {
		return false
	}
	rw.rec.Attempts[rw.attempt].CancelRequested = true
	rw.cancelAsked = true
	rw.sendCancel()
	return true
}

func (rw *resumingWatch) sendCancel() {
	rw.client.CancelWatch(rw.rec.Attempts[rw.attempt].Member, rw.watchID)
}

// reopenAfter re-creates an idle (canceled) watcher after d, from the next
// revision it needs, on the session's stream of the time.
func (rw *resumingWatch) reopenAfter(d time.Duration) {
	attempt := rw.attempt
	rw.cluster.After(d, func() {
		if rw.idle && rw.attempt == attempt && !rw.stopped {
			rw.open(rw.nextStart())
		}
	})
}

func (rw *resumingWatch) receive(member uint64, resp *pb.WatchResponse) {
	if rw.stopped || rw.attempt < 0 || member != rw.rec.Attempts[rw.attempt].Member {
		return
	}
	if rw.idle {
		rw.late(rw.attempt, member, resp)
		return
	}
	if !rw.idKnown {
		rw.buffered = append(rw.buffered, resp)
		return
	}
	rw.accept(resp)
}

// late records a response for an attempt whose cancel was acknowledged.
// Nothing more should come for its id; whatever does is kept for the
// checker, and changes nothing the watcher has seen.
func (rw *resumingWatch) late(attempt int, member uint64, resp *pb.WatchResponse) {
	a := &rw.rec.Attempts[attempt]
	if rw.stopped || member != a.Member || resp.WatchId != a.WatchID {
		return
	}
	a.Responses = append(a.Responses, rw.response(resp))
}

// response is what the checker keeps of resp.
func (rw *resumingWatch) response(resp *pb.WatchResponse) linearizability.WatchResponse {
	r := linearizability.WatchResponse{At: rw.cluster.Now(), Revision: resp.GetHeader().GetRevision(), Events: resp.Events,
		WatchID: resp.WatchId, CompactRevision: resp.CompactRevision}
	switch {
	case resp.CompactRevision != 0:
	case resp.Canceled:
		r.Canceled = true
	case len(resp.Events) == 0:
		r.Progress = true
	}
	return r
}

func (rw *resumingWatch) accept(resp *pb.WatchResponse) {
	progressOfStream := resp.WatchId == -1
	if resp.WatchId != rw.watchID && !progressOfStream {
		return // an earlier attempt's watcher still alive on this member
	}
	if resp.Created && len(resp.Events) == 0 && !resp.Canceled {
		return
	}
	rw.lastHeard = rw.cluster.Now()
	r := rw.response(resp)
	switch {
	case r.CompactRevision != 0:
		rw.compacted = r.CompactRevision
		rw.lastSeen = max(rw.lastSeen, r.CompactRevision)
	case r.Canceled:
		rw.record(r)
		if rw.cancelAsked && resp.WatchId == rw.watchID {
			rw.cancelAsked, rw.idle = false, true
			if rw.onCanceled != nil {
				rw.onCanceled()
			}
			return
		}
		rw.session.resume()
		return
	case r.Progress:
		rw.lastSeen = max(rw.lastSeen, r.Revision)
	default:
		rw.lastSeen = max(rw.lastSeen, resp.Events[len(resp.Events)-1].GetKv().GetModRevision())
	}
	rw.record(r)
	if r.CompactRevision != 0 {
		rw.session.resume()
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
		rw.session.pinned = true
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
