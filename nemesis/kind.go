package nemesis

import "time"

// Kind names one fault in the catalogue. Its string is what a schedule's
// JSON carries, so a kind is never renamed.
type Kind string

// The fault catalogue. KindInfo (via Info) gives each kind's parameters,
// window rule, target rule and budget effect in a form code can check; the
// comments say what the executor does.
const (
	// PartitionHalves cuts the cluster in two: Targets is one side, the
	// other members the other side; no message crosses between them until
	// Until. Targets: 1..n-1 members; empty means "the leader at At plus
	// floor(n/2)-1 others", so the leader ends up on a minority side.
	PartitionHalves Kind = "partition-halves"
	// PartitionIsolateLeader cuts one member off from every other member
	// until Until. Targets: empty means the leader at At (the usual case);
	// one member isolates that member instead.
	PartitionIsolateLeader Kind = "partition-isolate-leader"
	// PartitionBridge makes two sides that cannot hear each other and one
	// bridge member that hears both (Jepsen's "bridge"). Targets[0] is the
	// bridge, Targets[1:] one side, the remaining members the other side;
	// 2..n-1 targets. Empty means the leader at At is the bridge and the
	// others are split in id order. Needs at least 3 members.
	PartitionBridge Kind = "partition-bridge"
	// PartitionRing lets each member talk only to its two neighbours in a
	// ring, so every member sees a majority but no two the same one.
	// Targets: empty (ring in Nodes order) or a permutation of all of
	// Nodes giving the ring order. Needs at least 3 members.
	PartitionRing Kind = "partition-ring"
	// PartitionOneWay drops every message sent by a target to a non-target
	// while messages towards the targets still arrive, until Until. Targets:
	// 1..n-1 members; empty means the leader at At (a leader that hears its
	// followers but whose heartbeats are lost).
	PartitionOneWay Kind = "partition-one-way"

	// PacketLoss drops each message on an affected link with probability
	// "probability" until Until. A link is affected when it starts or ends
	// at a target; empty Targets means every link.
	PacketLoss Kind = "packet-loss"
	// PacketDuplicate delivers each message on an affected link twice with
	// probability "probability". Targets as for PacketLoss, but only links
	// between members are affected: a client's call rides a gRPC stream
	// over TCP, which never delivers it twice.
	PacketDuplicate Kind = "packet-duplicate"
	// PacketDelay adds "delay_ms" plus a uniform [0, "jitter_ms") to every
	// message on an affected link. Targets as for PacketLoss.
	PacketDelay Kind = "packet-delay"
	// PacketReorder holds each message on an affected link back with
	// probability "probability" by a uniform [0, "delay_max_ms") so later
	// messages overtake it. Targets as for PacketLoss.
	PacketReorder Kind = "packet-reorder"

	// CrashRestart stops each target at At, dropping all volatile state
	// but nothing synced to disk, and restarts it from its disk at Until.
	// Down from At to Until. Targets: members; empty means the leader at At.
	CrashRestart Kind = "crash-restart"
	// CrashLoseUnsynced is CrashRestart where the disk also loses every
	// write that was not synced. Down, and counted as damaged, from At
	// until the restart at Until. Targets as for CrashRestart.
	CrashLoseUnsynced Kind = "crash-lose-unsynced"
	// GracefulRestart stops each target at At as SIGTERM stops kvd
	// (node.PrepareStop): a leader first hands its leadership off, and
	// when the restart would otherwise replay a long log, the member saves
	// a state snapshot, serving meanwhile, for at most kvd's stop timeout.
	// It restarts from its disk at Until, or once its stop is done if that
	// is later. Down from At to Until. Targets as for CrashRestart.
	GracefulRestart Kind = "graceful-restart"
	// ClusterRestart stops every member at At, as CrashRestart stops one,
	// and restarts them all from their disks at Until: a whole data centre
	// losing power. Down from At to Until, every member, so it goes beyond
	// the minority budget by design and is exempt from it (WholeCluster):
	// nothing durable is lost, so raft must come back live after Until.
	// Targets: always empty (every member).
	ClusterRestart Kind = "cluster-restart"

	// DiskTornWrite crashes each target at At with the last unsynced write
	// torn: only the first "kept_fraction" of its bytes persist. Restart at
	// Until. Down and damaged from At to Until. Targets as for CrashRestart.
	DiskTornWrite Kind = "disk-torn-write"
	// DiskBitFlip flips "flips" random bits in each target's synced data at
	// At and restarts it on them: it must notice the damage by checksum
	// (refusing to start, or cutting a damaged last record as a torn tail);
	// at Until the executor repairs it the way an operator replaces a
	// member, so it counts as damaged from At to Until. With "newest" 1 the
	// flips land in the newest bytes of the newest WAL segment — the last
	// records, where recent writes are most exposed (a misdirected or
	// half-completed write) and where recovery must tell a flip from a
	// tear —, else anywhere in the WAL and snapshot files ("newest" absent
	// in schedules written before it: 0). Targets as for CrashRestart.
	DiskBitFlip Kind = "disk-bit-flip"
	// DiskEIOWrite fails each write on the targets' disks with EIO, with
	// probability "probability", until Until. Counted as down: kvd, like
	// etcd, treats a failed WAL write as fatal. Targets as for
	// CrashRestart.
	DiskEIOWrite Kind = "disk-eio-write"
	// DiskEIOSync fails each sync with EIO with probability "probability"
	// until Until. Counted as down, as DiskEIOWrite. Targets as for
	// CrashRestart.
	DiskEIOSync Kind = "disk-eio-sync"
	// DiskFull makes the targets' disks refuse writes that need space
	// (ENOSPC) until Until. Counted as down: a member that cannot append to
	// its log cannot take part. Targets as for CrashRestart.
	DiskFull Kind = "disk-full"
	// DiskLatency adds "latency_ms" to every operation on the targets'
	// disks until Until. Targets: members; empty means every member.
	DiskLatency Kind = "disk-latency"

	// ClockJump moves each target's clock by "offset_ms" (negative is
	// backwards) at At, once. Instantaneous: Until is 0. Targets: members;
	// empty means the leader at At.
	ClockJump Kind = "clock-jump"
	// ClockSkew shifts each target's clock by "offset_ms" from At and
	// shifts it back at Until. Targets as for ClockJump.
	ClockSkew Kind = "clock-skew"
	// ClockDrift makes each target's clock run at "rate" times real speed
	// from At until Until (the offset gained is kept after Until). Targets
	// as for ClockJump.
	ClockDrift Kind = "clock-drift"

	// Pause stops each target from stepping (no ticks, no receives, like
	// SIGSTOP) from At until Until, keeping all state. Down from At to
	// Until. Targets as for CrashRestart.
	Pause Kind = "pause"
	// LeaderTransfer asks the leader at At to hand leadership to the
	// target. Instantaneous: Until is 0. Targets: one member; empty means a
	// follower chosen at execution time.
	LeaderTransfer Kind = "leader-transfer"
	// MembershipChange replaces the target, as an operator replaces a
	// member: removed from the cluster at At (it stops for good); at Until
	// a fresh member (a new id, an empty disk) is added as a learner,
	// catches up from the leader and is promoted once ready. Counted as
	// down from At to Until. Targets: one member; empty means a follower
	// chosen at execution time.
	MembershipChange Kind = "membership-change"
	// AlarmNoSpace raises the target's NOSPACE alarm through raft at At and
	// disarms it at Until, as a member over its quota and then an operator
	// would: meanwhile every member refuses puts, txns that put and lease
	// grants, and serves reads and deletes. Not budgeted: nothing goes
	// down. Targets: one member; empty means the leader at execution time.
	AlarmNoSpace Kind = "alarm-nospace"
	// Defragment asks the target to rewrite its files compactly at At
	// (a state snapshot now, and the release of what it makes redundant),
	// as an operator's etcdctl defrag does, while it keeps serving.
	// Instantaneous: Until is 0. Targets: one member; empty means the
	// leader at execution time.
	Defragment Kind = "defragment"
	// Backup takes a snapshot of the target at At, as etcdctl snapshot
	// save does: a point-in-time copy read in steps while the member keeps
	// serving; once read, it is restored and must hash as the member's
	// history at the snapshot's revision. Instantaneous: Until is 0.
	// Targets: one member; empty means the leader at execution time.
	Backup Kind = "backup"
)

