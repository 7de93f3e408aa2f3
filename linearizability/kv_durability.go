package linearizability

import (
	"fmt"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// MemberRead is a read served by one member from its own applied state,
// e.g. its whole keyspace after the faults healed.
type MemberRead struct {
	Member   uint64
	Request  *pb.RangeRequest
	Response *pb.RangeResponse
}

// Checker names.
const (
	CheckerKVDurability       = "kv-durability"
	CheckerSerializableReads  = "kv-serializable-reads"
	CheckerConvergence        = "convergence"
	violationsListedMax       = 5
	writeEffectsPerRequestMax = 2 * txnOpsMax
)

// effect is one key change a write made, or may have made.
type effect struct {
	key, end string // end as in etcd ranges; only deletes use it
	value    string
	isDelete bool
	// rev is the revision the write applied at; 0 if unknown.
	rev int64
}

// writeIndex is every key change in a history, by certainty.
type writeIndex struct {
	// acked changes applied at a known revision.
	acked []effect
	// maybe changes may have applied at an unknown revision.
	maybe []effect
	// writerRev maps a written (key, value) to the revision it applied at,
	// 0 when unknown, for values the history wrote once.
	written map[[2]string][]int64
}

func indexWrites(history []KVOperation) (*writeIndex, error) {
	ix := &writeIndex{written: map[[2]string][]int64{}}
	for i := range history {
		h := &history[i]
		op, err := decodeRequest(h.Request)
		if err != nil {
			return nil, fmt.Errorf("operation %d (client %d): %w", i, h.ClientID, err)
		}
		if !op.writes() {
			continue
		}
		switch h.status() {
		case statusFailed:
		case statusUnknown:
			for _, e := range possibleEffects(&op) {
				ix.maybe = append(ix.maybe, e)
				ix.noteWritten(e)
			}
		case statusOK:
			res, err := decodeResponse(&op, h.Response)
			if err != nil {
				return nil, fmt.Errorf("operation %d (client %d) %s: %w", i, h.ClientID, describeOp(&op), err)
			}
			for _, e := range ackedEffects(&op, &res, res.rev) {
				ix.acked = append(ix.acked, e)
				ix.noteWritten(e)
			}
		}
	}
	return ix, nil
}

func (ix *writeIndex) noteWritten(e effect) {
	if !e.isDelete {
		k := [2]string{e.key, e.value}
		ix.written[k] = append(ix.written[k], e.rev)
	}
}

func possibleEffects(op *kvOp) []effect {
	switch op.kind {
	case opPut:
		return []effect{{key: op.key, value: op.value}}
	case opDelete:
		return []effect{{key: op.key, end: op.end, isDelete: true}}
	case opTxn:
		var out []effect
		for _, branch := range [][]kvOp{op.then, op.orElse} {
			for i := range branch {
				out = append(out, possibleEffects(&branch[i])...)
			}
		}
		return out
	}
	return nil
}

// ackedEffects lists what an acknowledged write changed: the executed txn
// branch only, deletes only when they removed something.
func ackedEffects(op *kvOp, res *kvResult, rev int64) []effect {
	switch op.kind {
	case opPut:
		return []effect{{key: op.key, value: op.value, rev: rev}}
	case opDelete:
		if res.deleted == 0 {
			return nil
		}
		return []effect{{key: op.key, end: op.end, isDelete: true, rev: rev}}
	case opTxn:
		branch := op.orElse
		if res.succeeded {
			branch = op.then
		}
		var out []effect
		for i := range branch {
			if i < len(res.sub) {
				out = append(out, ackedEffects(&branch[i], &res.sub[i], rev)...)
			}
		}
		if len(out) > writeEffectsPerRequestMax {
			panic(fmt.Sprintf("linearizability: one txn made %d effects, more than %d", len(out), writeEffectsPerRequestMax))
		}
		return out
	}
	return nil
}

func (e *effect) covers(key string) bool {
	switch e.end {
	case "":
		return key == e.key
	case "\x00":
		return key >= e.key
	}
	return key >= e.key && key < e.end
}

// judgeRead checks one read of the store at revision rev against every
// write the history made. It is sound with indeterminate writes: it only
// reports what no ordering of the writes can explain. Values must be
// unique per key for the "never written" check to be exact.
func (ix *writeIndex) judgeRead(op *kvOp, res *kvResult) []string {
	var problems []string
	rev := res.rev
	returned := map[string]kvRecord{}
	for _, kv := range res.kvs {
		returned[kv.key] = kv
		if kv.modRev > rev || kv.createRev > kv.modRev {
			problems = append(problems, fmt.Sprintf("%s has create/mod revision %d/%d beyond the read's revision %d", kv.key, kv.createRev, kv.modRev, rev))
			continue
		}
		if op.keysOnly {
			continue
		}
		revs, ok := ix.written[[2]string{kv.key, kv.value}]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s=%q@m%d was never written", kv.key, kv.value, kv.modRev))
		case !containsRev(revs, kv.modRev):
			problems = append(problems, fmt.Sprintf("%s=%q@m%d, but that value was acknowledged at revision(s) %v", kv.key, kv.value, kv.modRev, revs))
		}
	}
	complete := op.limit == 0 && !op.countOnly
	for _, e := range ix.acked {
		if e.rev > rev {
			continue
		}
		if e.isDelete {
			for k, kv := range returned {
				if e.covers(k) && kv.modRev < e.rev {
					problems = append(problems, fmt.Sprintf("%s=%q@m%d survives its acknowledged delete at revision %d", k, kv.value, kv.modRev, e.rev))
				}
			}
			continue
		}
		if !inRangeKey(op.key, op.end, e.key) {
			continue
		}
		kv, ok := returned[e.key]
		switch {
		case ok && kv.modRev < e.rev:
			problems = append(problems, fmt.Sprintf("acknowledged put %s=%q at revision %d lost: read shows %s", e.key, e.value, e.rev, kv))
		case !ok && complete && !ix.deletable(e.key, e.rev, rev):
			problems = append(problems, fmt.Sprintf("acknowledged put %s=%q at revision %d lost: key absent at revision %d and no delete explains it", e.key, e.value, e.rev, rev))
		}
	}
	return problems
}

