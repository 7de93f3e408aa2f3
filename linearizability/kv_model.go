package linearizability

import (
	"fmt"
	"strings"

	"github.com/anishathalye/porcupine"
)

// kvInput is a porcupine operation's input.
type kvInput struct {
	op   kvOp
	desc string
}

// kvOutput is a porcupine operation's output; unknown marks a write whose
// outcome nobody saw (a timeout or an error that does not rule it out).
type kvOutput struct {
	unknown bool
	res     kvResult
	desc    string
}

// KVModel is the etcd KV API as a porcupine non-deterministic model. Its
// state is the whole keyspace plus the revision, so it is never partitioned
// by key: every write moves the one revision all keys share, and responses
// are checked against it (header revision, mod/create revision, version).
//
// An operation with an unknown output steps to two states, "not applied"
// and "applied"; porcupine keeps both, so either outcome is allowed.
func KVModel() porcupine.NondeterministicModel {
	return porcupine.NondeterministicModel{
		Init: func() []any { return []any{newKVState(1, nil)} },
		Step: func(state, input, output any) []any {
			s, in, out := state.(*kvState), input.(*kvInput), output.(*kvOutput)
			next, want := apply(s, &in.op)
			if out.unknown {
				if next == s {
					return []any{s}
				}
				return []any{s, next}
			}
			if !want.equal(&out.res) {
				return nil
			}
			return []any{next}
		},
		Equal: func(a, b any) bool { return a.(*kvState).equal(b.(*kvState)) },
		Hash:  func(s any) uint64 { return s.(*kvState).hash },
		DescribeOperation: func(input, output any) string {
			return input.(*kvInput).desc + " → " + output.(*kvOutput).desc
		},
		DescribeState: func(s any) string { return s.(*kvState).String() },
	}
}

func describeOp(op *kvOp) string {
	switch op.kind {
	case opRange:
		var b strings.Builder
		if op.serializable {
			b.WriteString("s")
		}
		fmt.Fprintf(&b, "range(%s", describeKeys(op.key, op.end))
		if op.limit > 0 {
			fmt.Fprintf(&b, " limit %d", op.limit)
		}
		if op.countOnly {
			b.WriteString(" count")
		}
		b.WriteString(")")
		return b.String()
	case opPut:
		return fmt.Sprintf("put(%s, %q)", op.key, op.value)
	case opDelete:
		return fmt.Sprintf("delete(%s)", describeKeys(op.key, op.end))
	case opTxn:
		var b strings.Builder
		b.WriteString("txn(if")
		for _, c := range op.compares {
			fmt.Fprintf(&b, " %s %v %v", c.key, c.target, c.result)
			if c.target == 3 { // VALUE
				fmt.Fprintf(&b, " %q", c.value)
			} else {
				fmt.Fprintf(&b, " %d", c.number)
			}
		}
		b.WriteString(" then")
		for i := range op.then {
			b.WriteString(" " + describeOp(&op.then[i]))
		}
		b.WriteString(" else")
		for i := range op.orElse {
			b.WriteString(" " + describeOp(&op.orElse[i]))
		}
		b.WriteString(")")
		return b.String()
	}
	return "?"
}

func describeKeys(key, end string) string {
	switch end {
	case "":
		return key
	case "\x00":
		return key + ".."
	}
	return key + ".." + end
}

func describeResult(r *kvResult) string {
	var b strings.Builder
	switch r.kind {
	case opRange:
		b.WriteString("[")
		for i, kv := range r.kvs {
			if i > 0 {
				b.WriteString(" ")
			}
			b.WriteString(kv.String())
		}
		fmt.Fprintf(&b, "] count %d", r.count)
		if r.more {
			b.WriteString(" more")
		}
	case opPut:
		b.WriteString("ok")
	case opDelete:
		fmt.Fprintf(&b, "deleted %d", r.deleted)
	case opTxn:
		fmt.Fprintf(&b, "succeeded=%v", r.succeeded)
		for i := range r.sub {
			b.WriteString(" " + describeResult(&r.sub[i]))
		}
	}
	if r.rev != 0 {
		fmt.Fprintf(&b, " @rev %d", r.rev)
	}
	return b.String()
}
