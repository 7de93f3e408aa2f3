package nemesis

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Defaults applied by GenerateOptions.EnsureDefaults.
const (
	// DefaultGenerateDuration is the virtual length of a generated run.
	DefaultGenerateDuration = time.Minute
	// DefaultProfile is the profile used when none is named.
	DefaultProfile = "all"
)

// DefaultNodes returns the member ids used when none are given: a
// three-member cluster.
func DefaultNodes() []uint64 { return []uint64{1, 2, 3} }

// faultsPerKindMax bounds the faults one kind contributes, so that every
// schedule stays under FaultsMax whatever the duration. It divides by the
// kinds of profile "all", the largest profile (profiles asserts none is
// larger), rather than by the catalogue: a kind added outside "all" must
// not change the schedules generated before it.
var faultsPerKindMax = FaultsMax / kindsPerProfileMax

// kindsPerProfileMax is how many kinds a profile may list.
var kindsPerProfileMax = len(allProfileKinds())

// GenerateOptions configures Generate.
type GenerateOptions struct {
	// Nodes are the cluster's member ids. Default DefaultNodes().
	Nodes []uint64
	// Duration is the virtual length of the run. Default
	// DefaultGenerateDuration.
	Duration time.Duration
	// Profile names the allowed fault kinds (see Profiles). Default
	// DefaultProfile.
	Profile string
	// BeyondBudget lets faults affect more than a minority at once, and
	// more than a minority in one fault: for runs that check the cluster
	// stays safe (though not live) beyond what raft promises.
	BeyondBudget bool
	// Settle is how long before Duration the last fault heals, so
	// liveness can be judged. Default DefaultSettle.
	Settle time.Duration
}

// EnsureDefaults fills every unset (zero) field that has a default.
func (o *GenerateOptions) EnsureDefaults() {
	if len(o.Nodes) == 0 {
		o.Nodes = DefaultNodes()
	}
	if o.Duration == 0 {
		o.Duration = DefaultGenerateDuration
	}
	if o.Profile == "" {
		o.Profile = DefaultProfile
	}
	if o.Settle == 0 {
		o.Settle = DefaultSettle
	}
}

// Validate reports every problem with the options at once.
func (o *GenerateOptions) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("nemesis: GenerateOptions."+format, args...))
	}
	if len(o.Nodes) == 0 || len(o.Nodes) > NodesMax {
		bad("Nodes has %d members, want 1..%d", len(o.Nodes), NodesMax)
	}
	seen := make(map[uint64]bool, len(o.Nodes))
	for _, id := range o.Nodes {
		if id == 0 {
			bad("Nodes holds id 0, which raft does not allow")
		}
		if seen[id] {
			bad("Nodes holds id %d twice", id)
		}
		seen[id] = true
	}
	if o.Duration <= 0 || o.Duration > DurationMax {
		bad("Duration is %s, want in (0, %s]", o.Duration, DurationMax)
	}
	if o.Settle <= 0 {
		bad("Settle is %s, want > 0", o.Settle)
	}
	if o.Settle >= o.Duration {
		bad("Settle (%s) leaves no time for faults in Duration (%s)", o.Settle, o.Duration)
	}
	if _, ok := LookupProfile(o.Profile); !ok {
		bad("Profile is %q, want one of %v", o.Profile, Profiles())
	}
	return errors.Join(errs...)
}

// SwarmParams records every choice Generate made for one seed, so that a
// failure can be read beside its seed ("seed 42: packet-loss p=0.2 ...").
type SwarmParams struct {
	// Settle is the quiet time before the end of the run; 0 means
	// DefaultSettle.
	Settle time.Duration
	// BeyondBudget is GenerateOptions.BeyondBudget.
	BeyondBudget bool
	// Kinds are the enabled kinds, catalogue order, with their intensity.
	Kinds []KindParams
	// FaultsDropped counts drawn faults left out to stay within budget.
	FaultsDropped int
	// Members are member options drawn for the seed, in the members'
	// option syntax (node.ApplyOptions), "" for the defaults: a small
	// snapshot interval and catch-up window make snapshots, their
	// transfer to lagging followers and restarts from them common, where
	// the defaults leave them to the rare long partition.
	Members string `json:"members,omitempty"`
}

