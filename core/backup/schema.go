package backup

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/mvcc"
)

// etcd's bucket names and meta keys (server/storage/schema in etcd).
var (
	bucketKey            = []byte("key")
	bucketMeta           = []byte("meta")
	bucketLease          = []byte("lease")
	bucketAlarm          = []byte("alarm")
	bucketCluster        = []byte("cluster")
	bucketMembers        = []byte("members")
	bucketMembersRemoved = []byte("members_removed")
	bucketAuth           = []byte("auth")
	bucketAuthUsers      = []byte("authUsers")
	bucketAuthRoles      = []byte("authRoles")

	// allBuckets is every bucket a written file holds, as etcd creates them.
	allBuckets = [][]byte{bucketKey, bucketMeta, bucketLease, bucketAlarm, bucketCluster,
		bucketMembers, bucketMembersRemoved, bucketAuth, bucketAuthUsers, bucketAuthRoles}

	metaConsistentIndex     = []byte("consistent_index")
	metaTerm                = []byte("term")
	metaConfState           = []byte("confState")
	metaFinishedCompactRev  = []byte("finishedCompactRev")
	metaScheduledCompactRev = []byte("scheduledCompactRev")
	metaStorageVersion      = []byte("storageVersion")
	clusterVersionKey       = []byte("clusterVersion")
	authEnabledKey          = []byte("authEnabled")
)

// StorageVersion is the backend schema version written, etcd 3.7's: an
// etcd that reads it needs no migration.
const StorageVersion = "3.7.0"

// revision key layout: 8-byte big-endian main, '_', 8-byte big-endian sub,
// and for a tombstone a trailing 't'.
const (
	revBytes       = 8 + 1 + 8
	markedRevBytes = revBytes + 1
	markTombstone  = 't'
)

// appendRevision appends the bucket key of (main, sub).
func appendRevision(b []byte, main, sub int64, tombstone bool) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(main))
	b = append(b, '_')
	b = binary.BigEndian.AppendUint64(b, uint64(sub))
	if tombstone {
		b = append(b, markTombstone)
	}
	return b
}

// parseRevision decodes a bucket key of the key bucket.
func parseRevision(k []byte) (main, sub int64, tombstone bool, err error) {
	if len(k) != revBytes && len(k) != markedRevBytes {
		return 0, 0, false, fmt.Errorf("revision key %x is %d bytes, want %d or %d", k, len(k), revBytes, markedRevBytes)
	}
	if k[8] != '_' {
		return 0, 0, false, fmt.Errorf("revision key %x has separator %q, want '_'", k, k[8])
	}
	if len(k) == markedRevBytes && k[revBytes] != markTombstone {
		return 0, 0, false, fmt.Errorf("revision key %x has mark %q, want 't'", k, k[revBytes])
	}
	main, sub = int64(binary.BigEndian.Uint64(k[:8])), int64(binary.BigEndian.Uint64(k[9:revBytes]))
	if main < 0 || sub < 0 {
		return 0, 0, false, fmt.Errorf("revision key %x is negative: %d.%d", k, main, sub)
	}
	return main, sub, len(k) == markedRevBytes, nil
}

// encodeVersion is v's key-bucket entry.
func encodeVersion(v mvcc.KeyVersion) (k, val []byte, err error) {
	kv := &mvccpb.KeyValue{Key: []byte(v.Key)}
	if !v.Tombstone() {
		kv.Value = []byte(v.Value)
		kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease = v.CreateRevision, v.ModRevision, v.Version, v.Lease
	}
	val, err = proto.MarshalOptions{Deterministic: true}.Marshal(kv)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal key %q at revision %d: %w", v.Key, v.ModRevision, err)
	}
	return appendRevision(nil, v.ModRevision, v.SubRevision, v.Tombstone()), val, nil
}

// errRevisionMarker marks a key-bucket entry with an empty value: what
// `etcdutl snapshot restore --bump-revision` writes to raise the revision.
var errRevisionMarker = errors.New("revision marker")

// decodeVersion parses a key-bucket entry. A put's value must name the
// revision it is stored under.
func decodeVersion(k, val []byte) (mvcc.KeyVersion, error) {
	main, sub, tombstone, err := parseRevision(k)
	if err != nil {
		return mvcc.KeyVersion{}, err
	}
	if len(val) == 0 && !tombstone {
		return mvcc.KeyVersion{ModRevision: main, SubRevision: sub}, errRevisionMarker
	}
	var kv mvccpb.KeyValue
	if err := proto.Unmarshal(val, &kv); err != nil {
		return mvcc.KeyVersion{}, fmt.Errorf("revision %d.%d: value: %w", main, sub, err)
	}
	if len(kv.Key) == 0 {
		return mvcc.KeyVersion{}, fmt.Errorf("revision %d.%d: empty key", main, sub)
	}
	v := mvcc.KeyVersion{Key: string(kv.Key), ModRevision: main, SubRevision: sub}
	if tombstone {
		return v, nil
	}
	if kv.ModRevision != main || kv.Version < 1 {
		return mvcc.KeyVersion{}, fmt.Errorf("revision %d.%d: key %q says mod revision %d, version %d", main, sub, kv.Key, kv.ModRevision, kv.Version)
	}
	v.Value, v.CreateRevision, v.Version, v.Lease = string(kv.Value), kv.CreateRevision, kv.Version, kv.Lease
	return v, nil
}

