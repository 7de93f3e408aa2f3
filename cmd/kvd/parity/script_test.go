package parity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/internal/procs"
)

// env is what a step sees of one system.
type env struct {
	m     *member
	n     *normalizer
	kv    pb.KVClient
	lease pb.LeaseClient
	clu   pb.ClusterClient
	mt    pb.MaintenanceClient
	// vars carries values between steps of one system (revisions, sessions).
	vars map[string]any
}

// step is one call (or a few calls that make one observable answer) of the
// script; run returns what the system answered.
type step struct {
	name string
	run  func(ctx context.Context, e *env) any
}

func (e *env) rev(name string) int64 { return e.vars[name].(int64) }

// put is a raw put whose answer is the step's answer.
func put(key, val string, mod ...func(*pb.PutRequest)) func(context.Context, *env) any {
	return func(ctx context.Context, e *env) any {
		r := &pb.PutRequest{Key: []byte(key), Value: []byte(val)}
		for _, f := range mod {
			f(r)
		}
		return answer(e.kv.Put(ctx, r))
	}
}

func rng(key, end string, mod ...func(*pb.RangeRequest)) func(context.Context, *env) any {
	return func(ctx context.Context, e *env) any {
		r := &pb.RangeRequest{Key: []byte(key)}
		if end != "" {
			r.RangeEnd = []byte(end)
		}
		for _, f := range mod {
			f(r)
		}
		return answer(e.kv.Range(ctx, r))
	}
}

func del(key, end string, prevKV bool) func(context.Context, *env) any {
	return func(ctx context.Context, e *env) any {
		r := &pb.DeleteRangeRequest{Key: []byte(key), PrevKv: prevKV}
		if end != "" {
			r.RangeEnd = []byte(end)
		}
		return answer(e.kv.DeleteRange(ctx, r))
	}
}

func txn(r *pb.TxnRequest) func(context.Context, *env) any {
	return func(ctx context.Context, e *env) any { return answer(e.kv.Txn(ctx, r)) }
}

// answer is a call's response, or its error when it failed.
func answer[T any](resp T, err error) any {
	if err != nil {
		return err
	}
	return resp
}

func opPut(key, val string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(key), Value: []byte(val)}}}
}

func opRange(key, end string) *pb.RequestOp {
	r := &pb.RangeRequest{Key: []byte(key)}
	if end != "" {
		r.RangeEnd = []byte(end)
	}
	return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: r}}
}

func opDel(key, end string) *pb.RequestOp {
	r := &pb.DeleteRangeRequest{Key: []byte(key), PrevKv: true}
	if end != "" {
		r.RangeEnd = []byte(end)
	}
	return &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: r}}
}

func opTxn(t *pb.TxnRequest) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: t}}
}

func cmpValue(key string, res pb.Compare_CompareResult, val string) *pb.Compare {
	return &pb.Compare{Key: []byte(key), Result: res, Target: pb.Compare_VALUE, TargetUnion: &pb.Compare_Value{Value: []byte(val)}}
}

func cmpInt(key string, res pb.Compare_CompareResult, target pb.Compare_CompareTarget, v int64) *pb.Compare {
	c := &pb.Compare{Key: []byte(key), Result: res, Target: target}
	switch target {
	case pb.Compare_VERSION:
		c.TargetUnion = &pb.Compare_Version{Version: v}
	case pb.Compare_CREATE:
		c.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: v}
	case pb.Compare_MOD:
		c.TargetUnion = &pb.Compare_ModRevision{ModRevision: v}
	case pb.Compare_LEASE:
		c.TargetUnion = &pb.Compare_Lease{Lease: v}
	}
	return c
}

// leaseFixedID is the id the script grants explicitly: both systems must
// honour a client's id, so it needs no normalizing.
const leaseFixedID = 0x1234567

