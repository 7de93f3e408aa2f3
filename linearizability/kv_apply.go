package linearizability

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// apply runs op against s as etcd's apply loop would and returns the next
// state and the response etcd must have given. s is not modified.
func apply(s *kvState, op *kvOp) (*kvState, kvResult) {
	w := work{base: s, kvs: s.kvs, writeRev: s.rev + 1}
	res := w.run(op)
	switch {
	case op.kind == opRange:
		res.rev = s.rev
	case w.changed:
		res.rev = w.writeRev
	default:
		res.rev = s.rev
	}
	if !w.changed {
		return s, res
	}
	return newKVState(w.writeRev, w.kvs), res
}

// work is one request's writes in progress: every change of one request
// (a txn's many puts and deletes) lands at the same revision, base.rev+1,
// and later ops of a txn see the earlier ones.
type work struct {
	base     *kvState
	kvs      []kvRecord
	copied   bool
	changed  bool
	writeRev int64
}

func (w *work) view() *kvState { return &kvState{rev: w.base.rev, kvs: w.kvs} }

func (w *work) own() {
	if !w.copied {
		w.kvs = slices.Clone(w.kvs)
		w.copied = true
	}
}

func (w *work) run(op *kvOp) kvResult {
	switch op.kind {
	case opRange:
		return w.rangeOp(op)
	case opPut:
		return w.put(op)
	case opDelete:
		return w.del(op)
	case opTxn:
		res := kvResult{kind: opTxn, succeeded: w.compare(op.compares)}
		branch := op.orElse
		if res.succeeded {
			branch = op.then
		}
		res.sub = make([]kvResult, 0, len(branch))
		for i := range branch {
			res.sub = append(res.sub, w.run(&branch[i]))
		}
		return res
	}
	panic(fmt.Sprintf("linearizability: op kind %d", op.kind))
}

func (w *work) rangeOp(op *kvOp) kvResult {
	found := w.view().inRange(op.key, op.end)
	res := kvResult{kind: opRange, count: int64(len(found))}
	if op.countOnly {
		return res
	}
	n := len(found)
	if op.limit > 0 && int64(n) > op.limit {
		n = int(op.limit)
		res.more = true
	}
	if n > 0 {
		res.kvs = slices.Clone(found[:n])
		if op.keysOnly {
			for i := range res.kvs {
				res.kvs[i].value = ""
			}
		}
	}
	return res
}

func (w *work) put(op *kvOp) kvResult {
	w.own()
	w.changed = true
	res := kvResult{kind: opPut}
	i, ok := slices.BinarySearchFunc(w.kvs, op.key, func(r kvRecord, k string) int { return strings.Compare(r.key, k) })
	if ok {
		prev := w.kvs[i]
		if op.prevKV {
			res.prev = []kvRecord{prev}
		}
		w.kvs[i] = kvRecord{key: op.key, value: op.value, createRev: prev.createRev, modRev: w.writeRev, version: prev.version + 1, lease: op.lease}
		return res
	}
	w.kvs = slices.Insert(w.kvs, i, kvRecord{key: op.key, value: op.value, createRev: w.writeRev, modRev: w.writeRev, version: 1, lease: op.lease})
	return res
}

func (w *work) del(op *kvOp) kvResult {
	gone := w.view().inRange(op.key, op.end)
	res := kvResult{kind: opDelete, deleted: int64(len(gone))}
	if len(gone) == 0 {
		return res
	}
	if op.prevKV {
		res.prev = slices.Clone(gone)
	}
	lo, _ := w.view().find(gone[0].key)
	w.own()
	w.changed = true
	w.kvs = slices.Delete(w.kvs, lo, lo+len(gone))
	return res
}

// compare evaluates a txn's compares as etcd does: a compare over keys that
// do not exist compares a zero record, except a value compare, which fails.
func (w *work) compare(cs []kvCompare) bool {
	for _, c := range cs {
		found := w.view().inRange(c.key, c.end)
		if len(found) == 0 {
			if c.target == pb.Compare_VALUE {
				return false
			}
			if !compareOne(c, kvRecord{}) {
				return false
			}
			continue
		}
		for _, kv := range found {
			if !compareOne(c, kv) {
				return false
			}
		}
	}
	return true
}

func compareOne(c kvCompare, kv kvRecord) bool {
	var order int
	switch c.target {
	case pb.Compare_VALUE:
		order = bytes.Compare([]byte(kv.value), []byte(c.value))
	case pb.Compare_VERSION:
		order = cmp.Compare(kv.version, c.number)
	case pb.Compare_CREATE:
		order = cmp.Compare(kv.createRev, c.number)
	case pb.Compare_MOD:
		order = cmp.Compare(kv.modRev, c.number)
	case pb.Compare_LEASE:
		order = cmp.Compare(kv.lease, c.number)
	}
	switch c.result {
	case pb.Compare_EQUAL:
		return order == 0
	case pb.Compare_GREATER:
		return order > 0
	case pb.Compare_LESS:
		return order < 0
	case pb.Compare_NOT_EQUAL:
		return order != 0
	}
	return false
}
