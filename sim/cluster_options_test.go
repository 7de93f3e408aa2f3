package sim

import (
	"strings"
	"testing"
)

// Options a member would refuse are refused up front, not met as a
// cluster that never elects a leader.
func TestClusterOptionsRefuseInvalidMemberOptions(t *testing.T) {
	o := ClusterOptions{}
	o.Node.SnapshotEntries, o.Node.SnapshotCatchUpEntries = 20, 50
	o.EnsureDefaults()
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "SnapshotCatchUpEntries") {
		t.Fatalf("Validate() = %v, want the members' own complaint", err)
	}
	o = ClusterOptions{}
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
}
