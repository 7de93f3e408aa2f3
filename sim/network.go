package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// Network carries messages between endpoints named by uint64 ids, with
// per-link latency, loss, duplication and reordering, and partitions.
// Peer and client traffic share it. Get it from World.Network.
type Network struct {
	w    *World
	opts NetworkOptions
	rand *rand.Rand

	endpoints map[uint64]*endpoint
	// links holds the state of every directed link that has carried a
	// message or been given options; lookups only, never iterated.
	links map[linkKey]*link
	// cuts are blocked directed links; isolated endpoints reach no one.
	cuts     map[linkKey]struct{}
	isolated map[uint64]struct{}

	messagesInFlight int
	messageSeq       uint64
	// sentBytes is the wire size of every message sent.
	sentBytes int64
	// text is scratch for rendering trace records.
	text []byte
}

type endpoint struct {
	deliver func(from uint64, msg any)
	// incarnation counts registrations, so a message sent to one life of
	// an endpoint is not delivered to the next.
	incarnation uint64
	up          bool
}

type linkKey struct{ from, to uint64 }

type link struct {
	// opts is nil while the link follows the network's default.
	opts *LinkOptions
	// lastDeliveryElapsed keeps the link FIFO, as the TCP streams etcd
	// peers use are; only a reorder fault lets a message overtake.
	lastDeliveryElapsed time.Duration
}

func newNetwork(w *World, opts NetworkOptions) *Network {
	return &Network{
		w:         w,
		opts:      opts,
		rand:      w.Rand("sim/network"),
		endpoints: make(map[uint64]*endpoint),
		links:     make(map[linkKey]*link),
		cuts:      make(map[linkKey]struct{}),
		isolated:  make(map[uint64]struct{}),
	}
}

// Register attaches deliver as endpoint id's receiver, for a new endpoint
// or one restarting: messages sent to an earlier registration of id are
// dropped, not delivered to this one.
func (n *Network) Register(id uint64, deliver func(from uint64, msg any)) {
	if deliver == nil {
		panic(fmt.Sprintf("sim: Register(%d): nil deliver", id))
	}
	ep, ok := n.endpoints[id]
	if !ok {
		ep = &endpoint{}
		n.endpoints[id] = ep
	}
	ep.deliver = deliver
	ep.incarnation++
	ep.up = true
	n.w.Trace("net.register", "id=%d incarnation=%d", id, ep.incarnation)
}

// Unregister takes endpoint id down (it crashed or left); messages to it,
// in flight or sent later, are dropped until it registers again.
func (n *Network) Unregister(id uint64) {
	ep, ok := n.endpoints[id]
	if !ok || !ep.up {
		panic(fmt.Sprintf("sim: Unregister(%d): not registered", id))
	}
	ep.up = false
	n.w.Trace("net.unregister", "id=%d", id)
}

