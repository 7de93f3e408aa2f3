package realdriver

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/workloads/driver"
)

// Session is one client session on real members (driver.Session), the
// counterpart of the simulator's sim.Client: it talks to one member at a
// time and moves to the next when a call times out or the member cannot
// serve.
type Session struct {
	l       *Loop
	id      uint64
	timeout time.Duration
	// target is the member the session talks to, as a place in l.members.
	target int
	// seq numbers the session's calls from 1.
	seq uint64
	// token goes with every later request as the "token" metadata, as
	// clientv3 sends the token Authenticate gave it.
	token string
	// clients are the session's connections, by member id, dialed on
	// first use; looked up, iterated only in member order.
	clients map[uint64]*clientv3.Client

	onWatch func(member uint64, resp *pb.WatchResponse)
	// watchGeneration names the session's current watch streams; the
	// responses of earlier ones are dropped.
	watchGeneration uint64
	// watches are the current generation's streams, by member.
	watches map[uint64]*watchStream
}

var _ driver.Session = (*Session)(nil)

// rpc is one call's gRPC exchange, run in the call's goroutine. It
// returns a nil message with any error, never a typed nil.
type rpc func(ctx context.Context, conn *grpc.ClientConn) (proto.Message, error)

// NewSession opens a session pointed at the next member round-robin:
// session i starts at member i mod N, as in simulation.
func (l *Loop) NewSession(opts driver.SessionOptions) driver.Session {
	if len(l.sessions) >= SessionsMax {
		panic(fmt.Sprintf("realdriver: %d sessions opened, the limit", len(l.sessions)))
	}
	opts.EnsureDefaults()
	s := &Session{
		l:               l,
		id:              sessionIDBase + uint64(len(l.sessions)),
		timeout:         opts.Timeout,
		target:          len(l.sessions) % len(l.members),
		clients:         map[uint64]*clientv3.Client{},
		watchGeneration: 1,
		watches:         map[uint64]*watchStream{},
	}
	l.sessions = append(l.sessions, s)
	return s
}

// ID names the session in Calls: unique in its loop, from 1<<32 up.
func (s *Session) ID() uint64 { return s.id }

// SetToken sets the auth token sent with every later call ("" for none).
// A watch stream carries the token it was opened with.
func (s *Session) SetToken(token string) { s.token = token }

// Target is the member the session talks to now.
func (s *Session) Target() uint64 { return s.l.members[s.target].ID }

// SetTarget points the session at member id.
func (s *Session) SetTarget(id uint64) { s.target = s.l.member(id) }

// OnWatch sets the receiver of the session's watch responses.
func (s *Session) OnWatch(fn func(member uint64, resp *pb.WatchResponse)) { s.onWatch = fn }

// moveOn points the session at the next member, as clientv3's balancer
// does when an endpoint fails.
func (s *Session) moveOn() { s.target = (s.target + 1) % len(s.l.members) }

// Do issues req through the gRPC call its set field names.
func (s *Session) Do(req *pb.InternalRaftRequest, done func(driver.Call)) {
	s.start(driver.Call{Req: req}, done, requestRPC(outgoingRequest(req, s.l.opts.SerializableReads)))
}

// KeepAlive renews lease once, on a LeaseKeepAlive stream of its own. A
// lease the member does not know (etcd answers TTL 0) completes with
// rpctypes.ErrGRPCLeaseNotFound and no response, as a simulated member
// answers it.
func (s *Session) KeepAlive(lease int64, done func(driver.Call)) {
	s.start(driver.Call{KeepAlive: lease}, done, func(ctx context.Context, conn *grpc.ClientConn) (proto.Message, error) {
		stream, err := pb.NewLeaseClient(conn).LeaseKeepAlive(ctx, callOptions...)
		if err != nil {
			return nil, err
		}
		// A failed Send says only that the stream ended; Recv says why.
		_ = stream.Send(&pb.LeaseKeepAliveRequest{ID: lease})
		resp, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		if resp.TTL <= 0 {
			return nil, rpctypes.ErrGRPCLeaseNotFound
		}
		return resp, nil
	})
}

// TimeToLive asks lease's remaining TTL with its keys. A lease the member
// does not know (etcd answers TTL -1) completes with
// rpctypes.ErrGRPCLeaseNotFound and no response, as in simulation.
func (s *Session) TimeToLive(lease int64, done func(driver.Call)) {
	s.start(driver.Call{}, done, func(ctx context.Context, conn *grpc.ClientConn) (proto.Message, error) {
		resp, err := pb.NewLeaseClient(conn).LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: lease, Keys: true}, callOptions...)
		if err != nil {
			return nil, err
		}
		if resp.TTL == -1 {
			return nil, rpctypes.ErrGRPCLeaseNotFound
		}
		return resp, nil
	})
}

// start issues one call to the session's target: numbered, timed from
// now, its exchange in a goroutine whose completion the loop finishes.
func (s *Session) start(call driver.Call, done func(driver.Call), exchange rpc) {
	l := s.l
	if l.isClosed {
		panic("realdriver: a call issued on a closed loop")
	}
	s.seq++
	call.Client, call.Seq, call.Member = s.id, s.seq, s.Target()
	l.callStarted()
	cli, err := s.client(call.Member)
	if err != nil {
		// Not sent at all: a plain failure, finished on the loop's next
		// turn, never inside the caller's own call.
		call.Invoke = time.Now()
		call.Return, call.Err = call.Invoke, err
		l.After(0, func() { s.complete(call, done) })
		return
	}
	conn := cli.ActiveConnection()
	ctx, cancel := context.WithTimeout(s.outgoing(l.ctx), s.timeout)
	call.Invoke = time.Now()
	l.spawn(func() {
		defer cancel()
		resp, err := exchange(ctx, conn)
		ret := time.Now()
		callErr, timedOut := outcome(ctx, err)
		l.post(func() {
			call.Return, call.Err, call.TimedOut = ret, callErr, timedOut
			if err == nil {
				call.Response = resp
			}
			s.complete(call, done)
		})
	})
}

// complete ends a call on the loop: the session moves on if the member
// failed it, then the observers and the callback see it.
func (s *Session) complete(call driver.Call, done func(driver.Call)) {
	s.l.callEnded()
	if call.TimedOut || driver.RetryElsewhere(call.Err) {
		s.moveOn()
	}
	s.l.finish(call, done)
}

// outgoing is ctx carrying the session's token, if it has one.
func (s *Session) outgoing(ctx context.Context) context.Context {
	if s.token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, rpctypes.TokenFieldNameGRPC, s.token)
}

// client is the session's connection to member id, dialed on first use.
func (s *Session) client(id uint64) (*clientv3.Client, error) {
	if c := s.clients[id]; c != nil {
		return c, nil
	}
	c, err := s.l.dial(s.l.members[s.l.member(id)])
	if err != nil {
		return nil, err
	}
	s.clients[id] = c
	return c, nil
}

// closeConns closes the session's connections (Loop.Close).
func (s *Session) closeConns() {
	for _, id := range s.l.IDs() {
		if c := s.clients[id]; c != nil {
			c.Close()
			delete(s.clients, id)
		}
	}
}
