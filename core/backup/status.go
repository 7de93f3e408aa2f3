package backup

import (
	"bytes"
	"fmt"
	"hash/crc32"

	bolt "go.etcd.io/bbolt"
)

// Status is what `etcdutl snapshot status` reports of a snapshot file,
// computed as etcdutl computes it, so the two tools agree on one file.
type Status struct {
	// Hash is the CRC-32C of every bucket's name, keys and values in
	// bbolt's order.
	Hash uint32 `json:"hash"`
	// Revision is the newest revision in the key bucket.
	Revision int64 `json:"revision"`
	// TotalKey counts the keys live at Revision.
	TotalKey int `json:"totalKey"`
	// TotalSize is the database's size in bytes, the trailer not counted.
	TotalSize int64 `json:"totalSize"`
	// Version is the backend's storage version.
	Version string `json:"version"`
}

// Stat checks the snapshot file at path as Read does and reports its
// Status.
func Stat(path string) (Status, error) {
	var st Status
	err := withDatabase(path, func(tx *bolt.Tx) error {
		st = Status{TotalSize: tx.Size()}
		if meta := tx.Bucket(bucketMeta); meta != nil {
			st.Version = string(meta.Get(metaStorageVersion))
		}
		h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
		live := map[string]bool{}
		err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			h.Write(name)
			isKey := bytes.Equal(name, bucketKey)
			return b.ForEach(func(k, v []byte) error {
				h.Write(k)
				h.Write(v)
				if !isKey {
					return nil
				}
				kv, err := decodeVersion(k, v)
				switch {
				case err == errRevisionMarker:
					st.Revision = kv.ModRevision
				case err != nil:
					return fmt.Errorf("key bucket: %w", err)
				case kv.Tombstone():
					st.Revision = kv.ModRevision
					delete(live, kv.Key)
				default:
					st.Revision = kv.ModRevision
					live[kv.Key] = true
				}
				return nil
			})
		})
		st.TotalKey, st.Hash = len(live), h.Sum32()
		return err
	})
	return st, err
}
