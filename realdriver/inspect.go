package realdriver

import (
	"context"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// The inspection calls ask one member directly and wait for its answer
// (at most InspectTimeout), on the loop: the harness uses them only at
// the end of a run, to compare members, when nothing else is waiting.

// Revision is the revision member id reports in its status; false when it
// does not answer within InspectTimeout (down, paused, cut off).
func (l *Loop) Revision(id uint64) (int64, bool) {
	cli, err := l.inspector(id)
	if err != nil {
		l.log.Warn("revision: no client", "member", id, "err", err)
		return 0, false
	}
	ctx, cancel := context.WithTimeout(l.ctx, InspectTimeout)
	defer cancel()
	resp, err := pb.NewMaintenanceClient(cli.ActiveConnection()).Status(ctx, &pb.StatusRequest{}, inspectOptions...)
	if err != nil {
		return 0, false
	}
	return resp.GetHeader().GetRevision(), true
}

// LocalRange answers req from member id's own store: a serializable
// Range sent to that member alone. An etcd error comes back as its
// rpctypes value, wrapped.
func (l *Loop) LocalRange(id uint64, req *pb.RangeRequest) (*pb.RangeResponse, error) {
	cli, err := l.inspector(id)
	if err != nil {
		return nil, err
	}
	r := proto.Clone(req).(*pb.RangeRequest)
	r.Serializable = true
	ctx, cancel := context.WithTimeout(l.ctx, InspectTimeout)
	defer cancel()
	resp, err := pb.NewKVClient(cli.ActiveConnection()).Range(ctx, r, inspectOptions...)
	if err != nil {
		return nil, fmt.Errorf("realdriver: serializable range [%q, %q) at member %d: %w", req.Key, req.RangeEnd, id, inspectError(err))
	}
	return resp, nil
}

// HashKV is member id's KV hash at revision rev (0: its newest). An etcd
// error (e.g. rpctypes.ErrGRPCCompacted) comes back as its rpctypes
// value, wrapped.
func (l *Loop) HashKV(id uint64, rev int64) (*pb.HashKVResponse, error) {
	cli, err := l.inspector(id)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(l.ctx, InspectTimeout)
	defer cancel()
	resp, err := pb.NewMaintenanceClient(cli.ActiveConnection()).HashKV(ctx, &pb.HashKVRequest{Revision: rev}, inspectOptions...)
	if err != nil {
		return nil, fmt.Errorf("realdriver: hash of member %d at revision %d: %w", id, rev, inspectError(err))
	}
	return resp, nil
}

// inspectError is err as its rpctypes value when it is an etcd error.
func inspectError(err error) error {
	if e := etcdErrorOf(err); e != nil {
		return e
	}
	return err
}

// inspector is the loop's own connection to member id, dialed on first
// use.
func (l *Loop) inspector(id uint64) (*clientv3.Client, error) {
	if l.isClosed {
		return nil, fmt.Errorf("realdriver: member %d inspected after Close", id)
	}
	if c := l.inspectors[id]; c != nil {
		return c, nil
	}
	var extra []grpc.DialOption
	if l.opts.Admin != nil {
		extra = append(extra, l.opts.Admin.DialOption())
	}
	c, err := l.dial(l.members[l.member(id)], extra...)
	if err != nil {
		return nil, err
	}
	l.inspectors[id] = c
	return c, nil
}
