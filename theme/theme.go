// Package theme is the visual language kvd's pages share: the live
// dashboard a member serves and the reports kvsim writes use the same
// colours for health and outcome, the same series colours, and the same
// colour for a member wherever its name appears, so a person moving from a
// campaign report to a live cluster recognises what they see.
package theme

import (
	_ "embed"
)

// CSS defines the shared custom properties (--ok, --bad, --warn, --down,
// --series-read, ...) and the base look of a page: font, tables, badges
// and member chips (class "member m0" ... "m7").
//
//go:embed theme.css
var CSS string

// Health and outcome colours.
const (
	OK   = "#3a8f3a" // healthy, passed, member up
	Bad  = "#c62828" // no leader, correctness failure, member down
	Warn = "#e67e00" // degraded, liveness failure
	Dead = "#6a1b9a" // crash
)

// Series colours for charts: reads, writes, failures, latency.
const (
	SeriesRead    = "#4c78a8"
	SeriesWrite   = "#54a24b"
	SeriesFailed  = "#e45756"
	SeriesLatency = "#4c78a8"
)

// Client call outcomes in kvsim's charts.
const (
	CallOK       = "#54a24b"
	CallFailed   = SeriesFailed
	CallTimedOut = "#888888"
)

// memberColors are the members' colours, by their position in id order.
var memberColors = [...]string{"#4c78a8", "#f58518", "#54a24b", "#b279a2", "#72b7b2", "#9d755d", "#e45756", "#bab0ac"}

// MemberColor is the colour of the member at position i (0-based) of the
// membership in id order; it repeats past eight members.
func MemberColor(i int) string {
	return memberColors[((i%len(memberColors))+len(memberColors))%len(memberColors)]
}

// MemberClass is the CSS class of that member's chip ("member m2").
func MemberClass(i int) string {
	return "member m" + string(rune('0'+((i%len(memberColors))+len(memberColors))%len(memberColors)))
}
