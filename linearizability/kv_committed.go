package linearizability

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// KVCommittedHistory is the store's committed history, read once every
// operation of a KV history was invoked: every event of the whole keyspace
// from revision 1 through Revision, in revision order, as a watch from
// revision 1 over ["\x00", "\x00") on one member returns them. CheckKV
// resolves indeterminate writes from it (the Jepsen etcd technique).
//
// A watch of the whole keyspace sees every revision: each revision is one
// request that changed at least one key. So the history fixes the store at
// every revision, and which request made each revision follows from it.
type KVCommittedHistory struct {
	MemberHistory
	// ReadAt is when the read was complete: every write in it committed
	// before then.
	ReadAt time.Time
}

// committedRevisionsMax bounds the revisions a committed history may span:
// the replay keeps the store at every one of them.
const committedRevisionsMax = 200_000

// committedResolution is what a committed history says about a KV history.
type committedResolution struct {
	// history is the KV history with every indeterminate write the
	// committed history decides replaced by what it decides.
	history []KVOperation
	// problems are contradictions between the two: each is a violation.
	problems []string
	// resolved indeterminate writes got the output they had; dropped ones
	// had no effect; ambiguous ones stay indeterminate.
	resolved, dropped, ambiguous int
	// complete: the committed history reaches every revision an
	// acknowledged operation reported, so writes absent from it can be
	// dropped.
	complete bool
}

func (r *committedResolution) summary() string {
	return fmt.Sprintf("committed history: %d indeterminate writes resolved, %d dropped, %d ambiguous (complete %v)",
		r.resolved, r.dropped, r.ambiguous, r.complete)
}