// script is the differential script: every step runs on both systems in
// this order, and their answers must agree after normalizing.
func script() []step {
	var s []step
	add := func(name string, run func(context.Context, *env) any) { s = append(s, step{name, run}) }

	// ---- KV: put options and errors.
	add("put", put("/p/a", "1"))
	add("put prev_kv missing", put("/p/b", "2", func(r *pb.PutRequest) { r.PrevKv = true }))
	add("put prev_kv", put("/p/a", "11", func(r *pb.PutRequest) { r.PrevKv = true }))
	add("put c", put("/p/c", "3"))
	add("put ignore_value", put("/p/a", "", func(r *pb.PutRequest) { r.IgnoreValue = true; r.PrevKv = true }))
	add("put ignore_value missing key", put("/p/zz", "", func(r *pb.PutRequest) { r.IgnoreValue = true }))
	add("put ignore_lease without lease", put("/p/b", "22", func(r *pb.PutRequest) { r.IgnoreLease = true }))
	add("put empty key", put("", "x"))
	add("put ignore_value with value", put("/p/a", "x", func(r *pb.PutRequest) { r.IgnoreValue = true }))
	add("put ignore_lease with lease", put("/p/a", "x", func(r *pb.PutRequest) { r.IgnoreLease = true; r.Lease = 5 }))
	add("put unknown lease", put("/p/a", "x", func(r *pb.PutRequest) { r.Lease = 987654321 }))
	add("put d/1", put("/p/d/1", "d1"))
	add("put d/2", put("/p/d/2", "d2"))
	add("put d/3", put("/p/d/3", "d3"))
	add("put binary value", put("/p/bin", "\x00\x01\xff"))

	// ---- KV: range options.
	add("range key", rng("/p/a", ""))
	add("range missing key", rng("/p/nope", ""))
	add("range prefix", rng("/p/", "/p0"))
	add("range from key", rng("/p/c", "\x00"))
	add("range all keys", rng("\x00", "\x00"))
	add("range limit", rng("/p/", "/p0", func(r *pb.RangeRequest) { r.Limit = 2 }))
	add("range negative limit", rng("/p/", "/p0", func(r *pb.RangeRequest) { r.Limit = -1 }))
	add("range count_only", rng("/p/", "/p0", func(r *pb.RangeRequest) { r.CountOnly = true }))
	add("range keys_only", rng("/p/", "/p0", func(r *pb.RangeRequest) { r.KeysOnly = true }))
	add("range count_only with limit", rng("/p/", "/p0", func(r *pb.RangeRequest) { r.CountOnly = true; r.Limit = 1 }))
	for _, target := range []pb.RangeRequest_SortTarget{pb.RangeRequest_KEY, pb.RangeRequest_VERSION, pb.RangeRequest_CREATE, pb.RangeRequest_MOD, pb.RangeRequest_VALUE} {
		for _, order := range []pb.RangeRequest_SortOrder{pb.RangeRequest_ASCEND, pb.RangeRequest_DESCEND} {
			add(fmt.Sprintf("range sort %s %s", target, order), rng("/p/", "/p0", func(r *pb.RangeRequest) { r.SortTarget, r.SortOrder = target, order }))
		}
	}
	add("range sort target without order", rng("/p/", "/p0", func(r *pb.RangeRequest) { r.SortTarget = pb.RangeRequest_VALUE }))
	add("range sort with limit", rng("/p/", "/p0", func(r *pb.RangeRequest) {
		r.SortTarget, r.SortOrder, r.Limit = pb.RangeRequest_MOD, pb.RangeRequest_DESCEND, 2
	}))
	add("range invalid sort order", rng("/p/", "/p0", func(r *pb.RangeRequest) { r.SortOrder = 7 }))
	add("range invalid sort target", rng("/p/", "/p0", func(r *pb.RangeRequest) { r.SortTarget = 9 }))
	add("range at revision", rng("/p/", "/p0", func(r *pb.RangeRequest) { r.Revision = 3 }))
	add("range future revision", rng("/p/", "/p0", func(r *pb.RangeRequest) { r.Revision = 100000 }))
	add("range min_mod_revision", rng("/p/", "/p0", func(r *pb.RangeRequest) { r.MinModRevision = 4 }))
	add("range max_mod_revision", rng("/p/", "/p0", func(r *pb.RangeRequest) { r.MaxModRevision = 4 }))
	add("range min_create_revision", rng("/p/", "/p0", func(r *pb.RangeRequest) { r.MinCreateRevision = 3 }))
	add("range max_create_revision", rng("/p/", "/p0", func(r *pb.RangeRequest) { r.MaxCreateRevision = 3 }))
	add("range filters with limit", rng("/p/", "/p0", func(r *pb.RangeRequest) { r.MinModRevision = 4; r.Limit = 1 }))
	add("range serializable", rng("/p/", "/p0", func(r *pb.RangeRequest) { r.Serializable = true }))
	add("range empty key", rng("", ""))
	add("range end below key", rng("/p/c", "/p/a"))

	// ---- KV: delete.
	add("delete missing key", del("/p/zz", "", false))
	add("delete key prev_kv", del("/p/c", "", true))
	add("delete prefix prev_kv", del("/p/d/", "/p/d0", true))
	add("delete empty key", del("", "", false))
	add("range after deletes", rng("/p/", "/p0"))

	// ---- Txn shapes.
	add("txn value equal", txn(&pb.TxnRequest{
		Compare: []*pb.Compare{cmpValue("/p/a", pb.Compare_EQUAL, "11")},
		Success: []*pb.RequestOp{opPut("/p/t", "1"), opRange("/p/a", "")},
		Failure: []*pb.RequestOp{opRange("/p/b", "")},
	}))
	add("txn value not equal fails", txn(&pb.TxnRequest{
		Compare: []*pb.Compare{cmpValue("/p/a", pb.Compare_NOT_EQUAL, "11")},
		Success: []*pb.RequestOp{opPut("/p/t", "2")},
		Failure: []*pb.RequestOp{opDel("/p/t", ""), opRange("/p/", "/p0")},
	}))
	add("txn version greater and create less", txn(&pb.TxnRequest{
		Compare: []*pb.Compare{cmpInt("/p/a", pb.Compare_GREATER, pb.Compare_VERSION, 1), cmpInt("/p/a", pb.Compare_LESS, pb.Compare_CREATE, 3)},
		Success: []*pb.RequestOp{opPut("/p/t", "3")},
	}))
	add("txn mod equal and lease equal", txn(&pb.TxnRequest{
		Compare: []*pb.Compare{cmpInt("/p/b", pb.Compare_EQUAL, pb.Compare_MOD, 7), cmpInt("/p/b", pb.Compare_EQUAL, pb.Compare_LEASE, 0)},
		Success: []*pb.RequestOp{opRange("/p/b", "")},
		Failure: []*pb.RequestOp{opRange("/p/a", "")},
	}))
	add("txn compare over a range", txn(&pb.TxnRequest{
		Compare: []*pb.Compare{{Key: []byte("/p/"), RangeEnd: []byte("/p0"), Result: pb.Compare_GREATER, Target: pb.Compare_VERSION, TargetUnion: &pb.Compare_Version{Version: 0}}},
		Success: []*pb.RequestOp{opRange("/p/", "/p0")},
	}))
	add("txn compare missing key", txn(&pb.TxnRequest{
		Compare: []*pb.Compare{cmpInt("/p/none", pb.Compare_EQUAL, pb.Compare_CREATE, 0), cmpValue("/p/none", pb.Compare_EQUAL, "")},
		Success: []*pb.RequestOp{opRange("/p/none", "")},
		Failure: []*pb.RequestOp{opRange("/p/a", "")},
	}))
	add("txn nested", txn(&pb.TxnRequest{
		Success: []*pb.RequestOp{opTxn(&pb.TxnRequest{
			Compare: []*pb.Compare{cmpValue("/p/t", pb.Compare_EQUAL, "3")},
			Success: []*pb.RequestOp{opPut("/p/n", "nested"), opRange("/p/n", "")},
		}), opRange("/p/t", "")},
	}))
	add("txn empty", txn(&pb.TxnRequest{}))
	add("txn duplicate put", txn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("/p/x", "1"), opPut("/p/x", "2")}}))
	add("txn put inside deleted range", txn(&pb.TxnRequest{Success: []*pb.RequestOp{opDel("/p/", "/p0"), opPut("/p/x", "2")}}))
	add("txn too many ops", func(ctx context.Context, e *env) any {
		var ops []*pb.RequestOp
		for i := range 129 {
			ops = append(ops, opRange(fmt.Sprintf("/p/%d", i), ""))
		}
		return answer(e.kv.Txn(ctx, &pb.TxnRequest{Success: ops}))
	})
	add("txn empty key in op", txn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("", "v")}}))
	add("txn range at revision", txn(&pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("/p/a"), Revision: 2}}}}}))
	add("txn read only with future revision", txn(&pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("/p/a"), Revision: 100000}}}}}))

	// ---- Compaction.
	for i := range 5 {
		add(fmt.Sprintf("put history %d", i), put("/p/h", fmt.Sprintf("h%d", i)))
	}
	add("note compact revision", func(ctx context.Context, e *env) any {
		resp, err := e.kv.Range(ctx, &pb.RangeRequest{Key: []byte("/p/h")})
		if err != nil {
			return err
		}
		e.vars["compact"] = resp.Kvs[0].ModRevision - 2
		return e.vars["compact"]
	})
	add("compact", func(ctx context.Context, e *env) any {
		return answer(e.kv.Compact(ctx, &pb.CompactionRequest{Revision: e.rev("compact")}))
	})
	add("compact again", func(ctx context.Context, e *env) any {
		return answer(e.kv.Compact(ctx, &pb.CompactionRequest{Revision: e.rev("compact")}))
	})
	add("compact below", func(ctx context.Context, e *env) any {
		return answer(e.kv.Compact(ctx, &pb.CompactionRequest{Revision: e.rev("compact") - 1}))
	})
	add("compact future", func(ctx context.Context, e *env) any {
		return answer(e.kv.Compact(ctx, &pb.CompactionRequest{Revision: 100000}))
	})
	add("range compacted revision", func(ctx context.Context, e *env) any {
		return answer(e.kv.Range(ctx, &pb.RangeRequest{Key: []byte("/p/h"), Revision: e.rev("compact") - 1}))
	})
	add("range at compact revision", func(ctx context.Context, e *env) any {
		return answer(e.kv.Range(ctx, &pb.RangeRequest{Key: []byte("/p/h"), Revision: e.rev("compact")}))
	})
	add("txn range compacted revision", func(ctx context.Context, e *env) any {
		return answer(e.kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("/p/h"), Revision: 1}}}}}))
	})

	// ---- Watch, on raw streams so every field of every response shows.
	add("watch key: created, puts, delete", watchSteps(4,
		watchCreate(&pb.WatchCreateRequest{Key: []byte("/w/k")}),
		doPut("/w/k", "1"), doPut("/w/k", "2"), doDel("/w/k", "")))
	add("watch prefix prev_kv, no puts", watchSteps(2,
		watchCreate(&pb.WatchCreateRequest{Key: []byte("/w/"), RangeEnd: []byte("/w0"), PrevKv: true, Filters: []pb.WatchCreateRequest_FilterType{pb.WatchCreateRequest_NOPUT}}),
		doPut("/w/a", "1"), doPut("/w/a", "2"), doDel("/w/a", "")))
	add("watch prefix no deletes", watchSteps(3,
		watchCreate(&pb.WatchCreateRequest{Key: []byte("/w/"), RangeEnd: []byte("/w0"), Filters: []pb.WatchCreateRequest_FilterType{pb.WatchCreateRequest_NODELETE}}),
		doPut("/w/b", "1"), doDel("/w/b", ""), doPut("/w/b", "2")))
	add("watch delete of many keys in one revision", watchSteps(2,
		watchCreate(&pb.WatchCreateRequest{Key: []byte("/p/"), RangeEnd: []byte("/p0"), PrevKv: true}),
		func(ctx context.Context, e *env, w *watchSession) {
			e.kv.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte("/p/"), RangeEnd: []byte("/p0")})
		}))
	add("watch catch up from an old revision", func(ctx context.Context, e *env) any {
		return runWatch(ctx, e, 2, watchCreate(&pb.WatchCreateRequest{Key: []byte("/w/"), RangeEnd: []byte("/w0"), StartRevision: e.rev("compact") + 3}))
	})
	add("compact before watch edges", func(ctx context.Context, e *env) any {
		resp, err := e.kv.Put(ctx, &pb.PutRequest{Key: []byte("/w/edge"), Value: []byte("e")})
		if err != nil {
			return err
		}
		e.vars["compact2"] = resp.Header.Revision
		e.kv.Put(ctx, &pb.PutRequest{Key: []byte("/w/edge"), Value: []byte("f")})
		return answer(e.kv.Compact(ctx, &pb.CompactionRequest{Revision: resp.Header.Revision}))
	})
	add("watch from the compaction revision", func(ctx context.Context, e *env) any {
		return runWatch(ctx, e, 3, watchCreate(&pb.WatchCreateRequest{Key: []byte("/w/"), RangeEnd: []byte("/w0"), StartRevision: e.rev("compact2")}))
	})
	add("watch from below the compaction revision", func(ctx context.Context, e *env) any {
		return runWatch(ctx, e, 2, watchCreate(&pb.WatchCreateRequest{Key: []byte("/w/"), RangeEnd: []byte("/w0"), StartRevision: e.rev("compact2") - 1}))
	})
	add("hashkv now", func(ctx context.Context, e *env) any {
		return answer(e.mt.HashKV(ctx, &pb.HashKVRequest{}))
	})
	add("hashkv below the compaction revision", func(ctx context.Context, e *env) any {
		return answer(e.mt.HashKV(ctx, &pb.HashKVRequest{Revision: e.rev("compact2") - 1}))
	})
	add("hashkv future", func(ctx context.Context, e *env) any {
		return answer(e.mt.HashKV(ctx, &pb.HashKVRequest{Revision: 100000}))
	})
	add("compact at a delete", func(ctx context.Context, e *env) any {
		e.kv.Put(ctx, &pb.PutRequest{Key: []byte("/wt/gone"), Value: []byte("x")})
		resp, err := e.kv.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte("/wt/gone")})
		if err != nil {
			return err
		}
		e.vars["compact3"] = resp.Header.Revision
		e.kv.Put(ctx, &pb.PutRequest{Key: []byte("/wt/after"), Value: []byte("y")})
		return answer(e.kv.Compact(ctx, &pb.CompactionRequest{Revision: resp.Header.Revision}))
	})
	add("watch from a compaction revision that deleted", func(ctx context.Context, e *env) any {
		return runWatch(ctx, e, 2, watchCreate(&pb.WatchCreateRequest{Key: []byte("/wt/"), RangeEnd: []byte("/wt0"), StartRevision: e.rev("compact3"), PrevKv: true}))
	})
	add("hashkv after a tombstone at the compaction revision", func(ctx context.Context, e *env) any {
		return answer(e.mt.HashKV(ctx, &pb.HashKVRequest{}))
	})
	add("etcdctl endpoint hashkv", func(ctx context.Context, e *env) any { return e.m.etcdctl("", "endpoint", "hashkv") })
	add("watch from a negative revision", watchSteps(1, watchCreate(&pb.WatchCreateRequest{Key: []byte("/w/"), StartRevision: -5})))
	add("watch from a future revision", func(ctx context.Context, e *env) any {
		resp, err := e.kv.Range(ctx, &pb.RangeRequest{Key: []byte("/w/"), CountOnly: true})
		if err != nil {
			return err
		}
		return runWatch(ctx, e, 3, watchCreate(&pb.WatchCreateRequest{Key: []byte("/w/f"), StartRevision: resp.Header.Revision + 2}),
			doPut("/w/f", "1"), doPut("/w/f", "2"), doPut("/w/f", "3"))
	})
	add("watch progress request", watchSteps(2,
		watchCreate(&pb.WatchCreateRequest{Key: []byte("/w/p")}),
		watchSend(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}})))
	add("watch progress notification", func(ctx context.Context, e *env) any {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		st, err := pb.NewWatchClient(e.m.cli.ActiveConnection()).Watch(ctx)
		if err != nil {
			return err
		}
		if err := st.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{Key: []byte("/w/quiet"), ProgressNotify: true}}}); err != nil {
			return err
		}
		// The created response, then the first notification; how many
		// more come is a matter of time.
		var out []any
		for range 2 {
			resp, err := st.Recv()
			if err != nil {
				return append(out, err)
			}
			out = append(out, resp)
		}
		return out
	})
	add("watch cancel", watchSteps(2,
		watchCreate(&pb.WatchCreateRequest{Key: []byte("/w/c")}),
		watchSend(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: 0}}}),
		doPut("/w/c", "after cancel")))
	add("watch cancel of an unknown id", watchSteps(2,
		watchCreate(&pb.WatchCreateRequest{Key: []byte("/w/c")}),
		watchSend(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: 42}}}),
		doPut("/w/c", "still watched")))
	add("watch with chosen ids and a duplicate", watchSteps(4,
		watchCreate(&pb.WatchCreateRequest{Key: []byte("/w/i"), WatchId: 7}),
		watchCreate(&pb.WatchCreateRequest{Key: []byte("/w/i"), WatchId: 7}),
		watchCreate(&pb.WatchCreateRequest{Key: []byte("/w/j")}),
		doPut("/w/i", "1")))
	add("watch empty range", watchSteps(1, watchCreate(&pb.WatchCreateRequest{Key: []byte("/w/z"), RangeEnd: []byte("/w/a")})))
	add("watch all keys from an empty key", watchSteps(2,
		watchCreate(&pb.WatchCreateRequest{RangeEnd: []byte{0}}),
		doPut("/w/all", "1")))
	add("watch two watchers on one stream", watchSteps(4,
		watchCreate(&pb.WatchCreateRequest{Key: []byte("/w/t")}),
		watchCreate(&pb.WatchCreateRequest{Key: []byte("/w/"), RangeEnd: []byte("/w0")}),
		doPut("/w/t", "1")))
	add("watch fragment", func(ctx context.Context, e *env) any {
		// Four values of 600 KiB: over etcd's 2 MiB (request limit plus
		// gRPC overhead) together, so the catch-up response is fragmented.
		big := strings.Repeat("v", 600<<10)
		var first int64
		for i := range 4 {
			resp, err := e.kv.Put(ctx, &pb.PutRequest{Key: []byte(fmt.Sprintf("/w/big/%d", i)), Value: []byte(big)})
			if err != nil {
				return err
			}
			if i == 0 {
				first = resp.Header.Revision
			}
		}
		out := runWatch(ctx, e, 5, watchCreate(&pb.WatchCreateRequest{Key: []byte("/w/big/"), RangeEnd: []byte("/w/big0"), StartRevision: first, Fragment: true}))
		e.kv.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte("/w/big/"), RangeEnd: []byte("/w/big0")})
		return out
	})

	// ---- RangeStream (etcd 3.7).
	add("put 25 keys for streaming", func(ctx context.Context, e *env) any {
		var ops []*pb.RequestOp
		for i := range 25 {
			ops = append(ops, opPut(fmt.Sprintf("/s/%02d", i), strings.Repeat("s", i)))
		}
		return answer(e.kv.Txn(ctx, &pb.TxnRequest{Success: ops}))
	})
	add("range stream prefix", rangeStream(&pb.RangeRequest{Key: []byte("/s/"), RangeEnd: []byte("/s0")}))
	add("range stream limit", rangeStream(&pb.RangeRequest{Key: []byte("/s/"), RangeEnd: []byte("/s0"), Limit: 12}))
	add("range stream limit below the first chunk", rangeStream(&pb.RangeRequest{Key: []byte("/s/"), RangeEnd: []byte("/s0"), Limit: 4}))
	add("range stream count_only", rangeStream(&pb.RangeRequest{Key: []byte("/s/"), RangeEnd: []byte("/s0"), CountOnly: true}))
	add("range stream keys_only serializable", rangeStream(&pb.RangeRequest{Key: []byte("/s/"), RangeEnd: []byte("/s0"), KeysOnly: true, Serializable: true}))
	add("range stream at a revision", func(ctx context.Context, e *env) any {
		resp, err := e.kv.Range(ctx, &pb.RangeRequest{Key: []byte("/s/"), CountOnly: true})
		if err != nil {
			return err
		}
		e.kv.Put(ctx, &pb.PutRequest{Key: []byte("/s/99"), Value: []byte("later")})
		return rangeStream(&pb.RangeRequest{Key: []byte("/s/"), RangeEnd: []byte("/s0"), Revision: resp.Header.Revision})(ctx, e)
	})
	add("range stream single key", rangeStream(&pb.RangeRequest{Key: []byte("/s/03")}))
	add("range stream no keys", rangeStream(&pb.RangeRequest{Key: []byte("/none/"), RangeEnd: []byte("/none0")}))
	add("range stream sorted", rangeStream(&pb.RangeRequest{Key: []byte("/s/"), RangeEnd: []byte("/s0"), SortOrder: pb.RangeRequest_DESCEND}))
	add("range stream revision filter", rangeStream(&pb.RangeRequest{Key: []byte("/s/"), RangeEnd: []byte("/s0"), MinModRevision: 2}))
	add("range stream empty key", rangeStream(&pb.RangeRequest{}))
	add("range stream compacted revision", rangeStream(&pb.RangeRequest{Key: []byte("/s/"), RangeEnd: []byte("/s0"), Revision: 1}))
	add("range stream future revision", rangeStream(&pb.RangeRequest{Key: []byte("/s/"), RangeEnd: []byte("/s0"), Revision: 100000}))
	add("clientv3 GetStream", func(ctx context.Context, e *env) any {
		ch, err := e.m.cli.GetStream(ctx, "/s/", clientv3.WithPrefix(), clientv3.WithLimit(15))
		if err != nil {
			return err
		}
		resp, err := clientv3.GetStreamToGetResponse(ch)
		if err != nil {
			return err
		}
		return (*pb.RangeResponse)(resp)
	})

	// ---- Leases.
	add("lease grant with id", func(ctx context.Context, e *env) any {
		return answer(e.lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: leaseFixedID, TTL: 60}))
	})
	add("lease grant taken id", func(ctx context.Context, e *env) any {
		return answer(e.lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: leaseFixedID, TTL: 60}))
	})
	add("lease grant ttl too large", func(ctx context.Context, e *env) any {
		return answer(e.lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 9_000_000_001}))
	})
	add("lease grant server id", func(ctx context.Context, e *env) any {
		resp, err := e.lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 120})
		if err != nil {
			return err
		}
		e.n.learnID(resp.ID)
		e.vars["lease"] = resp.ID
		return resp
	})
	add("put with lease", put("/l/a", "leased", func(r *pb.PutRequest) { r.Lease = leaseFixedID }))
	add("put with lease b", put("/l/b", "leased", func(r *pb.PutRequest) { r.Lease = leaseFixedID }))
	add("put ignore_lease keeps lease", put("/l/a", "again", func(r *pb.PutRequest) { r.IgnoreLease = true }))
	add("range leased keys", rng("/l/", "/l0"))
	add("lease time to live with keys", func(ctx context.Context, e *env) any {
		resp, err := e.lease.LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: leaseFixedID, Keys: true})
		if err != nil {
			return err
		}
		// etcd lists a lease's keys in map order: the set is the answer.
		slices.SortFunc(resp.Keys, bytes.Compare)
		return remainingTTL(resp)
	})
	add("lease time to live", func(ctx context.Context, e *env) any {
		resp, err := e.lease.LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: leaseFixedID})
		if err != nil {
			return err
		}
		return remainingTTL(resp)
	})
	add("lease time to live unknown", func(ctx context.Context, e *env) any {
		return answer(e.lease.LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: 424242}))
	})
	add("lease leases", func(ctx context.Context, e *env) any {
		resp, err := e.lease.LeaseLeases(ctx, &pb.LeaseLeasesRequest{})
		if err != nil {
			return err
		}
		// etcd lists leases in map order: the set is the answer.
		slices.SortFunc(resp.Leases, func(a, b *pb.LeaseStatus) int { return int(a.ID>>1 - b.ID>>1) })
		return resp
	})
	add("lease keep alive", func(ctx context.Context, e *env) any {
		return keepAliveOnce(ctx, e, leaseFixedID)
	})
	add("lease keep alive unknown", func(ctx context.Context, e *env) any {
		return keepAliveOnce(ctx, e, 424242)
	})
	add("txn compare lease", txn(&pb.TxnRequest{
		Compare: []*pb.Compare{cmpInt("/l/a", pb.Compare_EQUAL, pb.Compare_LEASE, leaseFixedID)},
		Success: []*pb.RequestOp{opRange("/l/a", "")},
	}))
	add("lease revoke", func(ctx context.Context, e *env) any {
		return answer(e.lease.LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: leaseFixedID}))
	})
	add("range after revoke", rng("/l/", "/l0"))
	add("lease revoke unknown", func(ctx context.Context, e *env) any {
		return answer(e.lease.LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: leaseFixedID}))
	})
	add("lease time to live revoked", func(ctx context.Context, e *env) any {
		return answer(e.lease.LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: leaseFixedID}))
	})

	// ---- More txn and lease shapes.
	add("txn ops with range options", txn(&pb.TxnRequest{Success: []*pb.RequestOp{
		{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("/s/"), RangeEnd: []byte("/s0"), CountOnly: true}}},
		{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("/s/"), RangeEnd: []byte("/s0"), KeysOnly: true, Limit: 3, SortOrder: pb.RangeRequest_DESCEND}}},
		{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("/s/"), RangeEnd: []byte("/s0"), MinModRevision: 1, Limit: 2}}},
	}}))
	add("txn nested failure branch with deletes", txn(&pb.TxnRequest{
		Compare: []*pb.Compare{cmpValue("/s/00", pb.Compare_EQUAL, "")},
		Success: []*pb.RequestOp{opTxn(&pb.TxnRequest{
			Compare: []*pb.Compare{cmpInt("/s/01", pb.Compare_LESS, pb.Compare_VERSION, 1)},
			Success: []*pb.RequestOp{opPut("/s/never", "x")},
			Failure: []*pb.RequestOp{opDel("/s/20", "/s/22"), opRange("/s/19", "/s/23")},
		})},
	}))
	add("txn compare lease not equal", txn(&pb.TxnRequest{
		Compare: []*pb.Compare{cmpInt("/s/02", pb.Compare_NOT_EQUAL, pb.Compare_LEASE, 0)},
		Success: []*pb.RequestOp{opRange("/s/02", "")},
		Failure: []*pb.RequestOp{opRange("/s/03", "")},
	}))
	add("txn compare mod revision over a prefix", txn(&pb.TxnRequest{
		Compare: []*pb.Compare{{Key: []byte("/s/"), RangeEnd: []byte("/s0"), Result: pb.Compare_LESS, Target: pb.Compare_MOD, TargetUnion: &pb.Compare_ModRevision{ModRevision: 1}}},
		Success: []*pb.RequestOp{opPut("/s/all-old", "x")},
		Failure: []*pb.RequestOp{opRange("/s/2", "/s/3")},
	}))
	add("txn compare from key", txn(&pb.TxnRequest{
		Compare: []*pb.Compare{{Key: []byte("/s/24"), RangeEnd: []byte{0}, Result: pb.Compare_GREATER, Target: pb.Compare_CREATE, TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 0}}},
		Success: []*pb.RequestOp{opRange("/s/24", "\x00")},
	}))
	add("lease grant ttl zero", func(ctx context.Context, e *env) any {
		resp, err := e.lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: leaseFixedID + 1, TTL: 0})
		if err != nil {
			return err
		}
		return resp
	})
	add("lease grant negative ttl", func(ctx context.Context, e *env) any {
		return answer(e.lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: leaseFixedID + 2, TTL: -5}))
	})
	add("lease grant negative id", func(ctx context.Context, e *env) any {
		return answer(e.lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: -7, TTL: 30}))
	})
	add("put with lease then revoke, in one watch", watchSteps(4,
		watchCreate(&pb.WatchCreateRequest{Key: []byte("/lw/"), RangeEnd: []byte("/lw0"), PrevKv: true}),
		func(ctx context.Context, e *env, w *watchSession) {
			e.lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: leaseFixedID + 3, TTL: 60})
			e.kv.Put(ctx, &pb.PutRequest{Key: []byte("/lw/a"), Value: []byte("1"), Lease: leaseFixedID + 3})
			e.kv.Put(ctx, &pb.PutRequest{Key: []byte("/lw/b"), Value: []byte("2"), Lease: leaseFixedID + 3})
			e.lease.LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: leaseFixedID + 3})
			w.await(watchSettle)
		}))
	add("lease keep alive revoked", func(ctx context.Context, e *env) any {
		return keepAliveOnce(ctx, e, leaseFixedID+3)
	})
	add("put with revoked lease", put("/lw/c", "3", func(r *pb.PutRequest) { r.Lease = leaseFixedID + 3 }))
	add("watch both filters and a from-key range", watchSteps(2,
		watchCreate(&pb.WatchCreateRequest{Key: []byte("/lw/"), RangeEnd: []byte{0}, Filters: []pb.WatchCreateRequest_FilterType{pb.WatchCreateRequest_NOPUT, pb.WatchCreateRequest_NODELETE}}),
		doPut("/lw/d", "4"), doDel("/lw/d", ""),
		watchSend(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}})))
	add("watch prev_kv of a delete range", watchSteps(3,
		watchCreate(&pb.WatchCreateRequest{Key: []byte("/s/0"), RangeEnd: []byte("/s/03"), PrevKv: true}),
		doDel("/s/0", "/s/03")))

	// ---- Errors and bounds.
	add("put over max request bytes", put("/b/big", strings.Repeat("x", 1536*1024+1)))
	add("put over grpc message limit", put("/b/big", strings.Repeat("x", 3<<20)))
	add("range after refused puts", rng("/b/", "/b0"))

	// ---- Concurrency recipes (clientv3/concurrency: sessions are leases).
	add("mutex lock", func(ctx context.Context, e *env) any {
		sess, err := concurrency.NewSession(e.m.cli, concurrency.WithTTL(60))
		if err != nil {
			return err
		}
		e.n.learnID(int64(sess.Lease()))
		e.vars["session1"] = sess
		mu := concurrency.NewMutex(sess, "/lock/m")
		if err := mu.Lock(ctx); err != nil {
			return err
		}
		e.vars["mutex1"] = mu
		return []any{mu.Key(), mu.Header()}
	})
	add("mutex try lock held", func(ctx context.Context, e *env) any {
		sess, err := concurrency.NewSession(e.m.cli, concurrency.WithTTL(60))
		if err != nil {
			return err
		}
		e.n.learnID(int64(sess.Lease()))
		e.vars["session2"] = sess
		mu := concurrency.NewMutex(sess, "/lock/m")
		err = mu.TryLock(ctx)
		return []any{fmt.Sprint(err), fmt.Sprint(errors.Is(err, concurrency.ErrLocked))}
	})
	add("mutex unlock then try lock", func(ctx context.Context, e *env) any {
		if err := e.vars["mutex1"].(*concurrency.Mutex).Unlock(ctx); err != nil {
			return err
		}
		mu := concurrency.NewMutex(e.vars["session2"].(*concurrency.Session), "/lock/m")
		if err := mu.TryLock(ctx); err != nil {
			return err
		}
		return []any{mu.Key(), mu.Header()}
	})
	add("election campaign and leader", func(ctx context.Context, e *env) any {
		el := concurrency.NewElection(e.vars["session1"].(*concurrency.Session), "/elect/e")
		if err := el.Campaign(ctx, "v1"); err != nil {
			return err
		}
		e.vars["election"] = el
		return leader(ctx, el)
	})
	add("election proclaim", func(ctx context.Context, e *env) any {
		el := e.vars["election"].(*concurrency.Election)
		if err := el.Proclaim(ctx, "v2"); err != nil {
			return err
		}
		return leader(ctx, el)
	})
	add("election resign", func(ctx context.Context, e *env) any {
		el := e.vars["election"].(*concurrency.Election)
		if err := el.Resign(ctx); err != nil {
			return err
		}
		_, err := el.Leader(ctx)
		return fmt.Sprint(err)
	})
	add("stm transfer", func(ctx context.Context, e *env) any {
		e.m.cli.Put(ctx, "/stm/a", "10")
		e.m.cli.Put(ctx, "/stm/b", "0")
		resp, err := concurrency.NewSTM(e.m.cli, func(s concurrency.STM) error {
			a, _ := strconv.Atoi(s.Get("/stm/a"))
			b, _ := strconv.Atoi(s.Get("/stm/b"))
			s.Put("/stm/a", strconv.Itoa(a-3))
			s.Put("/stm/b", strconv.Itoa(b+3))
			return nil
		})
		if err != nil {
			return err
		}
		got, err := e.m.cli.Get(ctx, "/stm/", clientv3.WithPrefix())
		if err != nil {
			return err
		}
		return []any{(*pb.TxnResponse)(resp), (*pb.RangeResponse)(got)}
	})
	add("session close revokes", func(ctx context.Context, e *env) any {
		for _, name := range []string{"session1", "session2"} {
			if err := e.vars[name].(*concurrency.Session).Close(); err != nil {
				return err
			}
		}
		return answer(e.kv.Range(ctx, &pb.RangeRequest{Key: []byte("/lock/"), RangeEnd: []byte("/lock0")}))
	})

	// ---- Cluster and maintenance, as far as kvd implements them.
	add("member list", func(ctx context.Context, e *env) any {
		return answer(e.clu.MemberList(ctx, &pb.MemberListRequest{Linearizable: true}))
	})
	add("status leader and learner", func(ctx context.Context, e *env) any {
		st, err := e.mt.Status(ctx, &pb.StatusRequest{})
		if err != nil {
			return err
		}
		// Version, sizes and raft indexes are each system's own.
		return fmt.Sprintf("leader=%d isLearner=%v errors=%v header=%v", st.Leader, st.IsLearner, st.Errors, st.Header.Revision)
	})
	add("alarm list", func(ctx context.Context, e *env) any {
		return answer(e.mt.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_GET}))
	})

	// ---- The real etcdctl.
	ctl := func(name, stdin string, args ...string) {
		add("etcdctl "+name, func(ctx context.Context, e *env) any { return e.m.etcdctl(stdin, args...) })
	}
	ctl("put", "", "put", "/config/database/host", "db.example.com")
	ctl("put port", "", "put", "/config/database/port", "5432")
	ctl("put name", "", "put", "/config/database/name", "myapp")
	ctl("put --prev-kv", "", "put", "/config/database/name", "myapp2", "--prev-kv")
	ctl("get", "", "get", "/config/database/host")
	ctl("get --prefix", "", "get", "/config/database/", "--prefix")
	ctl("get --print-value-only", "", "get", "/config/database/", "--prefix", "--print-value-only")
	ctl("get -w json", "", "get", "/config/database/", "--prefix", "-w", "json")
	ctl("get -w fields", "", "get", "/config/database/host", "-w", "fields")
	ctl("get --keys-only --limit", "", "get", "/config/", "--prefix", "--keys-only", "--limit", "2")
	ctl("get --sort-by", "", "get", "/config/", "--prefix", "--sort-by", "MODIFY", "--order", "DESCEND")
	ctl("get --from-key", "", "get", "/config/database/name", "--from-key", "--keys-only")
	ctl("get --count-only", "", "get", "/config/", "--prefix", "--count-only", "-w", "json")
	ctl("get --consistency s", "", "get", "/config/database/port", "--consistency", "s")
	ctl("get --stream", "", "get", "/s/", "--prefix", "--stream", "--keys-only")
	ctl("get --stream -w json", "", "get", "/s/0", "--prefix", "--stream", "-w", "json")
	ctl("get --rev compacted", "", "get", "/config/", "--prefix", "--rev", "2")
	ctl("get without key", "", "get")
	ctl("txn (seed example, working form)", "mod(\"/config/feature/enabled\") = \"0\"\n\nput /config/feature/enabled \"true\"\nput /config/feature/rollout \"10\"\nget /config/feature/enabled\n\n\n", "txn")
	ctl("txn again fails", "mod(\"/config/feature/enabled\") = \"0\"\n\nput /config/feature/enabled \"true\"\n\nget /config/feature/rollout\n\n", "txn")
	ctl("txn -w json", "value(\"/config/feature/enabled\") = \"true\"\n\ndel /config/feature/rollout\n\n\n", "txn", "-w", "json")
	ctl("txn seed example as written (blank first line)", "\nmod(\"/config/feature/enabled\") = \"0\"\nput /config/feature/enabled \"true\"\nput /config/feature/rollout \"10\"\nget /config/feature/enabled\n", "txn")
	ctl("del", "", "del", "/config/database/host")
	ctl("del --prev-kv", "", "del", "/config/database/port", "--prev-kv")
	ctl("del --prefix", "", "del", "/config/", "--prefix")
	add("etcdctl lease grant", func(ctx context.Context, e *env) any {
		out := e.m.etcdctl("", "lease", "grant", "300")
		if m := regexp.MustCompile(`lease ([0-9a-f]+) granted`).FindStringSubmatch(out); m != nil {
			id, _ := strconv.ParseUint(m[1], 16, 64)
			e.n.learnID(int64(id))
		}
		return out
	})
	add("etcdctl lease list", func(ctx context.Context, e *env) any {
		out := e.m.etcdctl("", "lease", "list")
		// The granted id, then the script's own: learn it from the text.
		for _, m := range regexp.MustCompile(`(?m)^([0-9a-f]+)$`).FindAllStringSubmatch(out, -1) {
			if id, err := strconv.ParseUint(m[1], 16, 64); err == nil && id > 1<<32 {
				e.n.learnID(int64(id))
			}
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		slices.Sort(lines[1:])
		return strings.Join(lines, "\n")
	})
	ctl("compaction", "", "compaction", "3")
	ctl("compaction --physical future", "", "compaction", "--physical", "100000")
	ctl("endpoint health", "", "endpoint", "health")
	ctl("member list", "", "member", "list")
	ctl("member list -w json", "", "member", "list", "-w", "json")
	ctl("alarm list", "", "alarm", "list")
	ctl("defrag", "", "defrag")
	add("defragment", func(ctx context.Context, e *env) any { return answer(e.mt.Defragment(ctx, &pb.DefragmentRequest{})) })
	ctl("get after defrag", "", "get", "/s/", "--prefix", "--limit", "3", "-w", "json")
	ctl("lock runs a command", "", "lock", "/ctl/lock", "echo", "under-lock")
	ctl("put --ignore-value missing", "", "put", "/ctl/none", "--ignore-value")
	ctl("put then get -w fields", "", "put", "/ctl/k", "v1")
	ctl("put --ignore-value", "", "put", "/ctl/k", "--ignore-value", "--prev-kv")
	ctl("get --rev --print-value-only", "", "get", "/ctl/k", "--print-value-only", "--rev", "0")
	add("etcdctl get -w protobuf", func(ctx context.Context, e *env) any {
		// The raw bytes carry the ids: compare them decoded.
		out := e.m.etcdctl("", "get", "/ctl/k", "-w", "protobuf")
		var resp pb.RangeResponse
		if err := proto.Unmarshal([]byte(out), &resp); err != nil {
			return fmt.Sprintf("not a RangeResponse (%v): %q", err, out)
		}
		return &resp
	})
	ctl("del --from-key", "", "del", "/ctl/", "--from-key", "--prev-kv")
	ctl("del missing", "", "del", "/ctl/none")
	ctl("put with a missing lease", "", "put", "/ctl/l", "v", "--lease", "1234abcd")
	add("etcdctl lease lifecycle", func(ctx context.Context, e *env) any {
		id := fmt.Sprintf("%x", leaseFixedID+10)
		grant, err := e.lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: leaseFixedID + 10, TTL: 100})
		if err != nil {
			return err
		}
		return []any{
			grant,
			e.m.etcdctl("", "lease", "timetolive", id, "--keys"),
			e.m.etcdctl("", "put", "/ctl/leased", "v", "--lease", id),
			e.m.etcdctl("", "lease", "keep-alive", "--once", id),
			e.m.etcdctl("", "lease", "revoke", id),
			e.m.etcdctl("", "lease", "timetolive", id),
			e.m.etcdctl("", "get", "/ctl/leased"),
		}
	})
	ctl("watch bad revision", "", "watch", "/ctl/", "--rev", "-1")
	ctl("compaction compacted", "", "compaction", "2")
	add("etcdctl watch --rev", func(ctx context.Context, e *env) any {
		resp, err := e.kv.Range(ctx, &pb.RangeRequest{Key: []byte("/config/"), CountOnly: true})
		if err != nil {
			return err
		}
		return e.m.etcdctlWatch("watch", "/config/", "--prefix", "--rev", strconv.FormatInt(resp.Header.Revision-4, 10), "--prev-kv")
	})
	return s
}