// Parameter names used in Fault.Params. Values are float64; units are in
// the name.
const (
	ParamProbability  = "probability"
	ParamDelayMs      = "delay_ms"
	ParamJitterMs     = "jitter_ms"
	ParamDelayMaxMs   = "delay_max_ms"
	ParamKeptFraction = "kept_fraction"
	ParamFlips        = "flips"
	ParamNewest       = "newest"
	ParamLatencyMs    = "latency_ms"
	ParamOffsetMs     = "offset_ms"
	ParamRate         = "rate"
)

// TargetRule says how a kind reads Fault.Targets.
type TargetRule uint8

const (
	// TargetsMembers: any set of distinct members, 0..n. What empty means
	// is documented per kind.
	TargetsMembers TargetRule = iota + 1
	// TargetsOne: empty or exactly one member.
	TargetsOne
	// TargetsSide: one side of a split, 1..n-1 members, or empty.
	TargetsSide
	// TargetsBridge: empty, or a bridge member followed by one side,
	// 2..n-1 members.
	TargetsBridge
	// TargetsRing: empty, or a permutation of all members.
	TargetsRing
	// TargetsAll: always empty; the fault hits every member.
	TargetsAll
)

// ParamSpec describes one parameter of a kind.
type ParamSpec struct {
	// Name is the key in Fault.Params.
	Name string
	// Min and Max bound the accepted value, inclusive.
	Min, Max float64
	// Integer requires a whole number.
	Integer bool
	// NonZero rejects 0 even when it lies in [Min, Max].
	NonZero bool
	// Optional params may be absent (read as 0): params added to a kind
	// after schedules were saved, so those still replay.
	Optional bool
	// GenerateMin and GenerateMax bound the values Generate picks; a
	// subrange of [Min, Max] that keeps a run interesting.
	GenerateMin, GenerateMax float64
	// GenerateResolution: generated values are multiples of
	// 1/GenerateResolution, so schedules print short and exact.
	GenerateResolution float64
}

