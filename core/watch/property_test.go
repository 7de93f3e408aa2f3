package watch

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// propertyChecksMin is the number of rapid cases TestHubMatchesHistory runs
// unless -rapid.checks says otherwise.
const propertyChecksMin = 1000

func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.checks" })
	if !explicit {
		if err := flag.Set("rapid.checks", fmt.Sprint(propertyChecksMin)); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}

// kvStore is the part of *mvcc.Store the property test drives.
type kvStore interface {
	History
	Put(*pb.PutRequest) (*pb.PutResponse, error)
	DeleteRange(*pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error)
	Txn(*pb.TxnRequest) (*pb.TxnResponse, error)
	Compact(rev int64) (*pb.CompactionResponse, error)
}

var (
	propKeys = []string{"a", "ab", "abc", "b", "ba", "c"}
	// propRanges are the watched ranges: single keys, prefixes, a range,
	// from-key and everything.
	propRanges = [][2]string{
		{"a", ""}, {"ab", ""}, {"ba", ""}, {"zz", ""},
		{"a", "b"}, {"ab", "ac"}, {"ab", "b"}, {"b", "\x00"}, {"\x00", "\x00"},
	}
)

// watchRec is the checker's view of one watcher: what was asked for and
// what arrived.
type watchRec struct {
	stream, id          int64
	key, end            []byte
	startRev            int64
	prevKV, noPut, noDe bool
	progressNotify      bool
	// compactedAtCreate: the start revision was below the compaction
	// revision already, so the only acceptable outcome is the compacted
	// response.
	compactedAtCreate bool
	got               []*mvccpb.Event
}

// pendingCreate is a Watch call whose created response is not seen yet.
type pendingCreate struct {
	rec *watchRec
	err error
	rev int64
}

type propStream struct {
	pending []pendingCreate
	live    map[int64]*watchRec
}

// propState runs one case: the store, the hub, the reference model and the
// checker's state.
type propState struct {
	t       *rapid.T
	store   kvStore
	hub     *Hub
	ref     *model
	streams map[int64]*propStream
	// canceled counts the test's successful Cancel calls whose response is
	// not seen yet, by stream and id (ids are reused after a cancel).
	canceled map[[2]int64]int
	closed   []*watchRec
	// compactRevs are the revisions compacted at so far: a watcher that
	// reads one of them after its compaction sees only what compaction kept.
	compactRevs map[int64]bool
}