// remainingTTL renders a lease's remaining TTL as a bound: it is a clock
// reading (etcd's wall clock, kvd's ticks), truncated to seconds, so the
// same script may read 60 or 59 of a 60 s lease on either system.
func remainingTTL(resp *pb.LeaseTimeToLiveResponse) any {
	within := resp.TTL > resp.GrantedTTL-3 && resp.TTL <= resp.GrantedTTL
	resp.TTL = 0
	return []any{resp, fmt.Sprintf("remaining TTL within 3s of granted: %v", within)}
}

// leader is the election's leader key as a RangeResponse, so its key (which
// names the campaigner's lease) renders as text.
func leader(ctx context.Context, el *concurrency.Election) any {
	resp, err := el.Leader(ctx)
	if err != nil {
		return err
	}
	return (*pb.RangeResponse)(resp)
}

// rangeStream calls RangeStream and answers every chunk, or the error.
func rangeStream(r *pb.RangeRequest) func(context.Context, *env) any {
	return func(ctx context.Context, e *env) any {
		st, err := e.kv.RangeStream(ctx, r)
		if err != nil {
			return err
		}
		var out []any
		for {
			resp, err := st.Recv()
			if errors.Is(err, io.EOF) {
				return out
			}
			if err != nil {
				return append(out, err)
			}
			out = append(out, resp)
		}
	}
}

