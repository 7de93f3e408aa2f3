package watch

import (
	"github.com/kvdlabs/kvd/core/mvcc"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// newStoreUnderTest is the real store the property test drives.
func newStoreUnderTest(onCommit func(int64, []*mvccpb.Event)) kvStore {
	return mvcc.New(mvcc.Options{OnCommit: onCommit})
}