// Endpoints returns the ids of the endpoints that are up, sorted.
func (n *Network) Endpoints() []uint64 {
	ids := make([]uint64, 0, len(n.endpoints))
	for id, ep := range n.endpoints {
		if ep.up {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// Send puts msg on the link from → to. sizeBytes is what the message would
// weigh on the wire; it costs transmission time on links with a bandwidth.
// The outcome — delivery after a delay, loss, duplication — is decided by
// the link's options and the network's random stream, and traced.
func (n *Network) Send(from, to uint64, msg any, sizeBytes int) {
	if sizeBytes < 0 {
		panic(fmt.Sprintf("sim: Send(%d->%d): negative size %d", from, to, sizeBytes))
	}
	id := n.messageSeq
	n.messageSeq++
	n.sentBytes += int64(sizeBytes)
	b := appendLink(append(n.text[:0], 'm'), id, -1, from, to)
	b = strconv.AppendInt(append(b, " size="...), int64(sizeBytes), 10)
	n.text = append(append(b, ' '), n.opts.Describe(msg)...)
	n.w.traceText("net.send", n.text)

	ep, ok := n.endpoints[to]
	if !ok || !ep.up {
		n.w.Trace("net.drop", "m%d %d->%d reason=down", id, from, to)
		return
	}
	if n.cut(from, to) {
		n.w.Trace("net.drop", "m%d %d->%d reason=partition", id, from, to)
		return
	}
	l := n.link(from, to)
	opts := n.linkOptions(l)
	if n.chance(opts.DropProbability) {
		n.w.Trace("net.drop", "m%d %d->%d reason=loss", id, from, to)
		return
	}
	n.schedule(l, opts, id, 0, from, to, ep.incarnation, msg, sizeBytes)
	if n.chance(opts.DuplicateProbability) {
		n.schedule(l, opts, id, 1, from, to, ep.incarnation, msg, sizeBytes)
	}
}

// schedule queues the delivery of one copy of a message.
func (n *Network) schedule(l *link, opts *LinkOptions, id uint64, copyIndex int, from, to, incarnation uint64, msg any, sizeBytes int) {
	if n.messagesInFlight >= n.opts.MessagesInFlightMax {
		panic(fmt.Sprintf("sim: more than MessagesInFlightMax=%d messages in flight", n.opts.MessagesInFlightMax))
	}
	delay := opts.LatencyBase
	if opts.LatencyJitter > 0 {
		delay += time.Duration(n.rand.Int64N(int64(opts.LatencyJitter)))
	}
	if opts.BandwidthBytesPerSecond > 0 {
		delay += time.Duration(int64(sizeBytes) * int64(time.Second) / opts.BandwidthBytesPerSecond)
	}
	reordered := n.chance(opts.ReorderProbability)
	if reordered && opts.ReorderDelayMax > 0 {
		delay += time.Duration(n.rand.Int64N(int64(opts.ReorderDelayMax)))
	}
	atElapsed := n.w.nowElapsed + delay
	if !reordered {
		atElapsed = max(atElapsed, l.lastDeliveryElapsed)
		l.lastDeliveryElapsed = atElapsed
	}
	b := appendLink(append(n.text[:0], 'm'), id, copyIndex, from, to)
	b = appendElapsed(append(b, " at="...), atElapsed)
	n.text = strconv.AppendBool(append(b, " reordered="...), reordered)
	n.w.traceText("net.schedule", n.text)
	n.messagesInFlight++
	n.w.atElapsed(atElapsed, func() {
		n.messagesInFlight--
		n.deliver(id, copyIndex, from, to, incarnation, msg)
	})
}

func (n *Network) deliver(id uint64, copyIndex int, from, to, incarnation uint64, msg any) {
	ep := n.endpoints[to]
	switch {
	case !ep.up:
		n.w.Trace("net.drop", "m%d copy=%d %d->%d reason=down", id, copyIndex, from, to)
	case ep.incarnation != incarnation:
		n.w.Trace("net.drop", "m%d copy=%d %d->%d reason=restarted", id, copyIndex, from, to)
	case n.cut(from, to):
		// A partition that began while the message was on the wire.
		n.w.Trace("net.drop", "m%d copy=%d %d->%d reason=partition", id, copyIndex, from, to)
	default:
		n.text = appendLink(append(n.text[:0], 'm'), id, copyIndex, from, to)
		n.w.traceText("net.deliver", n.text)
		ep.deliver(from, msg)
	}
}

// chance draws true with probability p, drawing nothing when the outcome
// is certain so that fault-free links leave the stream untouched.
func (n *Network) chance(p float64) bool {
	switch {
	case p <= 0:
		return false
	case p >= 1:
		return true
	default:
		return n.rand.Float64() < p
	}
}

func (n *Network) cut(from, to uint64) bool {
	if from == to {
		return false
	}
	if _, ok := n.isolated[from]; ok {
		return true
	}
	if _, ok := n.isolated[to]; ok {
		return true
	}
	_, ok := n.cuts[linkKey{from, to}]
	return ok
}

func (n *Network) link(from, to uint64) *link {
	k := linkKey{from, to}
	l, ok := n.links[k]
	if !ok {
		l = &link{}
		n.links[k] = l
	}
	return l
}

func (n *Network) linkOptions(l *link) *LinkOptions {
	if l.opts != nil {
		return l.opts
	}
	return &n.opts.Link
}

// SetLink gives the directed link from → to its own options, zero fields
// defaulted. Invalid options panic.
func (n *Network) SetLink(from, to uint64, opts LinkOptions) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		panic(fmt.Sprintf("sim: SetLink(%d->%d): %v", from, to, err))
	}
	n.link(from, to).opts = &opts
	n.w.Trace("net.link", "%d->%d %+v", from, to, opts)
}

// ResetLink returns the link from → to to the network's default options.
func (n *Network) ResetLink(from, to uint64) {
	n.link(from, to).opts = nil
	n.w.Trace("net.link", "%d->%d default", from, to)
}

// SetDefaultLink changes the options of every link that has none of its
// own, zero fields defaulted. Invalid options panic.
func (n *Network) SetDefaultLink(opts LinkOptions) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		panic(fmt.Sprintf("sim: SetDefaultLink: %v", err))
	}
	n.opts.Link = opts
	n.w.Trace("net.link", "default %+v", opts)
}