func TestHubMatchesHistory(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := &propState{t: rt, ref: newModel(), streams: map[int64]*propStream{}, canceled: map[[2]int64]int{}, compactRevs: map[int64]bool{}}
		opts := Options{
			CatchUpEventsMax:     rapid.IntRange(1, 4).Draw(rt, "catchUpEventsMax"),
			WatchersPerStreamMax: rapid.IntRange(1, 8).Draw(rt, "watchersPerStreamMax"),
			PendingResponsesMax:  rapid.IntRange(1, 6).Draw(rt, "pendingResponsesMax"),
		}
		var expectCommit []*mvccpb.Event
		s.store = newStoreUnderTest(func(rev int64, events []*mvccpb.Event) {
			if len(events) != len(expectCommit) {
				rt.Fatalf("store committed %d events at revision %d, the model %d", len(events), rev, len(expectCommit))
			}
			for i := range events {
				if !proto.Equal(events[i], expectCommit[i]) {
					rt.Fatalf("store committed %v at revision %d, the model %v", events[i], rev, expectCommit[i])
				}
			}
			s.hub.Notify(rev, events)
		})
		s.hub = New(s.store, opts)
		write := func(ops []op, do func() error) {
			before := s.ref.rev
			expectCommit = s.ref.apply(ops)
			if err := do(); err != nil {
				rt.Fatalf("write %v: %v", ops, err)
			}
			expectCommit = nil
			if s.store.Rev() != s.ref.rev {
				rt.Fatalf("store at revision %d after %v, model at %d (from %d)", s.store.Rev(), ops, s.ref.rev, before)
			}
		}
		key := func(label string) []byte { return []byte(rapid.SampledFrom(propKeys).Draw(rt, label)) }

		rt.Repeat(map[string]func(*rapid.T){
			"put": func(rt *rapid.T) {
				k, v := key("key"), []byte(rapid.StringN(0, 3, 3).Draw(rt, "value"))
				write([]op{{put: true, key: k, value: v}}, func() error {
					_, err := s.store.Put(&pb.PutRequest{Key: k, Value: v})
					return err
				})
			},
			"delete": func(rt *rapid.T) {
				r := rapid.SampledFrom(propRanges).Draw(rt, "range")
				o := op{key: []byte(r[0])}
				if r[1] != "" {
					o.end = []byte(r[1])
				}
				write([]op{o}, func() error {
					_, err := s.store.DeleteRange(&pb.DeleteRangeRequest{Key: o.key, RangeEnd: o.end})
					return err
				})
			},
			"txn": func(rt *rapid.T) {
				keys := rapid.SliceOfNDistinct(rapid.SampledFrom(propKeys), 1, 3, rapid.ID[string]).Draw(rt, "keys")
				var ops []op
				var reqs []*pb.RequestOp
				for i, k := range keys {
					if rapid.Bool().Draw(rt, fmt.Sprintf("put%d", i)) {
						v := []byte(fmt.Sprintf("t%d", i))
						ops = append(ops, op{put: true, key: []byte(k), value: v})
						reqs = append(reqs, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k), Value: v}}})
					} else {
						ops = append(ops, op{key: []byte(k)})
						reqs = append(reqs, &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(k)}}})
					}
				}
				write(ops, func() error {
					_, err := s.store.Txn(&pb.TxnRequest{Success: reqs})
					return err
				})
			},
			"compact": func(rt *rapid.T) {
				if s.ref.rev <= s.ref.compactRev {
					rt.Skip("nothing to compact")
				}
				rev := rapid.Int64Range(s.ref.compactRev+1, s.ref.rev).Draw(rt, "rev")
				if _, err := s.store.Compact(rev); err != nil {
					rt.Fatalf("compact %d at revision %d: %v", rev, s.ref.rev, err)
				}
				s.ref.compactRev = rev
				s.compactRevs[rev] = true
			},
			"watch":   s.watch,
			"cancel":  s.cancel,
			"catchUp": func(*rapid.T) { s.hub.CatchUp() },
			"drain":   func(*rapid.T) { s.drain() },
			"hold": func(rt *rapid.T) {
				s.hub.Hold(rapid.Int64Range(1, 3).Draw(rt, "stream"), rapid.Bool().Draw(rt, "held"))
			},
			"requestProgress": func(rt *rapid.T) { s.hub.RequestProgress(rapid.Int64Range(1, 3).Draw(rt, "stream")) },
			"progressNotify":  func(*rapid.T) { s.hub.ProgressNotify() },
			"closeStream": func(rt *rapid.T) {
				sid := rapid.Int64Range(1, 3).Draw(rt, "stream")
				s.drain() // what was queued before the close is judged too
				s.hub.CloseStream(sid)
				if ps := s.streams[sid]; ps != nil {
					for _, rec := range ps.live {
						s.closed = append(s.closed, rec)
					}
					delete(s.streams, sid)
				}
			},
		})

		// Let every lagging watcher finish, then everything live must be exact.
		for sid := range int64(4) {
			s.hub.Hold(sid, false)
		}
		for i := 0; s.hub.CatchUp(); i++ {
			if i > 10_000 {
				rt.Fatalf("CatchUp does not finish")
			}
			s.drain()
		}
		s.drain()
		live := 0
		for _, sid := range sortedKeys(s.streams) {
			ps := s.streams[sid]
			if len(ps.pending) != 0 {
				rt.Fatalf("stream %d: %d created responses never arrived", sid, len(ps.pending))
			}
			for _, id := range sortedKeys(ps.live) {
				rec := ps.live[id]
				live++
				if rec.compactedAtCreate {
					rt.Fatalf("stream %d watcher %d starts at compacted revision %d but was not canceled", sid, id, rec.startRev)
				}
				s.expectComplete(rec, s.ref.rev, "at the end")
			}
		}
		if live != s.hub.WatcherCount() {
			rt.Fatalf("hub holds %d watchers, the checker %d", s.hub.WatcherCount(), live)
		}
	})
}

