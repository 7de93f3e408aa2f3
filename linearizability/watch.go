package linearizability

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// WatchHistory is everything the watch checker judges: what was committed
// (as far as the writers know it) and what every watcher was told.
type WatchHistory struct {
	// Writes are the writers' acknowledged writes, each with the events it
	// committed at its revision (full key-values: create and mod revision,
	// version, lease). Indeterminate writes are left out; their revisions
	// are learnt from what the watchers agree on.
	Writes []WatchWrite
	// Compactions are the revisions compaction was requested at, acked or
	// indeterminate; a compacted response must name one of them.
	Compactions []int64
	// CompactionsRequestedAt is, for each of Compactions, when it was
	// requested (zero: unknown, taken as before every response). etcd
	// reads an event's prev_kv when it sends the event, at the revision
	// before it, and leaves prev_kv out when that revision is compacted
	// by then ("If the previous KV is already compacted, nothing will be
	// returned"): a response may lack prev_kv for an event at revision R
	// once a compaction at R or later was requested before it arrived.
	CompactionsRequestedAt []time.Time
	// Watchers are the watchers, each with every attempt (creation) it made.
	Watchers []Watcher
	// Lists are paginated reads of the watched keys (an informer's list
	// before its watch): each that succeeded must be exactly the committed
	// state at the revision it reports.
	Lists []WatchList
}

// WatchList is one completed list: a range read page by page, every page
// pinned to the first one's revision (etcd's RangeStream).
type WatchList struct {
	// Key and RangeEnd are the listed range.
	Key, RangeEnd []byte
	// Member answered the list; Invoked and Returned bound it.
	Member            uint64
	Invoked, Returned time.Time
	// Response is the pages merged; nil when the list failed (Err).
	Response *pb.RangeResponse
	Err      string
}

// WatchWrite is one acknowledged write and the events it committed.
type WatchWrite struct {
	Revision int64
	Events   []*mvccpb.Event
}

// Watcher is one logical watcher: a key range followed across failures,
// each failure answered by a new attempt that resumes from the last
// revision seen plus one.
type Watcher struct {
	// Name identifies the watcher in a Detail.
	Name string
	// Key and RangeEnd are the watched range, as in WatchCreateRequest.
	Key, RangeEnd []byte
	// PrevKV: the watcher asked for prev_kv.
	PrevKV bool
	// NoPut and NoDelete are the watcher's filters (etcd's NOPUT and
	// NODELETE): it must get exactly the events of its range of the
	// other kind.
	NoPut, NoDelete bool
	Attempts        []WatchAttempt
}

// WatchAttempt is one watch creation and the responses it received, in
// arrival order.
type WatchAttempt struct {
	Member uint64
	// StartRevision is the requested start revision; 0 means "from now".
	StartRevision int64
	// WatchID is the attempt's watch id on its stream, once known.
	WatchID int64
	// CancelRequested: the client asked to cancel the attempt's watcher.
	// Its acknowledgement is a Canceled response naming WatchID, after
	// which nothing more may come for WatchID.
	CancelRequested bool
	Responses       []WatchResponse
}

// WatchResponse is one response a watcher received.
type WatchResponse struct {
	At time.Time
	// Revision is the response header's revision.
	Revision int64
	Events   []*mvccpb.Event
	// Progress marks an empty response that promises every event up to
	// Revision has been delivered.
	Progress bool
	// CompactRevision is set on a compacted response (the watcher is then
	// canceled).
	CompactRevision int64
	// WatchID is the watch id the response named (-1: the stream's).
	WatchID int64
	// Canceled marks a cancel response that is not a compacted one: the
	// acknowledgement of a cancel the client asked for, or a refused
	// creation.
	Canceled bool
}

