package sim

import (
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/watch"
)

// clientRequest travels from a client to a member. Exactly one of the
// operation fields is set.
type clientRequest struct {
	seq uint64
	// req is a request the node takes through Submit.
	req *pb.InternalRaftRequest
	// keepAlive and timeToLive name a lease for leader-local lease calls.
	keepAlive   int64
	timeToLive  int64
	watch       *pb.WatchCreateRequest
	watchCancel int64
}

func (r *clientRequest) desc() string {
	switch {
	case r.req != nil:
		return fmt.Sprintf("call seq=%d %s", r.seq, describeRequest(r.req))
	case r.keepAlive != 0:
		return fmt.Sprintf("call seq=%d keepalive lease=%d", r.seq, r.keepAlive)
	case r.timeToLive != 0:
		return fmt.Sprintf("call seq=%d ttl lease=%d", r.seq, r.timeToLive)
	case r.watch != nil:
		return fmt.Sprintf("call seq=%d watch key=%q end=%q start=%d", r.seq, r.watch.Key, r.watch.RangeEnd, r.watch.StartRevision)
	default:
		return fmt.Sprintf("call seq=%d watch-cancel id=%d", r.seq, r.watchCancel)
	}
}

// clientResponse answers one clientRequest.
type clientResponse struct {
	seq    uint64
	member uint64
	resp   proto.Message
	err    error
}

func (r *clientResponse) desc() string {
	if r.err != nil {
		return fmt.Sprintf("reply seq=%d err=%q", r.seq, r.err.Error())
	}
	return fmt.Sprintf("reply seq=%d ok", r.seq)
}

// watchDelivery carries one watch response to the client owning the stream.
type watchDelivery struct {
	member uint64
	d      watch.Delivery
}

// Call is one completed client call, as a checker sees it.
type Call struct {
	Client uint64
	Seq    uint64
	Member uint64
	// Request is what was asked: Req for node requests, else the lease or
	// watch fields of the description.
	Req       *pb.InternalRaftRequest
	KeepAlive int64
	// Invoke and Return are virtual times.
	Invoke, Return time.Time
	Response       proto.Message
	Err            error
	// TimedOut: no answer within the client's timeout. For a write this is
	// indeterminate: it may still take effect later.
	TimedOut bool
}

// Indeterminate reports whether a write may or may not have taken effect:
// it timed out, or failed with an error that does not rule it out.
func (c Call) Indeterminate() bool {
	if c.TimedOut {
		return true
	}
	switch c.Err {
	case rpctypes.ErrGRPCLeaderChanged, rpctypes.ErrGRPCTimeout, rpctypes.ErrGRPCStopped:
		return true
	}
	return false
}

// ClientOptions configures a simulated client session.
type ClientOptions struct {
	// Timeout is how long a call waits for its answer; default 2 s.
	Timeout time.Duration
}

// Client is a simulated client session: it sends requests to one member at
// a time over the simulated network and moves to the next member when a
// call times out or the member says it cannot serve.
type Client struct {
	c       *Cluster
	id      uint64
	opts    ClientOptions
	target  int
	nextSeq uint64
	calls   map[uint64]*pendingCall
	onWatch func(member uint64, resp *pb.WatchResponse)
}

type pendingCall struct {
	call Call
	done func(Call)
}

// NewClient adds a client session to the cluster's network.
func (c *Cluster) NewClient(opts ClientOptions) *Client {
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	cl := &Client{
		c:     c,
		id:    clientIDBase + uint64(len(c.clients)),
		opts:  opts,
		calls: map[uint64]*pendingCall{},
	}
	cl.target = len(c.clients) % len(c.ids)
	c.clients = append(c.clients, cl)
	c.w.network.Register(cl.id, cl.receive)
	return cl
}

// ID returns the client's network id, which is also its watch stream id.
func (cl *Client) ID() uint64 { return cl.id }

// Target returns the member the client talks to now.
func (cl *Client) Target() uint64 { return cl.c.ids[cl.target] }

// SetTarget points the client at a member.
func (cl *Client) SetTarget(id uint64) {
	for i, m := range cl.c.ids {
		if m == id {
			cl.target = i
			return
		}
	}
	panic(fmt.Sprintf("sim: client %d: no member %d", cl.id, id))
}

// OnWatch sets the receiver of the client's watch responses.
func (cl *Client) OnWatch(fn func(member uint64, resp *pb.WatchResponse)) { cl.onWatch = fn }

// Do sends a node request; done gets the completed call.
func (cl *Client) Do(req *pb.InternalRaftRequest, done func(Call)) {
	cl.send(&clientRequest{req: req}, Call{Req: req}, done)
}

// KeepAlive renews a lease through the member the client talks to.
func (cl *Client) KeepAlive(lease int64, done func(Call)) {
	cl.send(&clientRequest{keepAlive: lease}, Call{KeepAlive: lease}, done)
}

// TimeToLive asks a lease's remaining TTL.
func (cl *Client) TimeToLive(lease int64, done func(Call)) {
	cl.send(&clientRequest{timeToLive: lease}, Call{}, done)
}

// Watch opens a watcher on the client's stream at its current member.
func (cl *Client) Watch(req *pb.WatchCreateRequest, done func(Call)) {
	cl.send(&clientRequest{watch: req}, Call{}, done)
}

func (cl *Client) send(r *clientRequest, call Call, done func(Call)) {
	w := cl.c.w
	cl.nextSeq++
	seq := cl.nextSeq
	r.seq = seq
	call.Client, call.Seq, call.Member, call.Invoke = cl.id, seq, cl.Target(), w.Now()
	cl.calls[seq] = &pendingCall{call: call, done: done}
	size := 16
	if r.req != nil {
		size += proto.Size(r.req)
	}
	w.network.Send(cl.id, call.Member, r, size)
	w.After(cl.opts.Timeout, func() {
		p, ok := cl.calls[seq]
		if !ok {
			return
		}
		delete(cl.calls, seq)
		p.call.TimedOut = true
		p.call.Return = w.Now()
		cl.moveOn()
		cl.finish(p)
	})
}

func (cl *Client) receive(from uint64, msg any) {
	switch msg := msg.(type) {
	case *clientResponse:
		p, ok := cl.calls[msg.seq]
		if !ok {
			return // answered after the timeout, or a duplicate
		}
		delete(cl.calls, msg.seq)
		p.call.Return = cl.c.w.Now()
		p.call.Response = msg.resp
		p.call.Err = msg.err
		if retryElsewhere(msg.err) {
			cl.moveOn()
		}
		cl.finish(p)
	case *watchDelivery:
		if cl.onWatch != nil {
			cl.onWatch(msg.member, msg.d.Response)
		}
	default:
		panic(fmt.Sprintf("sim: client %d: unexpected message %T from %d", cl.id, msg, from))
	}
}

func (cl *Client) finish(p *pendingCall) {
	for _, fn := range cl.c.observers {
		fn(p.call)
	}
	if p.done != nil {
		p.done(p.call)
	}
}

// moveOn points the client at the next member, as clientv3's balancer does
// when an endpoint fails.
func (cl *Client) moveOn() { cl.target = (cl.target + 1) % len(cl.c.ids) }

// retryElsewhere reports errors that mean "this member cannot serve now".
func retryElsewhere(err error) bool {
	switch err {
	case rpctypes.ErrGRPCNoLeader, rpctypes.ErrGRPCNotLeader, rpctypes.ErrGRPCLeaderChanged,
		rpctypes.ErrGRPCTimeout, rpctypes.ErrGRPCStopped:
		return true
	}
	return false
}
