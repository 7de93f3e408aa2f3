package node

import "time"

// requestIDs hands out request ids that are unique across members and across
// restarts of one member, the way etcd's idutil does: the member id's low 16
// bits, then a 40-bit millisecond timestamp taken at start, then an 8-bit
// counter that carries into the timestamp. A restarted member starts past the
// ids of its previous life unless its clock went back, so an old entry
// re-applied after a restart cannot complete a new request.
type requestIDs struct {
	prefix uint64
	suffix uint64
}

const (
	idTimestampBits = 40
	idCounterBits   = 8
	idSuffixBits    = idTimestampBits + idCounterBits
)

func newRequestIDs(memberID uint64, now time.Time) requestIDs {
	ms := uint64(now.UnixMilli()) & (1<<idTimestampBits - 1)
	return requestIDs{prefix: memberID << idSuffixBits, suffix: ms << idCounterBits}
}

func (g *requestIDs) next() uint64 {
	g.suffix = (g.suffix + 1) & (1<<idSuffixBits - 1)
	return g.prefix | g.suffix
}