// Lease is a lease as etcd's lease bucket holds it (leasepb.Lease).
type Lease struct {
	ID int64
	// TTLSeconds is the TTL the lease was granted.
	TTLSeconds int64
	// RemainingTTLSeconds is what etcd's lease checkpoints saved of the
	// remaining TTL, 0 when none did; kvd writes 0 and, like etcd without
	// a checkpoint, starts a restored lease's clock afresh at TTLSeconds.
	RemainingTTLSeconds int64
}

// leasepb.Lease field numbers: ID 1, TTL 2, RemainingTTL 3, all int64.
// (The message lives in etcd's server module, which kvd does not import.)
func encodeLease(l Lease) (k, v []byte) {
	k = binary.BigEndian.AppendUint64(nil, uint64(l.ID))
	for _, f := range []struct {
		num protowire.Number
		val int64
	}{{1, l.ID}, {2, l.TTLSeconds}, {3, l.RemainingTTLSeconds}} {
		if f.val != 0 { // proto3: zero values are not written
			v = protowire.AppendTag(v, f.num, protowire.VarintType)
			v = protowire.AppendVarint(v, uint64(f.val))
		}
	}
	return k, v
}

func decodeLease(k, v []byte) (Lease, error) {
	if len(k) != 8 {
		return Lease{}, fmt.Errorf("lease key %x is %d bytes, want 8", k, len(k))
	}
	var l Lease
	for len(v) > 0 {
		num, typ, n := protowire.ConsumeTag(v)
		if n < 0 {
			return Lease{}, fmt.Errorf("lease %x: %w", k, protowire.ParseError(n))
		}
		v = v[n:]
		if typ != protowire.VarintType {
			n = protowire.ConsumeFieldValue(num, typ, v)
			if n < 0 {
				return Lease{}, fmt.Errorf("lease %x: field %d: %w", k, num, protowire.ParseError(n))
			}
			v = v[n:]
			continue
		}
		x, n := protowire.ConsumeVarint(v)
		if n < 0 {
			return Lease{}, fmt.Errorf("lease %x: field %d: %w", k, num, protowire.ParseError(n))
		}
		v = v[n:]
		switch num {
		case 1:
			l.ID = int64(x)
		case 2:
			l.TTLSeconds = int64(x)
		case 3:
			l.RemainingTTLSeconds = int64(x)
		}
	}
	if id := int64(binary.BigEndian.Uint64(k)); l.ID != id {
		return Lease{}, fmt.Errorf("lease stored under id %d says id %d", id, l.ID)
	}
	if l.ID == 0 || l.TTLSeconds < 0 || l.RemainingTTLSeconds < 0 {
		return Lease{}, fmt.Errorf("lease %d: TTL %d s, remaining %d s", l.ID, l.TTLSeconds, l.RemainingTTLSeconds)
	}
	return l, nil
}

// Member is a cluster member as etcd's members bucket holds it.
type Member struct {
	ID         uint64
	Name       string
	PeerURLs   []string
	ClientURLs []string
	IsLearner  bool
}

// memberJSON is etcd's membership.Member encoding: the id as a JSON
// number, then its raft attributes and attributes.
type memberJSON struct {
	ID         uint64   `json:"id"`
	PeerURLs   []string `json:"peerURLs"`
	IsLearner  bool     `json:"isLearner,omitempty"`
	Name       string   `json:"name,omitempty"`
	ClientURLs []string `json:"clientURLs,omitempty"`
}

func encodeMember(m Member) (k, v []byte, err error) {
	v, err = json.Marshal(memberJSON{ID: m.ID, PeerURLs: m.PeerURLs, IsLearner: m.IsLearner, Name: m.Name, ClientURLs: m.ClientURLs})
	if err != nil {
		return nil, nil, fmt.Errorf("marshal member %x: %w", m.ID, err)
	}
	return []byte(strconv.FormatUint(m.ID, 16)), v, nil
}

func decodeMember(k, v []byte) (Member, error) {
	id, err := strconv.ParseUint(string(k), 16, 64)
	if err != nil {
		return Member{}, fmt.Errorf("member key %q: %w", k, err)
	}
	var m memberJSON
	if err := json.Unmarshal(v, &m); err != nil {
		return Member{}, fmt.Errorf("member %x: %w", id, err)
	}
	if m.ID != id {
		return Member{}, fmt.Errorf("member stored under id %x says id %x", id, m.ID)
	}
	return Member{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner}, nil
}

func decodeAlarm(k []byte) (*pb.AlarmMember, error) {
	a := &pb.AlarmMember{}
	if err := proto.Unmarshal(k, a); err != nil {
		return nil, fmt.Errorf("alarm %x: %w", k, err)
	}
	if _, known := pb.AlarmType_name[int32(a.Alarm)]; !known || a.Alarm == pb.AlarmType_NONE {
		return nil, fmt.Errorf("alarm %x: type %d", k, a.Alarm)
	}
	return a, nil
}

// u64 is an 8-byte big-endian meta value.
func u64(name string, v []byte) (uint64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("meta %s is %d bytes, want 8", name, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}
