package realdriver

import (
	"context"
	"errors"
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/workloads/driver"
)

// watchStream is a session's Watch stream to one member, in one watch
// generation. Its fields are the loop's; the stream's goroutines hold only
// what they are handed when it opens.
type watchStream struct {
	member     uint64
	generation uint64
	// cancel ends the stream (ReopenWatchStream, a break).
	cancel context.CancelFunc
	// requests feeds the stream's writer goroutine. It holds creates
	// still in creates (at most WatchCreatesMax) and cancels, which are
	// queued only while it holds fewer than WatchCreatesMax requests, so
	// it never fills: capacity 2 × WatchCreatesMax.
	requests chan *pb.WatchRequest
	// creates are the creates sent and not yet answered, oldest first: a
	// member answers the creates of one stream in order, so each Created
	// response answers the oldest.
	creates []*watchCreate
	// joining gathers the fragments of one response (Fragment set on all
	// but the last), as clientv3 joins them before its watcher sees any.
	joining *pb.WatchResponse
	// fragmentsJoined counts the fragments joined into whole responses
	// (each but the last of one); kept to show fragmenting happened.
	fragmentsJoined int
	// fragmentsInterrupted counts responses whose fragments another
	// watcher's response cut into (a member's bug), reported in the log.
	fragmentsInterrupted int
}

// watchCreate is one Watch call waiting for its Created response.
type watchCreate struct {
	call driver.Call
	done func(driver.Call)
	// completed: done has run (answered, timed out, or the stream broke);
	// a Created response that comes later still takes its place in line.
	completed bool
}

// Watch creates a watcher on the session's stream to its target member,
// opening the stream on the first Watch there. done gets the call whose
// Response is the Created *pb.WatchResponse (a create the member refused
// comes created and canceled; Err then names the reason). Unanswered
// within the session's timeout, or when the stream breaks first, the call
// completes TimedOut and the session moves on, as in simulation.
func (s *Session) Watch(req *pb.WatchCreateRequest, done func(driver.Call)) {
	l := s.l
	if l.isClosed {
		panic("realdriver: a watch created on a closed loop")
	}
	s.seq++
	wc := &watchCreate{call: driver.Call{Client: s.id, Seq: s.seq, Member: s.Target()}, done: done}
	l.callStarted()
	ws, err := s.watchStream(wc.call.Member)
	if err == nil && len(ws.creates) >= WatchCreatesMax {
		// The member has left that many creates unanswered: the stream is
		// as good as stuck, and this one would wait behind them.
		l.log.Warn("watch stream stuck: create not sent", "session", s.id, "member", ws.member, "unanswered", len(ws.creates))
		ws = nil
	}
	wc.call.Invoke = time.Now()
	if ws == nil {
		wc.call.Return, wc.call.Err, wc.call.TimedOut = wc.call.Invoke, err, err == nil
		l.After(0, func() { s.completeCreate(s.watchGeneration, wc) })
		return
	}
	ws.creates = append(ws.creates, wc)
	select {
	case ws.requests <- &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: proto.Clone(req).(*pb.WatchCreateRequest)}}:
	default:
		panic(fmt.Sprintf("realdriver: session %d: watch requests to member %d overflow with %d creates pending", s.id, ws.member, len(ws.creates)))
	}
	generation := ws.generation
	l.After(s.timeout, func() {
		if wc.completed {
			return
		}
		wc.call.Return, wc.call.TimedOut = time.Now(), true
		s.completeCreate(generation, wc)
	})
}

// CancelWatch asks the session's current stream to member to cancel
// watcher watchID. It is not a call: the member's Canceled response is
// the acknowledgement and reaches the OnWatch receiver as any response.
// With no current stream there, or a stream whose writer lags
// WatchCreatesMax requests behind, nothing is sent (the workload's own
// silence detection copes, as with a cancel lost on the way).
func (s *Session) CancelWatch(member uint64, watchID int64) {
	ws := s.watches[member]
	if ws == nil {
		return
	}
	if len(ws.requests) >= WatchCreatesMax {
		s.l.log.Warn("watch stream stuck: cancel not sent", "session", s.id, "member", member, "watch", watchID, "queued", len(ws.requests))
		return
	}
	select {
	case ws.requests <- &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: watchID}}}:
	default:
		panic(fmt.Sprintf("realdriver: session %d: watch requests to member %d overflow with %d queued", s.id, member, len(ws.requests)))
	}
}

// ReopenWatchStream abandons the session's watch streams: they are
// canceled (which ends their watchers on the members), their responses
// are dropped from now on, and the next Watch on a member opens a new
// one. Creates still unanswered on them complete TimedOut at their
// timeout, without moving the session: their silence is the session's
// doing, not the member's.
func (s *Session) ReopenWatchStream() {
	s.watchGeneration++
	for _, id := range s.l.IDs() {
		if ws := s.watches[id]; ws != nil {
			ws.cancel()
		}
	}
	clear(s.watches)
}

// completeCreate ends a Watch call of watch generation generation. Only a
// current generation's failure moves the session on.
func (s *Session) completeCreate(generation uint64, wc *watchCreate) {
	if wc.completed {
		panic(fmt.Sprintf("realdriver: session %d: watch call %d completed twice", s.id, wc.call.Seq))
	}
	wc.completed = true
	s.l.callEnded()
	if generation == s.watchGeneration && (wc.call.TimedOut || driver.RetryElsewhere(wc.call.Err)) {
		s.moveOn()
	}
	s.l.finish(wc.call, wc.done)
}

