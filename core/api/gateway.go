package api

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/tmc/grpc-websocket-proxy/wsproxy"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	gwpb "go.etcd.io/etcd/api/v3/etcdserverpb/gw"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
)

// etcd's JSON gateway (the grpc-gateway code generated into
// go.etcd.io/etcd/api/v3/etcdserverpb/gw) on the client port, wired as
// etcd's server/embed/serve.go wires it: one runtime.ServeMux whose
// marshaler writes proto field names, int64 as strings and bytes as base64
// and ignores unknown request fields; grpc-gateway's default error handler
// (a google.rpc.Status as JSON, the HTTP status mapped from the gRPC code);
// and tmc/grpc-websocket-proxy in front, so the streaming calls (watch,
// lease keepalive) can also be driven over a websocket.
//
// The gateway calls the member's own gRPC server as any client would — so
// interceptors, metrics and authentication (the Authorization header
// arrives as "authorization" metadata) apply unchanged — but through an
// in-process connection (inProcessConn) rather than over the member's TCP
// address, where TLS and client-certificate authentication would stand in
// the way.

// gatewayHandler serves etcd's gRPC-gateway paths (/v3/kv/range, ...).
func (s *Server) gatewayHandler() http.Handler {
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
			Marshaler: &runtime.JSONPb{
				MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false},
				UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
			},
		}),
	)
	// The Register*HandlerClient functions start nothing; the connection
	// behind the clients is made at the first call (inProcessConn.conn).
	ctx := context.Background()
	c := s.gw
	for _, err := range []error{
		gwpb.RegisterKVHandlerClient(ctx, mux, pb.NewKVClient(c)),
		gwpb.RegisterWatchHandlerClient(ctx, mux, pb.NewWatchClient(c)),
		gwpb.RegisterLeaseHandlerClient(ctx, mux, pb.NewLeaseClient(c)),
		gwpb.RegisterClusterHandlerClient(ctx, mux, pb.NewClusterClient(c)),
		gwpb.RegisterMaintenanceHandlerClient(ctx, mux, pb.NewMaintenanceClient(c)),
		gwpb.RegisterAuthHandlerClient(ctx, mux, pb.NewAuthClient(c)),
	} {
		if err != nil {
			// The generated functions only add routes; they fail on nothing.
			panic(fmt.Sprintf("api: register etcd's JSON gateway: %v", err))
		}
	}
	ws := wsproxy.WebsocketProxy(mux,
		// A websocket opens with a GET; etcd's streaming routes are POSTs.
		wsproxy.WithRequestMutator(func(_ *http.Request, out *http.Request) *http.Request {
			out.Method = http.MethodPost
			return out
		}),
		wsproxy.WithMaxRespBodyBufferSize(math.MaxInt32),
		wsproxy.WithLogger(wsLogger{s}),
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// As etcd's access controller with its default --cors '*': any
		// origin may call, and a preflight is answered at once.
		h := w.Header()
		h.Add("Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE")
		h.Add("Access-Control-Allow-Origin", "*")
		h.Add("Access-Control-Allow-Headers", "accept, content-type, authorization")
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusOK)
			return
		}
		ws.ServeHTTP(w, r)
	})
}

// wsLogger puts the websocket proxy's complaints in the member's log
// (its default would be a logrus logger on stderr). Its debug lines are
// dropped: they carry whole request bodies, passwords included.
type wsLogger struct{ s *Server }

func (l wsLogger) Warnln(a ...any) {
	l.s.cfg.Logger.Warn("JSON gateway websocket: " + strings.TrimSuffix(fmt.Sprintln(a...), "\n"))
}

func (wsLogger) Debugln(...any) {}

// inProcessConn is the gateway's connection to the member's own gRPC
// server: a listener that hands out one end of a net.Pipe per dial, served
// by s.grpc, and a grpc.ClientConn dialing into it (insecure credentials:
// its bytes never leave the process).
//
// Both are made at the first gateway call, so a Server that is never
// served starts no goroutine for them; closeInProcess (at the end of Run)
// closes both. A call after that fails with etcd's "server stopped".
type inProcessConn struct {
	s  *Server
	ln *splitListener

	mu     sync.Mutex
	cc     *grpc.ClientConn
	closed bool
}

// newInProcessConn makes the listener; nothing runs yet.
func newInProcessConn(s *Server) *inProcessConn {
	return &inProcessConn{s: s, ln: newSplitListener(pipeAddr{})}
}

// conn returns the client connection, making it (and serving the
// listener) the first time.
func (c *inProcessConn) conn() (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, rpctypes.ErrGRPCStopped
	}
	if c.cc != nil {
		return c.cc, nil
	}
	cc, err := grpc.NewClient("passthrough:///kvd-in-process",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(c.dial),
		// As etcd's gateway client: answers as large as the server sends.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)),
	)
	if err != nil {
		return nil, fmt.Errorf("api: JSON gateway connection: %w", err)
	}
	// Serve returns when s.grpc stops (it closes the listener) or when
	// closeInProcess closes the listener.
	go c.s.grpc.Serve(c.ln)
	c.cc = cc
	return cc, nil
}

// dial hands the server one end of a fresh pipe.
func (c *inProcessConn) dial(ctx context.Context, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case c.ln.conns <- server:
		return client, nil
	case <-c.ln.done:
	case <-ctx.Done():
	}
	client.Close()
	server.Close()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, net.ErrClosed
}

// closeInProcess closes the listener and the connection; calls in flight
// through the gateway fail.
func (s *Server) closeInProcess() {
	c := s.gw
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.ln.Close()
	if c.cc != nil {
		c.cc.Close()
	}
}

func (c *inProcessConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	cc, err := c.conn()
	if err != nil {
		return err
	}
	return cc.Invoke(ctx, method, args, reply, opts...)
}

func (c *inProcessConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	cc, err := c.conn()
	if err != nil {
		return nil, err
	}
	return cc.NewStream(ctx, desc, method, opts...)
}

var _ grpc.ClientConnInterface = (*inProcessConn)(nil)

// pipeAddr is the in-process listener's address.
type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "kvd-in-process" }
