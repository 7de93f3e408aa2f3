package realcluster

import (
	"cmp"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Harness is the id of the harness's end of a link: kvsim's clients, and
// any process that is not a member.
const Harness uint64 = 0

// Link is one direction between two endpoints: bytes sent by From to To.
type Link struct {
	From, To uint64
}

// LinkRule is what the proxies do to the bytes of one directed link. The
// zero rule forwards them untouched.
type LinkRule struct {
	// Blocked discards every byte on the link. A connection whose both
	// directions are blocked is reset at once, and a new one refused.
	Blocked bool
	// Delay holds each chunk back this long, plus a uniform [0, Jitter);
	// chunks keep their order within a direction.
	Delay, Jitter time.Duration
	// ResetProbability resets the connection when it forwards a chunk,
	// with this probability: TCP never loses a byte, so a lost packet
	// becomes a reset connection.
	ResetProbability float64
}

// Network holds the rules of every link and the connections the proxies
// forward, so that a rule changed while bytes flow acts on them at once.
// Safe for concurrent use.
type Network struct {
	mu     sync.Mutex
	rules  map[Link]LinkRule
	rand   *rand.Rand
	conns  map[*proxyConn]struct{}
	logger *slog.Logger
	// clientDelay and clientJitter are added to every link with the
	// harness at one end, beside its rule (SetClientDelay).
	clientDelay, clientJitter time.Duration
}

// NewNetwork returns a network with no rules. Delays and resets draw from
// a PCG stream of seed, never from the global source.
func NewNetwork(seed uint64, logger *slog.Logger) *Network {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Network{
		rules:  map[Link]LinkRule{},
		rand:   rand.New(rand.NewPCG(seed, 0x70726f7879)), // "proxy"
		conns:  map[*proxyConn]struct{}{},
		logger: logger,
	}
}

// Rule returns the rule of link l (the zero rule when none is set).
func (n *Network) Rule(l Link) LinkRule {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rules[l]
}

// Rules returns a copy of every rule set.
func (n *Network) Rules() map[Link]LinkRule {
	n.mu.Lock()
	defer n.mu.Unlock()
	return maps.Clone(n.rules)
}

// SetRule sets the rule of one link; the zero rule clears it.
func (n *Network) SetRule(l Link, r LinkRule) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.setLocked(l, r)
	n.enforceLocked()
}

// SetRules replaces every rule by rules, at once: links rules leaves out
// heal.
func (n *Network) SetRules(rules map[Link]LinkRule) {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.rules)
	for l, r := range rules {
		n.setLocked(l, r)
	}
	n.enforceLocked()
}

// Clear heals every link.
func (n *Network) Clear() { n.SetRules(nil) }

// SetClientDelay adds delay plus a uniform [0, jitter) to every chunk on
// every link between the harness and a member, both ways, on top of the
// links' rules, until set back to 0: slow clients for a test, apart from
// the rules a nemesis replaces.
func (n *Network) SetClientDelay(delay, jitter time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.clientDelay, n.clientJitter = delay, jitter
}

// Conns lists the open connections as the links their dialer sends on
// (dialer to target), sorted.
func (n *Network) Conns() []Link {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Link, 0, len(n.conns))
	for c := range n.conns {
		out = append(out, c.links[dirDial])
	}
	slices.SortFunc(out, func(a, b Link) int {
		return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	return out
}

func (n *Network) setLocked(l Link, r LinkRule) {
	if r == (LinkRule{}) {
		delete(n.rules, l)
		return
	}
	n.rules[l] = r
}

// enforceLocked resets the connections the rules no longer allow: those
// blocked both ways, and those whose stream lost bytes on a link that no
// longer blocks (what follows the gap would be read as garbage).
func (n *Network) enforceLocked() {
	for c := range n.conns {
		dial, answer := n.rules[c.links[dirDial]], n.rules[c.links[dirAnswer]]
		switch {
		case dial.Blocked && answer.Blocked:
			n.logger.Debug("proxy: reset, blocked both ways", "from", c.links[dirDial].From, "to", c.links[dirDial].To)
		case c.discarded[dirDial] && !dial.Blocked, c.discarded[dirAnswer] && !answer.Blocked:
			n.logger.Debug("proxy: reset, bytes were discarded", "from", c.links[dirDial].From, "to", c.links[dirDial].To)
		default:
			continue
		}
		delete(n.conns, c)
		c.reset()
	}
}

// register adds a new connection, or refuses it (false) when both its
// directions are blocked.
func (n *Network) register(c *proxyConn) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.rules[c.links[dirDial]].Blocked && n.rules[c.links[dirAnswer]].Blocked {
		return false
	}
	n.conns[c] = struct{}{}
	return true
}

func (n *Network) unregister(c *proxyConn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.conns, c)
}

// verdict is what happens to one chunk.
type verdict struct {
	discard, reset bool
	// release is when the chunk may be written on.
	release time.Time
}

// judge decides the fate of a chunk read at now in direction dir of c. A
// discard is recorded under the lock that rule changes take, so a heal
// never misses a connection that lost bytes.
func (n *Network) judge(c *proxyConn, dir int, now time.Time) verdict {
	n.mu.Lock()
	defer n.mu.Unlock()
	r := n.rules[c.links[dir]]
	if r.Blocked {
		c.discarded[dir] = true
		return verdict{discard: true}
	}
	if r.ResetProbability > 0 && n.rand.Float64() < r.ResetProbability {
		return verdict{reset: true}
	}
	if l := c.links[dir]; l.From == Harness || l.To == Harness {
		r.Delay += n.clientDelay
		r.Jitter += n.clientJitter
	}
	release := now.Add(r.Delay)
	if r.Jitter > 0 {
		release = release.Add(time.Duration(n.rand.Int64N(int64(r.Jitter))))
	}
	// Order within a direction: a chunk never overtakes the one before.
	if release.Before(c.lastRelease[dir]) {
		release = c.lastRelease[dir]
	}
	c.lastRelease[dir] = release
	return verdict{release: release}
}
