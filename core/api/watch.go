package api

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kvdlabs/kvd/core/watch"
)

// errWatchStreamTooSlow ends a stream whose client does not keep up; the
// code is retryable for clientv3, which resumes its watches.
var errWatchStreamTooSlow = status.Error(codes.Unavailable, "kvd: watch stream fell too far behind")

// watchServer is etcd's Watch service. Each stream has one id in the node's
// hub; its responses reach the stream through a bounded queue.
type watchServer struct {
	pb.UnimplementedWatchServer
	s *Server
}

// watchStream is the loop's handle on one client stream.
type watchStream struct {
	id       int64
	out      chan *pb.WatchResponse
	overflow chan struct{} // closed when the loop cut the stream off
	// held (the loop's) is set while the node holds the stream's
	// responses back; releaseDue (the sender's) asks the loop, once, to
	// release them when the sender has caught up.
	held       bool
	releaseDue atomic.Bool
}

// A stream with watchHoldQueuedResponses responses waiting for its sender
// is held in the hub (node.HoldWatchStream): the events of later revisions
// join each watcher's last response there, instead of queuing one response
// per watcher per revision behind a reader that is already behind. The
// sender asks for the release once watchReleaseQueuedResponses or fewer
// remain, early enough that the next responses arrive before it runs dry.
// With 10,000 watchers on 100 streams and a put every 50 ms, one response
// per event cost the server and the client a gRPC message each and the
// streams fell further behind with every put.
const (
	watchHoldQueuedResponses    = 64
	watchReleaseQueuedResponses = 16
)

func (w *watchServer) Watch(stream pb.Watch_WatchServer) error {
	s := w.s
	id := s.nextStreamID.Add(1)
	ws := &watchStream{id: id, out: make(chan *pb.WatchResponse, s.cfg.WatchStreamQueueMax), overflow: make(chan struct{})}
	ctx := stream.Context()
	if err := s.control(ctx, func() { s.streams[id] = ws }); err != nil {
		return err
	}
	defer func() {
		// The stream may outlive ctx only by this bounded call.
		cctx, cancel := context.WithTimeout(context.Background(), s.cfg.LeaseForwardTimeout)
		defer cancel()
		s.control(cctx, func() {
			if s.streams[id] == ws {
				delete(s.streams, id)
				s.n.CloseWatchStream(id)
			}
		})
	}()

	recvErr := make(chan error, 1)
	go func() { recvErr <- w.recvLoop(ctx, stream, id) }()
	for {
		select {
		case resp := <-ws.out:
			if err := stream.Send(resp); err != nil {
				return err
			}
			s.releaseIfCaughtUp(ws)
		case err := <-recvErr:
			if err == nil || errors.Is(err, io.EOF) {
				// The client half-closed its side (as etcd's JSON gateway
				// does once a request body is read): as etcd, keep
				// sending events until the stream itself ends.
				recvErr = nil
				continue
			}
			return err
		case <-ws.overflow:
			if s.isDone() {
				return rpctypes.ErrGRPCStopped
			}
			return errWatchStreamTooSlow
		case <-s.donec:
			return rpctypes.ErrGRPCStopped
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// releaseIfCaughtUp asks, once per hold, for the release of ws when its
// sender is down to watchReleaseQueuedResponses; the sender and the loop
// both look, so whichever sees it first asks.
func (s *Server) releaseIfCaughtUp(ws *watchStream) {
	if len(ws.out) <= watchReleaseQueuedResponses && ws.releaseDue.CompareAndSwap(true, false) {
		s.release(ws)
	}
}

// release asks the loop, without waiting for it, to hand over what the
// node holds back for ws.
func (s *Server) release(ws *watchStream) {
	f := func() {
		if s.streams[ws.id] == ws && ws.held {
			ws.held = false
			s.n.HoldWatchStream(ws.id, false)
		}
	}
	select {
	case s.controls <- f:
	default:
		go s.control(context.Background(), f) // bounded: it returns when the member stops
	}
}

// holdBehind holds, in the node, the streams whose senders fell
// watchHoldQueuedResponses behind in this round (after Process: the node
// is not called back into while it processes).
func (s *Server) holdBehind() {
	for _, ws := range s.behind {
		if s.streams[ws.id] != ws || !ws.held {
			continue
		}
		s.n.HoldWatchStream(ws.id, true)
		ws.releaseDue.Store(true)
		s.releaseIfCaughtUp(ws) // the sender may have caught up already, and not look again
	}
	clear(s.behind)
	s.behind = s.behind[:0]
}

// recvLoop turns client requests into hub calls on the member loop. A
// rejected create or cancel is answered by the hub itself.
func (w *watchServer) recvLoop(ctx context.Context, stream pb.Watch_WatchServer, id int64) error {
	s := w.s
	for {
		req, err := stream.Recv()
		if err != nil {
			return err
		}
		var f func()
		switch {
		case req.GetCreateRequest() != nil:
			cr := req.GetCreateRequest()
			who := callerFrom(stream.Context())
			f = func() {
				hdr, err := s.authorize(who)
				if err == nil {
					_, err = s.n.Watch(id, cr, hdr)
				}
				if isAuthError(err) {
					// As etcd: a watch the caller may not make is created
					// and canceled at once, saying why.
					s.deliverWatch(watch.Delivery{StreamID: id, Response: &pb.WatchResponse{
						WatchId: -1, Created: true, Canceled: true, CancelReason: err.Error(),
					}}, s.n.Header())
				}
			}
		case req.GetCancelRequest() != nil:
			wid := req.GetCancelRequest().GetWatchId()
			f = func() { s.n.CancelWatch(id, wid) }
		case req.GetProgressRequest() != nil:
			f = func() { s.n.RequestWatchProgress(id) }
		default:
			continue // an empty request, as etcd ignores it
		}
		if err := s.control(ctx, f); err != nil {
			return err
		}
	}
}

func (s *Server) isDone() bool {
	select {
	case <-s.donec:
		return true
	default:
		return false
	}
}
