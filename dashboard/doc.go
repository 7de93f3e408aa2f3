// Package dashboard serves a member's live view of its whole cluster: each
// member's role, health, term, applied index and data size; the keys,
// watchers and leases stored; reads and writes a second with a sparkline
// of the last minutes; the p99 latency of client calls; leader changes and
// alarms.
//
// Every member serves its own figures as JSON (member.json, the same
// figures /metrics exposes, so it asks no user). The member a person opens
// the page on polls every member's member.json over their client URLs once
// an interval, derives rates from counter deltas, keeps a bounded history,
// and pushes each new view to the page as a server-sent event. A member
// that does not answer within FetchTimeout is shown down, with when it was
// last seen and why the fetch failed.
//
// The page and its script are embedded: nothing is fetched from anywhere
// but the member serving it.
package dashboard
