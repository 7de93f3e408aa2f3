package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/bugs"
	"github.com/kvdlabs/kvd/core/mvcc"
)

// A state snapshot is taken every SnapshotEntries applied entries. The
// whole state machine goes into it — over 100 MB at a million keys — so
// it is not encoded in one go: a snapshot job captures the state at one
// applied index (the small parts copied, the mvcc store through an encoder
// that reads it as of that revision) and each Process then measures or
// encodes a step of it — SnapshotStepBytes, more in a round that applied
// much — and writes that into the WAL's snapshot file. Requests keep being served between steps; no round
// stalls for the whole snapshot. Only once the file is committed does raft
// storage learn of the snapshot and the log get compacted, so until then
// everything works from the previous snapshot, and a crash mid-way leaves
// only debris that the WAL removes on open.
//
// Snapshots are paced by the log as well as by SnapshotEntries: each
// rewrites the whole state, so at a million keys one every 10000 small
// writes would write ~100 bytes of snapshot per byte logged. A snapshot
// waits until the entries applied since the last one add up to
// 1/SnapshotSizeRatioMax of its size, which bounds snapshot writing to
// SnapshotSizeRatioMax times log writing, and the raft log kept in memory
// to a fraction of the state.
//
// A job is abandoned, and a new one starts at the next Process, when a
// compaction outdates what the encoder still had to read; a snapshot
// received from the leader replaces it outright.

// measureStepFactor is how many bytes a measuring step covers per byte an
// encoding step writes: measuring only adds up lengths.
const measureStepFactor = 4

// snapshotSink is where a job's bytes go: the WAL's snapshot file.
type snapshotSink interface {
	io.Writer
	Commit() error
	Abort() error
}

// snapshotJob is one state snapshot being streamed into the WAL.
type snapshotJob struct {
	index     uint64
	term      uint64
	confState *raftpb.ConfState
	// st holds everything but the mvcc part, as of index.
	st  state
	enc *mvcc.SnapshotEncoder

	// sizeBytes is the whole snapshot's, known once measured.
	sizeBytes int64
	// sink is nil while the encoder measures; cw sums what went into it.
	sink snapshotSink
	cw   crcWriter
	tail []byte
	buf  []byte
}

// step advances the job by about stepBytes. Once measuring is done it
// opens the sink through begin, with the frame's exact size. It reports
// done once every byte has gone into the sink (not yet committed).
func (j *snapshotJob) step(stepBytes int, begin func(md *raftpb.SnapshotMetadata, sizeBytes int64) (snapshotSink, error)) (done bool, err error) {
	if j.sink == nil {
		measured, err := j.enc.Measure(stepBytes * measureStepFactor)
		if err != nil || !measured {
			return false, err
		}
		mvccBytes := j.enc.SizeBytes()
		head, tail := j.st.frame(mvccBytes)
		md := &raftpb.SnapshotMetadata{Index: proto.Uint64(j.index), Term: proto.Uint64(j.term), ConfState: j.confState}
		j.sizeBytes = int64(len(head) + mvccBytes + len(tail) + 4)
		sink, err := begin(md, j.sizeBytes)
		if err != nil {
			return false, err
		}
		j.sink, j.cw, j.tail = sink, crcWriter{w: sink}, tail
		if _, err := j.cw.Write(head); err != nil {
			return false, err
		}
		return false, nil
	}
	var encoded bool
	j.buf, encoded, err = j.enc.Encode(j.buf[:0], stepBytes)
	if err != nil {
		return false, err
	}
	if _, err := j.cw.Write(j.buf); err != nil {
		return false, err
	}
	if !encoded {
		return false, nil
	}
	if _, err := j.cw.Write(j.tail); err != nil {
		return false, err
	}
	_, err = j.sink.Write(binary.BigEndian.AppendUint32(nil, j.cw.crc))
	return err == nil, err
}

