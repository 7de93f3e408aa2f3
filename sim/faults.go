package sim

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/nemesis"
	"github.com/kvdlabs/kvd/workloads/driver"
)

// FaultWindow is one fault as it was carried out: its kind, the members it
// resolved to, and when it started and healed (virtual time since the
// epoch; To == From for instantaneous faults).
type FaultWindow = driver.FaultWindow

// activeFault is a fault between its start and its heal.
type activeFault struct {
	seq     int
	f       nemesis.Fault
	targets []uint64
	// removed: a membership change removed its target (membership.go).
	removed bool
}

// faultState is the executor's bookkeeping on a Cluster.
type faultState struct {
	active  []*activeFault
	windows []FaultWindow
	seq     int
	rand    randSource
	// flipped remembers the bits a disk-bit-flip changed, to repair them.
	flipped map[*activeFault][]flip
	// images hold the data directories, as before the flips, of members
	// whose start cut the damage away as a torn tail: held down until no
	// bit flip on them is active, then restored from it.
	images map[*Member]diskImage
}

// flip is one flipped bit. Repair flips it again: flips commute, so faults
// overlapping on one member, even on one byte, repair in any order.
type flip struct {
	m      *Member
	name   string
	offset int64
	bit    int
}

type randSource interface{ IntN(int) int }

// ApplySchedule schedules every fault of s on the cluster's World. Each
// fault starts at its At (virtual time since the epoch) and heals at its
// Until. Empty Targets are resolved when the fault starts (usually to the
// leader at that moment), as nemesis documents per kind.
func (c *Cluster) ApplySchedule(s nemesis.Schedule) {
	if err := s.Validate(); err != nil {
		panic(fmt.Sprintf("sim: ApplySchedule: %v", err))
	}
	epoch := c.w.opts.Epoch
	for _, f := range s.Faults {
		f := f.Clone()
		c.w.At(epoch.Add(f.At), func() { c.startFault(f) })
	}
}

// FaultWindows lists the faults carried out so far, in start order.
func (c *Cluster) FaultWindows() []FaultWindow { return slices.Clone(c.faults.windows) }

func (c *Cluster) startFault(f nemesis.Fault) {
	fs := &c.faults
	fs.seq++
	a := &activeFault{seq: fs.seq, f: f, targets: c.resolveTargets(f)}
	window := len(fs.windows)
	fs.windows = append(fs.windows, FaultWindow{Kind: string(f.Kind), Targets: a.targets, From: c.w.Elapsed(), To: c.w.Elapsed()})
	c.w.Trace("fault.start", "%s targets=%v params=%s until=%v", f.Kind, a.targets, formatParams(f.Params), f.Until)
	info, _ := nemesis.Info(f.Kind)
	// A windowed fault is active before it is carried out: the network is
	// rebuilt from the active faults, so a partition or packet fault left
	// out here would only take effect at the next network fault's start
	// or heal.
	if info.Windowed {
		fs.active = append(fs.active, a)
	}
	note := c.doFault(a)
	if note != "" {
		fs.windows[window].Note = note
		c.w.Trace("fault.note", "%s %s", f.Kind, note)
	}
	if !info.Windowed {
		return
	}
	c.w.At(c.w.opts.Epoch.Add(f.Until), func() {
		fs.active = slices.DeleteFunc(fs.active, func(x *activeFault) bool { return x == a })
		fs.windows[window].To = c.w.Elapsed()
		c.w.Trace("fault.heal", "%s targets=%v", f.Kind, a.targets)
		c.healFault(a)
	})
}

// resolveTargets turns empty Targets into members, as each kind documents
// (its executor's targets; the leader when it has none).
func (c *Cluster) resolveTargets(f nemesis.Fault) []uint64 {
	if len(f.Targets) > 0 {
		return slices.Clone(f.Targets)
	}
	leader := c.Leader()
	if leader == 0 {
		leader = c.ids[0]
	}
	others := slices.DeleteFunc(slices.Clone(c.ids), func(id uint64) bool { return id == leader })
	if ex := mustExecutor(f.Kind); ex.targets != nil {
		return ex.targets(c, leader, others)
	}
	return []uint64{leader}
}

