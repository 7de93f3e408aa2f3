package linearizability

import (
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
)

// kvRecord is one live key as the etcd KV API reports it.
type kvRecord struct {
	key, value string
	createRev  int64
	modRev     int64
	version    int64
	lease      int64
}

func (r kvRecord) String() string {
	return fmt.Sprintf("%s=%q@c%d/m%d/v%d", r.key, r.value, r.createRev, r.modRev, r.version)
}

// kvState is the model's whole keyspace at one revision. States are
// immutable: a step returns a new state and never edits the old one, as
// porcupine requires. Keys are kept sorted so equal states compare and hash
// equally without sorting.
type kvState struct {
	rev  int64
	kvs  []kvRecord // sorted by key
	hash uint64     // of rev and kvs, computed once at construction
}

// stateKeysMax bounds the model's keyspace: the checker is exponential in
// concurrency and linear in state size, and workloads meant for it touch
// about ten keys. A history that grows past it is a workload bug.
const stateKeysMax = 1024

var stateHashSeed = maphash.MakeSeed()

func newKVState(rev int64, kvs []kvRecord) *kvState {
	if len(kvs) > stateKeysMax {
		panic(fmt.Sprintf("linearizability: model state holds %d keys, more than stateKeysMax %d", len(kvs), stateKeysMax))
	}
	if !slices.IsSortedFunc(kvs, func(a, b kvRecord) int { return strings.Compare(a.key, b.key) }) {
		panic("linearizability: model state keys out of order")
	}
	var h maphash.Hash
	h.SetSeed(stateHashSeed)
	writeInt(&h, rev)
	for _, kv := range kvs {
		h.WriteString(kv.key)
		h.WriteByte(0)
		h.WriteString(kv.value)
		h.WriteByte(0)
		writeInt(&h, kv.createRev)
		writeInt(&h, kv.modRev)
		writeInt(&h, kv.version)
		writeInt(&h, kv.lease)
	}
	return &kvState{rev: rev, kvs: kvs, hash: h.Sum64()}
}

func writeInt(h *maphash.Hash, v int64) {
	var b [8]byte
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	h.Write(b[:])
}

func (s *kvState) equal(o *kvState) bool {
	return s.hash == o.hash && s.rev == o.rev && slices.Equal(s.kvs, o.kvs)
}

// find returns the index of key and whether it is live.
func (s *kvState) find(key string) (int, bool) {
	return slices.BinarySearchFunc(s.kvs, key, func(r kvRecord, k string) int { return strings.Compare(r.key, k) })
}

// inRange returns the live records in [key, end) in etcd's range-end
// convention: end "" means just key, end "\x00" means every key >= key.
func (s *kvState) inRange(key, end string) []kvRecord {
	if end == "" {
		if i, ok := s.find(key); ok {
			return s.kvs[i : i+1]
		}
		return nil
	}
	lo, _ := s.find(key)
	hi := len(s.kvs)
	if end != "\x00" {
		hi, _ = s.find(end)
	}
	if hi < lo {
		return nil
	}
	return s.kvs[lo:hi]
}

func (s *kvState) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rev %d {", s.rev)
	for i, kv := range s.kvs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", kv.key, kv.value)
	}
	b.WriteString("}")
	return b.String()
}
