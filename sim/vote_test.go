package sim

import (
	"strings"
	"testing"
	"time"
)

// A member that granted a vote must recover it after a crash: on a disk
// that acknowledges syncs it never did (the ack-before-fsync variant) the
// vote is lost, and the cluster's own checker says so; on an honest disk
// it is kept.
func TestRestartMustKeepGrantedVote(t *testing.T) {
	t.Run("honest", func(t *testing.T) { restartVoter(t, false) })
	t.Run("lying", func(t *testing.T) { restartVoter(t, true) })
}

func restartVoter(t *testing.T, lying bool) {
	s := newScenario(t, 3, 3, func(o *ClusterOptions) { o.UnsafeAckBeforeFsync = lying })
	leader := s.waitLeader(10*time.Second, 0)
	var voter *Member
	for _, id := range s.c.IDs() {
		if m := s.c.Member(id); id != leader && m.granted.candidate == leader {
			voter = m
		}
	}
	if voter == nil {
		t.Fatalf("no member recorded the vote that elected %d", leader)
	}
	voter.Crash()
	voter.Restart()
	var found string
	for _, v := range s.c.Violations() {
		if strings.HasPrefix(v, "durability:") {
			found = v
		}
	}
	if lying != (found != "") {
		t.Fatalf("violations %q", s.c.Violations())
	}
}
