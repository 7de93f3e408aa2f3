package mvcc

import (
	"errors"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

func opPut(key, value string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(key), Value: []byte(value)}}}
}

func opDel(key, end string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(key), RangeEnd: []byte(end)}}}
}

func opTxn(success ...*pb.RequestOp) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Success: success}}}
}

func opRange(key string, rev int64) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte(key), Revision: rev}}}
}

func nOps(n int) []*pb.RequestOp {
	ops := make([]*pb.RequestOp, n)
	for i := range ops {
		ops[i] = opRange("k", 0)
	}
	return ops
}

// TestErrors checks every etcd error the store returns, on a store holding
// k=v (revisions 2..4, compacted at 3) and nothing else written by the test.
func TestErrors(t *testing.T) {
	cases := []struct {
		name string
		call func(s *Store) error
		want error
	}{
		{"range empty key", func(s *Store) error { _, err := s.Range(&pb.RangeRequest{}); return err }, rpctypes.ErrGRPCEmptyKey},
		{"range bad sort order", func(s *Store) error {
			_, err := s.Range(&pb.RangeRequest{Key: []byte("k"), SortOrder: 7})
			return err
		}, rpctypes.ErrGRPCInvalidSortOption},
		{"range bad sort target", func(s *Store) error {
			_, err := s.Range(&pb.RangeRequest{Key: []byte("k"), SortTarget: 9})
			return err
		}, rpctypes.ErrGRPCInvalidSortOption},
		{"range compacted", func(s *Store) error {
			_, err := s.Range(&pb.RangeRequest{Key: []byte("k"), Revision: 2})
			return err
		}, rpctypes.ErrGRPCCompacted},
		{"range future", func(s *Store) error {
			_, err := s.Range(&pb.RangeRequest{Key: []byte("k"), Revision: 5})
			return err
		}, rpctypes.ErrGRPCFutureRev},
		{"put empty key", func(s *Store) error { _, err := s.Put(&pb.PutRequest{}); return err }, rpctypes.ErrGRPCEmptyKey},
		{"put ignore_value with value", func(s *Store) error {
			_, err := s.Put(&pb.PutRequest{Key: []byte("k"), Value: []byte("x"), IgnoreValue: true})
			return err
		}, rpctypes.ErrGRPCValueProvided},
		{"put ignore_lease with lease", func(s *Store) error {
			_, err := s.Put(&pb.PutRequest{Key: []byte("k"), Lease: 1, IgnoreLease: true})
			return err
		}, rpctypes.ErrGRPCLeaseProvided},
		{"put ignore_value missing key", func(s *Store) error {
			_, err := s.Put(&pb.PutRequest{Key: []byte("nope"), IgnoreValue: true})
			return err
		}, rpctypes.ErrGRPCKeyNotFound},
		{"put ignore_lease missing key", func(s *Store) error {
			_, err := s.Put(&pb.PutRequest{Key: []byte("nope"), IgnoreLease: true})
			return err
		}, rpctypes.ErrGRPCKeyNotFound},
		{"put unknown lease", func(s *Store) error {
			_, err := s.Put(&pb.PutRequest{Key: []byte("k"), Lease: 3})
			return err
		}, rpctypes.ErrGRPCLeaseNotFound},
		{"delete empty key", func(s *Store) error { _, err := s.DeleteRange(&pb.DeleteRangeRequest{}); return err }, rpctypes.ErrGRPCEmptyKey},
		{"txn too many success ops", func(s *Store) error { _, err := s.Txn(&pb.TxnRequest{Success: nOps(129)}); return err }, rpctypes.ErrGRPCTooManyOps},
		{"txn too many failure ops", func(s *Store) error { _, err := s.Txn(&pb.TxnRequest{Failure: nOps(129)}); return err }, rpctypes.ErrGRPCTooManyOps},
		{"txn nested ops share the limit", func(s *Store) error {
			_, err := s.Txn(&pb.TxnRequest{Success: append(nOps(100), opTxn(nOps(29)...))})
			return err
		}, rpctypes.ErrGRPCTooManyOps},
		{"txn compare empty key", func(s *Store) error {
			_, err := s.Txn(&pb.TxnRequest{Compare: []*pb.Compare{{}}})
			return err
		}, rpctypes.ErrGRPCEmptyKey},
		{"txn empty op", func(s *Store) error { _, err := s.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{{}}}); return err }, rpctypes.ErrGRPCKeyNotFound},
		{"txn duplicate put", func(s *Store) error {
			_, err := s.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1"), opPut("a", "2")}})
			return err
		}, rpctypes.ErrGRPCDuplicateKey},
		{"txn put and delete", func(s *Store) error {
			_, err := s.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("b", "1"), opDel("a", "c")}})
			return err
		}, rpctypes.ErrGRPCDuplicateKey},
		{"txn nested put twice", func(s *Store) error {
			_, err := s.Txn(&pb.TxnRequest{Failure: []*pb.RequestOp{opPut("a", "1"), opTxn(opPut("a", "2"))}})
			return err
		}, rpctypes.ErrGRPCDuplicateKey},
		{"txn nested delete then put", func(s *Store) error {
			_, err := s.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{opTxn(opDel("a", "")), opPut("a", "2")}})
			return err
		}, rpctypes.ErrGRPCDuplicateKey},
		{"txn ignore_value put of a missing key", func(s *Store) error {
			_, err := s.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{
				RequestPut: &pb.PutRequest{Key: []byte("nope"), IgnoreValue: true}}}}})
			return err
		}, rpctypes.ErrGRPCKeyNotFound},
		{"txn ignore_value put after own from-key delete", func(s *Store) error {
			_, err := s.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{opDel("a", "\x00"), {Request: &pb.RequestOp_RequestPut{
				RequestPut: &pb.PutRequest{Key: []byte("k"), IgnoreValue: true}}}}})
			return err
		}, rpctypes.ErrGRPCKeyNotFound},
		{"txn unknown lease", func(s *Store) error {
			_, err := s.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{
				RequestPut: &pb.PutRequest{Key: []byte("a"), Lease: 3}}}}})
			return err
		}, rpctypes.ErrGRPCLeaseNotFound},
		{"txn range compacted", func(s *Store) error {
			_, err := s.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{opRange("k", 2)}})
			return err
		}, rpctypes.ErrGRPCCompacted},
		{"txn range future", func(s *Store) error {
			_, err := s.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1"), opRange("k", 5)}})
			return err
		}, rpctypes.ErrGRPCFutureRev},
		{"compact at the compaction", func(s *Store) error { _, err := s.Compact(3); return err }, rpctypes.ErrGRPCCompacted},
		{"compact future", func(s *Store) error { _, err := s.Compact(5); return err }, rpctypes.ErrGRPCFutureRev},
		{"events below the compaction", func(s *Store) error { _, _, err := s.Events([]byte("k"), nil, 2, 0); return err }, rpctypes.ErrGRPCCompacted},
		{"hashkv compacted", func(s *Store) error { _, _, _, err := s.HashKV(2); return err }, rpctypes.ErrGRPCCompacted},
		{"hashkv future", func(s *Store) error { _, _, _, err := s.HashKV(5); return err }, rpctypes.ErrGRPCFutureRev},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Options{Lessor: newFakeLessor()})
			for _, v := range []string{"1", "2", "3"} {
				if _, err := s.Put(&pb.PutRequest{Key: []byte("k"), Value: []byte(v)}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.Compact(3); err != nil {
				t.Fatal(err)
			}
			before := s.Snapshot()
			if err := tc.call(s); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if string(s.Snapshot()) != string(before) {
				t.Fatalf("a failed request changed the store")
			}
		})
	}
}