// watchStream is the session's current stream to member, opened if
// there is none.
func (s *Session) watchStream(member uint64) (*watchStream, error) {
	if ws := s.watches[member]; ws != nil {
		return ws, nil
	}
	cli, err := s.client(member)
	if err != nil {
		return nil, err
	}
	// The stream carries the token of its opening, as a gRPC stream's
	// metadata is sent once.
	ctx, cancel := context.WithCancel(s.outgoing(s.l.ctx))
	ws := &watchStream{
		member: member, generation: s.watchGeneration, cancel: cancel,
		requests: make(chan *pb.WatchRequest, 2*WatchCreatesMax),
	}
	s.watches[member] = ws
	conn, requests := cli.ActiveConnection(), ws.requests
	s.l.spawn(func() { s.runStream(ctx, conn, ws, requests) })
	return ws, nil
}

// runStream is a stream's reader goroutine: it opens the stream (waiting
// for the member's connection), starts the writer, and posts every
// response to the loop until the stream ends. ws is only handed back to
// the loop, never read here.
func (s *Session) runStream(ctx context.Context, conn *grpc.ClientConn, ws *watchStream, requests <-chan *pb.WatchRequest) {
	l := s.l
	stream, err := pb.NewWatchClient(conn).Watch(ctx, callOptions...)
	if err != nil {
		l.post(func() { s.watchBroken(ws, err) })
		return
	}
	l.spawn(func() {
		for {
			select {
			case req := <-requests:
				if stream.Send(req) != nil {
					return // the reader hears why
				}
			case <-ctx.Done():
				return
			}
		}
	})
	for {
		resp, err := stream.Recv()
		if err != nil {
			l.post(func() { s.watchBroken(ws, err) })
			return
		}
		at := time.Now()
		if !l.post(func() { s.watchResponse(ws, resp, at) }) {
			return
		}
	}
}

// current reports whether ws is one of the session's current streams.
func (s *Session) current(ws *watchStream) bool {
	return ws.generation == s.watchGeneration && s.watches[ws.member] == ws
}

// watchResponse takes one response of ws on the loop: joined with its
// fragments, a Created one answers the oldest create, and every whole
// response goes to the OnWatch receiver.
func (s *Session) watchResponse(ws *watchStream, resp *pb.WatchResponse, at time.Time) {
	if !s.current(ws) {
		return
	}
	whole := ws.join(resp)
	if whole == nil {
		return
	}
	if ws.fragmentsInterrupted > 0 {
		s.l.log.Warn("watch fragments interrupted by another watcher's response: the partial response was dropped",
			"session", s.id, "member", ws.member, "times", ws.fragmentsInterrupted)
		ws.fragmentsInterrupted = 0
	}
	if whole.Created {
		if len(ws.creates) == 0 {
			s.l.log.Warn("watch stream: a Created response with no create waiting", "session", s.id, "member", ws.member, "watch", whole.WatchId)
		} else {
			wc := ws.creates[0]
			ws.creates[0] = nil
			ws.creates = ws.creates[1:]
			if !wc.completed {
				wc.call.Return, wc.call.Response, wc.call.Err = at, whole, createError(whole)
				s.completeCreate(ws.generation, wc)
			}
		}
	}
	// The create's callback may have abandoned the stream.
	if s.onWatch != nil && s.current(ws) {
		s.onWatch(ws.member, whole)
	}
}

// watchBroken ends ws after its stream failed: its unanswered creates
// complete TimedOut, and the next Watch on its member opens a new
// stream. Its watchers' silence is left to the workloads' watchdogs, as a
// stalled stream in simulation.
func (s *Session) watchBroken(ws *watchStream, err error) {
	if !s.current(ws) {
		return
	}
	s.l.log.Debug("watch stream ended", "session", s.id, "member", ws.member, "err", err)
	delete(s.watches, ws.member)
	ws.cancel()
	creates := ws.creates
	ws.creates, ws.joining = nil, nil
	now := time.Now()
	for _, wc := range creates {
		if !wc.completed {
			wc.call.Return, wc.call.TimedOut = now, true
			s.completeCreate(ws.generation, wc)
		}
	}
}

// join takes the stream's next response and returns what the session's
// receiver sees: nil while fragments are still coming, then the whole.
// Fragments of one response come back to back; one cut into by another
// watcher's response is dropped (counted in fragmentsInterrupted), so a
// watcher sees a gap rather than a response made of two.
func (ws *watchStream) join(resp *pb.WatchResponse) *pb.WatchResponse {
	if ws.joining != nil {
		if ws.joining.WatchId != resp.WatchId {
			ws.fragmentsInterrupted++
			ws.joining = nil
		} else {
			ws.fragmentsJoined++
			whole := ws.joining
			whole.Events = append(whole.Events, resp.Events...)
			whole.Fragment = resp.Fragment
			resp = whole
		}
	}
	if resp.Fragment {
		ws.joining = resp
		return nil
	}
	ws.joining = nil
	return resp
}

// createError is the error a refused create (created and canceled at
// once) carries: the etcd error its reason names, or the reason itself.
func createError(resp *pb.WatchResponse) error {
	if !resp.Canceled {
		return nil
	}
	for _, e := range etcdErrorList {
		if resp.CancelReason == e.Error() || resp.CancelReason == rpctypes.ErrorDesc(e) {
			return e
		}
	}
	if resp.CancelReason == "" {
		return errors.New("realdriver: watch create canceled by the member, no reason given")
	}
	return fmt.Errorf("realdriver: watch create canceled by the member: %s", resp.CancelReason)
}