func keepAliveOnce(ctx context.Context, e *env, id int64) any {
	st, err := e.lease.LeaseKeepAlive(ctx)
	if err != nil {
		return err
	}
	defer st.CloseSend()
	if err := st.Send(&pb.LeaseKeepAliveRequest{ID: id}); err != nil {
		return err
	}
	return answer(st.Recv())
}

// watchSession is one raw watch stream and what it received.
type watchSession struct {
	stream pb.Watch_WatchClient
	recv   chan *pb.WatchResponse
	errc   chan error
	got    []*pb.WatchResponse
}

type watchAction func(ctx context.Context, e *env, w *watchSession)

func watchCreate(r *pb.WatchCreateRequest) watchAction {
	return watchSend(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: r}})
}

func watchSend(r *pb.WatchRequest) watchAction {
	return func(ctx context.Context, e *env, w *watchSession) {
		w.stream.Send(r)
		// Let the request take effect before the next action: creates
		// and writes must not race on either system.
		w.await(watchSettle)
	}
}

func doPut(key, val string) watchAction {
	return func(ctx context.Context, e *env, w *watchSession) {
		e.kv.Put(ctx, &pb.PutRequest{Key: []byte(key), Value: []byte(val)})
		w.await(watchSettle)
	}
}

func doDel(key, end string) watchAction {
	return func(ctx context.Context, e *env, w *watchSession) {
		r := &pb.DeleteRangeRequest{Key: []byte(key)}
		if end != "" {
			r.RangeEnd = []byte(end)
		}
		e.kv.DeleteRange(ctx, r)
		w.await(watchSettle)
	}
}

