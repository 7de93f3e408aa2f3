package sim

import (
	"fmt"
	"slices"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/nemesis"
)

// executor is everything the simulator does for one fault kind, in one
// place: a kind catalogued in nemesis without an executor here fails
// TestEveryKindHasAnExecutor instead of compiling into a fault nobody
// carries out.
type executor struct {
	// targets resolves a fault's empty Targets; nil means the leader.
	targets func(c *Cluster, leader uint64, others []uint64) []uint64
	// start carries the fault out; it returns a note when it could not do
	// as the fault asked.
	start func(c *Cluster, a *activeFault) string
	// heal undoes the fault at its Until; nil when there is nothing to
	// undo beyond bringing the targets back (reconcile).
	heal func(c *Cluster, a *activeFault)
	// partition cuts links while the fault is active; shapeLink changes
	// the options of every link touching a target. At most one is set.
	partition func(c *Cluster, a *activeFault)
	shapeLink func(c *Cluster, f nemesis.Fault, from, to uint64, lo *LinkOptions)
}

// mustExecutor returns kind's executor; an unknown kind is a bug.
func mustExecutor(kind nemesis.Kind) executor {
	ex, ok := executors[kind]
	if !ok {
		panic(fmt.Sprintf("sim: fault kind %q has no executor", kind))
	}
	return ex
}

// duration reads a millisecond parameter as a duration.
func duration(f nemesis.Fault, paramMs string) time.Duration {
	return time.Duration(f.Param(paramMs) * float64(time.Millisecond))
}

// eachTarget runs fn on every target member.
func eachTarget(fn func(m *Member, f nemesis.Fault)) func(c *Cluster, a *activeFault) {
	return func(c *Cluster, a *activeFault) {
		for _, id := range a.targets {
			fn(c.members[id], a.f)
		}
	}
}

// startAndNote adapts a start that never has a note.
func startAndNote(fn func(c *Cluster, a *activeFault)) func(c *Cluster, a *activeFault) string {
	return func(c *Cluster, a *activeFault) string { fn(c, a); return "" }
}

func rebuild(c *Cluster, _ *activeFault) { c.rebuildNetwork() }

var (
	allMembers = func(c *Cluster, _ uint64, _ []uint64) []uint64 { return slices.Clone(c.ids) }
	aFollower  = func(c *Cluster, _ uint64, others []uint64) []uint64 {
		return []uint64{others[c.faults.rand.IntN(len(others))]}
	}
	cutSides = func(c *Cluster, a *activeFault) {
		in := func(id uint64) bool { return slices.Contains(a.targets, id) }
		for _, x := range c.ids {
			for _, y := range c.ids {
				if in(x) != in(y) {
					c.w.network.Block(x, y)
				}
			}
		}
	}
)

// networkExecutor is a network kind: the network is rebuilt from the
// active faults at its start and at its heal.
func networkExecutor(ex executor) executor {
	ex.start, ex.heal = startAndNote(rebuild), rebuild
	return ex
}

// executors is filled by init: its entries reach mustExecutor through the
// network rebuild, which a package-level initializer may not.
var executors map[nemesis.Kind]executor

func init() { executors = executorTable() }

