package reports

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/kvdlabs/kvd/linearizability"
)

// Outcome is how one seed ended. Every value but Pass is a failure.
type Outcome string

const (
	// Pass: every checker said ok, the cluster was live after the faults
	// healed, and its members converged.
	Pass Outcome = "pass"
	// Correctness: a checker found a violation (linearizability, watch,
	// lease, lock, durability) or members diverged.
	Correctness Outcome = "correctness"
	// Liveness: after the faults healed, no leader was elected, requests did
	// not succeed, or members did not converge, within the bound.
	Liveness Outcome = "liveness"
	// Crash: the simulation panicked or its worker process died.
	Crash Outcome = "crash"
	// Unknown: a checker could not decide (e.g. porcupine timed out). Never
	// a pass.
	Unknown Outcome = "unknown"
	// Nondeterminism: two runs of the seed traced different events — a
	// breach of the deterministic core contract.
	Nondeterminism Outcome = "nondeterminism"
)

// outcomes lists every outcome, most severe first: a campaign's outcome is
// the most severe of its seeds'.
var outcomes = []Outcome{Nondeterminism, Correctness, Crash, Liveness, Unknown, Pass}

// Outcomes returns every outcome, most severe first.
func Outcomes() []Outcome { return append([]Outcome(nil), outcomes...) }

// Valid reports whether o is a known outcome.
func (o Outcome) Valid() bool { return o.severity() >= 0 }

// severity is o's rank, higher is worse; -1 for an unknown value.
func (o Outcome) severity() int {
	for i, v := range outcomes {
		if v == o {
			return len(outcomes) - 1 - i
		}
	}
	return -1
}

// Worse returns the more severe of o and p.
func (o Outcome) Worse(p Outcome) Outcome {
	if p.severity() > o.severity() {
		return p
	}
	return o
}

// Config is one run's resolved configuration: what a replay needs, besides
// the seed and the schedule, to repeat the run bit for bit.
type Config struct {
	// Workload is the workload's name (never "mixed": that is resolved per
	// seed).
	Workload string `json:"workload"`
	// Nemesis is the nemesis profile, or "file" for a schedule read from a
	// file.
	Nemesis string `json:"nemesis"`
	// Nodes is the cluster size.
	Nodes int `json:"nodes"`
	// Duration is the virtual length of the run.
	Duration Duration `json:"duration"`
	// Clients is how many client sessions the workload opens.
	Clients int `json:"clients"`
	// OpsMax bounds the workload's operations.
	OpsMax int `json:"ops_max"`
	// BeyondBudget lets the nemesis affect a majority at once: raft
	// promises safety then, but not liveness while it lasts.
	BeyondBudget bool `json:"beyond_budget,omitempty"`
	// Unsafe names a known-unsafe protocol variant switched on, or "".
	Unsafe string `json:"unsafe,omitempty"`
	// Bug names the planted bug switched on (core/bugs, kvdbugs builds
	// only), or "".
	Bug string `json:"bug,omitempty"`
	// Options are the members' protocol options (node.ApplyOptions), in
	// canonical form; "" for the defaults.
	Options string `json:"options,omitempty"`
	// LivenessBound is how long after the last fault heals the cluster has
	// to elect a leader, serve, and converge.
	LivenessBound Duration `json:"liveness_bound"`
	// CheckTimeout bounds each checker's wall time.
	CheckTimeout Duration `json:"check_timeout"`
	// Binary is the member program of a run on real processes (kvsim
	// real), "" in simulation. A replay in the simulator ignores it.
	Binary string `json:"binary,omitempty"`
	// Read is how a real run's clients send their reads: "" (as the
	// workload asks) or "serializable" (every read served by the member
	// it reaches, judged as if linearizable: the checkers must object).
	Read string `json:"read,omitempty"`
}

// FaultWindow is one fault as it happened: its kind, the members it hit
// (resolved when it began) and its window in virtual time since the start.
// An instantaneous fault has From == To.
type FaultWindow struct {
	Kind    string   `json:"kind"`
	Targets []uint64 `json:"targets,omitempty"`
	From    Duration `json:"from"`
	To      Duration `json:"to"`
}

// Bucket is one slice of a run's timeline: the client calls that returned
// in [At, At+Width).
type Bucket struct {
	At    Duration `json:"at"`
	Width Duration `json:"width"`
	// OK counts calls answered without error; Failed those answered with
	// one; TimedOut those never answered.
	OK       int `json:"ok"`
	Failed   int `json:"failed"`
	TimedOut int `json:"timed_out"`
	// LatencyP50 and LatencyMax are over every call in the bucket.
	LatencyP50 Duration `json:"latency_p50"`
	LatencyMax Duration `json:"latency_max"`
}