// KindInfo is everything code needs to know about a kind.
type KindInfo struct {
	Kind Kind
	// Windowed kinds last from At to Until > At; the others are
	// instantaneous and have Until 0.
	Windowed bool
	// TakesDown: each target is down (not stepping or not serving) while
	// the fault lasts. Counted by the budget.
	TakesDown bool
	// DamagesDurable: each target's durable state is damaged while the
	// fault lasts. Counted by the budget.
	DamagesDurable bool
	// Targets is how Fault.Targets is read.
	Targets TargetRule
	// NodesMin is the smallest cluster the kind makes sense for.
	NodesMin int
	// Manual kinds are catalogued for schedules written by hand and never
	// generated: the simulator cannot carry them out yet, and a generated
	// fault nobody executes would spend the budget and draw a window in
	// reports while doing nothing.
	Manual bool
	// WholeCluster kinds take every member at once by design. They are
	// exempt from the budget (which would drop every one of them) and are
	// left out of profile "all", so that adding one to the catalogue left
	// every schedule generated before byte-identical; a profile that names
	// one (such as "real") generates it.
	WholeCluster bool
	// Params lists every parameter; each is required, no other is allowed.
	Params []ParamSpec
	// FaultsPerMinuteMin/Max bound the rate Generate picks for the kind.
	FaultsPerMinuteMin, FaultsPerMinuteMax float64
	// WindowMin/Max bound the mean window Generate picks for a windowed kind.
	WindowMin, WindowMax time.Duration
}

// Budgeted reports whether a fault of this kind counts against the budget.
// A WholeCluster kind does not: it is beyond any budget by design.
func (i KindInfo) Budgeted() bool { return (i.TakesDown || i.DamagesDurable) && !i.WholeCluster }

// Limits of the accepted parameter values, and of generation.
const (
	probabilityGenerateMax = 0.5
	delayMsMax             = 60_000
	offsetMsMax            = 3_600_000
)

