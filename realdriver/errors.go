package realdriver

import (
	"context"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// etcdErrorKey names an etcd error as it crosses the wire: a gRPC status
// code and message.
type etcdErrorKey struct {
	code    codes.Code
	message string
}

// etcdErrorList is every exported rpctypes.ErrGRPC* variable of api/v3
// v3.7.3 but the deprecated alias ErrGRPCClusterIdMismatch (the same value
// as ErrGRPCClusterIDMismatch). TestEtcdErrorListComplete checks it
// against the module's source, so an upgrade that adds one is noticed.
var etcdErrorList = []error{
	rpctypes.ErrGRPCEmptyKey,
	rpctypes.ErrGRPCKeyNotFound,
	rpctypes.ErrGRPCValueProvided,
	rpctypes.ErrGRPCLeaseProvided,
	rpctypes.ErrGRPCTooManyOps,
	rpctypes.ErrGRPCDuplicateKey,
	rpctypes.ErrGRPCInvalidClientAPIVersion,
	rpctypes.ErrGRPCInvalidSortOption,
	rpctypes.ErrGRPCCompacted,
	rpctypes.ErrGRPCFutureRev,
	rpctypes.ErrGRPCNoSpace,
	rpctypes.ErrGRPCLeaseNotFound,
	rpctypes.ErrGRPCLeaseExist,
	rpctypes.ErrGRPCLeaseTTLTooLarge,
	rpctypes.ErrGRPCWatchCanceled,
	rpctypes.ErrGRPCMemberExist,
	rpctypes.ErrGRPCPeerURLExist,
	rpctypes.ErrGRPCMemberNotEnoughStarted,
	rpctypes.ErrGRPCMemberBadURLs,
	rpctypes.ErrGRPCMemberNotFound,
	rpctypes.ErrGRPCMemberNotLearner,
	rpctypes.ErrGRPCLearnerNotReady,
	rpctypes.ErrGRPCTooManyLearners,
	rpctypes.ErrGRPCClusterIDMismatch,
	rpctypes.ErrGRPCRequestTooLarge,
	rpctypes.ErrGRPCRequestTooManyRequests,
	rpctypes.ErrGRPCRootUserNotExist,
	rpctypes.ErrGRPCRootRoleNotExist,
	rpctypes.ErrGRPCUserAlreadyExist,
	rpctypes.ErrGRPCUserEmpty,
	rpctypes.ErrGRPCUserNotFound,
	rpctypes.ErrGRPCRoleAlreadyExist,
	rpctypes.ErrGRPCRoleNotFound,
	rpctypes.ErrGRPCRoleEmpty,
	rpctypes.ErrGRPCAuthFailed,
	rpctypes.ErrGRPCPermissionNotGiven,
	rpctypes.ErrGRPCPermissionDenied,
	rpctypes.ErrGRPCRoleNotGranted,
	rpctypes.ErrGRPCPermissionNotGranted,
	rpctypes.ErrGRPCAuthNotEnabled,
	rpctypes.ErrGRPCInvalidAuthToken,
	rpctypes.ErrGRPCInvalidAuthMgmt,
	rpctypes.ErrGRPCAuthOldRevision,
	rpctypes.ErrGRPCNoLeader,
	rpctypes.ErrGRPCNotLeader,
	rpctypes.ErrGRPCLeaderChanged,
	rpctypes.ErrGRPCNotCapable,
	rpctypes.ErrGRPCStopped,
	rpctypes.ErrGRPCTimeout,
	rpctypes.ErrGRPCTimeoutDueToLeaderFail,
	rpctypes.ErrGRPCTimeoutDueToConnectionLost,
	rpctypes.ErrGRPCTimeoutWaitAppliedIndex,
	rpctypes.ErrGRPCUnhealthy,
	rpctypes.ErrGRPCCorrupt,
	rpctypes.ErrGRPCNotSupportedForLearner,
	rpctypes.ErrGRPCBadLeaderTransferee,
	rpctypes.ErrGRPCWrongDowngradeVersionFormat,
	rpctypes.ErrGRPCInvalidDowngradeTargetVersion,
	rpctypes.ErrGRPCClusterVersionUnavailable,
	rpctypes.ErrGRPCDowngradeInProcess,
	rpctypes.ErrGRPCNoInflightDowngrade,
	rpctypes.ErrGRPCCanceled,
	rpctypes.ErrGRPCDeadlineExceeded,
}

// etcdErrors maps each etcd error's wire form back to its variable.
var etcdErrors = func() map[etcdErrorKey]error {
	m := make(map[etcdErrorKey]error, len(etcdErrorList))
	for _, e := range etcdErrorList {
		s, ok := status.FromError(e)
		if !ok {
			panic(fmt.Sprintf("realdriver: rpctypes error %q is not a gRPC status", e))
		}
		k := etcdErrorKey{s.Code(), s.Message()}
		if prev, dup := m[k]; dup {
			panic(fmt.Sprintf("realdriver: rpctypes errors %q and %q share code %v and message", prev, e, s.Code()))
		}
		m[k] = e
	}
	return m
}()

// etcdErrorOf returns the rpctypes variable err is the wire form of, or
// nil when it is none.
func etcdErrorOf(err error) error {
	s, ok := status.FromError(err)
	if !ok {
		return nil
	}
	return etcdErrors[etcdErrorKey{s.Code(), s.Message()}]
}

// outcome says what a call's RPC error means for the Call: an error to
// record, or an indeterminate end (timedOut) with no error.
//
// The server's own canceled and deadline-exceeded errors count as
// timeouts: they say the call's deadline or cancellation reached the
// member before its answer, which may yet take effect. So do gRPC's own
// DeadlineExceeded, Canceled and Unavailable (a broken or refused
// connection): the request may have left before the connection failed.
// Errors that are not gRPC statuses come from the transport and are
// treated alike.
func outcome(ctx context.Context, err error) (callErr error, timedOut bool) {
	if err == nil {
		return nil, false
	}
	if e := etcdErrorOf(err); e != nil {
		if e == rpctypes.ErrGRPCCanceled || e == rpctypes.ErrGRPCDeadlineExceeded {
			return nil, true
		}
		return e, false
	}
	s, ok := status.FromError(err)
	if !ok || ctx.Err() != nil {
		return nil, true
	}
	switch s.Code() {
	case codes.DeadlineExceeded, codes.Canceled, codes.Unavailable:
		return nil, true
	}
	return err, false
}
