package realcluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kvdlabs/kvd/nemesis"
	"github.com/kvdlabs/kvd/workloads/driver"
)

// leaderLookupTimeout bounds the Status round that resolves a fault's
// empty targets to the leader.
const leaderLookupTimeout = 2 * time.Second

// SupportedKinds are the fault kinds a real cluster carries out, in
// catalogue order: what signals and TCP proxies can do to unmodified
// processes. Disk and clock faults, duplication and reordering (TCP never
// duplicates or reorders), and operator actions stay in the simulator.
func SupportedKinds() []nemesis.Kind {
	return []nemesis.Kind{
		nemesis.PartitionHalves, nemesis.PartitionIsolateLeader, nemesis.PartitionBridge,
		nemesis.PartitionRing, nemesis.PartitionOneWay,
		nemesis.PacketLoss, nemesis.PacketDelay,
		nemesis.CrashRestart, nemesis.GracefulRestart, nemesis.ClusterRestart, nemesis.Pause,
	}
}

// Check reports every reason s cannot be carried out on a real cluster at
// once: an invalid schedule, members other than 1..N (a real cluster
// numbers its members so), and each fault of a kind real processes do not
// take.
func Check(s nemesis.Schedule) error {
	var errs []error
	if err := s.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(s.Nodes) > MembersMax {
		errs = append(errs, fmt.Errorf("realcluster: schedule for %d members, a real cluster has at most %d", len(s.Nodes), MembersMax))
	}
	for i, id := range s.Nodes {
		if id != uint64(i+1) {
			errs = append(errs, fmt.Errorf("realcluster: schedule nodes %v, want 1..%d: a real cluster numbers its members from 1", s.Nodes, len(s.Nodes)))
			break
		}
	}
	supported := SupportedKinds()
	for i, f := range s.Faults {
		if !slices.Contains(supported, f.Kind) {
			errs = append(errs, fmt.Errorf("realcluster: fault %d (%s): the kind is carried out in the simulator only (real processes take %v)", i, f, supported))
		}
	}
	return errors.Join(errs...)
}

// Nemesis carries out a schedule on a Cluster in wall-clock time.
type Nemesis struct {
	c     *Cluster
	s     nemesis.Schedule
	epoch time.Time

	mu      sync.Mutex
	windows []driver.FaultWindow
	active  []*realFault

	done chan struct{}
}

// realFault is a fault between its start and its heal.
type realFault struct {
	index   int
	f       nemesis.Fault
	targets []uint64
	// window is the fault's index in Nemesis.windows.
	window int
}

// nemesisEvent is a fault's start or heal.
type nemesisEvent struct {
	at    time.Duration
	heal  bool
	fault int
}

// RunNemesis starts carrying out s on c: each fault starts at epoch+At and
// heals at epoch+Until. Faults of kinds Check rejects are skipped, with a
// window whose Note says so. When ctx ends, every active fault heals at
// once (paused members resume, killed ones restart, rules clear).
func RunNemesis(ctx context.Context, c *Cluster, s nemesis.Schedule, epoch time.Time) *Nemesis {
	n := &Nemesis{c: c, s: s.Clone(), epoch: epoch, done: make(chan struct{})}
	go n.run(ctx)
	return n
}

// Windows are the faults carried out so far, in start order, measured
// from the epoch; an active fault's To is its From.
func (n *Nemesis) Windows() []driver.FaultWindow {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := slices.Clone(n.windows)
	for i := range out {
		out[i].Targets = slices.Clone(out[i].Targets)
	}
	return out
}

// Done reports whether every fault has healed (or the context ended and
// everything was healed).
func (n *Nemesis) Done() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

// Wait returns once Done.
func (n *Nemesis) Wait() { <-n.done }

func (n *Nemesis) run(ctx context.Context) {
	defer close(n.done)
	var events []nemesisEvent
	for i, f := range n.s.Faults {
		events = append(events, nemesisEvent{at: f.At, fault: i})
		if info, ok := nemesis.Info(f.Kind); ok && info.Windowed {
			events = append(events, nemesisEvent{at: f.Until, heal: true, fault: i})
		}
	}
	// Heals before starts at one instant (windows are half open), then in
	// schedule order.
	slices.SortStableFunc(events, func(a, b nemesisEvent) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		if a.heal != b.heal {
			if a.heal {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.fault, b.fault)
	})
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for _, e := range events {
		timer.Reset(time.Until(n.epoch.Add(e.at)))
		select {
		case <-ctx.Done():
			n.healAll()
			return
		case <-timer.C:
		}
		if e.heal {
			n.heal(e.fault)
		} else {
			n.start(ctx, e.fault)
		}
	}
}