// resolveCommitted decides the indeterminate writes of history from c.
//
// Replaying c gives the store at every revision 1..c.Revision. Each
// revision R ≥ 2 is one request that turned the store at R-1 into the store
// at R, so it must be explained by exactly one write of history:
//   - an acknowledged write that reported revision R, whose apply to the
//     store at R-1 gives the store at R and the response it got; an
//     acknowledged write that changed nothing must have been answered as
//     the store at its revision answers it. Anything else is a problem.
//   - else an indeterminate write whose apply to the store at R-1 gives the
//     store at R. When exactly one candidate remains (each request applies
//     once: a write placed at one revision is no candidate for another),
//     it is resolved: its output is what apply answered, and its return is
//     ReadAt — it took effect somewhere between its invocation and then.
//     A write that failed with a definite error and fits is a problem.
//   - no candidate at all: a write nobody sent, a problem.
//
// An indeterminate write that explains no revision had no effect on any
// state in c: it never applied, or applied without changing anything, or
// applied after c.Revision. When c is complete — c.Revision is at least
// every revision an acknowledged operation reported — the last case
// commits after every state any operation observed, so it can be placed
// after all of them, which is what dropping it amounts to: an unknown
// output constrains nothing. Candidates of a revision that several could
// explain stay indeterminate for porcupine to place.
func resolveCommitted(history []KVOperation, c *KVCommittedHistory) (committedResolution, error) {
	states, problems, err := replayCommitted(c)
	if err != nil || len(problems) > 0 {
		return committedResolution{problems: problems}, err
	}
	type decoded struct {
		op  kvOp
		st  opStatus
		res kvResult
	}
	ops := make([]decoded, len(history))
	var ackedRevMax int64
	for i := range history {
		h := &history[i]
		if h.Invoke.After(c.ReadAt) {
			return committedResolution{}, fmt.Errorf("operation %d (client %d) invoked at %v, after the committed history was read at %v", i, h.ClientID, h.Invoke, c.ReadAt)
		}
		d := &ops[i]
		if d.op, err = decodeRequest(h.Request); err != nil {
			return committedResolution{}, fmt.Errorf("operation %d (client %d): %w", i, h.ClientID, err)
		}
		d.st = h.status()
		if d.st == statusOK {
			if d.res, err = decodeResponse(&d.op, h.Response); err != nil {
				return committedResolution{}, fmt.Errorf("operation %d (client %d) %s: %w", i, h.ClientID, describeOp(&d.op), err)
			}
			ackedRevMax = max(ackedRevMax, d.res.rev)
		}
	}
	out := committedResolution{complete: c.Revision >= ackedRevMax}
	byRev := eventsByRevision(c.Events)

	// made[R] is the operation that made revision R; -1 while unknown.
	made := make([]int, c.Revision+1)
	for r := range made {
		made[r] = -1
	}
	for i := range ops {
		d := &ops[i]
		if d.st != statusOK || !d.op.writes() || d.res.rev > c.Revision {
			continue
		}
		r := d.res.rev
		if r < 1 {
			out.problems = append(out.problems, fmt.Sprintf("%s acknowledged at revision %d", describeCall(&history[i], &d.op), r))
			continue
		}
		if r >= 2 {
			next, want := apply(states[r-1], &d.op)
			if next != states[r-1] && next.equal(states[r]) && want.equal(&d.res) {
				if made[r] >= 0 {
					out.problems = append(out.problems, fmt.Sprintf("revision %d was made by two acknowledged writes: %s and %s",
						r, describeCall(&history[made[r]], &ops[made[r]].op), describeCall(&history[i], &d.op)))
				}
				made[r] = i
				continue
			}
		}
		if next, want := apply(states[r], &d.op); next == states[r] && want.equal(&d.res) {
			continue // acknowledged without a change, as the store at r answers
		}
		out.problems = append(out.problems, fmt.Sprintf("%s → %s, but the committed history shows %s at revision %d",
			describeCall(&history[i], &d.op), describeResult(&d.res), describeEvents(byRev[r]), r))
	}

	// Candidates for every revision no acknowledged write made.
	type candidate struct {
		op  int
		res kvResult
	}
	cands := map[int64][]candidate{}
	var open []int64
	for r := int64(2); r <= c.Revision; r++ {
		if made[r] >= 0 {
			continue
		}
		open = append(open, r)
		for i := range ops {
			d := &ops[i]
			if d.st == statusOK || !d.op.writes() || !touchesAny(&d.op, byRev[r]) {
				continue
			}
			next, want := apply(states[r-1], &d.op)
			if next != states[r-1] && next.equal(states[r]) {
				cands[r] = append(cands[r], candidate{op: i, res: want})
			}
		}
	}
	placedAt := map[int]int64{}
	placedRes := map[int]kvResult{}
	live := func(r int64) []candidate {
		var l []candidate
		for _, cd := range cands[r] {
			if _, ok := placedAt[cd.op]; !ok {
				l = append(l, cd)
			}
		}
		return l
	}
	// A revision with one candidate left forces it; placing it may leave
	// another revision with one. Each round places at least one write.
	for progress := true; progress; {
		progress = false
		for _, r := range open {
			if made[r] >= 0 {
				continue
			}
			if l := live(r); len(l) == 1 {
				made[r], placedAt[l[0].op], placedRes[l[0].op] = l[0].op, r, l[0].res
				progress = true
			}
		}
	}
	ambiguous := map[int]bool{}
	for _, r := range open {
		if made[r] >= 0 {
			continue
		}
		l := live(r)
		if len(l) == 0 {
			p := fmt.Sprintf("revision %d %s was made by no operation of the history (a write nobody sent, or one applied twice)", r, describeEvents(byRev[r]))
			if len(cands[r]) > 0 {
				i := cands[r][0].op
				p += fmt.Sprintf("; it fits %s, which made revision %d", describeCall(&history[i], &ops[i].op), placedAt[i])
			}
			out.problems = append(out.problems, p)
			continue
		}
		for _, cd := range l {
			ambiguous[cd.op] = true
		}
	}

	for i := range history {
		h, d := &history[i], &ops[i]
		r, placed := placedAt[i]
		switch {
		case placed && d.st == statusFailed:
			out.problems = append(out.problems, fmt.Sprintf("%s failed with %q, yet the committed history shows it applied at revision %d",
				describeCall(h, &d.op), errText(h.Err), r))
		case placed:
			res := placedRes[i]
			resolved := *h
			resolved.Indeterminate, resolved.Err = false, nil
			resolved.Response = encodeResult(&d.op, &res)
			resolved.Return = c.ReadAt
			out.history = append(out.history, resolved)
			out.resolved++
		case d.st == statusUnknown && d.op.writes() && ambiguous[i]:
			out.history = append(out.history, *h)
			out.ambiguous++
		case d.st == statusUnknown && d.op.writes() && out.complete:
			out.dropped++
		default:
			out.history = append(out.history, *h)
		}
	}
	return out, nil
}