// snapshotDue reports whether a snapshot should start: SnapshotEntries
// applied since the last one, and — so that a large state is not rewritten
// every few thousand small writes — entries worth at least
// 1/SnapshotSizeRatioMax of the last snapshot's size.
func (n *Node) snapshotDue() bool {
	if n.snapshotDueIndex > n.snapshotIndex {
		return true
	}
	if n.appliedIndex-n.snapshotIndex < n.cfg.SnapshotEntries {
		return false
	}
	return n.logBytesSinceSnapshot*int64(n.cfg.SnapshotSizeRatioMax) >= n.snapshotSizeBytes
}

// snapshotStepBytesMax bounds one round's snapshot step however much the
// round applied.
const snapshotStepBytesMax = 4 << 20

// snapshotStepBytes is this round's share of the running snapshot: at
// least SnapshotStepBytes, and 2*SnapshotSizeRatioMax bytes per byte the
// round applied. A snapshot starts once the log since the last one reached
// 1/SnapshotSizeRatioMax of the state, so at that rate it is done before
// the log has grown by half as much again, however heavy the load — and
// each round pays in proportion to its own work, never a stall.
func (n *Node) snapshotStepBytes() int {
	if n.stopping {
		return snapshotStepBytesMax // the stop waits for it (PrepareStop)
	}
	paced := 2 * int64(n.cfg.SnapshotSizeRatioMax) * n.appliedBytesRound
	return int(max(int64(n.cfg.SnapshotStepBytes), min(paced, snapshotStepBytesMax)))
}

// Defragment is etcd's Defragment for this member's files: it asks for a
// state snapshot at the applied index now, whatever the pacing, so the
// member's data is rewritten as compactly as the store now is (history up
// to the last compaction gone) and the WAL segments and snapshots it makes
// redundant are released, as every snapshot releases them. The member
// keeps serving: the snapshot is written in steps like any other. It
// returns the index the snapshot covers; Defragmented reports when it is
// saved. With nothing applied since the newest snapshot there is nothing to
// rewrite, and it is saved already.
func (n *Node) Defragment() (index uint64) {
	n.snapshotDueIndex = max(n.snapshotDueIndex, n.appliedIndex)
	return n.snapshotDueIndex
}

// Defragmented reports whether a snapshot at or past index is saved.
func (n *Node) Defragmented(index uint64) bool {
	if bugs.On(bugs.NodeStopBeforeSaved) && n.stopping && n.snap != nil && n.snap.index >= index && n.snap.sink != nil {
		return true // planted bug (kvdbugs builds only): the file is still being written, not committed
	}
	return n.snapshotIndex >= index
}

// SnapshotInProgress reports whether a state snapshot is being written:
// the caller should call Process again soon even when nothing else is
// pending, so the snapshot finishes and the raft log can be compacted.
func (n *Node) SnapshotInProgress() bool { return n.snap != nil }