func (s *propState) watch(rt *rapid.T) {
	sid := rapid.Int64Range(1, 3).Draw(rt, "stream")
	r := rapid.SampledFrom(propRanges).Draw(rt, "range")
	req := &pb.WatchCreateRequest{Key: []byte(r[0]), PrevKv: rapid.Bool().Draw(rt, "prevKV"), ProgressNotify: rapid.Bool().Draw(rt, "progressNotify")}
	if r[1] != "" {
		req.RangeEnd = []byte(r[1])
	}
	rev := s.ref.rev
	switch rapid.IntRange(0, 4).Draw(rt, "startKind") {
	case 0: // now
	case 1:
		req.StartRevision = rev
	case 2:
		req.StartRevision = rapid.Int64Range(1, rev).Draw(rt, "start")
	case 3:
		if s.ref.compactRev > 0 {
			req.StartRevision = rapid.Int64Range(1, s.ref.compactRev).Draw(rt, "start")
		}
	case 4:
		req.StartRevision = rapid.Int64Range(rev+1, rev+3).Draw(rt, "start")
	}
	if rapid.Bool().Draw(rt, "noPut") {
		req.Filters = append(req.Filters, pb.WatchCreateRequest_NOPUT)
	}
	if rapid.Bool().Draw(rt, "noDelete") {
		req.Filters = append(req.Filters, pb.WatchCreateRequest_NODELETE)
	}
	req.WatchId = rapid.SampledFrom([]int64{0, 0, 1, 2, 5}).Draw(rt, "watchID")

	id, err := s.hub.Watch(sid, req)
	rec := &watchRec{
		stream: sid, id: id, key: req.Key, end: req.RangeEnd, startRev: req.StartRevision,
		prevKV: req.PrevKv, progressNotify: req.ProgressNotify,
		noPut: slices.Contains(req.Filters, pb.WatchCreateRequest_NOPUT), noDe: slices.Contains(req.Filters, pb.WatchCreateRequest_NODELETE),
	}
	if rec.startRev == 0 {
		rec.startRev = rev + 1
	}
	rec.compactedAtCreate = rec.startRev < s.ref.compactRev
	ps := s.stream(sid)
	ps.pending = append(ps.pending, pendingCreate{rec: rec, err: err, rev: rev})
}

func (s *propState) cancel(rt *rapid.T) {
	sid := rapid.Int64Range(1, 3).Draw(rt, "stream")
	id := rapid.Int64Range(0, 5).Draw(rt, "watchID")
	if err := s.hub.Cancel(sid, id); err == nil {
		s.canceled[[2]int64{sid, id}]++
	}
}

func (s *propState) stream(sid int64) *propStream {
	ps := s.streams[sid]
	if ps == nil {
		ps = &propStream{live: map[int64]*watchRec{}}
		s.streams[sid] = ps
	}
	return ps
}

