package linearizability

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// registerHistory builds a linearizable register-shaped history of n
// operations over 10 keys: each operation takes effect at 10 ms steps, its
// invocation and return spread up to 25 ms either side so neighbours
// overlap, as with a handful of concurrent clients. About 2 % of the
// writes time out (their effect happens, nobody sees it).
func registerHistory(n int, seed uint64) []KVOperation {
	rnd := rand.New(rand.NewPCG(seed, 0))
	s := newKVState(1, nil)
	var h []KVOperation
	for i := range n {
		key := []byte(fmt.Sprintf("k%d", rnd.IntN(10)))
		var req *pb.InternalRaftRequest
		switch p := rnd.IntN(100); {
		case p < 45:
			req = &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: key}}
		case p < 85:
			req = &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: key, Value: []byte(fmt.Sprintf("v%d", i))}}
		default:
			req = &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: key}}
		}
		op, err := decodeRequest(req)
		if err != nil {
			panic(err)
		}
		next, res := apply(s, &op)
		s = next
		at := time.Duration(i) * 10 * time.Millisecond
		o := KVOperation{ClientID: i % 5, Request: req,
			Invoke: epoch.Add(at - time.Duration(rnd.IntN(25))*time.Millisecond),
			Return: epoch.Add(at + time.Duration(rnd.IntN(25))*time.Millisecond)}
		if op.writes() && rnd.IntN(100) < 2 {
			o.Indeterminate, o.Return = true, o.Return.Add(time.Second)
		} else {
			o.Response = encodeResult(&op, &res)
		}
		h = append(h, o)
	}
	return h
}

func BenchmarkCheckRegister(b *testing.B) {
	for _, n := range []int{100, 500} {
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			h := registerHistory(n, 1)
			for b.Loop() {
				if v := CheckKV(h, KVCheckOptions{Timeout: time.Minute}); v.Outcome != OK {
					b.Fatalf("%s: %s", v.Outcome, v.Detail)
				}
			}
		})
	}
}

// BenchmarkCheckCommitted checks histories of n concurrent timed-out puts
// (see concurrentTimeouts) against their committed history; without it
// n=20 does not finish within a second.
func BenchmarkCheckCommitted(b *testing.B) {
	for _, n := range []int{20, 100} {
		b.Run(fmt.Sprintf("timeouts=%d", n), func(b *testing.B) {
			h, c := concurrentTimeouts(n)
			for b.Loop() {
				if v := CheckKV(h, KVCheckOptions{Timeout: time.Minute, Committed: c}); v.Outcome != OK {
					b.Fatalf("%s: %s", v.Outcome, v.Detail)
				}
			}
		})
	}
}
