package backup_test

import (
	"fmt"
	"os"
	"path/filepath"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/core/backup"
	"github.com/kvdlabs/kvd/core/mvcc"
)

// A store's history goes into an etcd snapshot file and comes back whole.
func Example() {
	s := mvcc.New(mvcc.Options{})
	s.Put(&pb.PutRequest{Key: []byte("greeting"), Value: []byte("hello")})
	s.Put(&pb.PutRequest{Key: []byte("greeting"), Value: []byte("bonjour")})
	history, _, _ := s.NewHistoryReader().Next(nil, 1<<20)

	dir, _ := os.MkdirTemp("", "backup-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "snapshot.db")
	err := backup.Write(path, &backup.Snapshot{
		Revision: s.Rev(), Versions: history,
		Leases: []backup.Lease{{ID: 1, TTLSeconds: 60}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	snap, err := backup.Read(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, v := range snap.Versions {
		fmt.Printf("%s=%s at revision %d, version %d\n", v.Key, v.Value, v.ModRevision, v.Version)
	}
	fmt.Println("leases:", snap.Leases)
	st, _ := backup.Stat(path)
	fmt.Println("revision", st.Revision, "keys", st.TotalKey, "storage version", st.Version)

	// One flipped bit and the file is refused.
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 1
	os.WriteFile(path, b, 0o600)
	_, err = backup.Read(path)
	fmt.Println("damaged file refused:", err != nil)
	// Output:
	// greeting=hello at revision 2, version 1
	// greeting=bonjour at revision 3, version 2
	// leases: [{1 60 0}]
	// revision 3 keys 1 storage version 3.7.0
	// damaged file refused: true
}
