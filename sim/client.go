package sim

import (
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/watch"
	"github.com/kvdlabs/kvd/workloads/driver"
)

// clientRequest travels from a client to a member. Exactly one of the
// operation fields is set.
type clientRequest struct {
	seq uint64
	// token is the client's auth token, "" for none (a gRPC call's
	// "token" metadata in kvd).
	token string
	// req is a request the node takes through Submit.
	req *pb.InternalRaftRequest
	// keepAlive and timeToLive name a lease for leader-local lease calls.
	keepAlive  int64
	timeToLive int64
	watch      *pb.WatchCreateRequest
	// watchGeneration is the client's watch connection the watch is
	// created on (Client.ReopenWatchStream).
	watchGeneration uint64
	// cancelWatch asks the stream of watchGeneration to cancel watcher
	// watchCancel (a flag of its own: 0 is a valid watch id).
	cancelWatch bool
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
		return fmt.Sprintf("call seq=%d watch key=%q end=%q start=%d generation=%d prev_kv=%v fragment=%v", r.seq, r.watch.Key, r.watch.RangeEnd, r.watch.StartRevision, r.watchGeneration, r.watch.PrevKv, r.watch.Fragment)
	default:
		return fmt.Sprintf("call seq=%d watch-cancel id=%d generation=%d", r.seq, r.watchCancel, r.watchGeneration)
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
// The simulated network treats it as a datagram (it may be lost,
// duplicated, reordered); member incarnation, connection generation and
// sequence number let the client rebuild what a TCP connection delivers.
type watchDelivery struct {
	member      uint64
	client      uint64
	incarnation uint64
	generation  uint64
	// seq numbers the responses of one connection from 1.
	seq uint64
	d   watch.Delivery
}

// desc names the response's place on its connection and the revisions it
// carries, so a replay's trace shows what each watcher was told.
func (d *watchDelivery) desc() string {
	r := d.d.Response
	b := fmt.Appendf(nil, "watch stream=%d incarnation=%d generation=%d seq=%d id=%d revision=%d", d.d.StreamID, d.incarnation, d.generation, d.seq, r.WatchId, r.GetHeader().GetRevision())
	switch {
	case r.Created:
		b = append(b, " created"...)
	case r.CompactRevision != 0:
		b = fmt.Appendf(b, " compacted=%d", r.CompactRevision)
	case r.Canceled:
		b = append(b, " canceled"...)
	}
	if r.Fragment {
		b = append(b, " fragment"...)
	}
	if n := len(r.Events); n > 0 {
		b = fmt.Appendf(b, " events=%d revisions=%d..%d", n, r.Events[0].GetKv().GetModRevision(), r.Events[n-1].GetKv().GetModRevision())
	}
	return string(b)
}

// watchHeldMax bounds the responses a client holds back behind a missing
// one; beyond it the connection is as good as dead and they are dropped.
const watchHeldMax = 4096

// watchIn is the client's end of its watch connection to one member.
type watchIn struct {
	incarnation uint64
	generation  uint64
	// next is the sequence number of the response to hand over next.
	next uint64
	// held are responses that arrived ahead of next, by sequence number;
	// looked up, never iterated.
	held map[uint64]*pb.WatchResponse
	// joining gathers the fragments of one response (Fragment set on all
	// but the last), as clientv3 joins them before its watcher sees any.
	joining *pb.WatchResponse
}

// join takes the connection's next response and returns what the client's
// watcher sees: nil while fragments are still coming, then the whole.
func (in *watchIn) join(resp *pb.WatchResponse) *pb.WatchResponse {
	if in.joining != nil {
		if in.joining.WatchId != resp.WatchId {
			panic(fmt.Sprintf("sim: watch fragments of watcher %d interrupted by a response of watcher %d", in.joining.WatchId, resp.WatchId))
		}
		whole := proto.Clone(in.joining).(*pb.WatchResponse)
		whole.Events = append(whole.Events, resp.Events...)
		whole.Fragment = resp.Fragment
		resp = whole
	}
	if resp.Fragment {
		in.joining = resp
		return nil
	}
	in.joining = nil
	return resp
}

// Call is one completed client call, as a checker sees it; the workloads'
// driver owns the type, so simulated and real calls are judged alike.
type Call = driver.Call

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
	// token goes with every request (SetToken), as clientv3 sends the
	// token it got from Authenticate.
	token   string
	onWatch func(member uint64, resp *pb.WatchResponse)
	// watchGeneration names the client's current watch connections; the
	// responses of earlier ones are ignored.
	watchGeneration uint64
	// watchIns are the current connections, by member.
	watchIns map[uint64]*watchIn
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

		watchGeneration: 1,
		watchIns:        map[uint64]*watchIn{},
	}
	cl.target = len(c.clients) % len(c.ids)
	c.clients = append(c.clients, cl)
	c.w.network.Register(cl.id, cl.receive)
	return cl
}

