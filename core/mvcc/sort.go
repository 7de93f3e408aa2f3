package mvcc

import (
	"sort"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// rangeLimit is how many kvs to fetch: etcd fetches everything when it must
// filter or sort first, and one extra otherwise to learn "more".
func rangeLimit(r *pb.RangeRequest) int64 {
	limit := r.Limit
	if r.SortOrder != pb.RangeRequest_NONE ||
		r.MinModRevision != 0 || r.MaxModRevision != 0 ||
		r.MinCreateRevision != 0 || r.MaxCreateRevision != 0 {
		limit = 0
	}
	if limit > 0 {
		limit++
	}
	return limit
}

// filterVersions applies the mod/create revision filters after the fetch,
// as etcd does: count stays the count before filtering.
func filterVersions(vs []*version, r *pb.RangeRequest) []*version {
	if r.MinModRevision == 0 && r.MaxModRevision == 0 && r.MinCreateRevision == 0 && r.MaxCreateRevision == 0 {
		return vs
	}
	out := vs[:0]
	for _, v := range vs {
		switch {
		case r.MaxModRevision != 0 && v.modRev > r.MaxModRevision:
		case r.MinModRevision != 0 && v.modRev < r.MinModRevision:
		case r.MaxCreateRevision != 0 && v.createRev > r.MaxCreateRevision:
		case r.MinCreateRevision != 0 && v.createRev < r.MinCreateRevision:
		default:
			out = append(out, v)
		}
	}
	return out
}

// sortVersions orders as etcd does, with sort.Sort and the same Less, so
// that ties land in the same (unspecified but deterministic) order.
func sortVersions(vs []*version, r *pb.RangeRequest) {
	order := r.SortOrder
	switch {
	case r.SortTarget != pb.RangeRequest_KEY && order == pb.RangeRequest_NONE:
		order = pb.RangeRequest_ASCEND
	case r.SortTarget == pb.RangeRequest_KEY && order == pb.RangeRequest_ASCEND:
		order = pb.RangeRequest_NONE // already in key order
	}
	if order == pb.RangeRequest_NONE {
		return
	}
	var less func(a, b *version) bool
	switch r.SortTarget {
	case pb.RangeRequest_KEY:
		less = func(a, b *version) bool { return a.key() < b.key() }
	case pb.RangeRequest_VERSION:
		less = func(a, b *version) bool { return a.ver < b.ver }
	case pb.RangeRequest_CREATE:
		less = func(a, b *version) bool { return a.createRev < b.createRev }
	case pb.RangeRequest_MOD:
		less = func(a, b *version) bool { return a.modRev < b.modRev }
	case pb.RangeRequest_VALUE:
		less = func(a, b *version) bool { return a.value() < b.value() }
	default:
		panic("mvcc: sort target passed the checks but is unknown")
	}
	var sorter sort.Interface = versionSorter{vs, less}
	if order == pb.RangeRequest_DESCEND {
		sorter = sort.Reverse(sorter)
	}
	sort.Sort(sorter)
}

type versionSorter struct {
	vs   []*version
	less func(a, b *version) bool
}

func (s versionSorter) Len() int           { return len(s.vs) }
func (s versionSorter) Swap(i, j int)      { s.vs[i], s.vs[j] = s.vs[j], s.vs[i] }
func (s versionSorter) Less(i, j int) bool { return s.less(s.vs[i], s.vs[j]) }