var (
	probability = ParamSpec{Name: ParamProbability, Min: 0, Max: 1, NonZero: true,
		GenerateMin: 0.01, GenerateMax: probabilityGenerateMax, GenerateResolution: 1000}
	probabilityEIO = ParamSpec{Name: ParamProbability, Min: 0, Max: 1, NonZero: true,
		GenerateMin: 0.05, GenerateMax: 1, GenerateResolution: 1000}
)

// catalogue is the kinds in their documented order; Kinds, Info and the
// generator all read it, so order here is the one order everywhere.
var catalogue = []KindInfo{
	{Kind: PartitionHalves, Windowed: true, Targets: TargetsSide, NodesMin: 2,
		FaultsPerMinuteMin: 0.5, FaultsPerMinuteMax: 4, WindowMin: time.Second, WindowMax: 15 * time.Second},
	{Kind: PartitionIsolateLeader, Windowed: true, Targets: TargetsOne, NodesMin: 2,
		FaultsPerMinuteMin: 0.5, FaultsPerMinuteMax: 4, WindowMin: time.Second, WindowMax: 15 * time.Second},
	{Kind: PartitionBridge, Windowed: true, Targets: TargetsBridge, NodesMin: 3,
		FaultsPerMinuteMin: 0.5, FaultsPerMinuteMax: 3, WindowMin: time.Second, WindowMax: 15 * time.Second},
	{Kind: PartitionRing, Windowed: true, Targets: TargetsRing, NodesMin: 3,
		FaultsPerMinuteMin: 0.5, FaultsPerMinuteMax: 3, WindowMin: time.Second, WindowMax: 15 * time.Second},
	{Kind: PartitionOneWay, Windowed: true, Targets: TargetsSide, NodesMin: 2,
		FaultsPerMinuteMin: 0.5, FaultsPerMinuteMax: 4, WindowMin: time.Second, WindowMax: 15 * time.Second},

	{Kind: PacketLoss, Windowed: true, Targets: TargetsMembers, NodesMin: 1,
		Params:             []ParamSpec{probability},
		FaultsPerMinuteMin: 0.5, FaultsPerMinuteMax: 6, WindowMin: time.Second, WindowMax: 20 * time.Second},
	{Kind: PacketDuplicate, Windowed: true, Targets: TargetsMembers, NodesMin: 1,
		Params:             []ParamSpec{probability},
		FaultsPerMinuteMin: 0.5, FaultsPerMinuteMax: 6, WindowMin: time.Second, WindowMax: 20 * time.Second},
	{Kind: PacketDelay, Windowed: true, Targets: TargetsMembers, NodesMin: 1,
		Params: []ParamSpec{
			{Name: ParamDelayMs, Min: 0, Max: delayMsMax, GenerateMin: 1, GenerateMax: 500, GenerateResolution: 1},
			{Name: ParamJitterMs, Min: 0, Max: delayMsMax, GenerateMin: 0, GenerateMax: 500, GenerateResolution: 1},
		},
		FaultsPerMinuteMin: 0.5, FaultsPerMinuteMax: 6, WindowMin: time.Second, WindowMax: 20 * time.Second},
	{Kind: PacketReorder, Windowed: true, Targets: TargetsMembers, NodesMin: 1,
		Params: []ParamSpec{probability,
			{Name: ParamDelayMaxMs, Min: 0, Max: delayMsMax, NonZero: true, GenerateMin: 1, GenerateMax: 200, GenerateResolution: 1},
		},
		FaultsPerMinuteMin: 0.5, FaultsPerMinuteMax: 6, WindowMin: time.Second, WindowMax: 20 * time.Second},

	{Kind: CrashRestart, Windowed: true, TakesDown: true, Targets: TargetsMembers, NodesMin: 1,
		FaultsPerMinuteMin: 0.5, FaultsPerMinuteMax: 6, WindowMin: 100 * time.Millisecond, WindowMax: 10 * time.Second},
	{Kind: CrashLoseUnsynced, Windowed: true, TakesDown: true, DamagesDurable: true, Targets: TargetsMembers, NodesMin: 1,
		FaultsPerMinuteMin: 0.5, FaultsPerMinuteMax: 6, WindowMin: 100 * time.Millisecond, WindowMax: 10 * time.Second},
	{Kind: GracefulRestart, Windowed: true, TakesDown: true, Targets: TargetsMembers, NodesMin: 1,
		FaultsPerMinuteMin: 0.5, FaultsPerMinuteMax: 6, WindowMin: 100 * time.Millisecond, WindowMax: 10 * time.Second},
	// Rarer and shorter than a crash of one member: while it lasts nothing
	// at all is served.
	{Kind: ClusterRestart, Windowed: true, TakesDown: true, WholeCluster: true, Targets: TargetsAll, NodesMin: 1,
		FaultsPerMinuteMin: 0.25, FaultsPerMinuteMax: 2, WindowMin: 100 * time.Millisecond, WindowMax: 5 * time.Second},

	{Kind: DiskTornWrite, Windowed: true, TakesDown: true, DamagesDurable: true, Targets: TargetsMembers, NodesMin: 1,
		Params: []ParamSpec{
			{Name: ParamKeptFraction, Min: 0, Max: 1, GenerateMin: 0, GenerateMax: 0.99, GenerateResolution: 100},
		},
		FaultsPerMinuteMin: 0.5, FaultsPerMinuteMax: 4, WindowMin: 100 * time.Millisecond, WindowMax: 10 * time.Second},
	{Kind: DiskBitFlip, Windowed: true, DamagesDurable: true, Targets: TargetsMembers, NodesMin: 1,
		Params: []ParamSpec{
			{Name: ParamFlips, Min: 1, Max: 1024, Integer: true, GenerateMin: 1, GenerateMax: 16, GenerateResolution: 1},
			{Name: ParamNewest, Min: 0, Max: 1, Integer: true, Optional: true, GenerateMin: 0, GenerateMax: 1, GenerateResolution: 1},
		},
		FaultsPerMinuteMin: 0.25, FaultsPerMinuteMax: 3, WindowMin: time.Second, WindowMax: 15 * time.Second},
	{Kind: DiskEIOWrite, Windowed: true, TakesDown: true, Targets: TargetsMembers, NodesMin: 1,
		Params:             []ParamSpec{probabilityEIO},
		FaultsPerMinuteMin: 0.25, FaultsPerMinuteMax: 3, WindowMin: 100 * time.Millisecond, WindowMax: 10 * time.Second},
	{Kind: DiskEIOSync, Windowed: true, TakesDown: true, Targets: TargetsMembers, NodesMin: 1,
		Params:             []ParamSpec{probabilityEIO},
		FaultsPerMinuteMin: 0.25, FaultsPerMinuteMax: 3, WindowMin: 100 * time.Millisecond, WindowMax: 10 * time.Second},
	{Kind: DiskFull, Windowed: true, TakesDown: true, Targets: TargetsMembers, NodesMin: 1,
		FaultsPerMinuteMin: 0.25, FaultsPerMinuteMax: 3, WindowMin: 100 * time.Millisecond, WindowMax: 10 * time.Second},
	{Kind: DiskLatency, Windowed: true, Targets: TargetsMembers, NodesMin: 1,
		Params: []ParamSpec{
			{Name: ParamLatencyMs, Min: 0, Max: delayMsMax, NonZero: true, GenerateMin: 1, GenerateMax: 1000, GenerateResolution: 1},
		},
		FaultsPerMinuteMin: 0.5, FaultsPerMinuteMax: 6, WindowMin: time.Second, WindowMax: 20 * time.Second},

	{Kind: ClockJump, Targets: TargetsMembers, NodesMin: 1,
		Params: []ParamSpec{
			{Name: ParamOffsetMs, Min: -offsetMsMax, Max: offsetMsMax, NonZero: true, GenerateMin: -30_000, GenerateMax: 30_000, GenerateResolution: 1},
		},
		FaultsPerMinuteMin: 0.5, FaultsPerMinuteMax: 6},
	{Kind: ClockSkew, Windowed: true, Targets: TargetsMembers, NodesMin: 1,
		Params: []ParamSpec{
			{Name: ParamOffsetMs, Min: -offsetMsMax, Max: offsetMsMax, NonZero: true, GenerateMin: -30_000, GenerateMax: 30_000, GenerateResolution: 1},
		},
		FaultsPerMinuteMin: 0.5, FaultsPerMinuteMax: 4, WindowMin: time.Second, WindowMax: 20 * time.Second},
	{Kind: ClockDrift, Windowed: true, Targets: TargetsMembers, NodesMin: 1,
		Params: []ParamSpec{
			{Name: ParamRate, Min: 0.01, Max: 100, GenerateMin: 0.5, GenerateMax: 2, GenerateResolution: 1000},
		},
		FaultsPerMinuteMin: 0.5, FaultsPerMinuteMax: 4, WindowMin: time.Second, WindowMax: 20 * time.Second},

	{Kind: Pause, Windowed: true, TakesDown: true, Targets: TargetsMembers, NodesMin: 1,
		FaultsPerMinuteMin: 0.5, FaultsPerMinuteMax: 6, WindowMin: 100 * time.Millisecond, WindowMax: 10 * time.Second},
	{Kind: LeaderTransfer, Targets: TargetsOne, NodesMin: 2,
		FaultsPerMinuteMin: 0.5, FaultsPerMinuteMax: 6},
	{Kind: MembershipChange, Windowed: true, TakesDown: true, Targets: TargetsOne, NodesMin: 3,
		FaultsPerMinuteMin: 0.25, FaultsPerMinuteMax: 2, WindowMin: time.Second, WindowMax: 15 * time.Second},
	{Kind: AlarmNoSpace, Windowed: true, Targets: TargetsOne, NodesMin: 1,
		FaultsPerMinuteMin: 0.5, FaultsPerMinuteMax: 3, WindowMin: time.Second, WindowMax: 8 * time.Second},
	{Kind: Defragment, Targets: TargetsOne, NodesMin: 1,
		FaultsPerMinuteMin: 1, FaultsPerMinuteMax: 8},
	{Kind: Backup, Targets: TargetsOne, NodesMin: 1,
		FaultsPerMinuteMin: 0.5, FaultsPerMinuteMax: 4},
}

