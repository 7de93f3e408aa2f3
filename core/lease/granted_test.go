package lease

import (
	"slices"
	"testing"

	"github.com/kvdlabs/kvd/core/clock"
)

func TestGrantedListsLeasesInIDOrder(t *testing.T) {
	l := New(Options{Clock: &clock.Manual{}})
	for _, g := range []Granted{{ID: 9, TTLSeconds: 60}, {ID: 3, TTLSeconds: 1}, {ID: 5, TTLSeconds: 30}} {
		if _, err := l.Grant(g.ID, g.TTLSeconds); err != nil {
			t.Fatal(err)
		}
	}
	// TTL 1 is raised to the 2 s minimum, and that is what was granted.
	want := []Granted{{ID: 3, TTLSeconds: 2}, {ID: 5, TTLSeconds: 30}, {ID: 9, TTLSeconds: 60}}
	if got := l.Granted(); !slices.Equal(got, want) {
		t.Fatalf("Granted() = %v, want %v", got, want)
	}
}
