package api

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
)

// forwarder sends lease calls a follower cannot answer to the leader's
// client URL, keeping one connection per URL. The answer goes back to the
// client with the follower's header ids, as etcd's does.
type forwarder struct {
	s     *Server
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

// forwardAttemptsMax bounds retries while a leader is being elected.
const forwardAttemptsMax = 20

func newForwarder(s *Server) *forwarder {
	return &forwarder{s: s, conns: map[string]*grpc.ClientConn{}}
}

// leaderConn finds the leader and its connection; ErrGRPCNoLeader if none.
func (f *forwarder) leaderConn() (*grpc.ClientConn, error) {
	v := f.s.view.Load()
	lead := v.status.Leader
	if lead == 0 {
		return nil, rpctypes.ErrGRPCNoLeader
	}
	for _, m := range v.members {
		if m.ID != lead {
			continue
		}
		if len(m.ClientURLs) == 0 {
			return nil, fmt.Errorf("api: leader %x has not published a client URL yet: %w", lead, rpctypes.ErrGRPCNoLeader)
		}
		return f.conn(m.ClientURLs[0])
	}
	return nil, rpctypes.ErrGRPCNoLeader
}

func (f *forwarder) conn(clientURL string) (*grpc.ClientConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.conns[clientURL]; c != nil {
		return c, nil
	}
	target, err := grpcTarget(clientURL)
	if err != nil {
		return nil, err
	}
	creds, err := f.s.dialCredentials(clientURL)
	if err != nil {
		return nil, err
	}
	c, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("api: dial leader at %s: %w", clientURL, err)
	}
	f.conns[clientURL] = c
	return c, nil
}

// retry calls op against the leader until it answers something other than
// "no leader yet", for at most forwardAttemptsMax attempts.
func (f *forwarder) retry(ctx context.Context, op func(ctx context.Context, c *grpc.ClientConn) error) error {
	ctx, cancel := context.WithTimeout(ctx, f.s.cfg.LeaseForwardTimeout)
	defer cancel()
	var err error
	for range forwardAttemptsMax {
		var c *grpc.ClientConn
		if c, err = f.leaderConn(); err == nil {
			if err = op(ctx, c); !errors.Is(err, rpctypes.ErrGRPCNotLeader) && !errors.Is(err, rpctypes.ErrGRPCNoLeader) {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return rpctypes.ErrGRPCNoLeader
		case <-time.After(f.s.cfg.Node.TickInterval * time.Duration(f.s.cfg.Node.HeartbeatTicks)):
		}
	}
	return err
}

func (f *forwarder) timeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (resp *pb.LeaseTimeToLiveResponse, err error) {
	err = f.retry(ctx, func(ctx context.Context, c *grpc.ClientConn) error {
		resp, err = pb.NewLeaseClient(c).LeaseTimeToLive(ctx, r)
		return toRPCErr(err)
	})
	if err == nil {
		resp.Header = f.s.ownHeader(resp.Header)
	}
	return resp, err
}

func (f *forwarder) keepAlive(ctx context.Context, id int64) (resp *pb.LeaseKeepAliveResponse, err error) {
	err = f.retry(ctx, func(ctx context.Context, c *grpc.ClientConn) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := pb.NewLeaseClient(c).LeaseKeepAlive(ctx)
		if err != nil {
			return toRPCErr(err)
		}
		if err := stream.Send(&pb.LeaseKeepAliveRequest{ID: id}); err != nil {
			return toRPCErr(err)
		}
		resp, err = stream.Recv()
		return toRPCErr(err)
	})
	if err == nil {
		resp.Header = f.s.ownHeader(resp.Header)
	}
	return resp, err
}

// toRPCErr turns an error from the leader back into the rpctypes value, so
// errors.Is works on it and the client gets it unchanged.
func toRPCErr(err error) error {
	if err == nil {
		return nil
	}
	if e, ok := rpctypes.Error(err).(rpctypes.EtcdError); ok {
		for _, known := range []error{rpctypes.ErrGRPCNotLeader, rpctypes.ErrGRPCNoLeader, rpctypes.ErrGRPCLeaseNotFound} {
			if e.Error() == rpctypes.ErrorDesc(known) {
				return known
			}
		}
	}
	return err
}

func (f *forwarder) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for u, c := range f.conns {
		c.Close()
		delete(f.conns, u)
	}
}

// grpcTarget turns a client URL into a gRPC dial target.
func grpcTarget(clientURL string) (string, error) {
	hp, err := hostPort(clientURL)
	if err != nil {
		return "", fmt.Errorf("api: client URL %q: %w", clientURL, err)
	}
	return "passthrough:///" + hp, nil
}