// drain takes the hub's responses and checks each against the model as it
// would reach the client.
func (s *propState) drain() {
	rt := s.t
	for _, d := range s.hub.Drain() {
		ps := s.stream(d.StreamID)
		r := d.Response
		rev := r.Header.GetRevision()
		if r.CompactRevision != 0 && rev == 0 {
			rev = s.ref.rev // etcd's compacted response names no revision
		}
		if rev < 1 || rev > s.ref.rev {
			rt.Fatalf("stream %d: response at revision %d, store at %d: %v", d.StreamID, rev, s.ref.rev, r)
		}
		switch {
		case r.Created:
			if len(ps.pending) == 0 {
				rt.Fatalf("stream %d: created response without a Watch: %v", d.StreamID, r)
			}
			p := ps.pending[0]
			ps.pending = ps.pending[1:]
			if rev != p.rev {
				rt.Fatalf("stream %d: created response at revision %d, Watch was at %d", d.StreamID, rev, p.rev)
			}
			if p.err != nil {
				if r.WatchId != -1 || !r.Canceled || r.CancelReason == "" {
					rt.Fatalf("stream %d: failed create (%v) answered with %v", d.StreamID, p.err, r)
				}
				continue
			}
			if r.WatchId != p.rec.id || r.Canceled {
				rt.Fatalf("stream %d: created response %v for watcher %d", d.StreamID, r, p.rec.id)
			}
			if ps.live[p.rec.id] != nil {
				rt.Fatalf("stream %d: watch id %d handed out while in use", d.StreamID, p.rec.id)
			}
			ps.live[p.rec.id] = p.rec
		case r.WatchId == -1:
			if len(r.Events) != 0 || r.Canceled {
				rt.Fatalf("stream %d: bad progress response %v", d.StreamID, r)
			}
			for _, id := range sortedKeys(ps.live) {
				s.expectNotBelowStart(ps.live[id], rev)
				s.expectComplete(ps.live[id], rev, "at a requested progress response")
			}
		default:
			rec := ps.live[r.WatchId]
			if rec == nil {
				rt.Fatalf("stream %d: response for unknown watcher: %v", d.StreamID, r)
			}
			switch {
			case r.Canceled && r.CompactRevision != 0:
				last := rec.startRev - 1
				if n := len(rec.got); n > 0 {
					last = rec.got[n-1].Kv.ModRevision
				}
				if r.CompactRevision > s.ref.compactRev || last >= r.CompactRevision || len(r.Events) != 0 {
					rt.Fatalf("stream %d watcher %d: compacted response %v after revision %d, compaction at %d", d.StreamID, rec.id, r, last, s.ref.compactRev)
				}
				delete(ps.live, rec.id)
			case r.Canceled:
				if s.canceled[[2]int64{d.StreamID, rec.id}] == 0 {
					rt.Fatalf("stream %d watcher %d: canceled without a Cancel: %v", d.StreamID, rec.id, r)
				}
				s.canceled[[2]int64{d.StreamID, rec.id}]--
				delete(ps.live, rec.id)
				s.closed = append(s.closed, rec)
			case len(r.Events) == 0:
				if !rec.progressNotify {
					rt.Fatalf("stream %d watcher %d: progress notification not asked for", d.StreamID, rec.id)
				}
				s.expectNotBelowStart(rec, rev)
				s.expectComplete(rec, rev, "at a progress notification")
			default:
				if rec.compactedAtCreate {
					rt.Fatalf("stream %d watcher %d: events from compacted revision %d", d.StreamID, rec.id, rec.startRev)
				}
				if last := r.Events[len(r.Events)-1].Kv.ModRevision; rev < last {
					rt.Fatalf("stream %d watcher %d: header revision %d below event revision %d", d.StreamID, rec.id, rev, last)
				}
				rec.got = append(rec.got, r.Events...)
				s.expectPrefix(rec)
			}
		}
	}
}

// expected lists the events rec must see up to revision upTo.
func (s *propState) expected(rec *watchRec, upTo int64) []*mvccpb.Event {
	var out []*mvccpb.Event
	for _, ev := range s.ref.log {
		rev := ev.Kv.ModRevision
		if rev < rec.startRev || rev > upTo || !inRange(ev.Kv.Key, rec.key, rec.end) {
			continue
		}
		if (ev.Type == mvccpb.PUT && rec.noPut) || (ev.Type == mvccpb.DELETE && rec.noDe) {
			continue
		}
		if !rec.prevKV {
			ev = &mvccpb.Event{Type: ev.Type, Kv: ev.Kv}
		}
		out = append(out, ev)
	}
	return out
}

