package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kvdlabs/kvd/core/backup"
	"github.com/kvdlabs/kvd/core/mvcc"
	"github.com/kvdlabs/kvd/core/node"
)

const (
	// snapshotChunkBytes is etcd's snapshotSendBufferSize: the database
	// goes out in chunks of 32 KiB, then its sha256 as the last message.
	snapshotChunkBytes = 32 * 1024
	// snapshotStepBytes is how much key history one round of the member
	// loop copies out for a snapshot: a step costs about what applying as
	// many bytes of writes does, so the loop never stalls for the whole
	// store.
	snapshotStepBytes = 1 << 20
	// snapshotAttemptsMax bounds the fresh starts of a snapshot whose
	// history a compaction outdated while it was being read.
	snapshotAttemptsMax = 3
)

// Snapshot streams a consistent point-in-time copy of the member's state
// in etcd's snapshot format (core/backup), as etcd's Maintenance.Snapshot
// does: the bbolt database in chunks of 32 KiB, each with the bytes still
// to come, then the database's sha256 as the last message, every message
// carrying the storage version. `etcdctl snapshot save` checks and keeps
// it; `etcdutl snapshot restore` and `kvd snapshot restore` restore it.
// The state is taken at one applied index on the member loop, its key
// history copied out a step per round; the database is written beside the
// loop, in the system's temporary directory.
func (m *maintenanceServer) Snapshot(_ *pb.SnapshotRequest, srv pb.Maintenance_SnapshotServer) error {
	if err := m.s.requireAdmin(srv.Context()); err != nil {
		return err
	}
	ctx := srv.Context()
	start := time.Now()
	f, dbSizeBytes, err := m.s.writeSnapshot(ctx)
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	m.s.cfg.Logger.Info("sending database snapshot to client", "bytes", dbSizeBytes, "prepared", time.Since(start).String())
	r := bufio.NewReaderSize(f, snapshotChunkBytes)
	buf := make([]byte, snapshotChunkBytes)
	for sent := int64(0); sent < dbSizeBytes; {
		n, err := io.ReadFull(r, buf[:min(int64(len(buf)), dbSizeBytes-sent)])
		if err != nil {
			return status.Errorf(codes.Internal, "kvd: read snapshot %s at byte %d: %v", f.Name(), sent, err)
		}
		sent += int64(n)
		if err := srv.Send(&pb.SnapshotResponse{RemainingBytes: uint64(dbSizeBytes - sent), Blob: buf[:n], Version: backup.StorageVersion}); err != nil {
			return err
		}
	}
	sum := make([]byte, 32)
	if _, err := io.ReadFull(r, sum); err != nil {
		return status.Errorf(codes.Internal, "kvd: read snapshot %s trailer: %v", f.Name(), err)
	}
	if err := srv.Send(&pb.SnapshotResponse{Blob: sum, Version: backup.StorageVersion}); err != nil {
		return err
	}
	m.s.cfg.Logger.Info("sent database snapshot to client", "bytes", dbSizeBytes, "took", time.Since(start).String())
	return nil
}

// writeSnapshot writes the member's state as a snapshot file (database and
// trailer) to an unlinked-on-return temporary file, rewound, and returns
// it with the database's size.
func (s *Server) writeSnapshot(ctx context.Context) (*os.File, int64, error) {
	for attempt := 1; ; attempt++ {
		f, size, err := s.tryWriteSnapshot(ctx)
		if errors.Is(err, mvcc.ErrSnapshotStale) && attempt < snapshotAttemptsMax {
			s.cfg.Logger.Info("snapshot outdated by a compaction while it was read; starting again", "attempt", attempt)
			continue
		}
		return f, size, err
	}
}

func (s *Server) tryWriteSnapshot(ctx context.Context) (_ *os.File, _ int64, err error) {
	var b *node.Backup
	if err := s.control(ctx, func() { b = s.n.BeginBackup() }); err != nil {
		return nil, 0, err
	}
	w, err := backup.NewWriter("", s.backupHead(b))
	if err != nil {
		return nil, 0, status.Errorf(codes.Internal, "kvd: snapshot at index %d: %v", b.Index, err)
	}
	defer w.Close()
	var batch []mvcc.KeyVersion
	for done := false; !done; {
		var nextErr error
		if err := s.control(ctx, func() { batch, done, nextErr = b.Next(batch[:0], snapshotStepBytes) }); err != nil {
			return nil, 0, err
		}
		if nextErr != nil {
			return nil, 0, nextErr
		}
		if err := w.Add(batch); err != nil {
			return nil, 0, status.Errorf(codes.Internal, "kvd: snapshot at index %d: %v", b.Index, err)
		}
	}
	f, err := os.CreateTemp("", "kvd-snapshot-*.out")
	if err != nil {
		return nil, 0, status.Errorf(codes.Internal, "kvd: snapshot file: %v", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	size, err := w.Finish(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		return nil, 0, status.Errorf(codes.Internal, "kvd: snapshot at index %d into %s: %v", b.Index, f.Name(), err)
	}
	return f, size, nil
}

// backupHead is the backup's state but the key history, in etcd's terms:
// members carry their name and URLs as etcd's members bucket does.
func (s *Server) backupHead(b *node.Backup) *backup.Snapshot {
	head := &backup.Snapshot{
		Revision: b.Revision, CompactRevision: b.CompactRevision,
		RemovedMemberIDs: b.RemovedMemberIDs, Alarms: b.Alarms,
		ConsistentIndex: b.Index, Term: b.Term, ConfState: b.ConfState,
		ClusterVersion: clusterVersion,
	}
	for _, l := range b.Leases {
		head.Leases = append(head.Leases, backup.Lease{ID: l.ID, TTLSeconds: l.TTLSeconds})
	}
	for _, m := range b.Members {
		info, err := DecodeMemberInfo(m.Context)
		if err != nil {
			// A context this package did not write (a test's): the id
			// alone still restores, as etcdutl rebuilds membership anyway.
			s.cfg.Logger.Warn("snapshot: member context is not kvd's", "member", fmt.Sprintf("%x", m.ID), "err", err.Error())
		}
		name := m.Name
		if name == "" {
			name = info.Name
		}
		head.Members = append(head.Members, backup.Member{ID: m.ID, Name: name, PeerURLs: info.PeerURLs, ClientURLs: m.ClientURLs})
	}
	return head
}

// clusterVersion is the cluster version a snapshot records: the etcd
// release whose API kvd speaks, major.minor.0 as etcd stores it.
const clusterVersion = "3.7.0"
