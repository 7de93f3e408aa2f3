package linearizability

import (
	"fmt"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"pgregory.net/rapid"
)

func putEv(key, value string, create, mod, version int64) *mvccpb.Event {
	return &mvccpb.Event{Type: mvccpb.PUT, Kv: kv(key, value, create, mod, version)}
}

func delEv(key string, rev int64) *mvccpb.Event {
	return &mvccpb.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte(key), ModRevision: rev}}
}

// committed is a committed history up to rev, read at readAt ms.
func committed(rev int64, readAt int, evs ...*mvccpb.Event) *KVCommittedHistory {
	return &KVCommittedHistory{MemberHistory: MemberHistory{Member: 1, Revision: rev, Events: evs}, ReadAt: ms(readAt)}
}

func delUnknown(client, from, to int, key string) KVOperation {
	return KVOperation{ClientID: client, Invoke: ms(from), Return: ms(to), Indeterminate: true,
		Request: &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte(key)}},
		Err:     rpctypes.ErrGRPCTimeout}
}

func delRangeUnknown(client, from, to int, key, end string) KVOperation {
	op := delUnknown(client, from, to, key)
	op.Request.DeleteRange.RangeEnd = []byte(end)
	return op
}

func casUnknown(client, from, to int, key string, mod int64, value string) KVOperation {
	op := casOp(client, from, to, key, mod, value, nil)
	op.Indeterminate, op.Err = true, rpctypes.ErrGRPCLeaderChanged
	return op
}

