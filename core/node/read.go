package node

import (
	"encoding/binary"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/core/bugs"
)

// readQueue holds linearizable reads: queued ones wait for the next
// Process to share one ReadIndex round (a batch); a batch learns its read
// index from raft and is served once the applied index reaches it.
type readQueue struct {
	queued  []pendingRead
	batches []*readBatch
	nextCtx uint64
}

type pendingRead struct {
	id  uint64
	req *pb.RangeRequest
	// hdr names the caller; its permission is checked once the read
	// index is applied, against auth state at least as new as the read.
	hdr           *pb.RequestHeader
	submittedTick uint64
}

type readBatch struct {
	ctx   uint64
	reads []pendingRead
	// startedTick is when the round was asked for (see retryLostRounds).
	startedTick uint64
	index       uint64
	known       bool
}

// readRoundsInflightMax bounds the ReadIndex rounds a member has waiting
// for raft's answer; reads arriving meanwhile queue for the next round, as
// in etcd's read loop. Each round costs a heartbeat to every follower and
// their answers (plus a request and an answer when a follower asks the
// leader): with a round per Process, under a read load nearly every read
// was a round of its own, four to six messages per read. One round in
// flight gathers everything that arrives during its round trip.
const readRoundsInflightMax = 1

// readBatchesMax bounds the batches held, answered or not: answered ones
// wait only for the apply of their index.
const readBatchesMax = 64

func (q *readQueue) len() int {
	n := len(q.queued)
	for _, b := range q.batches {
		n += len(b.reads)
	}
	return n
}

func (q *readQueue) enqueue(id uint64, r *pb.RangeRequest, hdr *pb.RequestHeader, tick uint64) {
	q.queued = append(q.queued, pendingRead{id: id, req: r, hdr: hdr, submittedTick: tick})
}

// indexKnown records the read index raft answered for a batch's context.
func (q *readQueue) indexKnown(ctx []byte, index uint64) {
	if len(ctx) != 8 {
		return
	}
	c := binary.BigEndian.Uint64(ctx)
	for _, b := range q.batches {
		if b.ctx == c {
			b.index, b.known = index, true
			return
		}
	}
}

// drop removes every read and returns their ids in submission order.
func (q *readQueue) drop() []uint64 {
	var ids []uint64
	for _, b := range q.batches {
		for _, r := range b.reads {
			ids = append(ids, r.id)
		}
	}
	for _, r := range q.queued {
		ids = append(ids, r.id)
	}
	q.batches, q.queued = q.batches[:0], q.queued[:0]
	return ids
}

// expire removes batches and queued reads submitted at or before deadline.
func (q *readQueue) expire(deadlineTick uint64) []uint64 {
	var ids []uint64
	kept := q.batches[:0]
	for _, b := range q.batches {
		if len(b.reads) > 0 && b.reads[0].submittedTick <= deadlineTick {
			for _, r := range b.reads {
				ids = append(ids, r.id)
			}
			continue
		}
		kept = append(kept, b)
	}
	clear(q.batches[len(kept):])
	q.batches = kept
	i := 0
	for i < len(q.queued) && q.queued[i].submittedTick <= deadlineTick {
		ids = append(ids, q.queued[i].id)
		i++
	}
	q.queued = q.queued[i:]
	return ids
}

// flushReads starts one ReadIndex round for every read queued since the last.
func (n *Node) flushReads() {
	q := &n.reads
	n.retryLostRounds()
	if len(q.queued) == 0 || len(q.batches) >= readBatchesMax || n.readRoundsInflight() >= readRoundsInflightMax {
		return
	}
	if n.lead == 0 {
		for _, r := range q.queued {
			n.complete(r.id, nil, errNoLeader)
		}
		q.queued = q.queued[:0]
		return
	}
	q.nextCtx++
	b := &readBatch{ctx: q.nextCtx, reads: q.queued, startedTick: n.ticks}
	q.queued = nil
	q.batches = append(q.batches, b)
	n.raw.ReadIndex(binary.BigEndian.AppendUint64(nil, b.ctx))
}

// retryLostRounds puts the reads of rounds unanswered for half an election
// timeout back at the front of the queue, for the next round: the request
// or its answer was lost (a dropped message, a leader that stepped down),
// and with one round in flight every later read would wait behind it.
// etcd's read loop retries after 500 ms the same way. A late answer to the
// abandoned round finds no batch and is ignored.
func (n *Node) retryLostRounds() {
	q := &n.reads
	retryTicks := uint64(max(1, n.cfg.ElectionTicks/2))
	var lost []pendingRead
	kept := q.batches[:0]
	for _, b := range q.batches {
		if !b.known && b.startedTick+retryTicks <= n.ticks {
			lost = append(lost, b.reads...)
			continue
		}
		kept = append(kept, b)
	}
	if lost == nil {
		return
	}
	clear(q.batches[len(kept):])
	q.batches = kept
	q.queued = append(lost, q.queued...)
}

// readRoundsInflight counts the batches still waiting for raft's answer.
func (n *Node) readRoundsInflight() int {
	count := 0
	for _, b := range n.reads.batches {
		if !b.known {
			count++
		}
	}
	return count
}

// serveReads answers every batch whose read index has been applied.
func (n *Node) serveReads() {
	q := &n.reads
	kept := q.batches[:0]
	for _, b := range q.batches {
		wait := !b.known || b.index > n.appliedIndex
		if bugs.On(bugs.NodeReadIndexNoWait) {
			wait = !b.known // planted bug (kvdbugs builds only): serves once the read index is known, applied or not
		}
		if wait {
			kept = append(kept, b)
			continue
		}
		for _, r := range b.reads {
			if err := n.permitted(&pb.InternalRaftRequest{Header: r.hdr, Range: r.req}); err != nil {
				n.complete(r.id, nil, err)
				continue
			}
			resp, err := n.kv.Range(r.req)
			n.complete(r.id, resp, err)
		}
	}
	clear(q.batches[len(kept):])
	q.batches = kept
}
