package main

import (
	"fmt"
	"time"
)

// A latency histogram: record what each operation took, then read
// percentiles that are exact to within 1/64 of the value and never below it.
func ExampleHistogram() {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	fmt.Println("count:", h.Count())
	fmt.Println("p50 within 2%:", h.Quantile(0.5) >= 500*time.Microsecond && h.Quantile(0.5) <= 510*time.Microsecond)
	fmt.Println("max:", h.Max())
	// Output:
	// count: 1000
	// p50 within 2%: true
	// max: 1ms
}
