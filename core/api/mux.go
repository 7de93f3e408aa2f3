package api

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// The client port carries gRPC and plain HTTP. gRPC's own HTTP/2 transport
// is several times cheaper per call than grpc.Server.ServeHTTP behind
// net/http (profiles of kvbench put/get showed the ServeHTTP path's
// per-request goroutines, header maps and buffer copies dominating), so
// connections that open with the HTTP/2 client preface — every gRPC client
// — go to grpc.Server.Serve, and the rest (HTTP/1.1: /health, /metrics,
// pprof) to the HTTP server.

// sniffTimeout bounds how long a new connection may take to send its first
// bytes before it is handed to the HTTP server as is.
const sniffTimeout = 10 * time.Second

// http2Preface opens every HTTP/2 connection (RFC 9113 §3.4).
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// splitListener hands out the connections routed to one server.
type splitListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newSplitListener(addr net.Addr) *splitListener {
	return &splitListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *splitListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *splitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *splitListener) Addr() net.Addr { return l.addr }

// deliver passes c to the server, or closes it once the listener is closed.
func (l *splitListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

// prefixConn replays the bytes read while sniffing before the rest of the
// connection.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// splitConns accepts from ln until it fails, routing each connection by
// its first bytes; it closes both outputs when ln is done.
func splitConns(ln net.Listener, grpcLn, httpLn *splitListener) error {
	defer grpcLn.Close()
	defer httpLn.Close()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go route(c, grpcLn, httpLn)
	}
}

func route(c net.Conn, grpcLn, httpLn *splitListener) {
	preface := []byte(http2Preface)
	buf := make([]byte, len(preface))
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	n, err := io.ReadFull(c, buf)
	_ = c.SetReadDeadline(time.Time{})
	pc := &prefixConn{Conn: c, prefix: buf[:n]}
	if err == nil && bytes.Equal(buf, preface) {
		grpcLn.deliver(pc)
		return
	}
	httpLn.deliver(pc)
}