// doFault starts a fault; it returns a note when something was not done
// as the fault asked.
func (c *Cluster) doFault(a *activeFault) string {
	return mustExecutor(a.f.Kind).start(c, a)
}

// healFault undoes a fault at its Until and brings its targets back to
// what the faults still active on them allow.
func (c *Cluster) healFault(a *activeFault) {
	if heal := mustExecutor(a.f.Kind).heal; heal != nil {
		heal(c, a)
	}
	for _, id := range a.targets {
		c.reconcile(id)
	}
}

// alarmRetryInterval and alarmQuietChecks pace disarming: the alarm is
// proposed away every interval while a running member holds it, and
// watched until that many checks in a row, with no fault active, find none:
// its raise may sit uncommitted in a leader's log while a partition or a
// delay lasts, and commit once it heals.
const (
	alarmRetryInterval = 500 * time.Millisecond
	alarmQuietChecks   = 20
)

// proposeAlarm submits an alarm change for target's NOSPACE through the
// leader, or another running member if none is known; the answer goes
// nowhere (the fault, not a client, asked). Returns a note when no member
// could take it.
// Only the leader takes it, straight into its log: a proposal forwarded by
// a follower could wander the network and land after the disarm.
func (c *Cluster) proposeAlarm(action pb.AlarmRequest_AlarmAction, target uint64) string {
	via := c.Leader()
	if via == 0 {
		return "not carried out: no leader"
	}
	c.members[via].node.Submit(&pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{Action: action, MemberID: target, Alarm: pb.AlarmType_NOSPACE}})
	return ""
}

// disarmAlarm takes target's NOSPACE alarm away once no alarm fault holds
// it any more, as an operator keeps disarming until it is gone.
func (c *Cluster) disarmAlarm(target uint64, quiet int) {
	if c.stillFaulted(target, nemesis.AlarmNoSpace) || quiet >= alarmQuietChecks {
		return // a later window owns the alarm now, or it is surely gone
	}
	held := false
	for _, id := range c.Up() {
		held = held || slices.ContainsFunc(c.members[id].node.Alarms(), func(a *pb.AlarmMember) bool {
			return a.MemberID == target && a.Alarm == pb.AlarmType_NOSPACE
		})
	}
	if held || len(c.faults.active) > 0 {
		if held {
			c.proposeAlarm(pb.AlarmRequest_DEACTIVATE, target)
		}
		quiet = -1
	}
	c.w.After(alarmRetryInterval, func() { c.disarmAlarm(target, quiet+1) })
}

// reconcile brings a member back to what the faults still active on it
// allow: running if none takes it down, resumed if no pause holds it. Every
// heal ends here, so faults that overlap on one member — a crash healing
// while a pause still holds, then the pause healing — leave it running.
func (c *Cluster) reconcile(id uint64) {
	m := c.members[id]
	if m.node == nil && !c.stillFaulted(id, "") {
		m.Restart()
	}
	if m.paused && !c.stillFaulted(id, nemesis.Pause) {
		m.Resume()
	}
}

// stillFaulted reports whether an active fault (of kind, or of any kind
// that takes a member down when kind is "") still holds member id.
func (c *Cluster) stillFaulted(id uint64, kind nemesis.Kind) bool {
	return c.heldByOther(id, kind, nil)
}

// heldByOther is stillFaulted not counting except: a windowed fault is
// active while it is carried out, so one that restarts its own targets
// asks whether another fault holds them.
func (c *Cluster) heldByOther(id uint64, kind nemesis.Kind, except *activeFault) bool {
	for _, a := range c.faults.active {
		if a == except {
			continue
		}
		info, _ := nemesis.Info(a.f.Kind)
		if (kind == "" && (info.TakesDown || info.DamagesDurable)) || a.f.Kind == kind {
			if slices.Contains(a.targets, id) {
				return true
			}
		}
	}
	return false
}