// Watch timing: after each action the stream is read until it has been
// quiet for watchSettle, so a create or a write takes effect before the
// next; at the end the step waits for the items it knows must come (a
// loaded machine is slow, not different) and then for watchQuiet, so an
// extra response still lands in this step's answer.
const (
	watchSettle = 100 * time.Millisecond
	watchQuiet  = 500 * time.Millisecond
)

// await reads responses until none arrives for quiet.
func (w *watchSession) await(quiet time.Duration) {
	for {
		select {
		case r := <-w.recv:
			w.got = append(w.got, r)
		case <-time.After(quiet):
			return
		}
	}
}

// watchSteps is a step of runWatch with its own stream.
func watchSteps(minItems int, actions ...watchAction) func(context.Context, *env) any {
	return func(ctx context.Context, e *env) any { return runWatch(ctx, e, minItems, actions...) }
}

// watchItems counts what a watch client is told: each event, and each
// response without events (created, canceled, progress); how events are
// batched into responses does not change it.
func watchItems(rs []*pb.WatchResponse) int {
	n := 0
	for _, r := range rs {
		n += max(1, len(r.Events))
	}
	return n
}

// runWatch opens a raw watch stream, runs the actions, waits for at least
// minItems items (watchItems) and a quiet spell, and answers what arrived with
// consecutive event responses of one watcher merged: how a server batches
// revisions into responses is timing, on etcd as on kvd.
func runWatch(ctx context.Context, e *env, minItems int, actions ...watchAction) any {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := pb.NewWatchClient(e.m.cli.ActiveConnection()).Watch(ctx)
	if err != nil {
		return err
	}
	w := &watchSession{stream: st, recv: make(chan *pb.WatchResponse, 1024), errc: make(chan error, 1)}
	go func() {
		for {
			r, err := st.Recv()
			if err != nil {
				w.errc <- err
				return
			}
			w.recv <- r
		}
	}()
	for _, a := range actions {
		a(ctx, e, w)
	}
	deadline := time.After(10 * time.Second)
	for watchItems(w.got) < minItems {
		select {
		case r := <-w.recv:
			w.got = append(w.got, r)
		case <-deadline:
			return append(mergeWatch(w.got), fmt.Sprintf("timed out waiting for %d items", minItems))
		}
	}
	w.await(watchQuiet)
	return mergeWatch(w.got)
}

