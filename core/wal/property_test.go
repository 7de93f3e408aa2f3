package wal

import (
	"fmt"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"pgregory.net/rapid"
)

// walModel is what a WAL must give back: the live log by index (nil where
// only a snapshot knows the entry), the hard state and the newest snapshot.
type walModel struct {
	log       []*raftpb.Entry // log[i] has index i+1
	hs        hardState
	snapIndex uint64
	snapData  string
}

func (m *walModel) lastIndex() uint64 { return uint64(len(m.log)) }

// TestPropertyRecoveryMatchesModel drives random raft-shaped histories
// (appends, conflicting overwrites above the commit index, snapshots behind
// and ahead of the log, releases, reopens) through a WAL with tiny segments
// and checks every reopen against the model.
func TestPropertyRecoveryMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		fs := newMemFS()
		opts := Options{SegmentSizeBytesMax: rapid.Int64Range(128, 2048).Draw(t, "segmentSizeBytesMax")}
		w, err := Create(fs, "wal", []byte("m"), opts)
		if err != nil {
			t.Fatal(err)
		}
		m := &walModel{}
		term := uint64(1)
		ops := rapid.IntRange(1, 60).Draw(t, "ops")
		for op := 0; op < ops; op++ {
			switch rapid.IntRange(0, 9).Draw(t, "op") {
			case 0, 1, 2, 3, 4: // append, maybe overwriting above commit
				low := max(m.snapIndex, m.hs.commit) + 1
				from := rapid.Uint64Range(low, m.lastIndex()+1).Draw(t, "from")
				if from <= m.lastIndex() {
					term++
				}
				// Raft only truncates by appending, so an empty batch keeps the log.
				n := rapid.Uint64Range(0, 12).Draw(t, "n")
				if n == 0 {
					from = m.lastIndex() + 1
				}
				var ents []*raftpb.Entry
				for i := from; i < from+n; i++ {
					ents = append(ents, entry(i, term, fmt.Sprintf("%d@%d", i, term)))
				}
				m.log = append(m.log[:from-1], ents...)
				commit := rapid.Uint64Range(m.hs.commit, m.lastIndex()).Draw(t, "commit")
				hs := hardState{term: term, vote: rapid.Uint64Range(0, 3).Draw(t, "vote"), commit: commit}
				if err := w.Save(hs.proto(), ents); err != nil {
					t.Fatal(err)
				}
				if !hs.empty() {
					m.hs = hs
				}
			case 5: // snapshot, possibly received ahead of the log
				idx := rapid.Uint64Range(m.snapIndex+1, m.lastIndex()+5).Draw(t, "snapIndex")
				data := fmt.Sprintf("snap@%d", idx)
				if err := w.SaveSnapshot(snapshotAt(idx, term, data)); err != nil {
					t.Fatal(err)
				}
				for m.lastIndex() < idx {
					m.log = append(m.log, nil)
				}
				m.snapIndex, m.snapData = idx, data
				// Raft commits what a snapshot holds; keep the model raft-shaped.
				if m.hs.commit < idx {
					m.hs.commit = idx
					m.hs.term = term
					if err := w.Save(m.hs.proto(), nil); err != nil {
						t.Fatal(err)
					}
				}
			case 6: // release
				if err := w.ReleaseBefore(rapid.Uint64Range(0, m.lastIndex()+2).Draw(t, "releaseBefore")); err != nil {
					t.Fatal(err)
				}
			default: // restart
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				var rec *Recovered
				w, rec, err = Open(fs, "wal", opts)
				if err != nil {
					t.Fatalf("reopen: %v", err)
				}
				checkRecovered(t, m, rec)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		_, rec, err := Open(fs, "wal", opts)
		if err != nil {
			t.Fatalf("final open: %v", err)
		}
		checkRecovered(t, m, rec)
	})
}

func checkRecovered(t *rapid.T, m *walModel, rec *Recovered) {
	if string(rec.Metadata) != "m" || rec.TornTailBytes != 0 {
		t.Fatalf("metadata %q torn %d", rec.Metadata, rec.TornTailBytes)
	}
	if got := hardStateOf(rec.HardState); got != m.hs {
		t.Fatalf("hard state %+v, want %+v", got, m.hs)
	}
	if m.snapIndex == 0 {
		if rec.Snapshot != nil {
			t.Fatalf("unexpected snapshot %v", rec.Snapshot)
		}
	} else if rec.Snapshot.GetMetadata().GetIndex() != m.snapIndex || string(rec.Snapshot.GetData()) != m.snapData {
		t.Fatalf("snapshot %v, want index %d", rec.Snapshot, m.snapIndex)
	}
	want := m.log[m.snapIndex:]
	if len(rec.Entries) != len(want) {
		t.Fatalf("recovered %s, want %d entries after snapshot %d", describe(rec.Entries), len(want), m.snapIndex)
	}
	for i, e := range want {
		g := rec.Entries[i]
		if e == nil {
			t.Fatalf("model has a hole at index %d after the snapshot", m.snapIndex+uint64(i)+1)
		}
		if g.GetIndex() != e.GetIndex() || g.GetTerm() != e.GetTerm() || string(g.GetData()) != string(e.GetData()) {
			t.Fatalf("entry %d: got %v, want %v", i, g, e)
		}
	}
}
