package linearizability

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// LockHistory is everything the lock (and election) checker judges. A
// holder is a key under Prefix; by etcd's recipe the holder at a revision
// is the live key with the smallest create revision (the fencing token).
type LockHistory struct {
	// Prefix is the lock's (or election's) key prefix.
	Prefix []byte
	// GuardedKey is the key only the holder writes, with a txn guarded by
	// create_revision(holder key) == holder's create revision. Empty when
	// only the holders' own keys are guarded (election proclamations: a put
	// on an existing holder key).
	GuardedKey []byte
	// Events is the committed history of Prefix and GuardedKey from
	// revision 1, read from a member after the run.
	Events []*mvccpb.Event
	// Writers maps each guarded value written (values are unique) to the
	// holder key that wrote it, acknowledged or not: the writes to
	// GuardedKey, or the proclamations on holder keys.
	Writers map[string]LockHolder
	// Acquired are the moments clients concluded they held the lock.
	Acquired []LockClaim
	// Acked are the guarded writes the server acknowledged as applied.
	Acked []LockWrite
	// Observed are linearizable reads of who held the lock (or led the
	// election): etcd's Election.Leader, the live key under Prefix with
	// the smallest create revision.
	Observed []LockObservation
}

// LockObservation is a read's answer, at Revision, to "who holds the
// lock": Holder, or nobody when Held is false.
type LockObservation struct {
	Revision int64
	Holder   LockHolder
	Held     bool
}

// LockHolder names a holder by its key and the key's create revision.
type LockHolder struct {
	Key            string
	CreateRevision int64
}

// LockClaim is a client's conclusion, from a response at Revision, that
// Holder held the lock (or led the election) at that revision.
type LockClaim struct {
	Holder   LockHolder
	Revision int64
}

// LockWrite is an acknowledged guarded write: Value committed at Revision.
type LockWrite struct {
	Holder   LockHolder
	Key      string
	Value    []byte
	Revision int64
}

// CheckLock judges mutual exclusion by fencing, never by time:
//
//   - every guarded write in the committed history was made by the holder
//     at the revision before it (its key live, with the create revision it
//     compared, and the smallest one under the prefix); a holder key's
//     versions after the first must all be proclamations some client made;
//   - guarded writes never interleave: along revisions, the writers' create
//     revisions never go back;
//   - every claim to hold the lock at revision H is true at H, and every
//     read of the holder at H names the holder at H (or nobody, when
//     nobody held it);
//   - every acknowledged guarded write is in the committed history.
func CheckLock(h LockHistory) Verdict {
	start := time.Now()
	v := Verdict{Checker: "lock", Outcome: OK, Operations: len(h.Acquired) + len(h.Writers) + len(h.Observed)}
	if err := checkLock(h); err != nil {
		v.Outcome = Violation
		v.Detail = err.Error()
	}
	v.CheckDuration = time.Since(start)
	return v
}

