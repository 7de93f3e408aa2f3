package sim

import (
	"testing"

	"github.com/kvdlabs/kvd/nemesis"
)

// TestEveryKindHasAnExecutor: each kind of the nemesis catalogue has one
// executor with a start, a windowed network kind heals by rebuilding, and
// no executor serves a kind the catalogue does not know.
func TestEveryKindHasAnExecutor(t *testing.T) {
	for _, k := range nemesis.Kinds() {
		ex, ok := executors[k]
		if !ok {
			t.Errorf("kind %q has no executor", k)
			continue
		}
		if ex.start == nil {
			t.Errorf("kind %q: executor has no start", k)
		}
		if ex.partition != nil && ex.shapeLink != nil {
			t.Errorf("kind %q: executor both partitions and shapes links", k)
		}
		info, _ := nemesis.Info(k)
		if (ex.partition != nil || ex.shapeLink != nil) && (!info.Windowed || ex.heal == nil) {
			t.Errorf("kind %q: a network executor must be windowed and heal", k)
		}
	}
	for k := range executors {
		if !k.Valid() {
			t.Errorf("executor for %q, which the catalogue does not know", k)
		}
	}
}