// deletable reports whether some delete could have removed key after
// revision from and by revision to.
func (ix *writeIndex) deletable(key string, from, to int64) bool {
	for _, e := range ix.acked {
		if e.isDelete && e.rev > from && e.rev <= to && e.covers(key) {
			return true
		}
	}
	for _, e := range ix.maybe {
		if e.isDelete && e.covers(key) {
			return true
		}
	}
	return false
}

func containsRev(revs []int64, rev int64) bool {
	for _, r := range revs {
		if r == 0 || r == rev {
			return true
		}
	}
	return false
}

func inRangeKey(key, end, k string) bool {
	e := effect{key: key, end: end}
	return e.covers(k)
}

// CheckDurability judges that no acknowledged write was lost: each member
// read (normally every live member's whole keyspace after the faults
// healed) must show, for every key, a value that some write made at the
// revision it was made at, no older than any acknowledged write to the key
// at or below the read's revision, and a key may be missing only if a
// delete could have removed it.
func CheckDurability(history []KVOperation, finals []MemberRead) (v Verdict) {
	started := time.Now()
	v = Verdict{Checker: CheckerKVDurability, Operations: len(history)}
	defer func() { v.CheckDuration = time.Since(started) }()
	ix, err := indexWrites(history)
	if err != nil {
		v.Outcome, v.Detail = Unknown, err.Error()
		return v
	}
	if len(finals) == 0 {
		v.Outcome, v.Detail = Unknown, "no member reads to judge"
		return v
	}
	var ackedRevMax int64
	for _, e := range ix.acked {
		ackedRevMax = max(ackedRevMax, e.rev)
	}
	var problems []string
	for _, f := range finals {
		op, err := decodeRange(f.Request)
		if err != nil {
			v.Outcome, v.Detail = Unknown, fmt.Sprintf("member %d read: %v", f.Member, err)
			return v
		}
		res, err := decodeResponse(&op, f.Response)
		if err != nil {
			v.Outcome, v.Detail = Unknown, fmt.Sprintf("member %d read: %v", f.Member, err)
			return v
		}
		if res.rev < ackedRevMax {
			// A final read comes after every write was acknowledged.
			problems = append(problems, fmt.Sprintf("member %d at revision %d is behind the acknowledged write at revision %d", f.Member, res.rev, ackedRevMax))
		}
		for _, p := range ix.judgeRead(&op, &res) {
			problems = append(problems, fmt.Sprintf("member %d at revision %d: %s", f.Member, res.rev, p))
		}
	}
	v.Outcome, v.Detail = outcomeOf(problems)
	return v
}