func checkLock(h LockHistory) error {
	// live maps each lock key to its create revision, as of the revision
	// before the one being replayed.
	live := map[string]int64{}
	holderOf := func() (LockHolder, bool) {
		var best LockHolder
		for k, c := range live {
			if best.Key == "" || c < best.CreateRevision {
				best = LockHolder{Key: k, CreateRevision: c}
			}
		}
		return best, best.Key != ""
	}
	// A claim is an observation by the holder itself: both are judged on
	// the state their revision left.
	claims := make([]lockJudgement, 0, len(h.Acquired)+len(h.Observed))
	for _, c := range h.Acquired {
		claims = append(claims, lockJudgement{LockObservation: LockObservation{Revision: c.Revision, Holder: c.Holder, Held: true}, claim: true})
	}
	for _, o := range h.Observed {
		claims = append(claims, lockJudgement{LockObservation: o})
	}
	slices.SortStableFunc(claims, func(a, b lockJudgement) int { return cmp.Compare(a.Revision, b.Revision) })
	committed := map[int64][]*mvccpb.Event{}
	var lastWriter LockHolder
	evs := sortedWithinRevision(h.Events)
	for i := 0; i < len(evs); {
		rev := evs[i].GetKv().GetModRevision()
		// Claims at revisions before this one are judged on the state
		// the previous revision left.
		for len(claims) > 0 && claims[0].Revision < rev {
			if err := judgeHolder(claims[0], holderOf); err != nil {
				return err
			}
			claims = claims[1:]
		}
		before, held := holderOf()
		j := i
		for ; j < len(evs) && evs[j].GetKv().GetModRevision() == rev; j++ {
			e := evs[j]
			committed[rev] = append(committed[rev], e)
			key := e.GetKv().GetKey()
			isLockKey := bytes.HasPrefix(key, h.Prefix)
			var writer LockHolder
			guarded := false
			switch {
			case e.GetType() == mvccpb.PUT && len(h.GuardedKey) > 0 && bytes.Equal(key, h.GuardedKey):
				w, ok := h.Writers[string(e.GetKv().GetValue())]
				if !ok {
					return fmt.Errorf("guarded key %q written at revision %d with value %q no client wrote", key, rev, e.GetKv().GetValue())
				}
				writer, guarded = w, true
			case e.GetType() == mvccpb.PUT && isLockKey && e.GetKv().GetVersion() > 1:
				// The recipe puts a holder key once; any later version is
				// a proclamation, a guarded write by that key's owner.
				w, ok := h.Writers[string(e.GetKv().GetValue())]
				if !ok {
					return fmt.Errorf("lock key put again: %s at revision %d carries a value no guarded write carries (one request applied twice?)", describeEvent(e), rev)
				}
				if w.Key != string(key) {
					return fmt.Errorf("proclamation %q of %q (lock revision %d) committed on another key: %s", e.GetKv().GetValue(), w.Key, w.CreateRevision, describeEvent(e))
				}
				writer, guarded = w, true
			}
			if guarded {
				if !held || before != writer {
					return fmt.Errorf("guarded write %s at revision %d by %q (lock revision %d), but the holder by fencing was %s",
						describeEvent(e), rev, writer.Key, writer.CreateRevision, describeHolder(before, held))
				}
				if lastWriter.Key != "" && writer.CreateRevision < lastWriter.CreateRevision {
					return fmt.Errorf("guarded writes interleave: %q (lock revision %d) wrote at revision %d after %q (lock revision %d) had written",
						writer.Key, writer.CreateRevision, rev, lastWriter.Key, lastWriter.CreateRevision)
				}
				lastWriter = writer
			}
			if isLockKey {
				if e.GetType() == mvccpb.PUT {
					live[string(key)] = e.GetKv().GetCreateRevision()
				} else {
					delete(live, string(key))
				}
			}
		}
		i = j
	}
	for _, c := range claims {
		if err := judgeHolder(c, holderOf); err != nil {
			return err
		}
	}
	for _, w := range h.Acked {
		found := slices.ContainsFunc(committed[w.Revision], func(e *mvccpb.Event) bool {
			return e.GetType() == mvccpb.PUT && string(e.GetKv().GetKey()) == w.Key && bytes.Equal(e.GetKv().GetValue(), w.Value)
		})
		if !found {
			return fmt.Errorf("acknowledged guarded write %q=%q at revision %d by %q is not in the committed history", w.Key, w.Value, w.Revision, w.Holder.Key)
		}
	}
	return nil
}

// lockJudgement is a claim or an observation, to be judged at its revision.
type lockJudgement struct {
	LockObservation
	claim bool
}

func judgeHolder(c lockJudgement, holderOf func() (LockHolder, bool)) error {
	h, ok := holderOf()
	if ok == c.Held && (!ok || h == c.Holder) {
		return nil
	}
	if c.claim {
		return fmt.Errorf("%q (lock revision %d) concluded at revision %d that it held the lock, but the holder by fencing was %s",
			c.Holder.Key, c.Holder.CreateRevision, c.Revision, describeHolder(h, ok))
	}
	return fmt.Errorf("a read at revision %d saw %s hold the lock, but the holder by fencing was %s",
		c.Revision, describeHolder(c.Holder, c.Held), describeHolder(h, ok))
}

func describeHolder(h LockHolder, ok bool) string {
	if !ok {
		return "nobody"
	}
	return fmt.Sprintf("%q (lock revision %d)", h.Key, h.CreateRevision)
}
