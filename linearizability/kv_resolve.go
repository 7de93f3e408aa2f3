package linearizability

import (
	"time"
)

// resolveObserved turns indeterminate writes into acknowledged ones where
// the history proves they applied: a successful read returned the value the
// write put (values written once only), so the write applied at that value's
// mod revision, before the read returned. Every indeterminate write stays
// pending to the end of the history and may or may not apply, which makes
// porcupine's search exponential in their number; resolving the ones that
// were seen keeps histories with many timeouts checkable.
//
// Only writes whose every change is a put are resolved (a plain put, or a
// txn whose success branch is all puts and whose failure branch writes
// nothing): for those the full response follows from the revision alone.
//
// With a committed history (resolveCommitted) this is a second pass over
// what the history left undecided; without one it is all there is.
func resolveObserved(history []KVOperation) []KVOperation {
	type seen struct {
		modRev int64
		at     time.Time
	}
	writers := map[[2]string]int{}
	for i := range history {
		op, err := decodeRequest(history[i].Request)
		if err != nil || !op.writes() {
			continue
		}
		for _, e := range possibleEffects(&op) {
			if !e.isDelete {
				writers[[2]string{e.key, e.value}]++
			}
		}
	}
	observed := map[[2]string]seen{}
	for i := range history {
		h := &history[i]
		if h.status() != statusOK {
			continue
		}
		op, err := decodeRequest(h.Request)
		if err != nil {
			continue
		}
		res, err := decodeResponse(&op, h.Response)
		if err != nil {
			continue
		}
		for _, kv := range observedKVs(&res) {
			k := [2]string{kv.key, kv.value}
			if s, ok := observed[k]; !ok || h.Return.Before(s.at) {
				observed[k] = seen{modRev: kv.modRev, at: h.Return}
			}
		}
	}
	out := make([]KVOperation, len(history))
	copy(out, history)
	for i := range out {
		h := &out[i]
		if h.status() != statusUnknown {
			continue
		}
		op, err := decodeRequest(h.Request)
		if err != nil {
			continue
		}
		puts, ok := putsOnly(&op)
		if !ok || len(puts) == 0 {
			continue
		}
		first := [2]string{puts[0].key, puts[0].value}
		s, ok := observed[first]
		if !ok || writers[first] != 1 || s.at.Before(h.Invoke) {
			continue
		}
		resolved, ok := ackedResponse(h, &op, s.modRev)
		if !ok {
			continue
		}
		*h = resolved
		h.Return = s.at
	}
	return out
}

// putsOnly returns the puts op makes if it applies, when they are all it
// can write.
func putsOnly(op *kvOp) ([]kvOp, bool) {
	switch op.kind {
	case opPut:
		return []kvOp{*op}, !op.prevKV
	case opTxn:
		for i := range op.orElse {
			if op.orElse[i].writes() {
				return nil, false
			}
		}
		for i := range op.then {
			if op.then[i].kind != opPut || op.then[i].prevKV {
				return nil, false
			}
		}
		return op.then, true
	}
	return nil, false
}

func observedKVs(res *kvResult) []kvRecord {
	out := res.kvs
	for i := range res.sub {
		out = append(out, observedKVs(&res.sub[i])...)
	}
	return out
}