func TestCheckKVCommittedHistory(t *testing.T) {
	for _, tc := range []struct {
		name      string
		history   []KVOperation
		committed *KVCommittedHistory
		want      Outcome
		detail    string // substring of Detail
	}{
		{name: "an indeterminate put found in the history is resolved", want: OK,
			detail: "1 indeterminate writes resolved, 0 dropped, 0 ambiguous (complete true)",
			history: []KVOperation{
				putUnknown(0, 0, 2000, "x", "a"),
				putOp(1, 2500, 2600, "y", "b", 3),
				getOp(1, 2700, 2800, "x", 3, kv("x", "a", 2, 2, 1)),
			},
			committed: committed(3, 5000, putEv("x", "a", 2, 2, 1), putEv("y", "b", 3, 3, 1))},
		{name: "an indeterminate put absent from the history is dropped", want: OK,
			detail: "0 indeterminate writes resolved, 1 dropped, 0 ambiguous (complete true)",
			history: []KVOperation{
				putUnknown(0, 0, 2000, "x", "a"),
				putOp(1, 2500, 2600, "y", "b", 2),
				getOp(1, 2700, 2800, "x", 2),
			},
			committed: committed(2, 5000, putEv("y", "b", 2, 2, 1))},
		{name: "a resolved put pins its revision", want: Violation, detail: "range(x)",
			// Without the committed history the put may apply after the
			// read; the history says it made revision 2, before y=b at 3,
			// so the read at revision 3 must see it.
			history: []KVOperation{
				putUnknown(0, 0, 2000, "x", "a"),
				putOp(1, 100, 200, "y", "b", 3),
				getOp(1, 300, 400, "x", 3),
			},
			committed: committed(3, 5000, putEv("x", "a", 2, 2, 1), putEv("y", "b", 3, 3, 1))},
		{name: "a write nobody sent", want: Violation, detail: "revision 3 [PUT \"x\"=\"zz\"@3",
			history: []KVOperation{
				putOp(0, 0, 10, "x", "a", 2),
			},
			committed: committed(3, 5000, putEv("x", "a", 2, 2, 1), putEv("x", "zz", 2, 3, 2))},
		{name: "an acknowledged put missing from the history", want: Violation,
			detail: "client 1 put(y, \"b\") (invoked", history: []KVOperation{
				putOp(0, 0, 10, "x", "a", 2),
				putOp(1, 20, 30, "y", "b", 3),
				putUnknown(2, 20, 2000, "y", "c"),
			},
			committed: committed(3, 5000, putEv("x", "a", 2, 2, 1), putEv("y", "c", 3, 3, 1))},
		{name: "an acknowledged put at a revision with another value", want: Violation,
			detail: "but the committed history shows [PUT \"x\"=\"b\"@2", history: []KVOperation{
				putOp(0, 0, 10, "x", "a", 2),
			},
			committed: committed(2, 5000, putEv("x", "b", 2, 2, 1))},
		{name: "a revision without an event", want: Violation, detail: "no event at revision 3",
			history: []KVOperation{
				putOp(0, 0, 10, "x", "a", 2),
				putOp(0, 20, 30, "x", "b", 3),
			},
			committed: committed(3, 5000, putEv("x", "a", 2, 2, 1))},
		{name: "a write that failed for sure yet applied", want: Violation, detail: "failed with",
			history: []KVOperation{
				putFailed(0, 0, 10, "x", "a"),
			},
			committed: committed(2, 5000, putEv("x", "a", 2, 2, 1))},
		{name: "one indeterminate delete explains a delete", want: OK,
			detail: "1 indeterminate writes resolved, 0 dropped, 0 ambiguous", history: []KVOperation{
				putOp(0, 0, 10, "x", "a", 2),
				delUnknown(1, 20, 2000, "x"),
				getOp(0, 2100, 2200, "x", 3),
			},
			committed: committed(3, 5000, putEv("x", "a", 2, 2, 1), delEv("x", 3))},
		{name: "two indeterminate deletes that could explain one delete stay indeterminate", want: OK,
			detail: "0 indeterminate writes resolved, 0 dropped, 2 ambiguous", history: []KVOperation{
				putOp(0, 0, 10, "x", "a", 2),
				delUnknown(1, 20, 2000, "x"),
				delUnknown(2, 30, 2000, "x"),
				getOp(0, 2100, 2200, "x", 3),
			},
			committed: committed(3, 5000, putEv("x", "a", 2, 2, 1), delEv("x", 3))},
		{name: "a forced placement frees the next revision's only candidate", want: OK,
			// Revision 6 deletes x and y: only the range delete can have
			// made it, which leaves the single-key delete for revision 3,
			// where either fits.
			detail: "2 indeterminate writes resolved, 0 dropped, 0 ambiguous", history: []KVOperation{
				putOp(0, 0, 10, "x", "a", 2),
				delUnknown(1, 20, 2000, "x"),
				delRangeUnknown(2, 30, 2000, "x", "z"),
				putOp(0, 100, 110, "x", "b", 4),
				putOp(0, 120, 130, "y", "c", 5),
			},
			committed: committed(6, 5000, putEv("x", "a", 2, 2, 1), delEv("x", 3), putEv("x", "b", 4, 4, 1),
				putEv("y", "c", 5, 5, 1), delEv("x", 6), delEv("y", 6))},
		{name: "an indeterminate CAS that applied and one that did not", want: OK,
			detail: "1 indeterminate writes resolved, 1 dropped", history: []KVOperation{
				putOp(0, 0, 10, "x", "a", 2),
				casUnknown(1, 20, 2000, "x", 2, "c"),
				casUnknown(2, 30, 2000, "x", 2, "d"),
				getOp(0, 2100, 2200, "x", 3, kv("x", "c", 2, 3, 2)),
			},
			committed: committed(3, 5000, putEv("x", "a", 2, 2, 1), putEv("x", "c", 2, 3, 2))},
		{name: "an incomplete history drops nothing", want: OK,
			detail: "0 indeterminate writes resolved, 0 dropped, 0 ambiguous (complete false)", history: []KVOperation{
				putOp(0, 0, 10, "x", "a", 2),
				putUnknown(1, 20, 2000, "y", "b"),
				putOp(0, 2100, 2200, "z", "c", 3),
			},
			committed: committed(2, 5000, putEv("x", "a", 2, 2, 1))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := CheckKV(tc.history, KVCheckOptions{Timeout: 10 * time.Second, Committed: tc.committed})
			if v.Outcome != tc.want {
				t.Fatalf("outcome %s, want %s; detail: %s", v.Outcome, tc.want, v.Detail)
			}
			if !strings.Contains(v.Detail, tc.detail) {
				t.Fatalf("detail %q does not mention %q", v.Detail, tc.detail)
			}
		})
	}
}