// start carries out fault i.
func (n *Nemesis) start(ctx context.Context, i int) {
	f := n.s.Faults[i]
	info, _ := nemesis.Info(f.Kind)
	if !slices.Contains(SupportedKinds(), f.Kind) {
		n.record(driver.FaultWindow{Kind: string(f.Kind), Targets: f.Targets,
			From: time.Since(n.epoch), To: time.Since(n.epoch), Note: "not carried out: the kind runs in the simulator only"})
		return
	}
	targets, note := n.resolveTargets(ctx, f)
	a := &realFault{index: i, f: f, targets: targets}
	a.window = n.record(driver.FaultWindow{Kind: string(f.Kind), Targets: slices.Clone(targets),
		From: time.Since(n.epoch), To: time.Since(n.epoch)})
	n.c.logger.Info("nemesis: start", "fault", f.String(), "targets", targets)
	if info.Windowed {
		n.mu.Lock()
		n.active = append(n.active, a)
		n.mu.Unlock()
	}
	var notes []string
	if note != "" {
		notes = append(notes, note)
	}
	switch f.Kind {
	case nemesis.CrashRestart, nemesis.ClusterRestart:
		for _, id := range targets {
			if err := n.c.Kill(id); err != nil {
				notes = append(notes, err.Error())
			}
		}
	case nemesis.GracefulRestart:
		for _, id := range targets {
			if err := n.c.Terminate(id); err != nil {
				notes = append(notes, err.Error())
			}
		}
	case nemesis.Pause:
		for _, id := range targets {
			if !n.c.running(id) {
				notes = append(notes, fmt.Sprintf("member %d was down: not paused", id))
				continue
			}
			if err := n.c.Pause(id); err != nil {
				notes = append(notes, err.Error())
			}
		}
	default:
		n.rebuildNetwork()
	}
	if len(notes) > 0 {
		n.mu.Lock()
		n.windows[a.window].Note = strings.Join(notes, "; ")
		n.mu.Unlock()
		n.c.logger.Warn("nemesis: not done as asked", "fault", f.String(), "note", strings.Join(notes, "; "))
	}
}

// heal undoes fault i at its Until and brings its targets back to what the
// faults still active allow.
func (n *Nemesis) heal(i int) {
	n.mu.Lock()
	j := slices.IndexFunc(n.active, func(a *realFault) bool { return a.index == i })
	if j < 0 {
		n.mu.Unlock()
		return // never started: skipped as unsupported
	}
	a := n.active[j]
	n.active = slices.Delete(n.active, j, j+1)
	n.windows[a.window].To = time.Since(n.epoch)
	n.mu.Unlock()
	n.c.logger.Info("nemesis: heal", "fault", a.f.String(), "targets", a.targets)
	n.rebuildNetwork()
	var notes []string
	for _, id := range a.targets {
		if err := n.reconcile(id); err != nil {
			notes = append(notes, err.Error())
		}
	}
	if len(notes) > 0 {
		n.appendNote(a.window, "at heal: "+strings.Join(notes, "; "))
	}
}

// healAll heals every active fault at once: the run ended early.
func (n *Nemesis) healAll() {
	n.mu.Lock()
	active := n.active
	n.active = nil
	for _, a := range active {
		n.windows[a.window].To = time.Since(n.epoch)
	}
	n.mu.Unlock()
	n.c.logger.Info("nemesis: the run ended, healing every fault", "active", len(active))
	n.c.network.Clear()
	for _, id := range n.c.IDs() {
		if err := n.reconcile(id); err != nil {
			n.c.logger.Warn("nemesis: heal at the end", "member", id, "err", err)
		}
	}
	for _, a := range active {
		n.appendNote(a.window, "healed early: the run ended")
	}
}

// reconcile brings member id back to what the active faults allow: its
// process running unless a fault still takes it down, continued unless a
// pause still holds it. Every heal ends here, so overlapping faults on
// one member leave it running once the last heals, as in the simulator.
func (n *Nemesis) reconcile(id uint64) error {
	if !n.c.running(id) && !n.stillFaulted(id, "") {
		if err := n.c.Restart(id); err != nil {
			return err
		}
	}
	if n.c.Paused(id) && !n.stillFaulted(id, nemesis.Pause) {
		return n.c.Resume(id)
	}
	return nil
}

