package node

import (
	"strings"
	"testing"
)

func TestApplyOptions(t *testing.T) {
	var c Config
	if err := ApplyOptions(&c, " prevote=false, read=lease ,election-ticks=20,snapshot-count=50"); err != nil {
		t.Fatal(err)
	}
	if !c.PreVoteOff || !c.ReadIndexLeaseBased || c.CheckQuorumOff || c.ElectionTicks != 20 || c.SnapshotEntries != 50 {
		t.Fatalf("options not set as named: %+v", c)
	}
	if err := ApplyOptions(&c, ""); err != nil {
		t.Fatalf("empty spec: %v", err)
	}
}

// Every problem is reported at once, each naming the option.
func TestApplyOptionsReportsEveryProblem(t *testing.T) {
	err := ApplyOptions(&Config{}, "prevote=maybe,bogus=1,read=fast,election-ticks=0,noequals,prevote=true")
	if err == nil {
		t.Fatal("bad options accepted")
	}
	for _, want := range []string{`prevote="maybe"`, `unknown option "bogus"`, `read="fast"`, `election-ticks="0"`, `"noequals" is not name=value`, `"prevote" given twice`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %s:\n%v", want, err)
		}
	}
}

// read=lease without CheckQuorum is refused by Validate, as raft would.
func TestLeaseReadsNeedCheckQuorum(t *testing.T) {
	c := Config{ID: 1, FS: nil, Dir: "d"}
	if err := ApplyOptions(&c, "read=lease,checkquorum=false"); err != nil {
		t.Fatal(err)
	}
	c.EnsureDefaults()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "ReadIndexLeaseBased needs CheckQuorum") {
		t.Fatalf("Validate: %v", err)
	}
}

func TestCanonicalOptions(t *testing.T) {
	got, err := CanonicalOptions(" read = lease, prevote=false ")
	if err != nil || got != "prevote=false,read=lease" {
		t.Fatalf("CanonicalOptions = %q, %v", got, err)
	}
	if _, err := CanonicalOptions("read=fast"); err == nil {
		t.Fatal("a bad value canonicalised")
	}
}