// memberChoices are the member options the swarm draws from: one choice
// of each group per seed, "" keeping the members' default (the
// simulator's: a snapshot every 1000 entries with 200 kept behind it,
// lagging watchers fed 1000 events a round; history chunks are always
// drawn).
// Every combination is a valid configuration (cmd/kvsim checks them all
// against the members' rules).
var memberChoices = [][]string{
	{"", "snapshot-count=100", "snapshot-count=20", "snapshot-catchup=5",
		"snapshot-count=100,snapshot-catchup=5", "snapshot-count=20,snapshot-catchup=5"},
	{"", "watch-catchup-batch=8", "watch-catchup-batch=2"},
	// The store's history arena frees a chunk once compaction passes all
	// of it: with the default 1 MiB a seed's history never fills one. Every
	// seed draws a chunk under mvcc's 64 KiB mapping threshold, so that the
	// simulator's history stays on the Go heap as before: mapped history
	// shrank the heap the collector paces itself by, and the simulator,
	// allocating for its checkers, ran 8-17 % slower. kvd's own tests and
	// kvsim --real run the mapped chunks.
	{"history-chunk-bytes=16384", "history-chunk-bytes=4096", "history-chunk-bytes=256"},
	// Size pacing holds snapshots back until the log since the last one
	// is 1/ratio of the state; at ratio 1 a seed's small writes leave the
	// snapshot far behind, and the raft log in memory is trimmed past it
	// (node's trimRaftLog), so that a lagging follower waits for a fresh
	// snapshot. Drawn last, so the groups above draw as they did.
	{"", "snapshot-size-ratio=1"},
	// The WAL reserves disk space ahead of its writes, 16 KiB at a time by
	// the simulator's default: 512 B makes nearly every crash land inside
	// a fresh reservation (a zeroed tail for recovery to read as the end of
	// the log); off is the plain growing file. Drawn last, as above.
	{"", "wal-preallocate-bytes=512", "wal-preallocate-bytes=off"},
}

// MemberChoices lists every combination of member options a swarm may
// draw.
func MemberChoices() []string {
	all := []string{""}
	for _, group := range memberChoices {
		var next []string
		for _, a := range all {
			for _, c := range group {
				next = append(next, joinOptions(a, c))
			}
		}
		all = next
	}
	return all
}

// drawMembers draws the seed's member options from their own stream, so
// the faults drawn for a seed do not depend on them.
func drawMembers(seed uint64) string {
	rng := stream(seed, "members")
	opts := ""
	for _, group := range memberChoices {
		opts = joinOptions(opts, group[rng.IntN(len(group))])
	}
	return opts
}

func joinOptions(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "," + b
}

// KindParams is the intensity drawn for one enabled kind.
type KindParams struct {
	Kind Kind
	// FaultsPerMinute is the mean rate of the kind's faults.
	FaultsPerMinute float64
	// WindowMean is the mean window; each fault lasts a uniform 0.5x to
	// 1.5x of it. 0 for instantaneous kinds.
	WindowMean time.Duration
	// TargetsAutoProbability is the chance a fault leaves Targets empty,
	// for the executor to resolve (usually to the leader).
	TargetsAutoProbability float64
	// Params is every fault's parameters.
	Params map[string]float64
}

// Clone returns a deep copy.
func (p SwarmParams) Clone() SwarmParams {
	if p.Kinds != nil {
		kinds := make([]KindParams, len(p.Kinds))
		for i, k := range p.Kinds {
			kinds[i] = k
			kinds[i].Params = Fault{Params: k.Params}.Clone().Params
		}
		p.Kinds = kinds
	}
	return p
}

// String prints every choice on one line.
func (p SwarmParams) String() string {
	var b strings.Builder
	settle := p.Settle
	if settle == 0 {
		settle = DefaultSettle
	}
	budget := "minority"
	if p.BeyondBudget {
		budget = "beyond"
	}
	fmt.Fprintf(&b, "settle=%s budget=%s dropped=%d kinds=%d", settle, budget, p.FaultsDropped, len(p.Kinds))
	if p.Members != "" {
		fmt.Fprintf(&b, " members=%s", p.Members)
	}
	for _, k := range p.Kinds {
		fmt.Fprintf(&b, " | %s rate=%g/min", k.Kind, k.FaultsPerMinute)
		if k.WindowMean > 0 {
			fmt.Fprintf(&b, " window=%s", k.WindowMean)
		}
		fmt.Fprintf(&b, " auto=%g", k.TargetsAutoProbability)
		for _, name := range sortedParamNames(Fault{Params: k.Params}) {
			fmt.Fprintf(&b, " %s=%g", name, k.Params[name])
		}
	}
	return b.String()
}

