package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/mvcc"
)

// The state snapshot is what a raft snapshot carries: the mvcc store's and the
// lessor's own (self-checksummed) snapshots and the membership contexts, framed
// and checksummed as a whole so a damaged snapshot is reported, never applied.
//
//	magic[8] version u32
//	mvccLen u64 mvcc[mvccLen]
//	leaseLen u64 lease[leaseLen]
//	memberCount u32 { id u64, ctxLen u32, ctx[ctxLen], attrLen u32, attr[attrLen] }*
//	appliedCount u32 { requestID u64 }*
//	alarmCount u32 { memberID u64, alarm u32 }*      (version 4 on)
//	removedCount u32 { memberID u64 }*               (version 5 on)
//	authLen u64 auth[authLen]                         (version 6 on)
//	index u64                                         (version 7 on)
//	crc32c u32 (over everything before it)
//
// attr is the member's published membershippb.Attributes, empty if none. The
// request ids are the applied-id window (dedupe.go), oldest first; the
// alarms are the active ones (alarms.go) in (member, alarm) order; the
// removed ids ascend. Version 3, written before alarms were replicated, is
// read as having none; versions before 5 as having removed no member;
// versions before 6 as having auth off and no users (core/auth's
// snapshot, empty when nothing was ever configured).
//
// index is the raft index of the last entry whose effects the state holds
// (etcd keeps the same "consistent index" beside its backend's data). A
// restore holds it to the index the raft snapshot claims: a state one entry
// ahead of its metadata would have that entry applied twice. Versions
// before 7 carry none (0) and are not held to it.
const (
	stateMagic   = "KVDSTATE"
	stateVersion = 7
	// stateVersionNoAlarms is the last version without the alarms, and
	// stateVersionNoRemoved the last without the removed members.
	stateVersionNoAlarms  = 3
	stateVersionNoRemoved = 4
	stateVersionNoAuth    = 5
	stateVersionNoIndex   = 6
	// stateMemberCountMax bounds decoding: raft clusters are small.
	stateMemberCountMax = 1 << 10
	// stateRemovedCountMax bounds the removed ids decoded: a cluster that
	// replaced a member every day for a century stays far below it.
	stateRemovedCountMax = 1 << 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrBadState reports a state snapshot that cannot be decoded.
var ErrBadState = errors.New("node: bad state snapshot")

type state struct {
	mvcc []byte
	// kv, when set, is encoded in place of mvcc straight into the frame
	// (encodeState), sparing a copy of the largest part of the snapshot.
	kv      *mvcc.Store
	lease   []byte
	members map[uint64][]byte
	attrs   map[uint64]*membershippb.Attributes
	// applied is the applied-id window, oldest first.
	applied []uint64
	// alarms are the active alarms in (member, alarm) order.
	alarms alarms
	// removed are the ids removed from the cluster.
	removed map[uint64]bool
	// auth is core/auth's snapshot; nil in states before version 6.
	auth []byte
	// index is the raft index of the last entry applied to the state; 0
	// in states before version 7.
	index uint64
}

func encodeState(s state) []byte {
	mvccBytes := len(s.mvcc)
	if s.kv != nil {
		mvccBytes = s.kv.SnapshotSizeBytes()
	}
	head, tail := s.frame(mvccBytes)
	b := make([]byte, 0, len(head)+mvccBytes+len(tail)+4)
	b = append(b, head...)
	if s.kv != nil {
		b = s.kv.AppendSnapshot(b)
	} else {
		b = append(b, s.mvcc...)
	}
	if len(b) != len(head)+mvccBytes {
		panic(fmt.Sprintf("node: mvcc snapshot is %d bytes, SnapshotSizeBytes said %d", len(b)-len(head), mvccBytes))
	}
	b = append(b, tail...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// crcWriter passes writes on, summing them into a CRC-32C.
type crcWriter struct {
	w   io.Writer
	crc uint32
}

func (c *crcWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	return n, err
}

// frame is the state's encoding around an mvcc snapshot of mvccBytes: head
// ends with the mvcc length, tail is everything after the mvcc bytes but
// the checksum.
func (s state) frame(mvccBytes int) (head, tail []byte) {
	ids := make([]uint64, 0, len(s.members))
	for id := range s.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	head = append(head, stateMagic...)
	head = binary.BigEndian.AppendUint32(head, stateVersion)
	head = binary.BigEndian.AppendUint64(head, uint64(mvccBytes))
	b := make([]byte, 0, 8+len(s.lease)+4+len(ids)*16+4+8*len(s.applied))
	b = binary.BigEndian.AppendUint64(b, uint64(len(s.lease)))
	b = append(b, s.lease...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		b = binary.BigEndian.AppendUint64(b, id)
		b = binary.BigEndian.AppendUint32(b, uint32(len(s.members[id])))
		b = append(b, s.members[id]...)
		var attr []byte
		if a := s.attrs[id]; a != nil {
			var err error
			if attr, err = (proto.MarshalOptions{Deterministic: true}).Marshal(a); err != nil {
				panic(fmt.Sprintf("node: marshal attributes of member %x: %v", id, err))
			}
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(attr)))
		b = append(b, attr...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.applied)))
	for _, id := range s.applied {
		b = binary.BigEndian.AppendUint64(b, id)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.alarms)))
	for _, a := range s.alarms {
		b = binary.BigEndian.AppendUint64(b, a.MemberID)
		b = binary.BigEndian.AppendUint32(b, uint32(a.Alarm))
	}
	removed := slices.Sorted(maps.Keys(s.removed))
	b = binary.BigEndian.AppendUint32(b, uint32(len(removed)))
	for _, id := range removed {
		b = binary.BigEndian.AppendUint64(b, id)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(len(s.auth)))
	b = append(b, s.auth...)
	b = binary.BigEndian.AppendUint64(b, s.index)
	return head, b
}

