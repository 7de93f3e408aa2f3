package node

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kvdlabs/kvd/core/disk"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// syncRecordingFS notes every fsync of a member in the cluster's events.
type syncRecordingFS struct {
	disk.FS
	note func()
}

type syncRecordingFile struct {
	disk.File
	note func()
}

func (f syncRecordingFS) Create(name string) (disk.File, error) {
	file, err := f.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return syncRecordingFile{File: file, note: f.note}, nil
}

func (f syncRecordingFS) OpenAppend(name string) (disk.File, error) {
	file, err := f.FS.OpenAppend(name)
	if err != nil {
		return nil, err
	}
	return syncRecordingFile{File: file, note: f.note}, nil
}

func (f syncRecordingFile) Sync() error {
	f.note()
	return f.File.Sync()
}

// Entries committed by the time a round starts are answered before the
// member's fsync of the entries arriving in that round: a pipelined writer
// sees its answer without waiting for the next write's fsync, as etcd
// applies alongside its WAL writes.
func TestCommittedEntriesAreAnsweredBeforeTheRoundsFsync(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.waitLeader()
	var events []string
	for _, id := range c.ids {
		c.stop(id)
		c.fs[id] = syncRecordingFS{FS: c.fs[id], note: func() {
			events = append(events, fmt.Sprintf("sync %d", id))
		}}
		c.start(id)
	}
	l := c.waitLeader()
	c.events = &events
	var ids []uint64
	for i := range 30 {
		// One new write per round keeps entries arriving while earlier
		// ones commit: each round both persists and answers.
		ids = append(ids, c.nodes[l].Submit(put(fmt.Sprintf("k%d", i), "v")))
		c.step()
	}
	c.settle()
	for _, id := range ids {
		mustOK(t, c.results[id])
	}
	// Within one Process of the leader: answers, then its fsync.
	process, leader := fmt.Sprintf("process %d", l), fmt.Sprint(l)
	answeredFirst := 0
	inLeaderRound, answered := false, false
	for _, e := range events {
		switch {
		case strings.HasPrefix(e, "process "):
			inLeaderRound, answered = e == process, false
		case !inLeaderRound:
		case e == "results "+leader+" early":
			answered = true
		case e == "sync "+leader && answered:
			answeredFirst++
			answered = false
		}
	}
	if answeredFirst < 10 {
		t.Fatalf("in only %d of the leader's rounds were committed writes answered before its fsync; events:\n%s",
			answeredFirst, strings.Join(events, "\n"))
	}
}

// A member that stops right after it was created, before any Process,
// restarts knowing its cluster: the bootstrap membership is durable when
// Open returns.
func TestRestartRightAfterBootstrapElects(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	for _, id := range c.ids {
		c.stop(id)
		c.start(id)
	}
	c.waitLeader()
}

// A follower's messages that promise nothing about its log leave before its
// fsync; its append answers and anything in a Ready that changes its vote
// wait for it.
func TestFollowerSendsOnlyPromiseFreeMessagesEarly(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	var f uint64
	for _, id := range c.ids {
		if id != l {
			f = id
		}
	}
	n := c.nodes[f]
	msgs := func(types ...raftpb.MessageType) []*raftpb.Message {
		var ms []*raftpb.Message
		for _, typ := range types {
			ms = append(ms, &raftpb.Message{Type: typ.Enum(), From: &f, To: &l})
		}
		return ms
	}
	typesOf := func(ms []*raftpb.Message) []raftpb.MessageType {
		var ts []raftpb.MessageType
		for _, m := range ms {
			ts = append(ts, m.GetType())
		}
		return ts
	}
	hs, _, err := n.storage.InitialState()
	if err != nil {
		t.Fatal(err)
	}
	newTerm := hs.GetTerm() + 1
	for _, tt := range []struct {
		name        string
		hs          *raftpb.HardState
		early, late []raftpb.MessageType
	}{
		{"steady", nil,
			[]raftpb.MessageType{raftpb.MsgProp, raftpb.MsgHeartbeatResp, raftpb.MsgReadIndex},
			[]raftpb.MessageType{raftpb.MsgAppResp}},
		{"new term", &raftpb.HardState{Term: &newTerm, Vote: hs.Vote, Commit: hs.Commit},
			nil,
			[]raftpb.MessageType{raftpb.MsgProp, raftpb.MsgAppResp, raftpb.MsgHeartbeatResp, raftpb.MsgReadIndex}},
	} {
		rd := raft.Ready{Messages: msgs(raftpb.MsgProp, raftpb.MsgAppResp, raftpb.MsgHeartbeatResp, raftpb.MsgReadIndex)}
		early, late := n.splitBeforePersist(rd, tt.hs)
		if got := typesOf(early); !slices.Equal(got, tt.early) {
			t.Errorf("%s: early %v, want %v", tt.name, got, tt.early)
		}
		if got := typesOf(late); !slices.Equal(got, tt.late) {
			t.Errorf("%s: late %v, want %v", tt.name, got, tt.late)
		}
	}
}