// Generate draws a schedule from seed, swarm style: each kind the profile
// allows is enabled with probability 1/2 (at least one is, unless the
// profile is empty or none fits the cluster), each enabled kind gets a
// random rate, window and parameters, and its faults arrive as a Poisson
// process over the run, healing Settle before its end. Unless
// opts.BeyondBudget, faults that would break the minority budget are
// dropped.
//
// Every kind draws from its own stream keyed by the seed and the kind's
// name, so adding a kind to a profile does not change the others' faults.
// The same seed and options give the identical schedule.
//
// Generate panics if opts, after EnsureDefaults, fail Validate: options are
// written by the programmer; call Validate first to get an error instead.
func Generate(seed uint64, opts GenerateOptions) Schedule {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		panic(fmt.Sprintf("nemesis.Generate: invalid options: %v", err))
	}
	profile, _ := LookupProfile(opts.Profile)
	nodes := slices.Clone(opts.Nodes)
	budget := MinorityBudget(len(nodes))
	horizon := opts.Duration - opts.Settle
	swarm := SwarmParams{Settle: opts.Settle, BeyondBudget: opts.BeyondBudget, Members: drawMembers(seed)}

	// Decide which kinds are enabled: each fitting kind's first draw.
	var fitting []KindIntensity
	var enabled []bool
	for _, ki := range profile.Kinds {
		info := mustInfo(ki.Kind)
		if len(nodes) < info.NodesMin {
			continue
		}
		if info.Budgeted() && !opts.BeyondBudget && budget.AffectedMax == 0 {
			continue // no budgeted fault could ever be accepted
		}
		fitting = append(fitting, ki)
		enabled = append(enabled, kindStream(seed, ki.Kind).IntN(2) == 1)
	}
	if len(fitting) > 0 && !slices.Contains(enabled, true) {
		enabled[stream(seed, "fallback").IntN(len(fitting))] = true
	}

	var drawn []Fault
	for i, ki := range fitting {
		if !enabled[i] {
			continue
		}
		rng := kindStream(seed, ki.Kind)
		rng.IntN(2) // the enable draw above
		kp := drawKindParams(rng, ki, horizon)
		swarm.Kinds = append(swarm.Kinds, kp)
		drawn = append(drawn, layOut(rng, kp, nodes, horizon, budget, opts.BeyondBudget)...)
	}
	// Stable: equal times keep catalogue order, then arrival order.
	slices.SortStableFunc(drawn, func(a, b Fault) int { return cmp.Compare(a.At, b.At) })

	var faults, budgeted []Fault
	for _, f := range drawn {
		if !opts.BeyondBudget && mustInfo(f.Kind).Budgeted() {
			overlapping := []Fault{f}
			for _, g := range budgeted {
				if g.At < f.End() && f.At < g.End() {
					overlapping = append(overlapping, g)
				}
			}
			if peakAffected(overlapping) > budget.AffectedMax {
				swarm.FaultsDropped++
				continue
			}
			budgeted = append(budgeted, f)
		}
		faults = append(faults, f)
	}

	s := Schedule{
		Seed:     seed,
		Nodes:    nodes,
		Duration: opts.Duration,
		Faults:   faults,
		Profile:  opts.Profile,
		Swarm:    swarm,
	}
	if err := s.Validate(); err != nil {
		assert(false, fmt.Sprintf("Generate(%d) made an invalid schedule: %v", seed, err))
	}
	if ok, v := s.WithinBudget(); !ok && !opts.BeyondBudget {
		assert(false, fmt.Sprintf("Generate(%d) broke the budget: %v", seed, v[0]))
	}
	return s
}

// drawKindParams draws one enabled kind's intensity. The rate is capped so
// that over horizon the kind expects at most half of faultsPerKindMax
// faults: a long run gets its faults spread over all of it rather than cut
// off by the limit early on.
func drawKindParams(rng *rand.Rand, ki KindIntensity, horizon time.Duration) KindParams {
	info := mustInfo(ki.Kind)
	kp := KindParams{
		Kind:                   ki.Kind,
		FaultsPerMinute:        roundTo(uniform(rng, ki.FaultsPerMinuteMin, ki.FaultsPerMinuteMax), 100),
		TargetsAutoProbability: roundTo(rng.Float64(), 100),
	}
	rateMax := roundTo(float64(faultsPerKindMax)/2/horizon.Minutes(), 100)
	kp.FaultsPerMinute = max(min(kp.FaultsPerMinute, rateMax), 0.01)
	if info.Windowed {
		mean := uniform(rng, float64(ki.WindowMin), float64(ki.WindowMax))
		kp.WindowMean = max(time.Duration(mean).Round(time.Millisecond), time.Millisecond)
	}
	if ki.Kind == PartitionIsolateLeader || info.Targets == TargetsAll {
		kp.TargetsAutoProbability = 1 // the kind is about the leader, or names everyone
	}
	for _, p := range ki.Params {
		v := roundTo(uniform(rng, p.GenerateMin, p.GenerateMax), p.GenerateResolution)
		if p.NonZero && v == 0 {
			v = 1 / p.GenerateResolution
		}
		assert(v >= p.Min && v <= p.Max, fmt.Sprintf("generated %s %s=%g outside [%g, %g]", ki.Kind, p.Name, v, p.Min, p.Max))
		if kp.Params == nil {
			kp.Params = make(map[string]float64, len(ki.Params))
		}
		kp.Params[p.Name] = v
	}
	return kp
}