func decodeState(b []byte) (state, error) {
	var s state
	if len(b) < len(stateMagic)+4+4 {
		return s, fmt.Errorf("%w: %d bytes is too short", ErrBadState, len(b))
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return s, fmt.Errorf("%w: checksum %08x, want %08x", ErrBadState, got, sum)
	}
	if string(body[:len(stateMagic)]) != stateMagic {
		return s, fmt.Errorf("%w: magic %q", ErrBadState, body[:len(stateMagic)])
	}
	r := stateReader{b: body[len(stateMagic):]}
	version := r.u32()
	if version < stateVersionNoAlarms || version > stateVersion {
		return s, fmt.Errorf("%w: version %d, want %d to %d", ErrBadState, version, stateVersionNoAlarms, stateVersion)
	}
	s.mvcc = r.bytes(r.u64())
	s.lease = r.bytes(r.u64())
	n := r.u32()
	if n > stateMemberCountMax {
		return s, fmt.Errorf("%w: %d members exceeds %d", ErrBadState, n, stateMemberCountMax)
	}
	s.members = make(map[uint64][]byte, n)
	s.attrs = make(map[uint64]*membershippb.Attributes, n)
	for range n {
		id := r.u64()
		s.members[id] = r.bytes(uint64(r.u32()))
		if attr := r.bytes(uint64(r.u32())); len(attr) > 0 {
			a := &membershippb.Attributes{}
			if err := proto.Unmarshal(attr, a); err != nil {
				return state{}, fmt.Errorf("%w: attributes of member %x: %w", ErrBadState, id, err)
			}
			s.attrs[id] = a
		}
	}
	count := r.u32()
	if count > appliedIDsMax {
		return state{}, fmt.Errorf("%w: %d applied request ids exceed %d", ErrBadState, count, appliedIDsMax)
	}
	ids := make([]uint64, 0, count)
	for range count {
		ids = append(ids, r.u64())
	}
	if version > stateVersionNoAlarms {
		n := r.u32()
		if n > alarmsMax {
			return state{}, fmt.Errorf("%w: %d alarms exceed %d", ErrBadState, n, alarmsMax)
		}
		for range n {
			a := &pb.AlarmMember{MemberID: r.u64(), Alarm: pb.AlarmType(r.u32())}
			if _, known := pb.AlarmType_name[int32(a.Alarm)]; r.err == nil && (!known || a.Alarm == pb.AlarmType_NONE) {
				return state{}, fmt.Errorf("%w: alarm type %d of member %x", ErrBadState, a.Alarm, a.MemberID)
			}
			if k := len(s.alarms); k > 0 && compareAlarms(s.alarms[k-1], a) >= 0 {
				return state{}, fmt.Errorf("%w: alarm %v not after %v", ErrBadState, a, s.alarms[k-1])
			}
			s.alarms = append(s.alarms, a)
		}
	}
	s.removed = map[uint64]bool{}
	if version > stateVersionNoRemoved {
		n := r.u32()
		if n > stateRemovedCountMax {
			return state{}, fmt.Errorf("%w: %d removed members exceed %d", ErrBadState, n, stateRemovedCountMax)
		}
		var prev uint64
		for i := range n {
			id := r.u64()
			if r.err == nil && (id == 0 || (i > 0 && id <= prev)) {
				return state{}, fmt.Errorf("%w: removed member %x not after %x", ErrBadState, id, prev)
			}
			s.removed[id], prev = true, id
		}
	}
	if version > stateVersionNoAuth {
		s.auth = r.bytes(r.u64())
	}
	if version > stateVersionNoIndex {
		if s.index = r.u64(); r.err == nil && s.index == 0 {
			return state{}, fmt.Errorf("%w: version %d state without its raft index", ErrBadState, version)
		}
	}
	if r.err != nil {
		return state{}, fmt.Errorf("%w: %w", ErrBadState, r.err)
	}
	s.applied = ids
	if len(r.b) != 0 {
		return state{}, fmt.Errorf("%w: %d trailing bytes", ErrBadState, len(r.b))
	}
	return s, nil
}

// stateReader reads big-endian fields, remembering the first short read.
type stateReader struct {
	b   []byte
	err error
}

func (r *stateReader) take(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("field of %d bytes with %d left", n, len(r.b))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *stateReader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *stateReader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *stateReader) bytes(n uint64) []byte { return r.take(n) }