func TestPutWithoutLessor(t *testing.T) {
	s := New(Options{})
	if _, err := s.Put(&pb.PutRequest{Key: []byte("k"), Lease: 1}); err != rpctypes.ErrGRPCLeaseNotFound {
		t.Fatalf("error %v, want %v", err, rpctypes.ErrGRPCLeaseNotFound)
	}
}

// TestLeaseAttachDetach checks the calls the lessor sees.
func TestLeaseAttachDetach(t *testing.T) {
	l := newFakeLessor()
	s := New(Options{Lessor: l})
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Put(&pb.PutRequest{Key: []byte("a"), Lease: 1}))
	must(s.Put(&pb.PutRequest{Key: []byte("a"), Lease: 1}))                              // same lease: no calls
	must(s.Put(&pb.PutRequest{Key: []byte("a"), Value: []byte("v"), IgnoreLease: true})) // keeps lease 1
	must(s.Put(&pb.PutRequest{Key: []byte("a"), Lease: 2}))
	must(s.Put(&pb.PutRequest{Key: []byte("b"), Lease: 2}))
	must(s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("a")}))
	s.DeleteKeys([][]byte{[]byte("b"), []byte("zz")})
	want := []string{"attach 1 a", "detach 1 a", "attach 2 a", "attach 2 b", "detach 2 a", "detach 2 b"}
	if len(l.calls) != len(want) {
		t.Fatalf("calls %q, want %q", l.calls, want)
	}
	for i := range want {
		if l.calls[i] != want[i] {
			t.Fatalf("calls %q, want %q", l.calls, want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	o := Options{}
	o.EnsureDefaults()
	if o.TxnOpsMax != TxnOpsMaxDefault || o.Validate() != nil {
		t.Fatalf("defaults %+v invalid: %v", o, o.Validate())
	}
	if err := (&Options{TxnOpsMax: -1}).Validate(); err == nil {
		t.Fatalf("TxnOpsMax -1 accepted")
	}
	if o.HistoryChunkBytes != HistoryChunkBytesDefault {
		t.Fatalf("default HistoryChunkBytes %d", o.HistoryChunkBytes)
	}
	err := (&Options{TxnOpsMax: -1, HistoryChunkBytes: 1 << 31}).Validate()
	if err == nil || !strings.Contains(err.Error(), "TxnOpsMax") || !strings.Contains(err.Error(), "HistoryChunkBytes") {
		t.Fatalf("two bad options: %v, want both named", err)
	}
	if _, err := Restore(New(Options{}).Snapshot(), Options{TxnOpsMax: -5}); err == nil {
		t.Fatalf("Restore accepted TxnOpsMax -5")
	}
}