// armEIO makes the targets' disks fail a write or a sync with EIO, drawn
// once per tick interval with the fault's probability, while it lasts.
func (c *Cluster) armEIO(a *activeFault) {
	interval := c.opts.Node.TickInterval
	c.injectEIO(a)
	var again func()
	again = func() {
		if !slices.Contains(c.faults.active, a) {
			return
		}
		c.injectEIO(a)
		c.w.After(interval, again)
	}
	c.w.After(interval, again)
}

func (c *Cluster) injectEIO(a *activeFault) {
	for _, id := range a.targets {
		if float64(c.faults.rand.IntN(1_000_000)) >= a.f.Param(nemesis.ParamProbability)*1_000_000 {
			continue
		}
		err := fmt.Errorf("sim: injected: %w", syscall.EIO)
		if a.f.Kind == nemesis.DiskEIOWrite {
			c.members[id].disk.InjectWriteError(err)
		} else {
			c.members[id].disk.InjectSyncError(err)
		}
	}
}

// newestFlipRegionBytes is where a "newest" bit flip lands: the last
// records of the newest WAL segment (a small put's entry record is about
// 60 to 120 bytes, a HardState's 33).
const newestFlipRegionBytes = 96

// flipBits crashes each target, flips bits in its synced WAL data, and
// restarts it: the member must find the damage and refuse to start (or
// cut it as a torn tail when it sits at the very end). The WAL is read
// only at start-up, so a running member could not notice it sooner.
func (c *Cluster) flipBits(a *activeFault) string {
	flips := max(1, int(a.f.Param(nemesis.ParamFlips)))
	for _, id := range a.targets {
		m := c.members[id]
		m.Crash()
		newest := a.f.Param(nemesis.ParamNewest) == 1
		var files []string
		if names, err := m.disk.List("member"); err == nil {
			slices.Sort(names)
			for _, n := range names {
				switch {
				case newest && strings.HasSuffix(n, ".wal"):
					files = []string{"member/" + n} // segment names sort by sequence
				case !newest && (strings.HasSuffix(n, ".wal") || strings.HasSuffix(n, ".snap")):
					files = append(files, "member/"+n)
				}
			}
		}
		img := m.disk.image()
		var done []flip
		for range flips {
			if len(files) == 0 {
				break
			}
			name := files[c.faults.rand.IntN(len(files))]
			// Records, not the zeroes reserved after them: a flip there
			// would damage nothing the member wrote.
			size, err := m.disk.writtenBytes(name)
			if err != nil || size == 0 {
				continue
			}
			offset := int64(c.faults.rand.IntN(size))
			if newest {
				offset = int64(size - 1 - c.faults.rand.IntN(min(size, newestFlipRegionBytes)))
			}
			if bit, err := m.disk.flipRandomBit(name, offset); err == nil {
				done = append(done, flip{m: m, name: name, offset: offset, bit: bit})
			}
		}
		// Restart it unless another fault holds it down. This one is in
		// the active set already (windowed faults are, while carried out):
		// counting it kept every flipped member down until the repair, so
		// no restart ever read the damage it was meant to test.
		if !c.heldByOther(id, "", a) {
			m.Restart()
		}
		switch {
		case m.node != nil && m.node.Durable().TornTailBytes > 0:
			// It started by cutting the damage as a torn tail: its
			// recovery is judged (checkRecovered). The records cut were
			// synced, maybe acknowledged: running on, it would meet a
			// leader's commit beyond its log (raft stops on that, as in
			// etcd). An operator restores its data: it is held down until
			// then, damaged as the fault says.
			m.Crash()
			if _, ok := c.faults.images[m]; !ok {
				c.faults.images[m] = img
			}
			c.w.Trace("fault.flip-cut", "member=%d held down until the repair", id)
		case m.node == nil:
			// Refused to start on the damage, or held down by another
			// fault: repaired at the heal (by the image, if one is kept).
			if _, ok := c.faults.images[m]; !ok {
				c.faults.flipped[a] = append(c.faults.flipped[a], done...)
			}
		}
		// Started without cutting anything: the flips hit nothing it
		// reads, or recovery skipped them (checkRecovered judges).
	}
	return ""
}

