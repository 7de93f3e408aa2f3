package auth

import (
	"encoding/binary"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/authpb"
	"google.golang.org/protobuf/proto"
)

// The snapshot of a store is its durable part (simple tokens are not):
//
//	enabled u8, revision u64,
//	userCount u32 { len u32, authpb.User }*  in name order
//	roleCount u32 { len u32, authpb.Role }*  in name order
//
// It is framed and checksummed by the node's state snapshot around it.

// ErrBadSnapshot reports an auth snapshot that cannot be decoded.
var ErrBadSnapshot = errors.New("auth: bad snapshot")

// entriesMax bounds the users and roles a snapshot may hold.
const entriesMax = 1 << 20

var deterministic = proto.MarshalOptions{Deterministic: true}

// Snapshot encodes the store's durable state.
func (s *Store) Snapshot() []byte {
	b := []byte{0}
	if s.enabled {
		b[0] = 1
	}
	b = binary.BigEndian.AppendUint64(b, s.revision)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.users)))
	for _, name := range sortedKeys(s.users) {
		b = appendMessage(b, s.users[name])
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.roles)))
	for _, name := range sortedKeys(s.roles) {
		b = appendMessage(b, s.roles[name])
	}
	return b
}

func appendMessage(b []byte, m proto.Message) []byte {
	at := len(b)
	b = binary.BigEndian.AppendUint32(b, 0)
	b, err := deterministic.MarshalAppend(b, m)
	if err != nil {
		panic(fmt.Sprintf("auth: marshal %T: %v", m, err))
	}
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	return b
}

// Restore replaces the store's durable state with a snapshot's; its
// simple tokens are dropped (clients authenticate again).
func (s *Store) Restore(b []byte) error {
	r := reader{b: b}
	enabled := r.u8()
	revision := r.u64()
	users := map[string]*authpb.User{}
	n := r.u32()
	if n > entriesMax {
		return fmt.Errorf("%w: %d users", ErrBadSnapshot, n)
	}
	for range n {
		u := &authpb.User{}
		if err := r.message(u); err != nil {
			return err
		}
		users[string(u.Name)] = u
	}
	roles := map[string]*authpb.Role{}
	if n = r.u32(); n > entriesMax {
		return fmt.Errorf("%w: %d roles", ErrBadSnapshot, n)
	}
	for range n {
		role := &authpb.Role{}
		if err := r.message(role); err != nil {
			return err
		}
		roles[string(role.Name)] = role
	}
	if r.err != nil {
		return fmt.Errorf("%w: %w", ErrBadSnapshot, r.err)
	}
	if len(r.b) != 0 || enabled > 1 {
		return fmt.Errorf("%w: %d trailing bytes, enabled byte %d", ErrBadSnapshot, len(r.b), enabled)
	}
	s.enabled, s.revision, s.users, s.roles = enabled == 1, revision, users, roles
	s.tokens.clear()
	s.refresh()
	return nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = fmt.Errorf("field of %d bytes with %d left", n, len(r.b))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() byte {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *reader) message(m proto.Message) error {
	v := r.take(int(r.u32()))
	if r.err != nil {
		return fmt.Errorf("%w: %w", ErrBadSnapshot, r.err)
	}
	if err := proto.Unmarshal(v, m); err != nil {
		return fmt.Errorf("%w: %T: %w", ErrBadSnapshot, m, err)
	}
	return nil
}
