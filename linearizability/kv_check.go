package linearizability

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// KVOperation is one completed client call against the KV API, as a
// workload recorded it.
type KVOperation struct {
	// ClientID identifies the session; porcupine draws one row per client.
	ClientID int
	// Invoke and Return bound when the call could have taken effect.
	Invoke, Return time.Time
	Request        *pb.InternalRaftRequest
	// Response is set when Err is nil and the call did not time out.
	Response proto.Message
	Err      error
	// Indeterminate marks a call whose effect nobody saw: a timeout, or an
	// error that does not rule out that a write applied.
	Indeterminate bool
}

// status sorts an operation into what the checker does with it.
func (o *KVOperation) status() opStatus {
	switch {
	case o.Indeterminate:
		return statusUnknown
	case o.Err != nil || o.Response == nil:
		return statusFailed
	}
	return statusOK
}

type opStatus uint8

const (
	statusOK opStatus = iota
	// statusFailed: a definite error; the call had no effect.
	statusFailed
	// statusUnknown: the call may or may not have had its effect.
	statusUnknown
)

// KVCheckOptions tunes CheckKV.
type KVCheckOptions struct {
	// Timeout bounds porcupine's search; on expiry the verdict is Unknown.
	// Default 30 s.
	Timeout time.Duration
	// Visualize asks for porcupine's HTML view in Verdict.VisualizationHTML.
	Visualize bool
	// Committed, when set, is the store's committed history, read after
	// every operation of the history was invoked; CheckKV decides the
	// indeterminate writes from it (see KVCommittedHistory) and reports
	// any contradiction between it and the responses. Default nil: each
	// indeterminate write may or may not have applied, which makes the
	// search exponential in their number.
	Committed *KVCommittedHistory
}

// EnsureDefaults fills zero fields with their documented defaults.
func (o *KVCheckOptions) EnsureDefaults() {
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
}

// Validate reports every problem at once.
func (o *KVCheckOptions) Validate() error {
	var errs []error
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("linearizability: KVCheckOptions.Timeout %v is negative", o.Timeout))
	}
	if c := o.Committed; c != nil && c.ReadAt.IsZero() {
		errs = append(errs, fmt.Errorf("linearizability: KVCheckOptions.Committed from member %d has no ReadAt", c.Member))
	}
	return errors.Join(errs...)
}

// CheckerKVLinearizable names CheckKV's verdict.
const CheckerKVLinearizable = "kv-linearizable"

// CheckKV judges whether history is linearizable against the etcd KV API,
// starting from an empty store at revision 1. The history must hold every
// KV write made to the cluster: revisions couple all keys.
//
// What is judged: successful linearizable ranges, puts, deletes and txns,
// response revisions included; indeterminate writes, allowed either to have
// applied (at any point after their invocation) or not — unless
// opts.Committed decides them, and then the acknowledged writes against
// it too. What is not judged here: serializable reads (see
// CheckSerializableReads), calls that failed with a definite error and
// reads that timed out — they had no effect.
func CheckKV(history []KVOperation, opts KVCheckOptions) Verdict {
	started := time.Now()
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	v := Verdict{Checker: CheckerKVLinearizable}
	note := ""
	if opts.Committed != nil {
		res, err := resolveCommitted(history, opts.Committed)
		switch {
		case err != nil:
			v.Outcome, v.Detail, v.Operations = Unknown, fmt.Sprintf("committed history: %v", err), len(history)
			v.CheckDuration = time.Since(started)
			return v
		case len(res.problems) > 0:
			v.Outcome, v.Operations = Violation, len(history)
			_, v.Detail = outcomeOf(res.problems)
			v.Detail = "committed history contradicts the responses: " + v.Detail
			v.CheckDuration = time.Since(started)
			return v
		}
		history, note = res.history, res.summary()
	}
	ops, err := porcupineOperations(resolveObserved(history))
	v.Operations = len(ops)
	if err != nil {
		v.Outcome, v.Detail = Unknown, err.Error()
		v.CheckDuration = time.Since(started)
		return v
	}
	model := KVModel()
	m := model.ToModel()
	result, info := porcupine.CheckOperationsVerbose(m, ops, opts.Timeout)
	switch result {
	case porcupine.Ok:
		v.Outcome = OK
	case porcupine.Illegal:
		v.Outcome, v.Detail = Violation, explainViolation(ops, info)
	default:
		v.Outcome = Unknown
		v.Detail = fmt.Sprintf("porcupine found no verdict within %v over %d operations", opts.Timeout, len(ops))
	}
	if note != "" {
		v.Detail = strings.TrimPrefix(v.Detail+"; "+note, "; ")
	}
	if opts.Visualize && result != porcupine.Unknown {
		var b bytes.Buffer
		if err := porcupine.Visualize(m, info, &b); err == nil {
			v.VisualizationHTML = b.Bytes()
		}
	}
	v.CheckDuration = time.Since(started)
	return v
}