// CheckWatch judges a watch history: per watcher, events arrive in revision
// order, without duplicates or gaps against the committed history, each
// equal to the committed event (prev_kv included when asked); a resumed
// attempt starts right after the last revision seen, so it replays exactly
// what was missed; a progress notification at revision P comes only after
// every event up to P; a compacted response only when the start revision
// really was compacted. A filtered watcher is owed exactly its range's
// events of the kinds it did not filter out. A cancel the client asked for
// is acknowledged by a Canceled response naming the attempt's watch id,
// and nothing for that id follows it; every other watcher stays owed all
// its events. An event's prev_kv is present only when asked for, and is
// then exactly the key's version just before the event's revision in the
// committed history (absent when the key did not exist). A list that
// succeeded is exactly the committed state at its revision.
//
// The committed history is the writers' acknowledged writes completed by
// the events watchers saw: every revision seen by two sources must agree.
// A revision nobody acknowledged and nobody saw cannot be judged — which is
// why a hub dropping an event for every watcher is still caught: the
// writer's acknowledgement names the revision.
func CheckWatch(h WatchHistory) Verdict {
	start := time.Now()
	v := Verdict{Checker: "watch", Outcome: OK}
	c := watchChecker{known: map[int64][]*mvccpb.Event{}, fromWrite: map[int64]bool{}}
	err := c.check(h)
	for _, w := range h.Watchers {
		for _, a := range w.Attempts {
			v.Operations += len(a.Responses)
		}
	}
	v.Operations += len(h.Writes)
	if err != nil {
		v.Outcome = Violation
		v.Detail = err.Error()
	}
	v.CheckDuration = time.Since(start)
	return v
}

type watchChecker struct {
	// known maps a revision to its committed events, sorted by key.
	known map[int64][]*mvccpb.Event
	// fromWrite marks revisions known from an acknowledged write.
	fromWrite   map[int64]bool
	compactions []int64
	// compactedBy are the compactions requested, with when.
	compactedBy []requestedCompaction
}

func (c *watchChecker) check(h WatchHistory) error {
	c.compactions = slices.Clone(h.Compactions)
	slices.Sort(c.compactions)
	for i, rev := range h.Compactions {
		rc := requestedCompaction{rev: rev}
		if i < len(h.CompactionsRequestedAt) {
			rc.at = h.CompactionsRequestedAt[i]
		}
		c.compactedBy = append(c.compactedBy, rc)
	}
	for _, w := range h.Writes {
		for _, e := range w.Events {
			if e.GetKv().GetModRevision() != w.Revision {
				return fmt.Errorf("write at revision %d carries an event of revision %d (key %q): workload bug", w.Revision, e.GetKv().GetModRevision(), e.GetKv().GetKey())
			}
		}
		if prev, ok := c.known[w.Revision]; ok && !sameEvents(prev, w.Events) {
			return fmt.Errorf("two acknowledged writes claim revision %d: %s and %s", w.Revision, describeEvents(prev), describeEvents(w.Events))
		}
		c.known[w.Revision] = sortedEvents(w.Events)
		c.fromWrite[w.Revision] = true
	}
	// Fill revisions no acknowledgement names from what watchers saw, and
	// hold every watcher's event against the acknowledged ones.
	seen := map[int64]map[string]*mvccpb.Event{}
	for _, w := range h.Watchers {
		for ai, a := range w.Attempts {
			for _, r := range a.Responses {
				for _, e := range r.Events {
					rev := e.GetKv().GetModRevision()
					if c.fromWrite[rev] {
						if !containsEvent(c.known[rev], e) {
							return fmt.Errorf("watcher %s attempt %d (member %d): event %s differs from the committed write at revision %d: %s",
								w.Name, ai, a.Member, describeEvent(e), rev, describeEvents(c.known[rev]))
						}
						continue
					}
					byKey := seen[rev]
					if byKey == nil {
						byKey = map[string]*mvccpb.Event{}
						seen[rev] = byKey
					}
					k := string(e.GetKv().GetKey())
					if prev, ok := byKey[k]; ok && !sameEvent(prev, e) {
						return fmt.Errorf("watchers disagree at revision %d on key %q: %s vs %s (watcher %s)", rev, k, describeEvent(prev), describeEvent(e), w.Name)
					}
					byKey[k] = e
				}
			}
		}
	}
	for rev, byKey := range seen {
		evs := make([]*mvccpb.Event, 0, len(byKey))
		for _, e := range byKey {
			evs = append(evs, e)
		}
		c.known[rev] = sortedEvents(evs)
	}
	for _, w := range h.Watchers {
		if err := c.checkWatcher(w); err != nil {
			return err
		}
	}
	for i, l := range h.Lists {
		if err := c.checkList(i, l); err != nil {
			return err
		}
	}
	return nil
}

