package api

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// Calls come out in the order they went in, one wake-up per batch.
func TestCallQueueOrderAndWake(t *testing.T) {
	q := newCallQueue(8)
	done := make(chan struct{})
	var in []*call
	for range 5 {
		c := &call{}
		in = append(in, c)
		if err := q.push(context.Background(), done, c); err != nil {
			t.Fatal(err)
		}
	}
	if len(q.wake) != 1 {
		t.Fatalf("%d wake-ups queued for one batch, want 1", len(q.wake))
	}
	<-q.wake
	out := q.take(nil)
	if len(out) != len(in) {
		t.Fatalf("took %d calls, pushed %d", len(out), len(in))
	}
	for i := range in {
		if out[i] != in[i] {
			t.Fatalf("call %d out of order", i)
		}
	}
	if got := q.take(out); len(got) != 0 {
		t.Fatalf("second take found %d calls", len(got))
	}
	if err := q.push(context.Background(), done, &call{}); err != nil || len(q.wake) != 1 {
		t.Fatalf("push into an emptied queue: %v, %d wake-ups", err, len(q.wake))
	}
}

// A full queue holds the caller until the loop takes, or until its
// context ends or the member stops.
func TestCallQueueFullWaits(t *testing.T) {
	q := newCallQueue(1)
	done := make(chan struct{})
	if err := q.push(context.Background(), done, &call{}); err != nil {
		t.Fatal(err)
	}
	pushed := make(chan error, 1)
	go func() { pushed <- q.push(context.Background(), done, &call{}) }()
	select {
	case err := <-pushed:
		t.Fatalf("push into a full queue returned %v without waiting", err)
	case <-time.After(20 * time.Millisecond):
	}
	if got := q.take(nil); len(got) != 1 {
		t.Fatalf("took %d calls, want 1", len(got))
	}
	if err := <-pushed; err != nil {
		t.Fatalf("waiting push after a take: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { pushed <- q.push(ctx, done, &call{}) }()
	cancel()
	if err := <-pushed; err == nil {
		t.Fatal("push with a cancelled context into a full queue succeeded")
	}
	go func() { pushed <- q.push(context.Background(), done, &call{}) }()
	close(done)
	if err := <-pushed; !errors.Is(err, rpctypes.ErrGRPCStopped) {
		t.Fatalf("push after the member stopped: %v, want %v", err, rpctypes.ErrGRPCStopped)
	}
}
