package watch

import (
	"bytes"
	"fmt"
	"slices"
)

// index finds the watchers whose range holds a key. Single-key watchers sit
// in a map from key to watchers; range watchers in a slice sorted by start
// key, so a lookup only scans the ranges that start at or before the key.
// The index holds synced and unsynced watchers alike; Notify skips the
// unsynced ones, which keeps state changes O(1).
type index struct {
	// single maps a key to its watchers sorted by (stream id, watch id).
	single map[string][]*watcher
	// ranges is sorted by (key, stream id, watch id).
	ranges []*watcher
}

func newIndex() index {
	return index{single: make(map[string][]*watcher)}
}

func compareRangeWatchers(a, b *watcher) int {
	if c := bytes.Compare(a.key, b.key); c != 0 {
		return c
	}
	return compareWatchers(a, b)
}

func (x *index) add(w *watcher) {
	if !w.isRange() {
		// Kept in delivery order, so Notify's sort finds it sorted already.
		ws := x.single[string(w.key)]
		i, found := slices.BinarySearchFunc(ws, w, compareWatchers)
		if found {
			panic(fmt.Sprintf("watch: stream %d watcher %d indexed twice", w.stream.id, w.id))
		}
		x.single[string(w.key)] = slices.Insert(ws, i, w)
		return
	}
	i, found := slices.BinarySearchFunc(x.ranges, w, compareRangeWatchers)
	if found {
		panic(fmt.Sprintf("watch: stream %d watcher %d indexed twice", w.stream.id, w.id))
	}
	x.ranges = slices.Insert(x.ranges, i, w)
}

func (x *index) remove(w *watcher) {
	if !w.isRange() {
		ws := x.single[string(w.key)]
		i, found := slices.BinarySearchFunc(ws, w, compareWatchers)
		if !found {
			panic(fmt.Sprintf("watch: stream %d watcher %d missing from the key index", w.stream.id, w.id))
		}
		ws = slices.Delete(ws, i, i+1)
		if len(ws) == 0 {
			delete(x.single, string(w.key))
		} else {
			x.single[string(w.key)] = ws
		}
		return
	}
	i, found := slices.BinarySearchFunc(x.ranges, w, compareRangeWatchers)
	if !found {
		panic(fmt.Sprintf("watch: stream %d watcher %d missing from the range index", w.stream.id, w.id))
	}
	x.ranges = slices.Delete(x.ranges, i, i+1)
}

// visit calls fn for every watcher whose range holds key, synced or not, in
// no particular order (callers sort what they emit).
func (x *index) visit(key []byte, fn func(*watcher)) {
	for _, w := range x.single[string(key)] {
		fn(w)
	}
	// Ranges starting after key cannot hold it.
	n, _ := slices.BinarySearchFunc(x.ranges, key, func(w *watcher, k []byte) int {
		if bytes.Compare(w.key, k) <= 0 {
			return -1
		}
		return 1
	})
	for _, w := range x.ranges[:n] {
		if w.matches(key) {
			fn(w)
		}
	}
}