// checkList holds a list that succeeded against the committed state at its
// revision: the same keys, each with the value, revisions and version the
// history gives it. A list whose revision lies past a revision nobody
// acknowledged or saw cannot be judged and is skipped.
func (c *watchChecker) checkList(i int, l WatchList) error {
	if l.Response == nil {
		return nil // failed: a list may fail (compacted, timed out, no leader)
	}
	at := fmt.Sprintf("list %d (member %d, %s–%s)", i, l.Member, l.Invoked.Format("15:04:05.000"), l.Returned.Format("15:04:05.000"))
	if l.Response.Header == nil {
		return fmt.Errorf("%s ended without the page that carries its header and count (%d keys received): the client cannot tell a partial list from the whole", at, len(l.Response.Kvs))
	}
	rev := l.Response.Header.Revision
	state := map[string]*mvccpb.KeyValue{}
	for r := int64(2); r <= rev; r++ {
		evs, ok := c.known[r]
		if !ok {
			return nil // a revision nobody acknowledged or saw: cannot judge
		}
		for _, e := range evs {
			if !inRange(e.GetKv().GetKey(), l.Key, l.RangeEnd) {
				continue
			}
			if e.Type == mvccpb.DELETE {
				delete(state, string(e.Kv.Key))
			} else {
				state[string(e.Kv.Key)] = e.Kv
			}
		}
	}
	got := map[string]*mvccpb.KeyValue{}
	for _, kv := range l.Response.Kvs {
		got[string(kv.Key)] = kv
	}
	for _, k := range slices.Sorted(maps.Keys(state)) {
		want, g := state[k], got[k]
		switch {
		case g == nil:
			return fmt.Errorf("%s at revision %d lacks key %q, which holds %q (mod revision %d) there in the committed history", at, rev, k, want.Value, want.ModRevision)
		case !bytes.Equal(g.Value, want.Value) || g.ModRevision != want.ModRevision || g.CreateRevision != want.CreateRevision || g.Version != want.Version:
			return fmt.Errorf("%s at revision %d has %q = %q (create %d, mod %d, version %d); the committed history has %q (create %d, mod %d, version %d)",
				at, rev, k, g.Value, g.CreateRevision, g.ModRevision, g.Version, want.Value, want.CreateRevision, want.ModRevision, want.Version)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if state[k] == nil {
			return fmt.Errorf("%s at revision %d has key %q, which does not exist there in the committed history", at, rev, k)
		}
	}
	if l.Response.Count != int64(len(state)) {
		return fmt.Errorf("%s at revision %d counts %d keys; the committed history has %d", at, rev, l.Response.Count, len(state))
	}
	return nil
}

// checkWatcher walks one watcher's attempts in order.
func (c *watchChecker) checkWatcher(w Watcher) error {
	// lastSeen is the highest revision the watcher has been promised
	// (events or progress) over all attempts so far.
	var lastSeen int64
	resumable := false
	for ai, a := range w.Attempts {
		where := fmt.Sprintf("watcher %s attempt %d (member %d, start %d)", w.Name, ai, a.Member, a.StartRevision)
		if ai > 0 && resumable && a.StartRevision != lastSeen+1 {
			return fmt.Errorf("%s: resumed at revision %d, want last seen %d + 1: the resume would not replay exactly what was missed", where, a.StartRevision, lastSeen)
		}
		// next is the first revision whose events the attempt still owes;
		// 0 until the attempt's first response fixes it (start "from now").
		next := a.StartRevision
		// canceledAt is the index of the response that acknowledged the
		// cancel the client asked for; -1 before it.
		canceledAt := -1
		for ri, r := range a.Responses {
			at := fmt.Sprintf("%s response %d at revision %d", where, ri, r.Revision)
			if canceledAt >= 0 && (len(r.Events) > 0 || r.Progress || r.CompactRevision != 0) {
				return fmt.Errorf("%s: %s for watch id %d after response %d acknowledged its cancel: a canceled watcher is still being fed", at, describeResponse(r), r.WatchID, canceledAt)
			}
			if r.Canceled && a.CancelRequested && canceledAt < 0 {
				if r.WatchID != a.WatchID {
					return fmt.Errorf("%s: the cancel of watch id %d was acknowledged naming watch id %d", at, a.WatchID, r.WatchID)
				}
				canceledAt = ri
				continue
			}
			if r.CompactRevision != 0 {
				if err := c.checkCompacted(next, r, at); err != nil {
					return err
				}
				lastSeen = r.CompactRevision
				resumable = true
				continue
			}
			if len(r.Events) > 0 {
				first := r.Events[0].GetKv().GetModRevision()
				if next == 0 {
					next = first
				}
				for _, e := range r.Events {
					rev := e.GetKv().GetModRevision()
					if rev < next {
						return fmt.Errorf("%s: event %s at revision %d after the watcher was owed revision %d onward: duplicate or out of order", at, describeEvent(e), rev, next)
					}
				}
				last := r.Events[len(r.Events)-1].GetKv().GetModRevision()
				want := c.expected(w, next, last)
				if err := c.sameStream(w, want, r.Events, r.At, at); err != nil {
					return err
				}
				next = last + 1
				lastSeen = max(lastSeen, last)
			}
			if r.Progress {
				if next == 0 {
					next = r.Revision + 1
					lastSeen = max(lastSeen, r.Revision)
					continue
				}
				if r.Revision < next-1 {
					// etcd never promises less than it delivered; a
					// smaller progress revision is harmless but odd.
					continue
				}
				if want := c.expected(w, next, r.Revision); len(want) > 0 {
					return fmt.Errorf("%s: progress notification promises revision %d but %s was never delivered: the notification ran ahead", at, r.Revision, describeEvent(want[0]))
				}
				next = r.Revision + 1
				lastSeen = max(lastSeen, r.Revision)
			}
		}
		if next > 0 {
			// An attempt that started at next but heard nothing still
			// owed from next: resuming there misses nothing.
			lastSeen = max(lastSeen, next-1)
			resumable = true
		}
	}
	return nil
}

// checkCompacted judges a compacted response. next is the first revision
// the attempt still owes (0: a watch from now that has heard nothing yet).
// Not only a start revision can be compacted: a member that restores a
// snapshot whose compaction passed what a live watcher was owed cancels it
// as compacted, as etcd's watchableStore.Restore and syncWatchers do. What
// is never right is a compacted response after the watcher was given
// everything up to the compaction revision.
func (c *watchChecker) checkCompacted(next int64, r WatchResponse, at string) error {
	if len(c.compactions) == 0 || r.CompactRevision > c.compactions[len(c.compactions)-1] {
		return fmt.Errorf("%s: compacted response names revision %d, above every requested compaction %v", at, r.CompactRevision, c.compactions)
	}
	if next >= r.CompactRevision {
		return fmt.Errorf("%s: compacted response (compact revision %d) though the watcher was owed only revision %d onward, which etcd still serves", at, r.CompactRevision, next)
	}
	return nil
}

// expected lists the committed events in [from, to] the watcher must see:
// those of its range that its filters let through.
func (c *watchChecker) expected(w Watcher, from, to int64) []*mvccpb.Event {
	var out []*mvccpb.Event
	for rev := from; rev <= to; rev++ {
		for _, e := range c.known[rev] {
			if inRange(e.GetKv().GetKey(), w.Key, w.RangeEnd) && !filtered(w, e) {
				out = append(out, e)
			}
		}
	}
	return out
}

// filtered reports whether w's filters drop e.
func filtered(w Watcher, e *mvccpb.Event) bool {
	switch e.GetType() {
	case mvccpb.PUT:
		return w.NoPut
	case mvccpb.DELETE:
		return w.NoDelete
	}
	return false
}

// filterNames names w's filters for a Detail.
func filterNames(w Watcher) string {
	switch {
	case w.NoPut && w.NoDelete:
		return "NOPUT and NODELETE"
	case w.NoPut:
		return "NOPUT"
	case w.NoDelete:
		return "NODELETE"
	}
	return "no filter"
}

// sameStream compares what was delivered with what was committed, event by
// event, and prev_kv where the watcher asked for it.
func (c *watchChecker) sameStream(w Watcher, want, got []*mvccpb.Event, arrived time.Time, at string) error {
	got = sortedWithinRevision(got)
	for _, e := range got {
		if filtered(w, e) {
			return fmt.Errorf("%s: delivered %s to a watcher with %s, which filters that kind out", at, describeEvent(e), filterNames(w))
		}
		if !w.PrevKV && e.GetPrevKv() != nil {
			return fmt.Errorf("%s: %s carries prev_kv %q@%d, which the watcher did not ask for", at, describeEvent(e), e.GetPrevKv().GetValue(), e.GetPrevKv().GetModRevision())
		}
	}
	keptRevs := c.compactionRevisions(want)
	for i := range max(len(want), len(got)) {
		switch {
		case i >= len(got):
			return fmt.Errorf("%s: gap: committed %s was never delivered", at, describeEvent(want[i]))
		case i >= len(want):
			return fmt.Errorf("%s: delivered %s, which no committed write explains", at, describeEvent(got[i]))
		case !sameEvent(want[i], got[i]):
			if want[i].GetKv().GetModRevision() < got[i].GetKv().GetModRevision() ||
				(want[i].GetKv().GetModRevision() == got[i].GetKv().GetModRevision() && bytes.Compare(want[i].GetKv().GetKey(), got[i].GetKv().GetKey()) < 0) {
				return fmt.Errorf("%s: gap: committed %s was skipped (next delivered %s)", at, describeEvent(want[i]), describeEvent(got[i]))
			}
			return fmt.Errorf("%s: delivered %s, committed %s", at, describeEvent(got[i]), describeEvent(want[i]))
		}
		rev := got[i].GetKv().GetModRevision()
		if w.PrevKV && !(got[i].GetPrevKv() == nil && (keptRevs[rev] || c.compactedBefore(rev, arrived))) {
			if err := c.checkPrevKV(got[i], at); err != nil {
				return err
			}
		}
	}
	return nil
}

// requestedCompaction is a compaction's revision and when it was asked.
type requestedCompaction struct {
	rev int64
	at  time.Time
}

// compactedBefore reports whether a compaction at rev or later was
// requested before arrived: the revision before rev may then have been
// compacted when a member read an event's prev_kv to send it.
func (c *watchChecker) compactedBefore(rev int64, arrived time.Time) bool {
	for _, rc := range c.compactedBy {
		if rc.rev >= rev && (rc.at.IsZero() || rc.at.Before(arrived)) {
			return true
		}
	}
	return false
}

// compactionRevisions reports, of the revisions want covers, those a
// compaction was requested at: a watcher that reads one of them after its
// compaction gets each key's change there without prev_kv (the older
// versions are gone), as etcd serves it.
func (c *watchChecker) compactionRevisions(want []*mvccpb.Event) map[int64]bool {
	var kept map[int64]bool
	for _, e := range want {
		rev := e.GetKv().GetModRevision()
		if _, compacted := slices.BinarySearch(c.compactions, rev); compacted {
			if kept == nil {
				kept = map[int64]bool{}
			}
			kept[rev] = true
		}
	}
	return kept
}

// checkPrevKV holds an event's prev_kv against the committed history: it
// must be the key's version just before the event's revision — the latest
// committed put on the key before it, or absent when the key did not exist
// then (never written, or deleted since). Revisions nobody knows (a write
// whose writer timed out and that no watcher saw, another workload's)
// leave room: the key may have changed there, so a prev_kv may name such a
// revision, and a missing prev_kv after a known put is accepted when an
// unknown revision lies between (it may be a delete of the key: kvsim
// --workload watch seed 6269). What is never right: a prev_kv of another
// key or at or above the event's own revision, one older than a known
// later change of the key, one naming a known revision that did not write
// it, and a missing one when the known history says the key existed.
func (c *watchChecker) checkPrevKV(e *mvccpb.Event, at string) error {
	key := e.GetKv().GetKey()
	rev := e.GetKv().GetModRevision()
	prev := e.GetPrevKv()
	if prev != nil {
		if !bytes.Equal(prev.GetKey(), key) {
			return fmt.Errorf("%s: %s carries prev_kv of key %q", at, describeEvent(e), prev.GetKey())
		}
		if prev.GetModRevision() >= rev {
			return fmt.Errorf("%s: %s carries prev_kv %q@%d, not before the event's own revision %d: that is not the key's previous version", at, describeEvent(e), prev.GetValue(), prev.GetModRevision(), rev)
		}
	}
	// last is the latest known change of the key before rev;
	// unknownBetween: a revision after it and before rev is unknown.
	var last *mvccpb.Event
	unknownBetween := false
	for r := rev - 1; r >= 1 && last == nil; r-- {
		evs, ok := c.known[r]
		if !ok {
			unknownBetween = true
			continue
		}
		for _, k := range evs {
			if bytes.Equal(k.GetKv().GetKey(), key) {
				last = k
				break
			}
		}
	}
	if prev == nil {
		if last == nil || last.GetType() == mvccpb.DELETE || unknownBetween {
			return nil
		}
		return fmt.Errorf("%s: %s lacks prev_kv; the key was put at revision %d and not changed since", at, describeEvent(e), last.GetKv().GetModRevision())
	}
	p := prev.GetModRevision()
	if last != nil {
		lastRev := last.GetKv().GetModRevision()
		switch {
		case p < lastRev:
			return fmt.Errorf("%s: %s carries prev_kv of revision %d, older than the key's committed %s", at, describeEvent(e), p, describeEvent(last))
		case p == lastRev && last.GetType() == mvccpb.DELETE:
			return fmt.Errorf("%s: %s carries prev_kv of revision %d, but the key was deleted at revision %d", at, describeEvent(e), p, lastRev)
		case p == lastRev && !proto.Equal(prev, last.GetKv()):
			return fmt.Errorf("%s: %s carries prev_kv %s, committed %s", at, describeEvent(e), describeKV(prev), describeKV(last.GetKv()))
		case p == lastRev:
			return nil
		}
	}
	// prev_kv names a revision after every known change of the key: only
	// an unknown revision can have written it.
	if evs, ok := c.known[p]; ok {
		return fmt.Errorf("%s: %s carries prev_kv %s, but revision %d committed %s, not that key", at, describeEvent(e), describeKV(prev), p, describeEvents(evs))
	}
	return nil
}

// inRange reports whether key is in the watch range [k, end) as etcd reads
// it: end empty means the single key k, end "\x00" means every key >= k.
func inRange(key, k, end []byte) bool {
	switch {
	case len(end) == 0:
		return bytes.Equal(key, k)
	case len(end) == 1 && end[0] == 0:
		return bytes.Compare(key, k) >= 0
	default:
		return bytes.Compare(key, k) >= 0 && bytes.Compare(key, end) < 0
	}
}

func sortedEvents(evs []*mvccpb.Event) []*mvccpb.Event {
	out := slices.Clone(evs)
	slices.SortStableFunc(out, func(a, b *mvccpb.Event) int { return bytes.Compare(a.GetKv().GetKey(), b.GetKv().GetKey()) })
	return out
}

// sortedWithinRevision orders events by (revision, key): etcd fixes no key
// order inside one revision, only the revision order.
func sortedWithinRevision(evs []*mvccpb.Event) []*mvccpb.Event {
	out := slices.Clone(evs)
	slices.SortStableFunc(out, func(a, b *mvccpb.Event) int {
		if ra, rb := a.GetKv().GetModRevision(), b.GetKv().GetModRevision(); ra != rb {
			if ra < rb {
				return -1
			}
			return 1
		}
		return bytes.Compare(a.GetKv().GetKey(), b.GetKv().GetKey())
	})
	return out
}

// sameEvent compares type and key-value, not prev_kv (judged apart).
func sameEvent(a, b *mvccpb.Event) bool {
	return a.GetType() == b.GetType() && proto.Equal(a.GetKv(), b.GetKv())
}

func sameEvents(a, b []*mvccpb.Event) bool {
	a, b = sortedEvents(a), sortedEvents(b)
	return slices.EqualFunc(a, b, sameEvent)
}

func containsEvent(evs []*mvccpb.Event, e *mvccpb.Event) bool {
	return slices.ContainsFunc(evs, func(k *mvccpb.Event) bool { return sameEvent(k, e) })
}

func describeEvent(e *mvccpb.Event) string {
	kv := e.GetKv()
	if e.GetType() == mvccpb.DELETE {
		return fmt.Sprintf("DELETE %q@%d", kv.GetKey(), kv.GetModRevision())
	}
	return fmt.Sprintf("PUT %q=%q@%d (create %d, version %d, lease %d)", kv.GetKey(), kv.GetValue(), kv.GetModRevision(), kv.GetCreateRevision(), kv.GetVersion(), kv.GetLease())
}

func describeKV(kv *mvccpb.KeyValue) string {
	return fmt.Sprintf("%q=%q@%d (create %d, version %d, lease %d)", kv.GetKey(), kv.GetValue(), kv.GetModRevision(), kv.GetCreateRevision(), kv.GetVersion(), kv.GetLease())
}

// describeResponse names what a response carried.
func describeResponse(r WatchResponse) string {
	switch {
	case len(r.Events) > 0:
		return fmt.Sprintf("events %s", describeEvents(r.Events))
	case r.Progress:
		return fmt.Sprintf("a progress notification at revision %d", r.Revision)
	case r.CompactRevision != 0:
		return fmt.Sprintf("a compacted response (compact revision %d)", r.CompactRevision)
	}
	return "an empty response"
}

func describeEvents(evs []*mvccpb.Event) string {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, e := range evs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(describeEvent(e))
	}
	b.WriteByte(']')
	return b.String()
}