func executorTable() map[nemesis.Kind]executor {
	return map[nemesis.Kind]executor{
		nemesis.PartitionHalves: networkExecutor(executor{
			targets: func(c *Cluster, leader uint64, others []uint64) []uint64 {
				return append([]uint64{leader}, others[:len(c.ids)/2-1]...)
			},
			partition: cutSides,
		}),
		nemesis.PartitionIsolateLeader: networkExecutor(executor{partition: cutSides}),
		nemesis.PartitionBridge: networkExecutor(executor{
			targets: func(c *Cluster, leader uint64, others []uint64) []uint64 {
				return append([]uint64{leader}, others[:len(others)/2]...)
			},
			partition: func(c *Cluster, a *activeFault) {
				bridge, sideA := a.targets[0], a.targets[1:]
				for _, x := range c.ids {
					for _, y := range c.ids {
						if x == bridge || y == bridge || x == y {
							continue
						}
						if slices.Contains(sideA, x) != slices.Contains(sideA, y) {
							c.w.network.Block(x, y)
						}
					}
				}
			},
		}),
		nemesis.PartitionRing: networkExecutor(executor{
			targets: allMembers,
			partition: func(c *Cluster, a *activeFault) {
				ring := a.targets
				pos := map[uint64]int{}
				for i, id := range ring {
					pos[id] = i
				}
				n := len(ring)
				for _, x := range ring {
					for _, y := range ring {
						d := (pos[x] - pos[y] + n) % n
						if x != y && d != 1 && d != n-1 {
							c.w.network.Block(x, y)
						}
					}
				}
			},
		}),
		nemesis.PartitionOneWay: networkExecutor(executor{
			partition: func(c *Cluster, a *activeFault) {
				in := func(id uint64) bool { return slices.Contains(a.targets, id) }
				for _, x := range c.ids {
					for _, y := range c.ids {
						if in(x) && !in(y) {
							c.w.network.Block(x, y)
						}
					}
				}
			},
		}),
		nemesis.PacketLoss: networkExecutor(executor{
			targets: allMembers,
			shapeLink: func(_ *Cluster, f nemesis.Fault, _, _ uint64, lo *LinkOptions) {
				lo.DropProbability = max(lo.DropProbability, f.Param(nemesis.ParamProbability))
			},
		}),
		nemesis.PacketDuplicate: networkExecutor(executor{
			targets: allMembers,
			shapeLink: func(c *Cluster, f nemesis.Fault, from, to uint64, lo *LinkOptions) {
				// A client's call is one gRPC stream over TCP, which never
				// delivers it twice; only peer messages are duplicated (raft
				// must tolerate that). A duplicated call would be a second
				// write the client never sent.
				if slices.Contains(c.ids, from) && slices.Contains(c.ids, to) {
					lo.DuplicateProbability = max(lo.DuplicateProbability, f.Param(nemesis.ParamProbability))
				}
			},
		}),
		nemesis.PacketDelay: networkExecutor(executor{
			targets: allMembers,
			shapeLink: func(_ *Cluster, f nemesis.Fault, _, _ uint64, lo *LinkOptions) {
				lo.LatencyBase += duration(f, nemesis.ParamDelayMs)
				lo.LatencyJitter += duration(f, nemesis.ParamJitterMs)
			},
		}),
		nemesis.PacketReorder: networkExecutor(executor{
			targets: allMembers,
			shapeLink: func(_ *Cluster, f nemesis.Fault, _, _ uint64, lo *LinkOptions) {
				lo.ReorderProbability = max(lo.ReorderProbability, f.Param(nemesis.ParamProbability))
				lo.ReorderDelayMax = max(lo.ReorderDelayMax, duration(f, nemesis.ParamDelayMaxMs))
			},
		}),

		// The simulated disk keeps nothing unsynced across a crash, so a
		// process crash is modelled as the harder machine crash.
		nemesis.CrashRestart:      {start: startAndNote(eachTarget(func(m *Member, _ nemesis.Fault) { m.Crash() }))},
		nemesis.CrashLoseUnsynced: {start: startAndNote(eachTarget(func(m *Member, _ nemesis.Fault) { m.Crash() }))},
		nemesis.GracefulRestart: {
			start: startAndNote(eachTarget(func(m *Member, _ nemesis.Fault) { m.Stop() })),
			// A stop still saving its snapshot at Until restarts once done
			// (reconcile found it running).
			heal: eachTarget(func(m *Member, _ nemesis.Fault) { m.restartWhenStopped = m.stopping }),
		},
		// Every member crashes; each restarts at Until through reconcile,
		// unless another fault still holds it down.
		nemesis.ClusterRestart: {
			targets: allMembers,
			start:   startAndNote(eachTarget(func(m *Member, _ nemesis.Fault) { m.Crash() })),
		},
		nemesis.DiskTornWrite: {start: func(c *Cluster, a *activeFault) string {
			eachTarget(func(m *Member, _ nemesis.Fault) {
				m.disk.SetTornWrites(true)
				m.Crash()
				m.disk.SetTornWrites(false)
			})(c, a)
			if a.f.Param(nemesis.ParamKeptFraction) != 0 {
				return "kept_fraction ignored: the disk keeps a random prefix of the unsynced tail"
			}
			return ""
		}},
		nemesis.DiskBitFlip:  {start: (*Cluster).flipBits, heal: (*Cluster).repairBits},
		nemesis.DiskEIOWrite: {start: startAndNote((*Cluster).armEIO), heal: eachTarget(disarmEIO)},
		nemesis.DiskEIOSync:  {start: startAndNote((*Cluster).armEIO), heal: eachTarget(disarmEIO)},
		nemesis.DiskFull: {
			start: startAndNote(eachTarget(func(m *Member, _ nemesis.Fault) { m.disk.SetFull(true) })),
			heal:  eachTarget(func(m *Member, _ nemesis.Fault) { m.disk.SetFull(false) }),
		},
		nemesis.DiskLatency: {
			targets: allMembers,
			start:   startAndNote(eachTarget(func(m *Member, f nemesis.Fault) { m.disk.SetSlow(duration(f, nemesis.ParamLatencyMs)) })),
			heal:    eachTarget(func(m *Member, _ nemesis.Fault) { m.disk.SetSlow(0) }),
		},

		nemesis.ClockJump: {start: startAndNote(eachTarget(func(m *Member, f nemesis.Fault) { m.clock.Jump(duration(f, nemesis.ParamOffsetMs)) }))},
		nemesis.ClockSkew: {
			start: startAndNote(eachTarget(func(m *Member, f nemesis.Fault) { m.clock.Jump(duration(f, nemesis.ParamOffsetMs)) })),
			heal:  eachTarget(func(m *Member, f nemesis.Fault) { m.clock.Jump(-duration(f, nemesis.ParamOffsetMs)) }),
		},
		nemesis.ClockDrift: {
			start: startAndNote(eachTarget(func(m *Member, f nemesis.Fault) {
				m.clock.SetDrift(int64((f.Param(nemesis.ParamRate) - 1) * 1_000_000))
			})),
			heal: eachTarget(func(m *Member, _ nemesis.Fault) { m.clock.SetDrift(0) }),
		},

		nemesis.Pause: {start: startAndNote(eachTarget(func(m *Member, _ nemesis.Fault) { m.Pause() }))},
		nemesis.LeaderTransfer: {
			targets: aFollower,
			start: func(c *Cluster, a *activeFault) string {
				l := c.Leader()
				if l == 0 {
					return "no leader to transfer from"
				}
				if err := c.members[l].node.MoveLeader(a.targets[0]); err != nil {
					return "not carried out: " + err.Error()
				}
				return ""
			},
		},
		nemesis.MembershipChange: {
			targets: aFollower,
			start:   (*Cluster).replaceStart,
			heal:    (*Cluster).replaceHeal,
		},
		nemesis.AlarmNoSpace: {
			start: func(c *Cluster, a *activeFault) string { return c.proposeAlarm(pb.AlarmRequest_ACTIVATE, a.targets[0]) },
			heal:  func(c *Cluster, a *activeFault) { c.disarmAlarm(a.targets[0], 0) },
		},
		nemesis.Backup: {start: (*Cluster).startBackup},
		nemesis.Defragment: {start: func(c *Cluster, a *activeFault) string {
			m := c.members[a.targets[0]]
			if m.node == nil {
				return "not carried out: the member is down"
			}
			m.node.Defragment()
			return ""
		}},
	}
}

func disarmEIO(m *Member, _ nemesis.Fault) {
	m.disk.InjectWriteError(nil)
	m.disk.InjectSyncError(nil)
}