// repairBits puts back the bytes a bit flip changed on members that refused
// to start, as an operator restoring the damaged file would, and restores
// the data directory of members held down after cutting the damage as a
// torn tail; the heal's reconcile restarts them.
func (c *Cluster) repairBits(a *activeFault) {
	// Each flip is undone by flipping its bit again. Comparing with the
	// byte as it was failed when two overlapping faults flipped bits of
	// one byte and healed in the other order: the member stayed damaged.
	flips := c.faults.flipped[a]
	for i := len(flips) - 1; i >= 0; i-- {
		fl := flips[i]
		if fl.m.node != nil {
			continue
		}
		data, err := fl.m.disk.ReadFile(fl.name)
		if err != nil || fl.offset >= int64(len(data)) {
			continue
		}
		fl.m.disk.flipBitAt(fl.name, fl.offset, fl.bit)
	}
	delete(c.faults.flipped, a)
	for _, id := range a.targets {
		m := c.members[id]
		img, ok := c.faults.images[m]
		if !ok || m.node != nil || c.otherFlipActive(id, a) {
			continue
		}
		m.disk.restoreImage(img)
		delete(c.faults.images, m)
	}
}

// otherFlipActive reports whether a bit flip other than a still holds
// member id.
func (c *Cluster) otherFlipActive(id uint64, a *activeFault) bool {
	for _, o := range c.faults.active {
		if o != a && o.f.Kind == nemesis.DiskBitFlip && slices.Contains(o.targets, id) {
			return true
		}
	}
	return false
}

// rebuildNetwork recomputes partitions and link behaviour from the active
// faults, so that overlapping faults heal independently.
func (c *Cluster) rebuildNetwork() {
	net := c.w.network
	net.Heal()
	endpoints := append(slices.Clone(c.ids), c.clientIDs()...)
	for _, from := range endpoints {
		for _, to := range endpoints {
			if from != to {
				net.ResetLink(from, to)
			}
		}
	}
	links := map[[2]uint64]LinkOptions{}
	for _, a := range c.faults.active {
		c.applyNetworkFault(a, endpoints, links)
	}
	keys := make([][2]uint64, 0, len(links))
	for k := range links {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y [2]uint64) int {
		if x[0] != y[0] {
			return cmp.Compare(x[0], y[0])
		}
		return cmp.Compare(x[1], y[1])
	})
	for _, k := range keys {
		net.SetLink(k[0], k[1], links[k])
	}
}

func (c *Cluster) applyNetworkFault(a *activeFault, endpoints []uint64, links map[[2]uint64]LinkOptions) {
	ex := mustExecutor(a.f.Kind)
	if ex.partition != nil {
		ex.partition(c, a)
		return
	}
	// Every other active fault passes its targets' links through here,
	// shaped by its kind (most leave them at the default).
	net := c.w.network
	in := func(id uint64) bool { return slices.Contains(a.targets, id) }
	def := net.opts.Link
	for _, from := range endpoints {
		for _, to := range endpoints {
			if from == to || !(in(from) || in(to)) {
				continue
			}
			k := [2]uint64{from, to}
			lo, ok := links[k]
			if !ok {
				lo = def
			}
			if ex.shapeLink != nil {
				ex.shapeLink(c, a.f, from, to, &lo)
			}
			links[k] = lo
		}
	}
}

func (c *Cluster) clientIDs() []uint64 {
	ids := make([]uint64, len(c.clients))
	for i, cl := range c.clients {
		ids[i] = cl.id
	}
	return ids
}

func formatParams(p map[string]float64) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%g", k, p[k])
	}
	return b.String()
}