// CheckSerializableReads judges the serializable reads of history, which
// may be stale and so are not linearizable: each must show the store as it
// was at its header revision — every returned value written at the mod
// revision it claims, no acknowledged write at or below that revision
// missing. It does not judge how stale a read was.
func CheckSerializableReads(history []KVOperation) (v Verdict) {
	started := time.Now()
	v = Verdict{Checker: CheckerSerializableReads}
	defer func() { v.CheckDuration = time.Since(started) }()
	ix, err := indexWrites(history)
	if err != nil {
		v.Outcome, v.Detail = Unknown, err.Error()
		return v
	}
	var problems []string
	for i := range history {
		h := &history[i]
		if h.status() != statusOK || h.Request.GetRange() == nil || !h.Request.Range.Serializable {
			continue
		}
		v.Operations++
		op, _ := decodeRequest(h.Request) // indexWrites decoded every request already
		res, err := decodeResponse(&op, h.Response)
		if err != nil {
			v.Outcome, v.Detail = Unknown, fmt.Sprintf("operation %d: %v", i, err)
			return v
		}
		for _, p := range ix.judgeRead(&op, &res) {
			problems = append(problems, fmt.Sprintf("client %d serializable %s at revision %d: %s", h.ClientID, describeOp(&op), res.rev, p))
		}
	}
	v.Outcome, v.Detail = outcomeOf(problems)
	return v
}

func outcomeOf(problems []string) (Outcome, string) {
	if len(problems) == 0 {
		return OK, ""
	}
	shown := problems[:min(len(problems), violationsListedMax)]
	detail := strings.Join(shown, "; ")
	if len(problems) > len(shown) {
		detail += fmt.Sprintf("; and %d more", len(problems)-len(shown))
	}
	return Violation, detail
}

// MemberHash is one member's HashKV answer.
type MemberHash struct {
	Member   uint64
	Revision int64
	Hash     uint32
}

// CheckConvergence judges that every live member, after the faults healed
// and the cluster settled, holds the same store: the same hash at the same
// revision.
func CheckConvergence(hashes []MemberHash) (v Verdict) {
	started := time.Now()
	v = Verdict{Checker: CheckerConvergence, Operations: len(hashes)}
	defer func() { v.CheckDuration = time.Since(started) }()
	if len(hashes) == 0 {
		v.Outcome, v.Detail = Unknown, "no member hashes to compare"
		return v
	}
	first := hashes[0]
	var problems []string
	for _, h := range hashes[1:] {
		if h.Revision != first.Revision || h.Hash != first.Hash {
			problems = append(problems, fmt.Sprintf("member %d has hash %08x at revision %d, member %d has %08x at revision %d",
				h.Member, h.Hash, h.Revision, first.Member, first.Hash, first.Revision))
		}
	}
	v.Outcome, v.Detail = outcomeOf(problems)
	return v
}
