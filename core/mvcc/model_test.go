package mvcc

import (
	"bytes"
	"slices"
	"sort"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// model is the reference: every key's full list of versions, searched the
// slow obvious way, written from etcd's documented behaviour and not from
// the store's code.
type model struct {
	rev, compactRev int64
	hist            map[string][]mver // ascending by (mod, sub)
	leases          map[int64]bool
	txnOpsMax       int
	changes         []mchange // every write ever, in (rev, sub) order
	sub             int64     // changes in the open write txn
}

type mver struct {
	key, value       string
	create, mod, ver int64
	lease, sub       int64
	tomb             bool
}

type mchange struct {
	v    mver
	prev *mver // live at mod-1
}

func newModel(leases ...int64) *model {
	m := &model{rev: 1, hist: map[string][]mver{}, leases: map[int64]bool{}, txnOpsMax: TxnOpsMaxDefault}
	for _, l := range leases {
		m.leases[l] = true
	}
	return m
}

func (m *model) keys() []string {
	ks := make([]string, 0, len(m.hist))
	for k := range m.hist {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// at returns the live version of key at rev.
func (m *model) at(key string, rev int64) *mver {
	var found *mver
	for i := range m.hist[key] {
		if m.hist[key][i].mod <= rev {
			found = &m.hist[key][i]
		}
	}
	if found == nil || found.tomb {
		return nil
	}
	c := *found
	return &c
}

func inRange(k, key string, end []byte) bool {
	switch {
	case len(end) == 0:
		return k == key
	case string(end) == "\x00":
		return k >= key
	default:
		return k >= key && k < string(end)
	}
}

func (v *mver) kv() *mvccpb.KeyValue {
	return &mvccpb.KeyValue{Key: []byte(v.key), Value: []byte(v.value), CreateRevision: v.create,
		ModRevision: v.mod, Version: v.ver, Lease: v.lease}
}

func (m *model) curRev() int64 {
	if m.sub > 0 {
		return m.rev + 1
	}
	return m.rev
}

func (m *model) Range(r *pb.RangeRequest) (*pb.RangeResponse, error) {
	if len(r.Key) == 0 {
		return nil, rpctypes.ErrGRPCEmptyKey
	}
	if r.SortOrder < 0 || r.SortOrder > 2 || r.SortTarget < 0 || r.SortTarget > 4 {
		return nil, rpctypes.ErrGRPCInvalidSortOption
	}
	return m.rangeUnchecked(r)
}

func (m *model) rangeUnchecked(r *pb.RangeRequest) (*pb.RangeResponse, error) {
	cur := m.curRev()
	rev := r.Revision
	if rev > cur {
		return nil, rpctypes.ErrGRPCFutureRev
	}
	if rev <= 0 {
		rev = cur
	}
	if rev < m.compactRev {
		return nil, rpctypes.ErrGRPCCompacted
	}
	var all []*mvccpb.KeyValue
	for _, k := range m.keys() {
		if v := m.at(k, rev); v != nil && inRange(k, string(r.Key), r.RangeEnd) {
			all = append(all, v.kv())
		}
	}
	resp := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: cur}, Count: int64(len(all))}
	if r.CountOnly {
		return resp, nil
	}
	filtered := r.MinModRevision != 0 || r.MaxModRevision != 0 || r.MinCreateRevision != 0 || r.MaxCreateRevision != 0
	if !filtered && r.SortOrder == pb.RangeRequest_NONE && r.Limit > 0 && int64(len(all)) > r.Limit+1 {
		all = all[:r.Limit+1]
	}
	var kvs []*mvccpb.KeyValue
	for _, kv := range all {
		if (r.MaxModRevision != 0 && kv.ModRevision > r.MaxModRevision) ||
			(r.MinModRevision != 0 && kv.ModRevision < r.MinModRevision) ||
			(r.MaxCreateRevision != 0 && kv.CreateRevision > r.MaxCreateRevision) ||
			(r.MinCreateRevision != 0 && kv.CreateRevision < r.MinCreateRevision) {
			continue
		}
		kvs = append(kvs, kv)
	}
	order := r.SortOrder
	if r.SortTarget != pb.RangeRequest_KEY && order == pb.RangeRequest_NONE {
		order = pb.RangeRequest_ASCEND
	}
	if !(r.SortTarget == pb.RangeRequest_KEY && order == pb.RangeRequest_ASCEND) && order != pb.RangeRequest_NONE {
		less := map[pb.RangeRequest_SortTarget]func(a, b *mvccpb.KeyValue) bool{
			pb.RangeRequest_KEY:     func(a, b *mvccpb.KeyValue) bool { return bytes.Compare(a.Key, b.Key) < 0 },
			pb.RangeRequest_VERSION: func(a, b *mvccpb.KeyValue) bool { return a.Version < b.Version },
			pb.RangeRequest_CREATE:  func(a, b *mvccpb.KeyValue) bool { return a.CreateRevision < b.CreateRevision },
			pb.RangeRequest_MOD:     func(a, b *mvccpb.KeyValue) bool { return a.ModRevision < b.ModRevision },
			pb.RangeRequest_VALUE:   func(a, b *mvccpb.KeyValue) bool { return bytes.Compare(a.Value, b.Value) < 0 },
		}[r.SortTarget]
		var s sort.Interface = kvSorter{kvs, less}
		if order == pb.RangeRequest_DESCEND {
			s = sort.Reverse(s)
		}
		sort.Sort(s)
	}
	if r.Limit > 0 && int64(len(kvs)) > r.Limit {
		kvs = kvs[:r.Limit]
		resp.More = true
	}
	if r.KeysOnly {
		for _, kv := range kvs {
			kv.Value = nil
		}
	}
	resp.Kvs = kvs
	return resp, nil
}

type kvSorter struct {
	kvs  []*mvccpb.KeyValue
	less func(a, b *mvccpb.KeyValue) bool
}

func (s kvSorter) Len() int           { return len(s.kvs) }
func (s kvSorter) Swap(i, j int)      { s.kvs[i], s.kvs[j] = s.kvs[j], s.kvs[i] }
func (s kvSorter) Less(i, j int) bool { return s.less(s.kvs[i], s.kvs[j]) }

// write appends a version at the open txn's revision.
func (m *model) write(v mver) {
	v.mod, v.sub = m.rev+1, m.sub
	m.sub++
	m.changes = append(m.changes, mchange{v: v, prev: m.at(v.key, m.rev)})
	m.hist[v.key] = append(m.hist[v.key], v)
}

func (m *model) putUnchecked(p *pb.PutRequest) *pb.PutResponse {
	k := string(p.Key)
	prev := m.at(k, m.curRev())
	resp := &pb.PutResponse{Header: &pb.ResponseHeader{Revision: m.rev + 1}}
	if p.PrevKv && prev != nil {
		resp.PrevKv = prev.kv()
	}
	v := mver{key: k, value: string(p.Value), lease: p.Lease, ver: 1, create: m.rev + 1}
	if p.IgnoreValue {
		v.value = prev.value
	}
	if p.IgnoreLease {
		v.lease = prev.lease
	}
	if prev != nil {
		v.ver, v.create = prev.ver+1, prev.create
	}
	m.write(v)
	return resp
}

func (m *model) commit() int64 {
	if m.sub > 0 {
		m.rev++
	}
	m.sub = 0
	return m.rev
}

func (m *model) Put(p *pb.PutRequest) (*pb.PutResponse, error) {
	switch {
	case len(p.Key) == 0:
		return nil, rpctypes.ErrGRPCEmptyKey
	case p.IgnoreValue && len(p.Value) != 0:
		return nil, rpctypes.ErrGRPCValueProvided
	case p.IgnoreLease && p.Lease != 0:
		return nil, rpctypes.ErrGRPCLeaseProvided
	case p.Lease != 0 && !m.leases[p.Lease]:
		return nil, rpctypes.ErrGRPCLeaseNotFound
	case (p.IgnoreValue || p.IgnoreLease) && m.at(string(p.Key), m.rev) == nil:
		return nil, rpctypes.ErrGRPCKeyNotFound
	}
	resp := m.putUnchecked(p)
	resp.Header.Revision = m.commit()
	return resp, nil
}

func (m *model) deleteUnchecked(d *pb.DeleteRangeRequest) *pb.DeleteRangeResponse {
	resp := &pb.DeleteRangeResponse{Header: &pb.ResponseHeader{}}
	cur := m.curRev()
	var doomed []*mver
	for _, k := range m.keys() {
		if v := m.at(k, cur); v != nil && inRange(k, string(d.Key), d.RangeEnd) {
			doomed = append(doomed, v)
		}
	}
	if d.PrevKv {
		resp.PrevKvs = []*mvccpb.KeyValue{}
		for _, v := range doomed {
			resp.PrevKvs = append(resp.PrevKvs, v.kv())
		}
	}
	for _, v := range doomed {
		m.write(mver{key: v.key, tomb: true})
	}
	resp.Deleted = int64(len(doomed))
	resp.Header.Revision = m.curRev()
	return resp
}

func (m *model) DeleteRange(d *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if len(d.Key) == 0 {
		return nil, rpctypes.ErrGRPCEmptyKey
	}
	resp := m.deleteUnchecked(d)
	resp.Header.Revision = m.commit()
	return resp, nil
}

func (m *model) DeleteKeys(keys [][]byte) int64 {
	sorted := map[string]bool{}
	for _, k := range keys {
		sorted[string(k)] = true
	}
	for _, k := range m.keys() {
		if sorted[k] && m.at(k, m.curRev()) != nil {
			m.write(mver{key: k, tomb: true})
		}
	}
	return m.commit()
}

func (m *model) Compact(rev int64) (*pb.CompactionResponse, error) {
	if rev <= m.compactRev {
		return nil, rpctypes.ErrGRPCCompacted
	}
	if rev > m.rev {
		return nil, rpctypes.ErrGRPCFutureRev
	}
	for _, k := range m.keys() {
		vs := m.hist[k]
		keep := -1
		for i, v := range vs {
			if v.mod <= rev {
				keep = i
			}
		}
		if keep < 0 {
			continue
		}
		if vs[keep].tomb && vs[keep].mod < rev { // a tombstone at rev stays, as in etcd
			keep++
		}
		if keep == len(vs) {
			delete(m.hist, k)
		} else {
			m.hist[k] = slices.Clone(vs[keep:])
		}
	}
	m.compactRev = rev
	return &pb.CompactionResponse{Header: &pb.ResponseHeader{Revision: m.rev}}, nil
}

// lastChangeAt reports whether c is its key's last change in its revision.
func (m *model) lastChangeAt(c mchange) bool {
	last := c
	for _, d := range m.changes {
		if d.v.mod == c.v.mod && d.v.key == c.v.key {
			last = d
		}
	}
	return last.v == c.v
}

// Events is every change since fromRev on the whole key space, unbounded.
// From the compaction revision itself come each key's last change, without PrevKv:
// all compaction kept of it, as etcd's watch from that revision sees.
func (m *model) Events(fromRev int64) ([]*mvccpb.Event, error) {
	if fromRev < max(m.compactRev, 1) {
		return nil, rpctypes.ErrGRPCCompacted
	}
	var evs []*mvccpb.Event
	for _, c := range m.changes {
		if c.v.mod < fromRev {
			continue
		}
		if c.v.mod == m.compactRev {
			// Compaction kept each key's last change there.
			if m.lastChangeAt(c) {
				ev := &mvccpb.Event{Type: mvccpb.PUT, Kv: c.v.kv()}
				if c.v.tomb {
					ev = &mvccpb.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte(c.v.key), ModRevision: c.v.mod}}
				}
				evs = append(evs, ev)
			}
			continue
		}
		ev := &mvccpb.Event{Type: mvccpb.PUT, Kv: c.v.kv()}
		if c.v.tomb {
			ev = &mvccpb.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte(c.v.key), ModRevision: c.v.mod}}
		}
		if c.prev != nil {
			ev.PrevKv = c.prev.kv()
		}
		evs = append(evs, ev)
	}
	return evs, nil
}
