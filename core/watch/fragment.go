package watch

import (
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Fragments splits an event response for a watcher that asked for
// fragments (WatchCreateRequest.Fragment), as etcd's send loop does: a
// response of at least bytesMax bytes with two events or more goes out as
// several, each with as many events as stay under bytesMax (one at least),
// all but the last marked Fragment. Clients join them back into one. Any
// other response is returned alone. Call it once the header is complete:
// its size counts.
func Fragments(resp *pb.WatchResponse, bytesMax int) []*pb.WatchResponse {
	if bytesMax <= 0 {
		panic(fmt.Sprintf("watch: fragment limit %d bytes, must be positive", bytesMax))
	}
	if len(resp.Events) < 2 || proto.Size(resp) < bytesMax {
		return []*pb.WatchResponse{resp}
	}
	var out []*pb.WatchResponse
	for rest := resp.Events; len(rest) > 0; {
		cur := &pb.WatchResponse{
			Header: resp.Header, WatchId: resp.WatchId, Created: resp.Created, Canceled: resp.Canceled,
			CompactRevision: resp.CompactRevision, CancelReason: resp.CancelReason, Fragment: true,
		}
		// The size of cur with rest[:n+1] as events, kept as a sum: each
		// event is one length-delimited field (tag 11: one byte).
		size := proto.Size(cur)
		n := 0
		for n < len(rest) {
			size += 1 + protowire.SizeBytes(proto.Size(rest[n]))
			if n > 0 && size >= bytesMax {
				break
			}
			n++
		}
		cur.Events = rest[:n]
		rest = rest[n:]
		cur.Fragment = len(rest) > 0
		out = append(out, cur)
	}
	return out
}
