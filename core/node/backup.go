package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/clock"
	"github.com/kvdlabs/kvd/core/lease"
	"github.com/kvdlabs/kvd/core/mvcc"
	"github.com/kvdlabs/kvd/core/wal"
)

// Backup is a point-in-time copy of the member's replicated state, for a
// snapshot file a client downloads (etcd's Maintenance.Snapshot). What is
// small is copied when it is taken; the key history, which at a million
// keys is over 100 MB, is read a bounded step at a time by Next, so
// taking a backup never stalls the member for longer than one step.
type Backup struct {
	// Index is the applied raft index the backup is as of, Term that
	// entry's term, ConfState the raft configuration then.
	Index, Term uint64
	ConfState   *raftpb.ConfState
	// Revision and CompactRevision are the store's.
	Revision, CompactRevision int64
	Leases                    []lease.Granted
	// Members in id order, with the contexts they joined with, and the
	// ids removed from the cluster, ascending.
	Members          []Member
	RemovedMemberIDs []uint64
	// Alarms are the active alarms.
	Alarms []*pb.AlarmMember

	history *mvcc.HistoryReader
}

// BeginBackup takes a backup of the state as applied now.
func (n *Node) BeginBackup() *Backup {
	term, err := n.storage.Term(n.appliedIndex)
	if err != nil {
		// Compacted out of the log: the newest snapshot covers the
		// applied index, and its term is at most the current one.
		term = n.term
	}
	return &Backup{
		Index: n.appliedIndex, Term: term, ConfState: proto.Clone(n.confState).(*raftpb.ConfState),
		Revision: n.kv.Rev(), CompactRevision: n.kv.CompactRev(),
		Leases: n.lessor.Granted(), Members: n.Members(), RemovedMemberIDs: slices.Sorted(maps.Keys(n.removed)),
		Alarms:  n.alarms.clone(),
		history: n.kv.NewHistoryReader(),
	}
}

// Next appends the next step of the key history, about budgetBytes of
// keys and values, and reports whether it is complete. It must be called
// by whoever drives the node, between its calls. Once a compaction has
// dropped versions the backup still had to read, it fails with an error
// wrapping mvcc.ErrSnapshotStale: take a new backup. A snapshot installed
// from the leader does not disturb it: it goes on reading the store it
// began on, which no longer changes.
func (b *Backup) Next(dst []mvcc.KeyVersion, budgetBytes int) ([]mvcc.KeyVersion, bool, error) {
	dst, done, err := b.history.Next(dst, budgetBytes)
	if err != nil {
		return dst, false, fmt.Errorf("node: backup at index %d, revision %d: %w", b.Index, b.Revision, err)
	}
	return dst, done, nil
}

// Restored is the replicated state a member is restored from: a store's
// history, its leases and active alarms. Membership is not part of it: a
// restored cluster is a new one (CreateRestored).
type Restored struct {
	Revision, CompactRevision int64
	// Versions is every kept version of every key, tombstones included,
	// in any order; versions a compaction at CompactRevision drops are
	// dropped.
	Versions []mvcc.KeyVersion
	Leases   []lease.Granted
	Alarms   []*pb.AlarmMember
}

// ErrRestore is wrapped by CreateRestored's errors for state that cannot
// be restored.
var ErrRestore = errors.New("node: cannot restore")