// Result is everything known about one seed's run.
type Result struct {
	Seed   uint64 `json:"seed"`
	Config Config `json:"config"`
	// Swarm is the nemesis swarm parameters on one line.
	Swarm   string  `json:"swarm"`
	Outcome Outcome `json:"outcome"`
	// Detail says why the seed did not pass, in a line or a few.
	Detail   string                    `json:"detail,omitempty"`
	Verdicts []linearizability.Verdict `json:"verdicts,omitempty"`
	// TraceHash is the hex sha256 of the run's trace: its fingerprint.
	TraceHash string `json:"trace_hash,omitempty"`
	// TraceRecords counts the records the hash covers.
	TraceRecords uint64 `json:"trace_records,omitempty"`
	// Ops is how many operations the workload issued.
	Ops int `json:"ops"`
	// Virtual is the virtual time the run covered; Wall what it cost.
	Virtual Duration `json:"virtual"`
	Wall    Duration `json:"wall"`
	// CheckWall is the wall time spent in checkers.
	CheckWall Duration      `json:"check_wall"`
	Faults    []FaultWindow `json:"faults,omitempty"`
	// FaultTimeActive is the share (0..1) of the time some fault was on
	// during which a client call was in flight: a fault that hits an idle
	// cluster breaks nothing a checker can see. Nil when no fault lasted.
	FaultTimeActive *float64 `json:"fault_time_active,omitempty"`
	Timeline        []Bucket `json:"timeline,omitempty"`
	// Metrics measure how the run behaved (simulated runs only), for
	// comparing variants over the same seeds.
	Metrics *Metrics `json:"metrics,omitempty"`
	// Stack is the goroutine stack of a crash.
	Stack string `json:"stack,omitempty"`
	// ReportDir is where the seed's files were written, if anywhere.
	ReportDir string `json:"report_dir,omitempty"`
}

// Metrics are one run's measures of behaviour beside its verdicts: what
// kvsim compare tests for a difference between two variants, seed by seed.
type Metrics struct {
	// LeaderChanges counts leaders elected after the first; Terms how far
	// the highest term rose after it (elections, won or not).
	LeaderChanges int    `json:"leader_changes"`
	Terms         uint64 `json:"terms"`
	// Leaderless is the time without a leader after the first was elected.
	Leaderless Duration `json:"leaderless"`
	// LeadersOverlap is the time two or more members believed they led
	// (a deposed leader cut off from the others, still leading).
	LeadersOverlap Duration `json:"leaders_overlap"`
	// LeaderChangesByFault counts, by fault kind, the leader changes
	// during a fault of that kind or within FaultAftermath of its heal.
	LeaderChangesByFault map[string]int `json:"leader_changes_by_fault,omitempty"`
	// TermsByFault counts, the same way, the terms the elections behind
	// those changes went through (a change in a term two above the last
	// leader's counts two).
	TermsByFault map[string]int `json:"terms_by_fault,omitempty"`
	// HealToWriteP50 and HealToWriteMax are over the faults that healed
	// while the workload was active: the time from a heal to the next
	// write answered OK (to the run's end when none was).
	HealToWriteP50 Duration `json:"heal_to_write_p50"`
	HealToWriteMax Duration `json:"heal_to_write_max"`
	// LatencyP50 and LatencyP99 are over the calls answered OK;
	// OpsPerSecond counts those per second of the run.
	LatencyP50   Duration `json:"latency_p50"`
	LatencyP99   Duration `json:"latency_p99"`
	OpsPerSecond float64  `json:"ops_per_second"`
	// Messages and MessageBytes are everything sent on the simulated
	// network (client traffic included); DiskSyncs every member's file
	// and directory syncs.
	Messages     uint64 `json:"messages"`
	MessageBytes int64  `json:"message_bytes"`
	DiskSyncs    uint64 `json:"disk_syncs"`
}

// FaultAftermath is how long after a fault heals a leader change is still
// counted against it: two default election timeouts.
const FaultAftermath = 2 * time.Second

// Failed reports whether the seed did not pass.
func (r Result) Failed() bool { return r.Outcome != Pass }

// String renders the result on one line, as kvsim prints each seed.
func (r Result) String() string {
	s := fmt.Sprintf("seed %d %s %s/%s nodes=%d ops=%d faults=%d",
		r.Seed, r.Outcome, r.Config.Workload, r.Config.Nemesis, r.Config.Nodes, r.Ops, len(r.Faults))
	if r.Config.Binary != "" {
		// Real processes: no virtual clock and no trace to hash.
		s += fmt.Sprintf(" wall=%v bin=%s", r.Wall.round(), filepath.Base(r.Config.Binary))
	} else {
		s += fmt.Sprintf(" virtual=%v wall=%v hash=%.12s", r.Virtual, r.Wall.round(), r.TraceHash)
	}
	if r.Config.Unsafe != "" {
		s += " unsafe=" + r.Config.Unsafe
	}
	if r.Config.Options != "" {
		s += " options=" + r.Config.Options
	}
	if r.Swarm != "" {
		s += " swarm: " + r.Swarm
	}
	return s
}

func (d Duration) round() Duration {
	const ms = Duration(1e6)
	return d / ms * ms
}
