package workloads

import (
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/api"
	"github.com/kvdlabs/kvd/workloads/driver"
)

// simRangeStream shapes the simulator's RangeStreams: two keys first and a
// one-byte target, so even the bank's few accounts come in several chunks
// (the limit halves to one key) with writes landing between them.
var simRangeStream = api.RangeStreamOptions{ChunkBytesTarget: 1, FirstChunkKeys: 2}

// doRangeStream reads req.Range as etcd 3.7's RangeStream, driving the
// same api.RangeStreamer kvd's gRPC service drives: chunk by chunk through
// cl, each chunk after the first pinned to the first one's revision. then
// gets, and the history records, one Range call: invoked with the first
// chunk, returned with the last, answered with the chunks merged (or the
// first failure). A stream that outlives the client's timeout stops there
// as timed out, so it never outlasts two timeouts (kvRecorder.whenIdle).
func (r *kvRecorder) doRangeStream(cl driver.Session, client int, req *pb.InternalRaftRequest, timeout time.Duration, then func(driver.Call)) {
	opts := simRangeStream
	opts.UnsafeUnpinned = r.env.UnsafeRangeStreamUnpinned
	st, err := api.NewRangeStreamer(req.Range, opts)
	if err != nil {
		panic(fmt.Sprintf("workloads: client %d range stream %v: %v", client, req.Range, err))
	}
	r.inFlight++
	merged := &pb.RangeResponse{}
	var first driver.Call
	chunks := 0
	var step func()
	finish := func(c driver.Call) {
		r.inFlight--
		c.Req, c.Invoke = req, first.Invoke
		r.record(client, c)
		then(c)
	}
	step = func() {
		cl.Do(&pb.InternalRaftRequest{Range: st.Request()}, func(c driver.Call) {
			if chunks == 0 {
				first = c
			}
			chunks++
			if c.Err != nil || c.TimedOut {
				finish(c)
				return
			}
			chunk, done := st.Feed(c.Response.(*pb.RangeResponse))
			if chunk != nil {
				proto.Merge(merged, chunk.RangeResponse)
			}
			if done {
				c.Response = merged
				finish(c)
				return
			}
			if c.Return.Sub(first.Invoke) >= timeout {
				c.Response, c.TimedOut = nil, true
				finish(c)
				return
			}
			step()
		})
	}
	step()
}