func TestCheckKVCommittedHistoryReadBeforeAnInvocationIsUnknown(t *testing.T) {
	h := []KVOperation{putOp(0, 6000, 6010, "x", "a", 2)}
	v := CheckKV(h, KVCheckOptions{Committed: committed(2, 5000, putEv("x", "a", 2, 2, 1))})
	if v.Outcome != Unknown || !strings.Contains(v.Detail, "after the committed history was read") {
		t.Fatalf("outcome %s detail %q", v.Outcome, v.Detail)
	}
}

// concurrentTimeouts is a history of n puts to distinct keys, all timed
// out and concurrent, every other one applied, each just before one of a
// run of acknowledged puts to another key. Nobody reads the timed-out keys,
// so porcupine alone must consider every subset of the timed-out puts that
// fits the revisions the acknowledged puts report.
func concurrentTimeouts(n int) ([]KVOperation, *KVCommittedHistory) {
	var h []KVOperation
	for i := range n {
		h = append(h, putUnknown(i, i, 3000, fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i)))
	}
	var evs []*mvccpb.Event
	rev := int64(1)
	for j := range n {
		if j%2 == 0 {
			rev++
			evs = append(evs, putEv(fmt.Sprintf("k%02d", j), fmt.Sprintf("v%d", j), rev, rev, 1))
		}
		rev++
		value := fmt.Sprintf("z%d", j)
		h = append(h, putOp(n, 100+100*j, 150+100*j, "z", value, rev))
		evs = append(evs, putEv("z", value, 3, rev, int64(j+1)))
	}
	// The first z put makes the key at revision 3, after k00 at 2.
	return h, committed(rev, 100*n+1000, evs...)
}

func TestCheckKVManyConcurrentTimeouts(t *testing.T) {
	h, c := concurrentTimeouts(20)
	// Without the committed history, porcupine does not finish in a
	// second: this is what made kvsim seed 94 unknown.
	if v := CheckKV(h, KVCheckOptions{Timeout: time.Second}); v.Outcome != Unknown {
		t.Fatalf("without the committed history: outcome %s in %v, want unknown (the test no longer shows the blow-up)", v.Outcome, v.CheckDuration)
	}
	v := CheckKV(h, KVCheckOptions{Timeout: 10 * time.Second, Committed: c})
	if v.Outcome != OK || !strings.Contains(v.Detail, "10 indeterminate writes resolved, 10 dropped, 0 ambiguous (complete true)") {
		t.Fatalf("outcome %s: %s", v.Outcome, v.Detail)
	}
	if v.CheckDuration > time.Second {
		t.Fatalf("checked in %v, want under a second", v.CheckDuration)
	}
}

// committedRun is a generated register history and the committed history
// of the execution behind it.
type committedRun struct {
	history   []KVOperation
	committed *KVCommittedHistory
	unknowns  int
}

