package mvcc

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// With a hash that collides for every pair of keys of equal length, every
// lookup goes through the collision path; the store must answer exactly as
// one with the real hash, through puts, deletes, compactions and a restore.
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
