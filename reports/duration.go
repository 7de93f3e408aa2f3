package reports

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration written to JSON as its Go string ("1.5s"),
// so summaries read without a calculator. It reads back either that form
// or a number of nanoseconds.
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("reports: duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var ns int64
	if err := json.Unmarshal(data, &ns); err != nil {
		return fmt.Errorf("reports: duration %s: neither a duration string nor nanoseconds", data)
	}
	*d = Duration(ns)
	return nil
}

// String renders d as time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }
