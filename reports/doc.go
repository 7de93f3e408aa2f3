// Package reports turns a kvsim campaign into files: JSON for machines and
// HTML for people.
//
// A campaign writes, under its output directory:
//
//	summary.json          every seed's Result and the campaign totals
//	index.html            seeds, outcomes, faults per seed and a timeline of
//	                      latency and throughput with fault windows shaded
//	seeds/<seed>/         for each seed that did not pass:
//	    result.json       the seed's Result (config, verdicts, trace hash)
//	    config.json       the resolved run configuration
//	    schedule.json     the nemesis schedule, readable by kvsim replay
//	    history.json      every client call the checkers judged
//	    trace.txt         the simulation trace, one record per line
//	    <checker>.html    porcupine's view of the history, with a table of
//	                      the fault windows injected at the top
//
// Every page is self-contained — inline CSS and SVG, no script and nothing
// fetched — so a report attached to a CI run reads offline, years later.
//
// The package holds only data and rendering; it runs nothing. Results are
// plain values so that a worker process can send one as a JSON line and the
// campaign can write it unchanged.
package reports