// stillFaulted reports whether an active fault of kind (or, for "", of
// any kind that takes a member down) holds member id.
func (n *Nemesis) stillFaulted(id uint64, kind nemesis.Kind) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, a := range n.active {
		info, _ := nemesis.Info(a.f.Kind)
		if (kind == "" && info.TakesDown) || a.f.Kind == kind {
			if slices.Contains(a.targets, id) {
				return true
			}
		}
	}
	return false
}

// resolveTargets names a fault's members: its Targets, or, when empty,
// what the simulator's executor picks for the kind around the leader at
// this moment.
func (n *Nemesis) resolveTargets(ctx context.Context, f nemesis.Fault) ([]uint64, string) {
	if len(f.Targets) > 0 {
		return slices.Clone(f.Targets), ""
	}
	ids := n.c.IDs()
	switch f.Kind {
	case nemesis.PartitionRing, nemesis.PacketLoss, nemesis.PacketDelay, nemesis.ClusterRestart:
		return ids, ""
	}
	lctx, cancel := context.WithTimeout(ctx, leaderLookupTimeout)
	leader, _ := n.c.Leader(lctx)
	cancel()
	note := ""
	if leader == 0 {
		leader = ids[0]
		note = fmt.Sprintf("no leader when it began: aimed at member %d instead", leader)
	}
	others := slices.DeleteFunc(slices.Clone(ids), func(id uint64) bool { return id == leader })
	switch f.Kind {
	case nemesis.PartitionHalves:
		return append([]uint64{leader}, others[:len(ids)/2-1]...), note
	case nemesis.PartitionBridge:
		return append([]uint64{leader}, others[:len(others)/2]...), note
	}
	return []uint64{leader}, note
}

// rebuildNetwork sets the Network's rules from the active faults, so that
// overlapping faults heal independently. Partitions cut links between
// members only: the harness's links stay up, as in the simulator. Packet
// faults shape every link that starts or ends at a target, the harness's
// included.
func (n *Nemesis) rebuildNetwork() {
	n.mu.Lock()
	active := slices.Clone(n.active)
	n.mu.Unlock()
	ids := n.c.IDs()
	endpoints := append([]uint64{Harness}, ids...)
	rules := map[Link]LinkRule{}
	block := func(from, to uint64) {
		r := rules[Link{from, to}]
		r.Blocked = true
		rules[Link{from, to}] = r
	}
	for _, a := range active {
		in := func(id uint64) bool { return slices.Contains(a.targets, id) }
		switch a.f.Kind {
		case nemesis.PartitionHalves, nemesis.PartitionIsolateLeader:
			for _, x := range ids {
				for _, y := range ids {
					if in(x) != in(y) {
						block(x, y)
					}
				}
			}
		case nemesis.PartitionOneWay:
			for _, x := range ids {
				for _, y := range ids {
					if in(x) && !in(y) {
						block(x, y)
					}
				}
			}
		case nemesis.PartitionBridge:
			bridge, side := a.targets[0], a.targets[1:]
			for _, x := range ids {
				for _, y := range ids {
					if x != bridge && y != bridge && x != y && slices.Contains(side, x) != slices.Contains(side, y) {
						block(x, y)
					}
				}
			}
		case nemesis.PartitionRing:
			pos := map[uint64]int{}
			for i, id := range a.targets {
				pos[id] = i
			}
			size := len(a.targets)
			for _, x := range a.targets {
				for _, y := range a.targets {
					if d := (pos[x] - pos[y] + size) % size; x != y && d != 1 && d != size-1 {
						block(x, y)
					}
				}
			}
		case nemesis.PacketLoss, nemesis.PacketDelay:
			for _, from := range endpoints {
				for _, to := range endpoints {
					if from == to || !(in(from) || in(to)) {
						continue
					}
					l := Link{from, to}
					r := rules[l]
					if a.f.Kind == nemesis.PacketLoss {
						r.ResetProbability = max(r.ResetProbability, a.f.Param(nemesis.ParamProbability))
					} else {
						r.Delay += msParam(a.f, nemesis.ParamDelayMs)
						r.Jitter += msParam(a.f, nemesis.ParamJitterMs)
					}
					rules[l] = r
				}
			}
		}
	}
	n.c.network.SetRules(rules)
}

// msParam reads a millisecond parameter as a duration.
func msParam(f nemesis.Fault, name string) time.Duration {
	return time.Duration(f.Param(name) * float64(time.Millisecond))
}

// record appends a window and returns its index.
func (n *Nemesis) record(w driver.FaultWindow) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.windows = append(n.windows, w)
	return len(n.windows) - 1
}

func (n *Nemesis) appendNote(window int, note string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if w := &n.windows[window]; w.Note == "" {
		w.Note = note
	} else {
		w.Note += "; " + note
	}
}