// CreateRestored writes the durable state of a member of a new cluster
// into cfg.Dir, which must hold no WAL: cfg.Peers with cfg.PeerContexts as
// the membership, and r as the state machine, at raft index len(Peers) and
// term 1 — what `etcdutl snapshot restore` gives every member it restores,
// so members restored from one state one by one agree from the start. Open
// then starts the member on it. Every member of the cluster must be
// restored from the same r with the same Peers and PeerContexts. Nothing
// is written unless the whole state checks out.
func CreateRestored(cfg Config, r Restored) error {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if !slices.Contains(cfg.Peers, cfg.ID) {
		return fmt.Errorf("%w: member %x is not among the peers %x", ErrRestore, cfg.ID, cfg.Peers)
	}
	if wal.Exists(cfg.FS, cfg.Dir) {
		return fmt.Errorf("%w: %q holds a WAL already", ErrRestore, cfg.Dir)
	}
	voters := slices.Sorted(slices.Values(cfg.Peers))
	index, term := uint64(len(voters)), uint64(1)
	data, err := restoredState(cfg, r, index)
	if err != nil {
		return err
	}
	snap := &raftpb.Snapshot{Data: data, Metadata: &raftpb.SnapshotMetadata{
		Index: proto.Uint64(index), Term: proto.Uint64(term), ConfState: &raftpb.ConfState{Voters: voters},
	}}
	meta := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, cfg.ClusterID), cfg.ID)
	w, err := wal.Create(cfg.FS, cfg.Dir, meta, wal.Options{})
	if err != nil {
		return fmt.Errorf("node %x: create WAL in %q: %w", cfg.ID, cfg.Dir, err)
	}
	err = w.SaveSnapshot(snap)
	if err == nil {
		// Commit the snapshot's index: the members hold it already.
		err = w.Save(&raftpb.HardState{Term: proto.Uint64(term), Vote: proto.Uint64(0), Commit: proto.Uint64(index)}, nil)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("node %x: write restored state at index %d into %q: %w", cfg.ID, index, cfg.Dir, err)
	}
	return nil
}

// restoredState checks r and encodes it as a state snapshot at raft index.
func restoredState(cfg Config, r Restored, index uint64) ([]byte, error) {
	mvccBytes, err := mvcc.BuildSnapshot(r.Revision, r.CompactRevision, r.Versions)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRestore, err)
	}
	kv, err := mvcc.Restore(mvccBytes, mvcc.Options{})
	if err != nil {
		return nil, fmt.Errorf("%w: key history at revision %d, compacted at %d: %w", ErrRestore, r.Revision, r.CompactRevision, err)
	}
	// A restored lease gets a full TTL once a leader is elected, as etcd
	// does when no checkpoint saved the remaining TTL.
	lessor := lease.New(lease.Options{Clock: &clock.Manual{}, TTLMinSeconds: cfg.leaseTTLMinSeconds()})
	for _, l := range r.Leases {
		if _, err := lessor.Grant(l.ID, l.TTLSeconds); err != nil {
			return nil, fmt.Errorf("%w: lease %d with TTL %d s: %w", ErrRestore, l.ID, l.TTLSeconds, err)
		}
	}
	all, err := kv.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
	if err != nil {
		return nil, fmt.Errorf("%w: read the restored keys: %w", ErrRestore, err)
	}
	for _, v := range all.Kvs {
		if v.Lease == 0 {
			continue
		}
		// etcd logs such a key and keeps it; kvd's store would later
		// detach it from a lease its lessor does not know.
		if !lessor.LeaseExists(v.Lease) {
			return nil, fmt.Errorf("%w: key %q is attached to lease %d, which the state does not hold", ErrRestore, v.Key, v.Lease)
		}
		lessor.Attach(v.Lease, v.Key)
	}
	as := slices.Clone(r.Alarms)
	slices.SortFunc(as, compareAlarms)
	as = slices.CompactFunc(as, func(a, b *pb.AlarmMember) bool { return compareAlarms(a, b) == 0 })
	for _, a := range as {
		if _, known := pb.AlarmType_name[int32(a.Alarm)]; !known || a.Alarm == pb.AlarmType_NONE {
			return nil, fmt.Errorf("%w: alarm type %d of member %x", ErrRestore, a.Alarm, a.MemberID)
		}
	}
	if len(as) > alarmsMax {
		return nil, fmt.Errorf("%w: %d alarms exceed %d", ErrRestore, len(as), alarmsMax)
	}
	members := map[uint64][]byte{}
	for _, id := range cfg.Peers {
		members[id] = slices.Clone(cfg.PeerContexts[id])
	}
	return encodeState(state{
		index: index, mvcc: mvccBytes, lease: lessor.Snapshot(), members: members,
		attrs: map[uint64]*membershippb.Attributes{}, alarms: as,
	}), nil
}
