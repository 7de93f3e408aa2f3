package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/kvdlabs/kvd/core/api"
	"github.com/kvdlabs/kvd/core/disk"
	"github.com/kvdlabs/kvd/core/node"
	"github.com/kvdlabs/kvd/core/transport"
	"github.com/kvdlabs/kvd/core/wal"
)

// identity is who this member is and how it starts: bootstrapping a new
// cluster, restarting on its WAL, or joining a running cluster.
type identity struct {
	self, cluster uint64
	// infos are the members known before start (their peer URLs).
	infos map[uint64]api.MemberInfo
	// peers are the voters to bootstrap (new cluster only).
	peers []uint64
	join  bool
}

// joinTimeout bounds how long a joining member asks the running members
// for the membership.
const joinTimeout = 10 * time.Second

// identify works out the member's identity as etcd does: a restart takes
// its ids from its WAL; a new cluster derives them from --initial-cluster
// and the token; a member joining a running cluster (state existing, no
// data yet) asks the other members listed in --initial-cluster for the
// membership and finds itself by its peer URLs there (MemberAdd gave it
// its id).
func identify(ctx context.Context, f *flags, walDir string, mtls *memberTLS, log *slog.Logger) (identity, error) {
	members, _ := f.cluster() // validated by parseFlags
	if wal.Exists(disk.OSFS{}, walDir) {
		clusterID, selfID, err := node.ReadIdentity(disk.OSFS{}, walDir)
		if err != nil {
			return identity{}, err
		}
		// The membership is in the WAL; peers are set from it.
		return identity{self: selfID, cluster: clusterID, infos: map[uint64]api.MemberInfo{}}, nil
	}
	if f.initialClusterState == "existing" {
		return joinCluster(ctx, f, members, mtls, log)
	}
	id := identity{infos: map[uint64]api.MemberInfo{}}
	for _, name := range slices.Sorted(mapKeys(members)) {
		mid := api.MemberID(members[name], f.initialClusterToken)
		if _, dup := id.infos[mid]; dup {
			return identity{}, fmt.Errorf("--initial-cluster: members share the peer URLs %v", members[name])
		}
		info := api.MemberInfo{Name: name, PeerURLs: members[name]}
		if name == f.name {
			id.self = mid
			info.ClientURLs = f.advertiseClientURLs
		}
		id.infos[mid] = info
		id.peers = append(id.peers, mid)
	}
	id.cluster = api.ClusterID(id.peers)
	return id, nil
}

func joinCluster(ctx context.Context, f *flags, members map[string][]string, mtls *memberTLS, log *slog.Logger) (identity, error) {
	var urls []string
	for _, name := range slices.Sorted(mapKeys(members)) {
		if name != f.name {
			urls = append(urls, members[name]...)
		}
	}
	if len(urls) == 0 {
		return identity{}, fmt.Errorf("--initial-cluster-state existing: --initial-cluster names no member but %q to join", f.name)
	}
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	var errs []error
	for attempt := 0; ctx.Err() == nil; attempt++ {
		for _, u := range urls {
			actx, acancel := context.WithTimeout(ctx, time.Second)
			b, err := transport.FetchMembers(actx, u, mtls.peerDialConfig())
			acancel()
			if err != nil {
				if attempt == 0 {
					// Said now, not after joinTimeout: a refused
					// certificate will not get better by retrying.
					log.Warn("cannot get the membership from a member", "peerURL", u, "err", err.Error())
					errs = append(errs, err)
				}
				continue
			}
			m, err := api.DecodeMembership(b)
			if err != nil {
				return identity{}, fmt.Errorf("joining through %s: %w", u, err)
			}
			return identityIn(m, f, u, log)
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	return identity{}, fmt.Errorf("--initial-cluster-state existing: no member of %v answered with the membership within %v: %w",
		urls, joinTimeout, errors.Join(errs...))
}

// identityIn finds this member in a running cluster's membership by its
// advertised peer URLs.
func identityIn(m api.Membership, f *flags, from string, log *slog.Logger) (identity, error) {
	id := identity{cluster: m.ClusterID, join: true, infos: map[uint64]api.MemberInfo{}}
	want := slices.Sorted(slices.Values(f.initialAdvertisePeerURLs))
	for _, mem := range m.Members {
		id.infos[mem.ID] = api.MemberInfo{Name: mem.Name, PeerURLs: mem.PeerURLs, ClientURLs: mem.ClientURLs}
		if slices.Equal(slices.Sorted(slices.Values(mem.PeerURLs)), want) {
			if mem.Name != "" && mem.Name != f.name {
				return identity{}, fmt.Errorf("--initial-cluster-state existing: peer URLs %v belong to member %q, not %q", want, mem.Name, f.name)
			}
			id.self = mem.ID
		}
	}
	if id.self == 0 {
		return identity{}, fmt.Errorf("--initial-cluster-state existing: the cluster at %s has no member with peer URLs %v; add it first (etcdctl member add %s --peer-urls=%s)",
			from, want, f.name, want[0])
	}
	self := id.infos[id.self]
	self.Name, self.ClientURLs = f.name, f.advertiseClientURLs
	id.infos[id.self] = self
	log.Info("joining a running cluster", "member", fmt.Sprintf("%x", id.self), "cluster", fmt.Sprintf("%x", id.cluster), "from", from)
	return id, nil
}

// removalCheckInterval is how long a member goes without a leader before
// it asks its peers whether it was removed.
const removalCheckInterval = 5 * time.Second

// watchRemoval stops a member removed while it was down: restarted on its
// old data, it never hears of its removal through raft (the others drop
// its messages), so after removalCheckInterval without a leader it asks
// its peers for the membership and returns node.ErrRemoved if it is
// listed as removed — etcd's member learns it from its peers' 410 Gone.
// It returns nil when ctx ends.
func watchRemoval(ctx context.Context, srv *api.Server, self, cluster uint64, mtls *memberTLS) error {
	leaderless := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
		if srv.Status().Leader != 0 {
			leaderless = 0
			continue
		}
		if leaderless++; time.Duration(leaderless)*time.Second < removalCheckInterval {
			continue
		}
		for _, u := range srv.PeerURLs() {
			actx, cancel := context.WithTimeout(ctx, time.Second)
			b, err := transport.FetchMembers(actx, u, mtls.peerDialConfig())
			cancel()
			if err != nil {
				continue
			}
			if m, err := api.DecodeMembership(b); err == nil && m.ClusterID == cluster && slices.Contains(m.Removed, self) {
				return fmt.Errorf("member %x, as %s says: %w", self, u, node.ErrRemoved)
			}
		}
		leaderless = 0
	}
}