// Within one revision, etcd hands events to a stream's watchers in the
// order of a Go map: responses of one revision to different watchers are
// sorted by watch id.
func mergeWatch(rs []*pb.WatchResponse) []any {
	var out []*pb.WatchResponse
	for _, r := range rs {
		if n := len(out); n > 0 && len(r.Events) > 0 && len(out[n-1].Events) > 0 && out[n-1].WatchId == r.WatchId && !r.Canceled && !r.Created && !out[n-1].Fragment {
			prev := out[n-1]
			prev.Events = append(prev.Events, r.Events...)
			prev.Header = r.Header
			continue
		}
		out = append(out, r)
	}
	lastRev := func(r *pb.WatchResponse) int64 {
		if len(r.Events) == 0 || r.Fragment {
			return 0
		}
		return r.Events[len(r.Events)-1].Kv.ModRevision
	}
	for i := 0; i < len(out); {
		j := i + 1
		for j < len(out) && lastRev(out[i]) != 0 && lastRev(out[j]) == lastRev(out[i]) && len(out[j].Events) == 1 && len(out[i].Events) == 1 {
			j++
		}
		slices.SortStableFunc(out[i:j], func(a, b *pb.WatchResponse) int { return int(a.WatchId - b.WatchId) })
		i = j
	}
	var any []any
	for _, r := range out {
		sortEvents(r.Events)
		any = append(any, r)
	}
	return any
}

// sortEvents keeps events in revision order; events of one revision keep
// the order the server gave them, which must agree.
func sortEvents(evs []*mvccpb.Event) {
	slices.SortStableFunc(evs, func(a, b *mvccpb.Event) int {
		if a.Kv.ModRevision != b.Kv.ModRevision {
			return int(a.Kv.ModRevision - b.Kv.ModRevision)
		}
		return 0
	})
}

// etcdctlWatch runs etcdctl watch until it has been quiet for a second.
func (m *member) etcdctlWatch(args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := &procs.Output{}
	cmd := exec.CommandContext(ctx, etcdctlBin, append([]string{"--endpoints", m.clientURL}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err.Error()
	}
	last, lastLen := time.Now(), 0
	for time.Since(last) < time.Second && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
		if n := len(out.String()); n != lastLen {
			last, lastLen = time.Now(), n
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	return out.String()
}
