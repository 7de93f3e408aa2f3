package clock_test

import (
	"fmt"
	"time"

	"github.com/kvdlabs/kvd/core/clock"
)

// Core code asks a Clock for the time; tests and simulations move it by hand.
func Example() {
	var c clock.Clock = &clock.Manual{T: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)}
	start := c.Now()
	c.(*clock.Manual).Advance(1500 * time.Millisecond)
	fmt.Println(c.Now().Sub(start))
	// Output: 1.5s
}