// porcupineOperations keeps the operations the model judges, in a stable
// order, with times in nanoseconds from the first invocation. Unknown
// outcomes get a return after every known one: they may take effect at any
// later point, and the model lets them not take effect at all.
func porcupineOperations(history []KVOperation) ([]porcupine.Operation, error) {
	if len(history) == 0 {
		return nil, nil
	}
	origin := history[0].Invoke
	var lastReturn int64
	for i := range history {
		if history[i].Invoke.Before(origin) {
			origin = history[i].Invoke
		}
	}
	var ops []porcupine.Operation
	var unknownAt []int
	for i := range history {
		h := &history[i]
		if h.Return.Before(h.Invoke) {
			panic(fmt.Sprintf("linearizability: operation %d returns at %v before its invocation at %v", i, h.Return, h.Invoke))
		}
		op, err := decodeRequest(h.Request)
		if err != nil {
			return nil, fmt.Errorf("operation %d (client %d): %w", i, h.ClientID, err)
		}
		st := h.status()
		switch {
		case st == statusFailed, op.kind == opRange && op.serializable, st == statusUnknown && !op.writes():
			continue
		}
		in := &kvInput{op: op, desc: describeOp(&op)}
		out := &kvOutput{unknown: st == statusUnknown, desc: "unknown"}
		if !out.unknown {
			res, err := decodeResponse(&op, h.Response)
			if err != nil {
				return nil, fmt.Errorf("operation %d (client %d) %s: %w", i, h.ClientID, in.desc, err)
			}
			out.res, out.desc = res, describeResult(&res)
		}
		call, ret := int64(h.Invoke.Sub(origin)), int64(h.Return.Sub(origin))
		lastReturn = max(lastReturn, ret)
		ops = append(ops, porcupine.Operation{ClientId: h.ClientID, Input: in, Output: out, Call: call, Return: ret})
		if out.unknown {
			unknownAt = append(unknownAt, len(ops)-1)
		}
	}
	for _, i := range unknownAt {
		ops[i].Return = lastReturn + 1
	}
	return ops, nil
}

// explainViolation names the operation porcupine could not place after its
// longest partial linearization, and what the model would have answered.
func explainViolation(ops []porcupine.Operation, info porcupine.LinearizationInfo) string {
	var longest []int
	for _, part := range info.PartialLinearizations() {
		for _, lin := range part {
			if len(lin) > len(longest) {
				longest = lin
			}
		}
	}
	placed := make([]bool, len(ops))
	states := []*kvState{newKVState(1, nil)}
	for _, id := range longest {
		placed[id] = true
		states = stepAll(states, &ops[id])
	}
	culprit := -1
	for i := range ops {
		if placed[i] || ops[i].Output.(*kvOutput).unknown {
			continue
		}
		if culprit < 0 || ops[i].Return < ops[culprit].Return {
			culprit = i
		}
	}
	if culprit < 0 {
		return fmt.Sprintf("not linearizable: %d of %d operations linearized", len(longest), len(ops))
	}
	op := &ops[culprit]
	in, out := op.Input.(*kvInput), op.Output.(*kvOutput)
	var allowed []string
	for _, s := range states {
		_, want := apply(s, &in.op)
		allowed = append(allowed, describeResult(&want))
	}
	slices.Sort(allowed)
	allowed = slices.Compact(allowed)
	return fmt.Sprintf("not linearizable: client %d %s → %s (at %v..%v) fits no linearization of the %d operations before it; the model would answer %v",
		op.ClientId, in.desc, out.desc, time.Duration(op.Call), time.Duration(op.Return), len(longest), allowed)
}

// stepAll applies one operation to a set of possible states.
func stepAll(states []*kvState, op *porcupine.Operation) []*kvState {
	in, out := op.Input.(*kvInput), op.Output.(*kvOutput)
	var next []*kvState
	for _, s := range states {
		n, want := apply(s, &in.op)
		switch {
		case out.unknown:
			next = appendState(next, s)
			next = appendState(next, n)
		case want.equal(&out.res):
			next = appendState(next, n)
		}
	}
	return next
}

func appendState(states []*kvState, s *kvState) []*kvState {
	if slices.ContainsFunc(states, s.equal) {
		return states
	}
	return append(states, s)
}
