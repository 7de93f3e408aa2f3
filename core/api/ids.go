package api

import (
	"crypto/sha1"
	"encoding/binary"
	"slices"
	"strings"
)

// MemberID derives a member's id the way etcd does: the first 8 bytes of the
// SHA-1 of its sorted peer URLs joined, followed by the cluster token. The
// same flags give the same id on every member and every restart.
func MemberID(peerURLs []string, clusterToken string) uint64 {
	urls := slices.Sorted(slices.Values(peerURLs))
	sum := sha1.Sum([]byte(strings.Join(urls, "") + clusterToken))
	return binary.BigEndian.Uint64(sum[:8])
}

// ClusterID derives the cluster id from the member ids as etcd does: the
// first 8 bytes of the SHA-1 of the sorted ids, big-endian.
func ClusterID(memberIDs []uint64) uint64 {
	ids := slices.Sorted(slices.Values(memberIDs))
	b := make([]byte, 0, 8*len(ids))
	for _, id := range ids {
		b = binary.BigEndian.AppendUint64(b, id)
	}
	sum := sha1.Sum(b)
	return binary.BigEndian.Uint64(sum[:8])
}