// replayCommitted builds the store at every revision of c: states[r] for r
// in 1..c.Revision (states[0] is unused). A history that cannot be the
// store's — a revision without an event, an event out of order or beyond
// c.Revision, a delete of a key that is not there — is a problem: the
// watch or the store lost or invented a change.
func replayCommitted(c *KVCommittedHistory) ([]*kvState, []string, error) {
	switch {
	case c.Revision < 1:
		return nil, nil, fmt.Errorf("committed history up to revision %d: revisions start at 1", c.Revision)
	case c.Revision > committedRevisionsMax:
		return nil, nil, fmt.Errorf("committed history up to revision %d, more than committedRevisionsMax %d", c.Revision, committedRevisionsMax)
	}
	var prev int64 = 1
	for _, e := range c.Events {
		r := e.GetKv().GetModRevision()
		if r < prev || r > c.Revision || r < 2 {
			return nil, []string{fmt.Sprintf("committed history from member %d: event %s out of order after revision %d or outside 2..%d",
				c.Member, describeEvent(e), prev, c.Revision)}, nil
		}
		prev = r
	}
	byRev := eventsByRevision(c.Events)
	states := make([]*kvState, c.Revision+1)
	states[1] = newKVState(1, nil)
	for r := int64(2); r <= c.Revision; r++ {
		evs := byRev[r]
		if len(evs) == 0 {
			return nil, []string{fmt.Sprintf("committed history from member %d has no event at revision %d of 2..%d", c.Member, r, c.Revision)}, nil
		}
		kvs := slices.Clone(states[r-1].kvs)
		for _, e := range evs {
			kv := e.GetKv()
			key := string(kv.GetKey())
			i, ok := slices.BinarySearchFunc(kvs, key, func(rec kvRecord, k string) int { return strings.Compare(rec.key, k) })
			switch e.GetType() {
			case mvccpb.PUT:
				rec := kvRecord{key: key, value: string(kv.GetValue()), createRev: kv.GetCreateRevision(),
					modRev: r, version: kv.GetVersion(), lease: kv.GetLease()}
				if ok {
					kvs[i] = rec
				} else {
					kvs = slices.Insert(kvs, i, rec)
				}
			case mvccpb.DELETE:
				if !ok {
					return nil, []string{fmt.Sprintf("committed history from member %d: %s deletes a key absent at revision %d", c.Member, describeEvent(e), r-1)}, nil
				}
				kvs = slices.Delete(kvs, i, i+1)
			}
		}
		if len(kvs) > stateKeysMax {
			return nil, nil, fmt.Errorf("committed history at revision %d holds %d keys, more than stateKeysMax %d", r, len(kvs), stateKeysMax)
		}
		states[r] = newKVState(r, kvs)
	}
	return states, nil, nil
}

func eventsByRevision(evs []*mvccpb.Event) map[int64][]*mvccpb.Event {
	byRev := map[int64][]*mvccpb.Event{}
	for _, e := range evs {
		r := e.GetKv().GetModRevision()
		byRev[r] = append(byRev[r], e)
	}
	return byRev
}

// touchesAny reports whether op could change one of the keys evs changed:
// a cheap filter before applying op.
func touchesAny(op *kvOp, evs []*mvccpb.Event) bool {
	for _, e := range possibleEffects(op) {
		for _, ev := range evs {
			if e.covers(string(ev.GetKv().GetKey())) {
				return true
			}
		}
	}
	return false
}

func describeCall(h *KVOperation, op *kvOp) string {
	return fmt.Sprintf("client %d %s (invoked %s)", h.ClientID, describeOp(op), h.Invoke.Format(time.StampMilli))
}

func errText(err error) string {
	if err == nil {
		return "no response"
	}
	return err.Error()
}
