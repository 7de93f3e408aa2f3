package mvcc

import (
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Lessor is what the store needs from the lease layer. core/lease implements
// it; mvcc does not import lease.
type Lessor interface {
	// LeaseExists reports whether lease id is granted. A Put or Txn naming a
	// lease that does not exist fails with rpctypes.ErrGRPCLeaseNotFound and
	// writes nothing.
	LeaseExists(id int64) bool
	// Attach is called when key is written with lease id != 0.
	Attach(id int64, key []byte)
	// Detach is called when key leaves lease id: overwritten with another or
	// no lease, or deleted (DeleteRange, Txn or DeleteKeys).
	Detach(id int64, key []byte)
}

const (
	// TxnOpsMaxDefault is etcd's --max-txn-ops default.
	TxnOpsMaxDefault = 128
	// txnOpsMaxLimit bounds the option itself: a txn is validated by walking
	// it, and a bound keeps that walk bounded.
	txnOpsMaxLimit = 1 << 16
	// HistoryChunkBytesDefault is the default size of a history arena chunk.
	HistoryChunkBytesDefault = 1 << 20
	// historyChunkBytesMax bounds the option: an arena reference addresses
	// a chunk with 32 bits.
	historyChunkBytesMax = 1 << 30
)

// Options configures a Store. The zero value plus EnsureDefaults is valid.
type Options struct {
	// TxnOpsMax bounds the ops of a Txn as etcd's --max-txn-ops does: the
	// largest of len(Compare), len(Success) and len(Failure) must not exceed
	// it (a nested txn gets the remainder), else rpctypes.ErrGRPCTooManyOps.
	// Default TxnOpsMaxDefault (128).
	TxnOpsMax int
	// Lessor checks lease existence and learns key attachments. Nil means no
	// leases: a Put with lease != 0 fails with rpctypes.ErrGRPCLeaseNotFound.
	Lessor Lessor
	// OnCommit, when set, is called synchronously at the end of every write
	// txn that changed something. rev is its main revision; events are in
	// sub-revision order; Event.Kv is the new kv (for DELETE only Key and
	// ModRevision, like etcd) and Event.PrevKv the kv at rev-1 when the key
	// was live then. The callee may keep but must not mutate the slice or
	// the events.
	OnCommit func(rev int64, events []*mvccpb.Event)
	// WantEvents, when set, is asked as each write txn begins whether
	// OnCommit needs that txn's events; if not, they are never built and
	// OnCommit gets nil. Building them was a twentieth of a member's
	// allocation under writes that nobody watched. Nil means always.
	WantEvents func() bool
	// HistoryChunkBytes is the size of one chunk of the history arena,
	// where versions older than their key's latest live (a larger version
	// gets a chunk of its own size). Compact frees whole chunks. Default
	// HistoryChunkBytesDefault (1 MiB); the simulator draws small chunks so
	// that its compactions free them.
	HistoryChunkBytes int
	// HistorySpillDir, when set, is a directory on a real disk where the
	// history arena spills its full chunks (on Linux; elsewhere it is
	// ignored): their bytes move from the member's memory to an unlinked
	// scratch file the kernel caches (see histspill.go). Empty keeps all
	// history in memory, as the simulator does.
	HistorySpillDir string
}

// EnsureDefaults fills zero fields with their documented defaults.
func (o *Options) EnsureDefaults() {
	if o.TxnOpsMax == 0 {
		o.TxnOpsMax = TxnOpsMaxDefault
	}
	if o.HistoryChunkBytes == 0 {
		o.HistoryChunkBytes = HistoryChunkBytesDefault
	}
}

// Validate reports every problem with the options at once.
func (o *Options) Validate() error {
	var errs []error
	if o.TxnOpsMax < 1 || o.TxnOpsMax > txnOpsMaxLimit {
		errs = append(errs, fmt.Errorf("mvcc: TxnOpsMax %d outside [1, %d]", o.TxnOpsMax, txnOpsMaxLimit))
	}
	if o.HistoryChunkBytes < 1 || o.HistoryChunkBytes > historyChunkBytesMax {
		errs = append(errs, fmt.Errorf("mvcc: HistoryChunkBytes %d outside [1, %d]", o.HistoryChunkBytes, historyChunkBytesMax))
	}
	return errors.Join(errs...)
}