// layOut draws the faults of one kind: Poisson arrivals over [0, horizon),
// windows clipped to end by horizon.
func layOut(rng *rand.Rand, kp KindParams, nodes []uint64, horizon time.Duration, budget Budget, beyond bool) []Fault {
	info := mustInfo(kp.Kind)
	meanGap := float64(time.Minute) / kp.FaultsPerMinute
	var out []Fault
	var t float64
	for len(out) < faultsPerKindMax {
		t += rng.ExpFloat64() * meanGap
		if t >= float64(horizon) {
			break
		}
		f := Fault{At: time.Duration(t).Truncate(time.Millisecond), Kind: kp.Kind}
		if info.Windowed {
			w := time.Duration(float64(kp.WindowMean) * uniform(rng, 0.5, 1.5)).Round(time.Millisecond)
			f.Until = min(f.At+max(w, time.Millisecond), horizon)
			if f.Until <= f.At {
				continue
			}
		}
		if rng.Float64() >= kp.TargetsAutoProbability {
			f.Targets = drawTargets(rng, info, nodes, budget, beyond)
		}
		if len(kp.Params) > 0 {
			f.Params = Fault{Params: kp.Params}.Clone().Params
		}
		out = append(out, f)
	}
	return out
}

// drawTargets names the members a fault hits, following the kind's rule.
func drawTargets(rng *rand.Rand, info *KindInfo, nodes []uint64, budget Budget, beyond bool) []uint64 {
	n := len(nodes)
	perm := slices.Clone(nodes)
	rng.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	var targets []uint64
	switch info.Targets {
	case TargetsMembers:
		most := n
		if info.Budgeted() && !beyond {
			most = budget.AffectedMax
		}
		assert(most >= 1, "drawing targets for a kind with no room")
		targets = perm[:1+rng.IntN(most)]
	case TargetsOne:
		targets = perm[:1]
	case TargetsSide:
		side := n / 2
		if info.Kind != PartitionHalves {
			side = 1 + rng.IntN(max(1, n/2))
		}
		targets = perm[:side]
	case TargetsBridge:
		slices.Sort(perm[1 : 1+(n-1)/2])
		return perm[: 1+(n-1)/2 : 1+(n-1)/2]
	case TargetsRing:
		return perm
	case TargetsAll:
		return nil
	default:
		assert(false, "kind "+string(info.Kind)+" has no target rule")
	}
	targets = slices.Clip(targets)
	slices.Sort(targets)
	return targets
}

// uniform returns a uniform float64 in [lo, hi].
func uniform(rng *rand.Rand, lo, hi float64) float64 {
	assert(lo <= hi, fmt.Sprintf("uniform(%g, %g)", lo, hi))
	return lo + rng.Float64()*(hi-lo)
}

// roundTo rounds v to a multiple of 1/resolution; dividing by resolution
// (rather than multiplying by 1/resolution) keeps 0.123 exactly 0.123.
func roundTo(v, resolution float64) float64 {
	assert(resolution > 0, "roundTo: resolution must be positive")
	return math.Round(v*resolution) / resolution
}

// kindStream is the random stream of one kind under one seed.
func kindStream(seed uint64, k Kind) *rand.Rand { return stream(seed, "kind/"+string(k)) }

// stream returns a ChaCha8 stream keyed by the seed and a name, so each
// consumer draws independently of every other.
func stream(seed uint64, name string) *rand.Rand {
	h := sha256.New()
	h.Write([]byte("kvdlabs/kvd/nemesis stream v1\x00"))
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte(name))
	var key [32]byte
	h.Sum(key[:0])
	return rand.New(rand.NewChaCha8(key))
}
