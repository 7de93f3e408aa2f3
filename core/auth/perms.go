package auth

import (
	"bytes"
	"slices"

	"github.com/kvdlabs/kvd/core/bugs"
)

// interval is a key range [start, end); a nil end is the open end (every
// key from start on), as etcd's range end "\x00".
type interval struct{ start, end []byte }

// intervals is a set of key ranges; merged, it is sorted and disjoint.
type intervals []interval

// userPerms are a user's permissions merged over its roles.
type userPerms struct{ read, write intervals }

// permInterval is the range a permission names: a key alone when end is
// empty, from key on when end is "\x00".
func permInterval(key, end []byte) interval {
	switch {
	case len(end) == 0:
		return interval{start: key, end: append(bytes.Clone(key), 0)}
	case len(end) == 1 && end[0] == 0:
		return interval{start: key}
	default:
		if bugs.On(bugs.AuthRangeEndInclusive) {
			return interval{start: key, end: append(bytes.Clone(end), 0)} // planted bug (kvdbugs builds only): [key, range_end] instead of [key, range_end)
		}
		return interval{start: key, end: end}
	}
}

// endBefore orders range ends, the open end last.
func compareEnds(a, b []byte) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return bytes.Compare(a, b)
}

// merged sorts the set and joins overlapping or touching ranges.
func (s intervals) merged() intervals {
	if len(s) == 0 {
		return nil
	}
	s = slices.Clone(s)
	slices.SortFunc(s, func(a, b interval) int { return bytes.Compare(a.start, b.start) })
	out := intervals{s[0]}
	for _, iv := range s[1:] {
		last := &out[len(out)-1]
		if last.end == nil || bytes.Compare(iv.start, last.end) <= 0 {
			if compareEnds(iv.end, last.end) > 0 {
				last.end = iv.end
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}

// covers reports whether the merged set holds all of [key, end) — the key
// alone when end is empty, every key from key on when end is "\x00" — as
// etcd's interval tree Contains does.
func (s intervals) covers(key, end []byte) bool {
	want := permInterval(key, end)
	if len(end) != 0 && !(len(end) == 1 && end[0] == 0) && bytes.Compare(key, end) >= 0 {
		return true // an empty range asks for nothing (etcd answers it empty)
	}
	// The one merged range starting at or before key must reach past the
	// requested end: merged ranges are disjoint and do not touch.
	i, found := slices.BinarySearchFunc(s, key, func(iv interval, k []byte) int { return bytes.Compare(iv.start, k) })
	if !found {
		i--
	}
	if i < 0 {
		return false
	}
	iv := s[i]
	if iv.end != nil && bytes.Compare(iv.end, key) <= 0 {
		return false
	}
	return compareEnds(want.end, iv.end) <= 0
}
