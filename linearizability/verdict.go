// Package linearizability holds the checkers that judge simulated
// histories: porcupine models of the etcd KV API, and the watch, lease,
// lock, durability, convergence and liveness checkers.
package linearizability

import "time"

// Outcome is a checker's judgement.
type Outcome string

const (
	// OK: the history satisfies the property.
	OK Outcome = "ok"
	// Violation: the history breaks the property; Detail says how.
	Violation Outcome = "violation"
	// Unknown: the checker could not decide (e.g. porcupine timed out).
	// Never counted as a pass.
	Unknown Outcome = "unknown"
)

// Verdict is one checker's judgement of one run.
type Verdict struct {
	// Checker names the property, e.g. "kv-linearizable", "watch", "lease".
	Checker string  `json:"checker"`
	Outcome Outcome `json:"outcome"`
	// Detail is a human-readable explanation, one line or a few.
	Detail string `json:"detail,omitempty"`
	// Operations is how many operations the checker judged.
	Operations int `json:"operations"`
	// CheckDuration is how long (wall clock) the checker took.
	CheckDuration time.Duration `json:"check_duration_ns"`
	// VisualizationHTML is porcupine's HTML view of the history, when the
	// checker is porcupine-based and asked to render one.
	VisualizationHTML []byte `json:"-"`
}