// asRead replaces, in want, each compaction revision's events by what
// compaction kept of them (Events from the compaction revision) where got
// holds exactly that: a watcher reading that revision after its compaction
// sees only those. Events come in whole revisions, so got decides per
// revision.
func (s *propState) asRead(rec *watchRec, got, want []*mvccpb.Event) []*mvccpb.Event {
	byRev := func(evs []*mvccpb.Event, rev int64) []*mvccpb.Event {
		var out []*mvccpb.Event
		for _, ev := range evs {
			if ev.Kv.ModRevision == rev {
				out = append(out, ev)
			}
		}
		return out
	}
	var out []*mvccpb.Event
	for i := 0; i < len(want); {
		rev := want[i].Kv.ModRevision
		j := i
		for j < len(want) && want[j].Kv.ModRevision == rev {
			j++
		}
		full := want[i:j]
		i = j
		if s.compactRevs[rev] {
			kept := s.keptView(rec, rev)
			if g := byRev(got, rev); len(g) == len(kept) && s.sameEvents(g, kept) {
				out = append(out, kept...)
				continue
			}
		}
		out = append(out, full...)
	}
	return out
}

// keptView is what rec sees of revision rev after a compaction at rev:
// each key's last change in rev (a delete too), without PrevKv.
func (s *propState) keptView(rec *watchRec, rev int64) []*mvccpb.Event {
	last := map[string]int{}
	var evs []*mvccpb.Event
	for _, ev := range s.ref.log {
		if ev.Kv.ModRevision == rev {
			last[string(ev.Kv.Key)] = len(evs)
			evs = append(evs, ev)
		}
	}
	var out []*mvccpb.Event
	for i, ev := range evs {
		if last[string(ev.Kv.Key)] != i || !inRange(ev.Kv.Key, rec.key, rec.end) ||
			(ev.Type == mvccpb.PUT && rec.noPut) || (ev.Type == mvccpb.DELETE && rec.noDe) {
			continue
		}
		out = append(out, &mvccpb.Event{Type: ev.Type, Kv: ev.Kv})
	}
	return out
}

func (s *propState) sameEvents(a, b []*mvccpb.Event) bool {
	return slices.EqualFunc(a, b, func(x, y *mvccpb.Event) bool { return proto.Equal(x, y) })
}

func (s *propState) expectPrefix(rec *watchRec) {
	want := s.asRead(rec, rec.got, s.expected(rec, s.ref.rev))
	if len(rec.got) > len(want) {
		s.t.Fatalf("stream %d watcher %d (%q..%q from %d): %d events, only %d exist:\ngot  %v\nwant %v", rec.stream, rec.id, rec.key, rec.end, rec.startRev, len(rec.got), len(want), rec.got, want)
	}
	s.expectEqual(rec, rec.got, want[:len(rec.got)], "as a prefix")
}

// expectNotBelowStart: a progress response at rev makes a client resume
// at rev + 1, which must not be before the start the watcher asked for.
func (s *propState) expectNotBelowStart(rec *watchRec, rev int64) {
	if rev+1 < rec.startRev {
		s.t.Fatalf("stream %d watcher %d (from %d): progress response at revision %d: a client would resume at %d, before its start",
			rec.stream, rec.id, rec.startRev, rev, rev+1)
	}
}

func (s *propState) expectComplete(rec *watchRec, upTo int64, when string) {
	s.expectEqual(rec, rec.got, s.asRead(rec, rec.got, s.expected(rec, upTo)), when)
}

func (s *propState) expectEqual(rec *watchRec, got, want []*mvccpb.Event, when string) {
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = proto.Equal(got[i], want[i])
	}
	if !ok {
		s.t.Fatalf("stream %d watcher %d (%q..%q from %d, prevKV %v, noPut %v, noDelete %v) %s:\ngot  %v\nwant %v",
			rec.stream, rec.id, rec.key, rec.end, rec.startRev, rec.prevKV, rec.noPut, rec.noDe, when, got, want)
	}
}

func sortedKeys[V any](m map[int64]V) []int64 {
	keys := make([]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