// ID returns the client's network id, which is also its watch stream id.
func (cl *Client) ID() uint64 { return cl.id }

// SetToken sets the auth token the client's requests carry from now on
// ("" for none). Simple tokens are a member's: one learns of a token
// through the log, so a request right after Authenticate may reach a
// member that does not know it yet (etcd's invalid-token answer).
func (cl *Client) SetToken(token string) { cl.token = token }

// Target returns the member the client talks to now.
func (cl *Client) Target() uint64 { return cl.c.ids[cl.target%len(cl.c.ids)] }

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

// OnWatch sets the receiver of the client's watch responses. Each member's
// responses arrive as on one gRPC stream: in order, each once, and without
// a hole — a lost response stalls the stream (the client hears nothing
// more on it) until ReopenWatchStream.
func (cl *Client) OnWatch(fn func(member uint64, resp *pb.WatchResponse)) { cl.onWatch = fn }

// ReopenWatchStream abandons the client's watch connections, as clientv3
// does with a stream it takes for broken: their responses are ignored from
// now on, and the next Watch on a member opens a new stream there, which
// ends the old one with all its watchers.
func (cl *Client) ReopenWatchStream() {
	cl.watchGeneration++
	clear(cl.watchIns)
}

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
	cl.send(&clientRequest{watch: req, watchGeneration: cl.watchGeneration}, Call{}, done)
}

// CancelWatch asks the client's current watch connection to member to
// cancel watcher watchID. Like etcd's cancel request it is not a call: no
// reply is awaited (so no timeout moves the client on), and the member's
// Canceled response on the stream is the acknowledgement.
func (cl *Client) CancelWatch(member uint64, watchID int64) {
	cl.nextSeq++
	r := &clientRequest{seq: cl.nextSeq, token: cl.token, cancelWatch: true, watchCancel: watchID, watchGeneration: cl.watchGeneration}
	cl.c.w.network.Send(cl.id, member, r, 16)
}

func (cl *Client) send(r *clientRequest, call Call, done func(Call)) {
	w := cl.c.w
	cl.nextSeq++
	seq := cl.nextSeq
	r.seq = seq
	r.token = cl.token
	call.Client, call.Seq, call.Member, call.Invoke = cl.id, seq, cl.Target(), w.Now()
	cl.calls[seq] = &pendingCall{call: call, done: done}
	cl.c.callsInFlight++
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
		if driver.RetryElsewhere(msg.err) {
			cl.moveOn()
		}
		cl.finish(p)
	case *watchDelivery:
		cl.receiveWatch(msg)
	default:
		panic(fmt.Sprintf("sim: client %d: unexpected message %T from %d", cl.id, msg, from))
	}
}

// receiveWatch hands over a connection's responses as TCP would: in
// sequence, dropping duplicates and holding back those that overtook a
// missing one.
func (cl *Client) receiveWatch(d *watchDelivery) {
	if d.generation != cl.watchGeneration {
		return // a connection the client abandoned
	}
	in := cl.watchIns[d.member]
	if in != nil && d.incarnation < in.incarnation {
		return // the member restarted since: that connection died with it
	}
	if in == nil || d.incarnation > in.incarnation {
		in = &watchIn{incarnation: d.incarnation, generation: d.generation, next: 1, held: map[uint64]*pb.WatchResponse{}}
		cl.watchIns[d.member] = in
	}
	if in.generation != d.generation {
		panic(fmt.Sprintf("sim: client %d: watch connection to member %d of generation %d got a response of generation %d", cl.id, d.member, in.generation, d.generation))
	}
	switch {
	case d.seq < in.next:
		return // a duplicate
	case d.seq > in.next:
		if _, ok := in.held[d.seq]; !ok && len(in.held) < watchHeldMax {
			in.held[d.seq] = d.d.Response
		}
		return
	}
	if whole := in.join(d.d.Response); whole != nil {
		cl.deliverWatch(d.member, whole)
	}
	in.next++
	for {
		resp, ok := in.held[in.next]
		if !ok {
			return
		}
		delete(in.held, in.next)
		if whole := in.join(resp); whole != nil {
			cl.deliverWatch(d.member, whole)
		}
		in.next++
	}
}

func (cl *Client) deliverWatch(member uint64, resp *pb.WatchResponse) {
	if cl.onWatch != nil {
		cl.onWatch(member, resp)
	}
}

func (cl *Client) finish(p *pendingCall) {
	cl.c.callsInFlight--
	if cl.c.callsInFlight < 0 {
		panic(fmt.Sprintf("sim: client %d's call %d completed with no call in flight", cl.id, p.call.Seq))
	}
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
