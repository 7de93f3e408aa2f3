package mvcc

import (
	"fmt"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// The table holds exactly what a map would through adds, removes and
// growth, whatever the hash: with few distinct hashes every run is long
// and wraps around the table's end, which is where backward-shift
// deletion can go wrong. After every step each slot's record is reachable
// from its home without crossing an empty slot.
func TestHashIndexAgreesWithAMap(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		x := newHashIndex()
		switch rapid.IntRange(0, 2).Draw(t, "hash") {
		case 0: // few tags, spread over the table: runs cross its end
			x.hash = func(_ maphash.Seed, key string) uint64 { return uint64(len(key)%4) << 62 }
		case 1: // every key the same tag, at the table's last slots
			x.hash = func(maphash.Seed, string) uint64 { return math.MaxUint64 }
		}
		x.tableSlotsMax = rapid.SampledFrom([]int{hashTableSlotsMin, 32, hashTableSlotsMax}).Draw(t, "tableSlotsMax")
		model := map[string]*record{}
		for range rapid.IntRange(0, 300).Draw(t, "steps") {
			key := fmt.Sprintf("k%0*d", rapid.IntRange(1, 4).Draw(t, "width"), rapid.IntRange(0, 60).Draw(t, "key"))
			if r := model[key]; r != nil && rapid.Bool().Draw(t, "remove") {
				x.remove(r)
				delete(model, key)
			} else if r == nil {
				r = &record{latest: version{kv: key, keyLen: int32(len(key))}}
				x.add(r)
				model[key] = r
			}
			if got := x.get(key); got != model[key] {
				t.Fatalf("get %q: %p, want %p", key, got, model[key])
			}
			checkHashIndex(t, &x, model)
		}
	})
}

func checkHashIndex(t *rapid.T, x *hashIndex, model map[string]*record) {
	if len(x.dir) != 1<<x.depth {
		t.Fatalf("directory of %d entries at depth %d", len(x.dir), x.depth)
	}
	held, seen := 0, map[*hashTable]bool{}
	for d, ht := range x.dir {
		if seen[ht] {
			continue
		}
		seen[ht] = true
		if ht.shift > x.depth {
			t.Fatalf("table at entry %d has local depth %d over the directory's %d", d, ht.shift, x.depth)
		}
		n := 0
		for i, r := range ht.recs {
			if r == nil {
				continue
			}
			n++
			if ht.tags[i] != x.tag(r.key()) {
				t.Fatalf("slot %d: tag %x, key %q's is %x", i, ht.tags[i], r.key(), x.tag(r.key()))
			}
			if x.table(ht.tags[i]) != ht {
				t.Fatalf("key %q (tag %x) sits in a table the directory does not send it to", r.key(), ht.tags[i])
			}
			for j := ht.home(ht.tags[i]); j != i; j = ht.next(j) {
				if ht.recs[j] == nil {
					t.Fatalf("slot %d (%q) is cut off from its home %d by the empty slot %d", i, r.key(), ht.home(ht.tags[i]), j)
				}
			}
		}
		if n != ht.n {
			t.Fatalf("table holds %d records, counts %d", n, ht.n)
		}
		if float64(ht.n) > hashLoadMax*float64(len(ht.recs)) {
			t.Fatalf("%d records in %d slots, over the load bound", ht.n, len(ht.recs))
		}
		held += n
	}
	if held != len(model) || x.n != len(model) {
		t.Fatalf("tables hold %d records (n %d), the model %d", held, x.n, len(model))
	}
	for k, r := range model {
		if got := x.get(k); got != r {
			t.Fatalf("get %q: %p, want %p", k, got, r)
		}
	}
}

// With a hash that collides for every pair of keys of equal length, keys
// share tags and long probe runs; the store must answer exactly as one
// with the real hash, through puts, deletes, compactions and a restore.
func TestHashIndexCollisionsAnswerAsTheTree(t *testing.T) {
	real, colliding := New(Options{}), New(Options{})
	colliding.byKey.hash = func(_ maphash.Seed, key string) uint64 { return uint64(len(key)) }
	rng := rand.New(rand.NewPCG(7, 11))
	key := func() []byte { return []byte(fmt.Sprintf("k%d", rng.IntN(40))) }
	for i := range 3000 {
		k := key()
		var a, b proto.Message
		var errA, errB error
		switch op := rng.IntN(10); {
		case op < 6:
			req := &pb.PutRequest{Key: k, Value: []byte(fmt.Sprint(i)), PrevKv: true}
			a, errA = real.Put(req)
			b, errB = colliding.Put(req)
		case op < 8:
			req := &pb.DeleteRangeRequest{Key: k, PrevKv: true}
			a, errA = real.DeleteRange(req)
			b, errB = colliding.DeleteRange(req)
		case op < 9:
			req := &pb.RangeRequest{Key: k}
			a, errA = real.Range(req)
			b, errB = colliding.Range(req)
		default:
			rev := real.Rev() - int64(rng.IntN(5))
			a, errA = real.Compact(rev)
			b, errB = colliding.Compact(rev)
		}
		if fmt.Sprint(errA) != fmt.Sprint(errB) || !proto.Equal(a, b) {
			t.Fatalf("op %d on %s: real %v %v, colliding %v %v", i, k, a, errA, b, errB)
		}
	}
	restored, err := Restore(colliding.Snapshot(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		req := &pb.RangeRequest{Key: []byte(fmt.Sprintf("k%d", i))}
		a, _ := real.Range(req)
		b, _ := restored.Range(req)
		if !proto.Equal(a, b) {
			t.Fatalf("after restore, k%d: %v, want %v", i, b, a)
		}
	}
}
