package linearizability

import (
	"fmt"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

func TestCheckKV(t *testing.T) {
	okCAS := &pb.TxnResponse{Header: header(4), Succeeded: true, Responses: []*pb.ResponseOp{
		{Response: &pb.ResponseOp_ResponsePut{ResponsePut: &pb.PutResponse{}}}}}
	failedCAS := &pb.TxnResponse{Header: header(4), Succeeded: false, Responses: []*pb.ResponseOp{
		{Response: &pb.ResponseOp_ResponseRange{ResponseRange: &pb.RangeResponse{Kvs: kvs(kv("x", "c", 2, 4, 3)), Count: 1}}}}}
	for _, tc := range []struct {
		name    string
		history []KVOperation
		want    Outcome
		detail  string // substring of Detail
	}{
		{name: "linearizable", want: OK, history: []KVOperation{
			putOp(0, 0, 10, "x", "a", 2),
			getOp(1, 5, 15, "x", 2, kv("x", "a", 2, 2, 1)),
			putOp(0, 20, 30, "x", "b", 3),
			casOp(1, 25, 40, "x", 3, "c", okCAS),
			getOp(0, 50, 60, "x", 4, kv("x", "c", 2, 4, 3)),
			delOp(1, 70, 80, "x", 1, 5),
			getOp(0, 90, 95, "x", 5),
		}},
		{name: "concurrent read may see either value", want: OK, history: []KVOperation{
			putOp(0, 0, 10, "x", "a", 2),
			putOp(0, 20, 40, "x", "b", 3),
			getOp(1, 21, 39, "x", 2, kv("x", "a", 2, 2, 1)),
			getOp(2, 22, 38, "x", 3, kv("x", "b", 2, 3, 2)),
		}},
		{name: "failed CAS reads the current value", want: OK, history: []KVOperation{
			putOp(0, 0, 10, "x", "a", 2),
			putOp(0, 11, 20, "x", "b", 3),
			putOp(0, 21, 30, "x", "c", 4),
			casOp(1, 31, 40, "x", 3, "d", failedCAS),
		}},
		{name: "stale read", want: Violation, detail: `range(x) → [x="a"`, history: []KVOperation{
			putOp(0, 0, 10, "x", "a", 2),
			putOp(0, 20, 30, "x", "b", 3),
			getOp(1, 40, 50, "x", 2, kv("x", "a", 2, 2, 1)),
		}},
		{name: "lost acknowledged write", want: Violation, detail: "not linearizable", history: []KVOperation{
			putOp(0, 0, 10, "x", "a", 2),
			getOp(1, 20, 30, "x", 1),
		}},
		{name: "wrong revision in a put response", want: Violation, detail: "put(y", history: []KVOperation{
			putOp(0, 0, 10, "x", "a", 2),
			putOp(0, 20, 30, "y", "b", 2),
		}},
		{name: "wrong mod revision in a read", want: Violation, detail: "x=\"a\"@c2/m3", history: []KVOperation{
			putOp(0, 0, 10, "x", "a", 2),
			getOp(1, 20, 30, "x", 2, kv("x", "a", 2, 3, 1)),
		}},
		{name: "non-monotonic revision", want: Violation, detail: "@rev 2", history: []KVOperation{
			putOp(0, 0, 10, "x", "a", 2),
			putOp(0, 20, 30, "y", "b", 3),
			getOp(1, 40, 50, "y", 3, kv("y", "b", 3, 3, 1)),
			getOp(1, 60, 70, "x", 2, kv("x", "a", 2, 2, 1)),
		}},
		{name: "indeterminate write that applied", want: OK, history: []KVOperation{
			putUnknown(0, 0, 2000, "x", "a"),
			getOp(1, 2500, 2600, "x", 2, kv("x", "a", 2, 2, 1)),
			putOp(1, 2700, 2800, "y", "b", 3),
		}},
		{name: "indeterminate write that did not apply", want: OK, history: []KVOperation{
			putUnknown(0, 0, 2000, "x", "a"),
			getOp(1, 2500, 2600, "x", 1),
			putOp(1, 2700, 2800, "y", "b", 2),
		}},
		{name: "indeterminate write applied late, after a later read", want: OK, history: []KVOperation{
			putUnknown(0, 0, 2000, "x", "a"),
			getOp(1, 2500, 2600, "x", 1),
			getOp(1, 3000, 3100, "x", 2, kv("x", "a", 2, 2, 1)),
		}},
		{name: "definitely failed write never applies", want: Violation, detail: "range(x)", history: []KVOperation{
			putFailed(0, 0, 10, "x", "a"),
			getOp(1, 20, 30, "x", 2, kv("x", "a", 2, 2, 1)),
		}},
		{name: "serializable reads are not judged here", want: OK, history: []KVOperation{
			putOp(0, 0, 10, "x", "a", 2),
			putOp(0, 20, 30, "x", "b", 3),
			serializableGet(1, 40, 50, "x", 2, kv("x", "a", 2, 2, 1)),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := CheckKV(tc.history, KVCheckOptions{Timeout: 10 * time.Second})
			if v.Outcome != tc.want {
				t.Fatalf("outcome %s, want %s; detail: %s", v.Outcome, tc.want, v.Detail)
			}
			if !strings.Contains(v.Detail, tc.detail) {
				t.Fatalf("detail %q does not mention %q", v.Detail, tc.detail)
			}
			if v.Checker != CheckerKVLinearizable {
				t.Fatalf("checker %q", v.Checker)
			}
		})
	}
}

func kvs(kv ...*mvccpb.KeyValue) []*mvccpb.KeyValue { return kv }

func TestCheckKVTimeoutIsUnknown(t *testing.T) {
	// Many concurrent writes whose outcome nobody saw, then a read that no
	// subset of them explains: porcupine must search all subsets, far more
	// than a nanosecond allows.
	var h []KVOperation
	for i := range 6 {
		h = append(h, putUnknown(i, 0, 100, fmt.Sprintf("k%02d", i), "v"))
	}
	h = append(h, getOp(7, 200, 210, "zz", 99))
	v := CheckKV(h, KVCheckOptions{Timeout: time.Nanosecond})
	if v.Outcome != Unknown || !strings.Contains(v.Detail, "no verdict within") {
		t.Fatalf("outcome %s, want unknown; detail %s", v.Outcome, v.Detail)
	}
	// The same history with time to finish is a violation, so Unknown
	// above came from the timeout and nothing else.
	if v := CheckKV(h, KVCheckOptions{Timeout: 10 * time.Second}); v.Outcome != Violation {
		t.Fatalf("untimed outcome %s: %s", v.Outcome, v.Detail)
	}
}

func TestCheckKVVisualizes(t *testing.T) {
	v := CheckKV([]KVOperation{putOp(0, 0, 10, "x", "a", 2), getOp(1, 20, 30, "x", 1)}, KVCheckOptions{Visualize: true})
	if v.Outcome != Violation || !strings.Contains(string(v.VisualizationHTML), "<html") {
		t.Fatalf("outcome %s, %d bytes of HTML", v.Outcome, len(v.VisualizationHTML))
	}
}

func TestCheckKVUnsupportedRequestIsUnknown(t *testing.T) {
	op := getOp(0, 0, 10, "x", 1)
	op.Request.Range.Revision = 1
	if v := CheckKV([]KVOperation{op}, KVCheckOptions{}); v.Outcome != Unknown || !strings.Contains(v.Detail, "revision 1") {
		t.Fatalf("outcome %s detail %q", v.Outcome, v.Detail)
	}
}
