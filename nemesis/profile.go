package nemesis

import (
	"slices"
	"time"
)

// Profile is a named family of faults: the kinds Generate may enable and
// the ranges it draws their intensity from.
type Profile struct {
	// Name is what GenerateOptions.Profile and Schedule.Profile carry.
	Name string
	// Summary says in a line what the profile exercises.
	Summary string
	// Kinds are the allowed kinds in catalogue order.
	Kinds []KindIntensity
}

// KindIntensity is the range Generate draws one kind's intensity from.
type KindIntensity struct {
	Kind Kind
	// FaultsPerMinuteMin/Max bound the mean rate of the kind's faults.
	FaultsPerMinuteMin, FaultsPerMinuteMax float64
	// WindowMin/Max bound the mean window of a windowed kind.
	WindowMin, WindowMax time.Duration
	// Params are the kind's parameters; GenerateMin/Max bound the value
	// drawn for each.
	Params []ParamSpec
}

// profileDefs is the profile table in sorted order; profiles are data.
var profileDefs = []struct {
	name, summary string
	kinds         []Kind
}{
	{"all", "every fault the simulator carries out on a member or a link", allProfileKinds()},
	{"clock", "clock jumps, skew and drift", []Kind{ClockJump, ClockSkew, ClockDrift}},
	{"crash", "crashes, unsynced data loss, graceful restarts and pauses",
		[]Kind{CrashRestart, CrashLoseUnsynced, GracefulRestart, Pause}},
	{"disk", "disk faults and crashes", []Kind{
		CrashRestart, CrashLoseUnsynced,
		DiskTornWrite, DiskBitFlip, DiskEIOWrite, DiskEIOSync, DiskFull, DiskLatency}},
	{"network", "partitions and packet faults", []Kind{
		PartitionHalves, PartitionIsolateLeader, PartitionBridge, PartitionRing, PartitionOneWay,
		PacketLoss, PacketDuplicate, PacketDelay, PacketReorder}},
	{"none", "no faults: a baseline run", nil},
	{"operations", "what operators do to a running cluster: leader transfers, member replacements, alarms raised and disarmed, defragmentation, backups",
		[]Kind{LeaderTransfer, MembershipChange, AlarmNoSpace, Defragment, Backup}},
	// What kvsim real carries out on member processes (signals) and on the
	// TCP proxies in front of them; the simulator runs it too, so a
	// schedule from a real run replays there.
	{"real", "what real processes take: partitions, packet loss and delay through TCP proxies, kills, graceful stops (SIGTERM), pauses and a full-cluster restart", []Kind{
		PartitionHalves, PartitionIsolateLeader, PartitionBridge, PartitionRing, PartitionOneWay,
		PacketLoss, PacketDelay, CrashRestart, GracefulRestart, ClusterRestart, Pause}},
}

// profiles is profileDefs with intensities taken from the catalogue.
var profiles = func() []Profile {
	out := make([]Profile, 0, len(profileDefs))
	for i, def := range profileDefs {
		assert(i == 0 || profileDefs[i-1].name < def.name, "profiles must be listed sorted by name")
		assert(len(def.kinds) <= kindsPerProfileMax, "profile "+def.name+" lists more kinds than faultsPerKindMax allows for")
		p := Profile{Name: def.name, Summary: def.summary}
		for j, k := range def.kinds {
			info := mustInfo(k)
			assert(!info.Manual, "profile "+def.name+" lists the manual kind "+string(k))
			assert(j == 0 || catalogueIndex[def.kinds[j-1]] < catalogueIndex[k],
				"profile "+def.name+" must list kinds in catalogue order")
			p.Kinds = append(p.Kinds, KindIntensity{
				Kind:               k,
				FaultsPerMinuteMin: info.FaultsPerMinuteMin,
				FaultsPerMinuteMax: info.FaultsPerMinuteMax,
				WindowMin:          info.WindowMin,
				WindowMax:          info.WindowMax,
				Params:             info.Params,
			})
		}
		out = append(out, p)
	}
	return out
}()

// Profiles returns the profile names, sorted.
func Profiles() []string {
	names := make([]string, len(profiles))
	for i, p := range profiles {
		names[i] = p.Name
	}
	return names
}

// LookupProfile returns the profile called name, and false if there is none.
func LookupProfile(name string) (Profile, bool) {
	i := slices.IndexFunc(profiles, func(p Profile) bool { return p.Name == name })
	if i < 0 {
		return Profile{}, false
	}
	p := profiles[i]
	p.Kinds = slices.Clone(p.Kinds)
	for j := range p.Kinds {
		p.Kinds[j].Params = slices.Clone(p.Kinds[j].Params)
	}
	return p, true
}