// Partition cuts every link between endpoints of different groups, both
// ways, adding to any cuts already in place. Ids named in no group are not
// affected. An id in two groups panics.
func (n *Network) Partition(groups ...[]uint64) {
	groupOf := make(map[uint64]int)
	for g, ids := range groups {
		for _, id := range ids {
			if prev, ok := groupOf[id]; ok && prev != g {
				panic(fmt.Sprintf("sim: Partition: id %d in groups %d and %d", id, prev, g))
			}
			groupOf[id] = g
		}
	}
	for g, ids := range groups {
		for _, a := range ids {
			for h, others := range groups {
				if h == g {
					continue
				}
				for _, b := range others {
					n.cuts[linkKey{a, b}] = struct{}{}
				}
			}
		}
	}
	n.w.Trace("net.partition", "%v", groups)
}

// Block cuts the one-way link from → to; to → from is untouched.
func (n *Network) Block(from, to uint64) {
	n.cuts[linkKey{from, to}] = struct{}{}
	n.w.Trace("net.block", "%d->%d", from, to)
}

// Unblock restores the one-way link from → to.
func (n *Network) Unblock(from, to uint64) {
	delete(n.cuts, linkKey{from, to})
	n.w.Trace("net.unblock", "%d->%d", from, to)
}

// Isolate cuts id off from every other endpoint, both ways, present and
// future, until Heal.
func (n *Network) Isolate(id uint64) {
	n.isolated[id] = struct{}{}
	n.w.Trace("net.isolate", "id=%d", id)
}

// Heal removes every partition, block and isolation. Link options stay.
func (n *Network) Heal() {
	clear(n.cuts)
	clear(n.isolated)
	n.w.Trace("net.heal", "")
}

// MessagesInFlight returns how many message copies are scheduled but not
// yet delivered or dropped.
func (n *Network) MessagesInFlight() int { return n.messagesInFlight }

// appendLink renders "ID[ copy=C] FROM->TO" (copy omitted when negative)
// for the trace without fmt: the network traces every message several times.
func appendLink(b []byte, id uint64, copyIndex int, from, to uint64) []byte {
	b = strconv.AppendUint(b, id, 10)
	if copyIndex >= 0 {
		b = strconv.AppendInt(append(b, " copy="...), int64(copyIndex), 10)
	}
	b = strconv.AppendUint(append(b, ' '), from, 10)
	return strconv.AppendUint(append(b, "->"...), to, 10)
}
