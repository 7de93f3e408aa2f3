package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

const helloMagic = "KVDPEER1"

// Connection kinds named in the hello.
const (
	kindStream   byte = 0
	kindSnapshot byte = 1
	// kindMembers asks for the cluster's membership (Options.Members): a
	// member joining a running cluster does not know its cluster id yet.
	kindMembers byte = 2
	// kindHashKV asks for the member's HashKV at a revision (Options.
	// HashKV), as etcd's corruption checks ask over the peer port: it is
	// not subject to client authentication.
	kindHashKV byte = 3
	// kindProbe measures the round trip: the dialer writes probeBytes at
	// a time and the peer echoes each one (Options.Metrics). A member of
	// an older version refuses the kind; then there is no measurement.
	kindProbe byte = 4
)

// probeBytes is the size of one probe and of its echo.
const probeBytes = 8

const helloBytes = len(helloMagic) + 1 + 8 + 8

// snapshotAck is the byte a receiver answers once a snapshot is handed over.
const snapshotAck byte = 1

// ErrBadFrame reports a hello or frame that cannot be decoded.
var ErrBadFrame = errors.New("transport: bad frame")

type hello struct {
	kind      byte
	clusterID uint64
	fromID    uint64
}

func appendHello(b []byte, h hello) []byte {
	b = append(b, helloMagic...)
	b = append(b, h.kind)
	b = binary.BigEndian.AppendUint64(b, h.clusterID)
	return binary.BigEndian.AppendUint64(b, h.fromID)
}

func readHello(r io.Reader) (hello, error) {
	var b [helloBytes]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return hello{}, fmt.Errorf("transport: read hello: %w", err)
	}
	if string(b[:len(helloMagic)]) != helloMagic {
		return hello{}, fmt.Errorf("%w: hello magic %q", ErrBadFrame, b[:len(helloMagic)])
	}
	h := hello{
		kind:      b[len(helloMagic)],
		clusterID: binary.BigEndian.Uint64(b[len(helloMagic)+1:]),
		fromID:    binary.BigEndian.Uint64(b[len(helloMagic)+9:]),
	}
	if h.kind > kindProbe {
		return hello{}, fmt.Errorf("%w: connection kind %d", ErrBadFrame, h.kind)
	}
	return h, nil
}

// frameHeaderBytes is the length in front of every frame's message.
const frameHeaderBytes = 8

// appendFrame appends m's frame to b.
func appendFrame(b []byte, m *raftpb.Message) ([]byte, error) {
	at := len(b)
	b = binary.BigEndian.AppendUint64(b, 0)
	b, err := proto.MarshalOptions{}.MarshalAppend(b, m)
	if err != nil {
		return b[:at], fmt.Errorf("transport: encode %v to %x: %w", m.GetType(), m.GetTo(), err)
	}
	binary.BigEndian.PutUint64(b[at:], uint64(len(b)-at-8))
	return b, nil
}

// readFrame reads one frame of at most bytesMax bytes; buf is reused when
// large enough.
func readFrame(r io.Reader, bytesMax uint64, buf []byte) (*raftpb.Message, []byte, error) {
	var lb [8]byte
	if _, err := io.ReadFull(r, lb[:]); err != nil {
		return nil, buf, err
	}
	n := binary.BigEndian.Uint64(lb[:])
	if n > bytesMax {
		return nil, buf, fmt.Errorf("%w: frame of %d bytes exceeds FrameBytesMax %d", ErrBadFrame, n, bytesMax)
	}
	if uint64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, buf, fmt.Errorf("transport: read frame of %d bytes: %w", n, err)
	}
	m := &raftpb.Message{}
	if err := proto.Unmarshal(buf, m); err != nil {
		return nil, buf, fmt.Errorf("%w: decode message of %d bytes: %v", ErrBadFrame, n, err)
	}
	return m, buf, nil
}
