// Package clock declares the time source of the deterministic core.
//
// Core code never calls time.Now: kvd passes the wall clock, the simulator a
// virtual one whose time only moves when its event loop says so.
package clock

import "time"

// Clock tells the current time.
type Clock interface {
	Now() time.Time
}

// Wall is the real clock. It is for kvd's wiring only; simulations pass a
// virtual clock.
type Wall struct{}

// Now returns the wall-clock time.
func (Wall) Now() time.Time { return time.Now() } //determinism:ok the real daemon's clock, never used by a simulation

// Manual is a clock that moves only when told; for tests and examples.
type Manual struct{ T time.Time }

// Now returns the clock's current time.
func (m *Manual) Now() time.Time { return m.T }

// Advance moves the clock forward by d.
func (m *Manual) Advance(d time.Duration) { m.T = m.T.Add(d) }