// genCommittedRun draws a linearizable register history: operations take
// effect one after another at 10 ms steps over 5 keys, each call's
// invocation and return spread around that point so neighbours overlap.
// At least indeterminateMin writes time out; each of those took effect or
// not. The committed history is the events of the writes that took effect.
func genCommittedRun(t *rapid.T, indeterminateMin int) committedRun {
	n := rapid.IntRange(indeterminateMin*2, indeterminateMin*4).Draw(t, "ops")
	s := newKVState(1, nil)
	var run committedRun
	var evs []*mvccpb.Event
	for i := range n {
		key := fmt.Sprintf("k%d", rapid.IntRange(0, 4).Draw(t, "key"))
		var req *pb.InternalRaftRequest
		kind := rapid.IntRange(0, 99).Draw(t, "kind")
		if i < indeterminateMin {
			kind = 50 // the first writes are the timed-out ones
		}
		switch {
		case kind < 30:
			req = &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte(key)}}
		case kind < 75:
			req = &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(key), Value: []byte(fmt.Sprintf("v%d", i))}}
		case kind < 85:
			req = &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte(key)}}
		default:
			mod := int64(0)
			if j, ok := s.find(key); ok {
				mod = s.kvs[j].modRev
			}
			req = casOp(0, 0, 0, key, mod, fmt.Sprintf("v%d", i), nil).Request
		}
		op, err := decodeRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		at := time.Duration(i) * 10 * time.Millisecond
		o := KVOperation{ClientID: i % 25, Request: req,
			Invoke: epoch.Add(at - time.Duration(rapid.IntRange(0, 25).Draw(t, "before"))*time.Millisecond),
			Return: epoch.Add(at + time.Duration(rapid.IntRange(0, 25).Draw(t, "after"))*time.Millisecond)}
		timedOut := op.writes() && (i < indeterminateMin || rapid.IntRange(0, 99).Draw(t, "timeout") < 5)
		applied := !timedOut || rapid.Bool().Draw(t, "applied")
		if applied {
			next, res := apply(s, &op)
			evs = append(evs, eventsBetween(s, next)...)
			s = next
			o.Response = encodeResult(&op, &res)
		}
		if timedOut {
			o.Indeterminate, o.Response, o.Err = true, nil, rpctypes.ErrGRPCTimeout
			o.Return = o.Invoke.Add(time.Second)
			run.unknowns++
		}
		run.history = append(run.history, o)
	}
	readAt := epoch.Add(time.Duration(n)*10*time.Millisecond + 2*time.Second)
	run.committed = &KVCommittedHistory{MemberHistory: MemberHistory{Member: 1, Revision: s.rev, Events: evs}, ReadAt: readAt}
	return run
}

// eventsBetween is what a watch reports for the write that turned a into b.
func eventsBetween(a, b *kvState) []*mvccpb.Event {
	if a == b {
		return nil
	}
	var evs []*mvccpb.Event
	for _, r := range b.kvs {
		if r.modRev == b.rev {
			evs = append(evs, &mvccpb.Event{Type: mvccpb.PUT, Kv: encodeKVs([]kvRecord{r})[0]})
		}
	}
	for _, r := range a.kvs {
		if _, ok := b.find(r.key); !ok {
			evs = append(evs, delEv(r.key, b.rev))
		}
	}
	return evs
}

func TestCheckKVCommittedHistoryProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		run := genCommittedRun(t, 20)
		v := CheckKV(run.history, KVCheckOptions{Timeout: 10 * time.Second, Committed: run.committed})
		if v.Outcome != OK {
			t.Fatalf("a linearizable history with its own committed history: %s: %s", v.Outcome, v.Detail)
		}
		if v.CheckDuration > time.Second {
			t.Fatalf("%d indeterminate writes checked in %v, want under a second", run.unknowns, v.CheckDuration)
		}
		// Any value changed in the committed history is a write nobody
		// sent, or contradicts an acknowledged one.
		var puts []int
		for i, e := range run.committed.Events {
			if e.Type == mvccpb.PUT {
				puts = append(puts, i)
			}
		}
		if len(puts) == 0 {
			return
		}
		i := puts[rapid.IntRange(0, len(puts)-1).Draw(t, "tampered")]
		tampered := *run.committed
		tampered.Events = append([]*mvccpb.Event(nil), tampered.Events...)
		e := &mvccpb.Event{Type: mvccpb.PUT, Kv: kv(string(tampered.Events[i].Kv.Key), "forged",
			tampered.Events[i].Kv.CreateRevision, tampered.Events[i].Kv.ModRevision, tampered.Events[i].Kv.Version)}
		tampered.Events[i] = e
		if v := CheckKV(run.history, KVCheckOptions{Timeout: 10 * time.Second, Committed: &tampered}); v.Outcome != Violation {
			t.Fatalf("a forged value at revision %d: %s: %s", e.Kv.ModRevision, v.Outcome, v.Detail)
		}
	})
}