// advanceSnapshot starts a snapshot job when one is due, advances the
// running one by a step, and installs it when its file is complete.
func (n *Node) advanceSnapshot() error {
	if n.snap == nil {
		if !n.snapshotDue() {
			return nil
		}
		index, stateIndex := n.appliedIndex, n.appliedIndex
		if bugs.On(bugs.NodeAppliedIndexStale) && index > n.snapshotIndex+1 {
			index-- // planted bug (kvdbugs builds only): the snapshot's index is one behind the state it holds
		}
		term, err := n.storage.Term(index)
		if err != nil {
			return fmt.Errorf("term of applied index %d for a snapshot: %w", index, err)
		}
		n.logBytesSinceSnapshot = 0
		n.snap = &snapshotJob{
			index: index, term: term, confState: n.confState,
			st:  state{index: stateIndex, lease: n.lessor.Snapshot(), members: maps.Clone(n.members), removed: maps.Clone(n.removed), auth: n.auth.Snapshot(), attrs: maps.Clone(n.attrs), applied: n.applied.ordered(), alarms: n.alarms.clone()},
			enc: n.kv.NewSnapshotEncoder(),
		}
	}
	j := n.snap
	done, err := j.step(n.snapshotStepBytes(), func(md *raftpb.SnapshotMetadata, sizeBytes int64) (snapshotSink, error) {
		return n.wal.BeginSnapshot(md, sizeBytes)
	})
	if errors.Is(err, mvcc.ErrSnapshotStale) {
		return n.abortSnapshot()
	}
	if err != nil {
		return fmt.Errorf("snapshot at %d: %w", j.index, err)
	}
	if !done {
		return nil
	}
	n.snap = nil
	if err := j.sink.Commit(); err != nil {
		return fmt.Errorf("save snapshot at %d: %w", j.index, err)
	}
	// Raft's storage keeps the metadata only (see raftStorage); the data
	// is read back from the WAL's snapshot file when a follower needs it.
	if _, err := n.storage.CreateSnapshot(j.index, j.confState, nil); err != nil {
		return fmt.Errorf("create snapshot at %d: %w", j.index, err)
	}
	n.snapshotIndex = j.index
	n.snapshotSizeBytes = j.sizeBytes
	if j.index <= n.cfg.SnapshotCatchUpEntries {
		return nil
	}
	compactIndex := j.index - n.cfg.SnapshotCatchUpEntries
	first, err := n.storage.FirstIndex()
	if err != nil {
		return fmt.Errorf("first index for a snapshot at %d: %w", j.index, err)
	}
	// The log in memory may start later already: trimRaftLog bounded it
	// while this snapshot waited for its pacing, or a leader's snapshot
	// was installed since the last one of ours and a Defragment soon
	// after it leaves less than SnapshotCatchUpEntries behind it. The WAL
	// is released all the same: it must only hold what follows the
	// newest snapshot.
	if compactIndex >= first {
		if err := n.storage.Compact(compactIndex); err != nil {
			return fmt.Errorf("compact raft log to %d: %w", compactIndex, err)
		}
	}
	if err := n.wal.ReleaseBefore(compactIndex); err != nil {
		return fmt.Errorf("release WAL before %d: %w", compactIndex, err)
	}
	return nil
}

// trimRaftLog bounds the raft log held in memory as etcd bounds its own:
// once more than SnapshotEntries+SnapshotCatchUpEntries applied entries are
// held, it keeps the newest SnapshotCatchUpEntries of them. Snapshots
// paced by size (SnapshotSizeRatioMax) come far less often than every
// SnapshotEntries at a large state, and at a million keys the entries
// since the last one held 34 MB of a 300 MB heap. The WAL still holds
// every entry since the newest snapshot, for recovery; a follower that
// needs one no longer held gets a fresh snapshot (raftStorage.Snapshot).
//
// It never trims past a snapshot being written, whose index must still
// be in the log when raft storage learns of it, nor past the applied
// index, which raft must still be able to read the term of.
func (n *Node) trimRaftLog() error {
	keep, limit := n.cfg.SnapshotCatchUpEntries, n.cfg.SnapshotEntries+n.cfg.SnapshotCatchUpEntries
	first, err := n.storage.FirstIndex()
	if err != nil {
		return fmt.Errorf("first index of the raft log: %w", err)
	}
	// first-1 is the log's dummy entry: applied entries held are
	// first..appliedIndex.
	if n.appliedIndex < first || n.appliedIndex-first+1 <= limit {
		return nil
	}
	to := n.appliedIndex - keep
	if n.snap != nil {
		if n.snap.index+1 < first {
			panic(fmt.Sprintf("node %x: raft log starts at %d, past the running snapshot's index %d: raft storage could not take it", n.cfg.ID, first, n.snap.index))
		}
		to = min(to, n.snap.index)
	}
	if to < first {
		return nil
	}
	if err := n.storage.Compact(to); err != nil {
		return fmt.Errorf("trim raft log to %d: %w", to, err)
	}
	n.logTrims++
	return nil
}

// abortSnapshot drops the running job and its unfinished file.
func (n *Node) abortSnapshot() error {
	j := n.snap
	if j == nil {
		return nil
	}
	n.snap = nil
	n.snapshotsAborted++
	if j.sink == nil {
		return nil
	}
	if err := j.sink.Abort(); err != nil {
		return fmt.Errorf("abort snapshot at %d: %w", j.index, err)
	}
	return nil
}
