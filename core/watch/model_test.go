package watch

import (
	"bytes"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// model is the reference key-value history the tests judge the hub by: the
// live keys and every event ever committed, in (revision, sub) order. It is
// written for obviousness, not speed.
type model struct {
	rev        int64
	compactRev int64
	kvs        map[string]*mvccpb.KeyValue
	log        []*mvccpb.Event
}

func newModel() *model { return &model{rev: 1, kvs: map[string]*mvccpb.KeyValue{}} }

// op is one write inside a revision: a put of key=value, or a delete of
// [key, end) (end nil: the key alone).
type op struct {
	put        bool
	key, value []byte
	end        []byte
}

// apply commits ops as one revision and returns its events; no events means
// nothing changed and the revision did not move.
func (m *model) apply(ops []op) []*mvccpb.Event {
	rev := m.rev + 1
	var events []*mvccpb.Event
	for _, o := range ops {
		if o.put {
			prev := m.kvs[string(o.key)]
			kv := &mvccpb.KeyValue{Key: bytes.Clone(o.key), Value: bytes.Clone(o.value), ModRevision: rev, CreateRevision: rev, Version: 1}
			if prev != nil {
				kv.CreateRevision = prev.CreateRevision
				kv.Version = prev.Version + 1
			}
			m.kvs[string(o.key)] = kv
			events = append(events, &mvccpb.Event{Type: mvccpb.PUT, Kv: kv, PrevKv: prev})
			continue
		}
		var keys []string
		for k := range m.kvs {
			if inRange([]byte(k), o.key, o.end) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			prev := m.kvs[k]
			delete(m.kvs, k)
			events = append(events, &mvccpb.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte(k), ModRevision: rev}, PrevKv: prev})
		}
	}
	if len(events) > 0 {
		m.rev = rev
		m.log = append(m.log, events...)
	}
	return events
}

// inRange reports whether k is in [key, end) with etcd's end conventions.
func inRange(k, key, end []byte) bool {
	switch {
	case len(end) == 0:
		return bytes.Equal(k, key)
	case len(end) == 1 && end[0] == 0:
		return bytes.Compare(k, key) >= 0
	default:
		return bytes.Compare(k, key) >= 0 && bytes.Compare(k, end) < 0
	}
}

// events answers History.Events from the log.
// From the compaction revision itself it gives what compaction kept: each
// key's last change there, a delete too, without PrevKv.
func (m *model) events(key, end []byte, fromRev int64, eventsMax int) ([]*mvccpb.Event, int64, error) {
	if fromRev < max(m.compactRev, 1) {
		return nil, 0, rpctypes.ErrGRPCCompacted
	}
	var out []*mvccpb.Event
	stopRev := int64(0) // the revision in which eventsMax was reached
	for i, ev := range m.log {
		if stopRev != 0 && ev.Kv.ModRevision > stopRev {
			return out, stopRev + 1, nil
		}
		if ev.Kv.ModRevision < fromRev || !inRange(ev.Kv.Key, key, end) {
			continue
		}
		if ev.Kv.ModRevision == m.compactRev {
			if m.changedLaterIn(i) {
				continue
			}
			ev = &mvccpb.Event{Type: ev.Type, Kv: ev.Kv}
		}
		out = append(out, ev)
		if len(out) >= eventsMax && stopRev == 0 {
			stopRev = ev.Kv.ModRevision
		}
	}
	return out, m.rev + 1, nil
}

// changedLaterIn reports whether log[i]'s key changes again in its revision.
func (m *model) changedLaterIn(i int) bool {
	ev := m.log[i]
	for _, later := range m.log[i+1:] {
		if later.Kv.ModRevision != ev.Kv.ModRevision {
			return false
		}
		if bytes.Equal(later.Kv.Key, ev.Kv.Key) {
			return true
		}
	}
	return false
}

// fakeHistory is a History over a model that calls onCommit like mvcc's
// OnCommit; the table tests use it to set up exact situations.
type fakeHistory struct {
	m        *model
	onCommit func(rev int64, events []*mvccpb.Event)
}

func (f *fakeHistory) Rev() int64        { return f.m.rev }
func (f *fakeHistory) CompactRev() int64 { return f.m.compactRev }
func (f *fakeHistory) Events(key, end []byte, fromRev int64, eventsMax int) ([]*mvccpb.Event, int64, error) {
	return f.m.events(key, end, fromRev, eventsMax)
}

func (f *fakeHistory) write(ops ...op) int64 {
	if evs := f.m.apply(ops); len(evs) > 0 && f.onCommit != nil {
		f.onCommit(f.m.rev, evs)
	}
	return f.m.rev
}

func (f *fakeHistory) put(key, value string) int64 {
	return f.write(op{put: true, key: []byte(key), value: []byte(value)})
}

func (f *fakeHistory) del(key string) int64 { return f.write(op{key: []byte(key)}) }

func (f *fakeHistory) compact(rev int64) { f.m.compactRev = rev }

// newFakeHub wires a hub to a fresh fake history.
func newFakeHub(opts Options) (*Hub, *fakeHistory) {
	f := &fakeHistory{m: newModel()}
	h := New(f, opts)
	f.onCommit = h.Notify
	return h, f
}

// watchReq builds a create request; end "" means a single key.
func watchReq(key, end string, startRev int64) *pb.WatchCreateRequest {
	req := &pb.WatchCreateRequest{Key: []byte(key), StartRevision: startRev}
	if end != "" {
		req.RangeEnd = []byte(end)
	}
	return req
}