// catalogueIndex maps a kind to its place in catalogue. Only looked up,
// never iterated.
var catalogueIndex = func() map[Kind]int {
	m := make(map[Kind]int, len(catalogue))
	for i, info := range catalogue {
		_, dup := m[info.Kind]
		assert(!dup, "kind listed twice in the catalogue: "+string(info.Kind))
		m[info.Kind] = i
	}
	return m
}()

// GeneratedKinds returns the kinds Generate may pick for some profile, in
// catalogue order: all but the Manual ones.
func GeneratedKinds() []Kind {
	var kinds []Kind
	for _, info := range catalogue {
		if !info.Manual {
			kinds = append(kinds, info.Kind)
		}
	}
	return kinds
}

// allProfileKinds returns the kinds of profile "all", in catalogue order:
// the generated kinds but the WholeCluster ones.
func allProfileKinds() []Kind {
	var kinds []Kind
	for _, info := range catalogue {
		if !info.Manual && !info.WholeCluster {
			kinds = append(kinds, info.Kind)
		}
	}
	return kinds
}

// Kinds returns every kind in catalogue order.
func Kinds() []Kind {
	kinds := make([]Kind, len(catalogue))
	for i, info := range catalogue {
		kinds[i] = info.Kind
	}
	return kinds
}

// Info returns what the catalogue knows about k, and false for an unknown
// kind.
func Info(k Kind) (KindInfo, bool) {
	i, ok := catalogueIndex[k]
	if !ok {
		return KindInfo{}, false
	}
	info := catalogue[i]
	info.Params = append([]ParamSpec(nil), info.Params...)
	return info, true
}

// mustInfo returns the catalogue entry of a kind the caller knows is valid.
func mustInfo(k Kind) *KindInfo {
	i, ok := catalogueIndex[k]
	assert(ok, "unknown kind "+string(k))
	return &catalogue[i]
}

// Valid reports whether k is in the catalogue.
func (k Kind) Valid() bool {
	_, ok := catalogueIndex[k]
	return ok
}
