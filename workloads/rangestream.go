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

// doRangeStream reads req.Range as etcd 3.7's RangeStream and records it
// as one Range call in the KV history (streamRange).
func (r *kvRecorder) doRangeStream(cl driver.Session, client int, req *pb.InternalRaftRequest, timeout time.Duration, then func(driver.Call)) {
	opts := simRangeStream
	opts.UnsafeUnpinned = r.env.UnsafeRangeStreamUnpinned
	r.inFlight++
	streamRange(r.env, cl, req, opts, timeout, nil, func(c driver.Call) {
		r.inFlight--
		r.record(client, c)
		then(c)
	})
}

// streamRange reads req.Range chunk by chunk through cl, driving the same
// api.RangeStreamer kvd's gRPC service drives — each chunk after the first
// pinned to the first one's revision, a failed chunk ending the stream as
// the streamer says — and gives then one Range call: invoked with the
// first chunk, returned with the last, answered with the chunks merged (or
// the failure). pause, if set, is the client's wait between chunks (a
// client paging through a list). A stream that outlives timeout stops there
// as timed out, so it never outlasts two timeouts (plus one pause).
func streamRange(env Env, cl driver.Session, req *pb.InternalRaftRequest, opts api.RangeStreamOptions, timeout time.Duration, pause func() time.Duration, then func(driver.Call)) {
	st, err := api.NewRangeStreamer(req.Range, opts)
	if err != nil {
		panic(fmt.Sprintf("workloads: range stream %v: %v", req.Range, err))
	}
	merged := &pb.RangeResponse{}
	var first driver.Call
	chunks := 0
	var step func()
	finish := func(c driver.Call) {
		c.Req, c.Invoke = req, first.Invoke
		then(c)
	}
	step = func() {
		cl.Do(&pb.InternalRaftRequest{Range: st.Request()}, func(c driver.Call) {
			if chunks == 0 {
				first = c
			}
			chunks++
			if c.TimedOut {
				finish(c)
				return
			}
			if c.Err != nil {
				if c.Err = st.Fail(c.Err); c.Err == nil {
					c.Response = merged // the stream ended as if complete
				}
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
			if pause == nil {
				step()
				return
			}
			env.Cluster.After(pause(), step)
		})
	}
	step()
}
