package reports

import (
	"fmt"
	"html"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/kvdlabs/kvd/theme"
)

// Timeline drawing limits: a chart is a fixed size whatever the run, so a
// page with a hundred seeds stays light.
const (
	chartWidthPx      = 1000
	chartPlotLeftPx   = 150
	chartPlotRightPx  = 16
	chartPanelHeight  = 90
	chartGapPx        = 28
	chartTopPx        = 18
	chartAxisHeightPx = 22
	chartTicksMax     = 12
	chartLaneHeightPx = 13
	// chartLanesMax bounds the fault lanes; further kinds share the last.
	chartLanesMax = 24
)

// faultFamily groups kinds by what they break, for one colour each.
func faultFamily(kind string) (family, colour string) {
	switch {
	case strings.HasPrefix(kind, "partition"):
		return "partition", "#4c78a8"
	case strings.HasPrefix(kind, "packet"):
		return "packet", "#72b7b2"
	case strings.HasPrefix(kind, "crash"), kind == "disk-torn-write", kind == "graceful-restart":
		return "crash", "#e45756"
	case strings.HasPrefix(kind, "disk"):
		return "disk", "#f58518"
	case strings.HasPrefix(kind, "clock"):
		return "clock", "#b279a2"
	case kind == "pause":
		return "pause", "#9d755d"
	default:
		return "membership/leader", "#54a24b"
	}
}

// timelineSVG draws a run's throughput (top) and latency (bottom) over
// virtual time, with every fault window shaded across both panels and
// instantaneous faults drawn as lines.
func timelineSVG(r Result) template.HTML {
	span := time.Duration(r.Virtual)
	for _, b := range r.Timeline {
		span = max(span, time.Duration(b.At+b.Width))
	}
	for _, f := range r.Faults {
		span = max(span, time.Duration(f.To))
	}
	if span <= 0 {
		span = time.Second
	}
	plotW := float64(chartWidthPx - chartPlotLeftPx - chartPlotRightPx)
	x := func(d Duration) float64 {
		return chartPlotLeftPx + plotW*float64(d)/float64(span)
	}
	top1 := float64(chartTopPx)
	top2 := top1 + chartPanelHeight + chartGapPx
	var lanes []string
	lane := map[string]int{}
	for _, f := range r.Faults {
		if _, ok := lane[f.Kind]; !ok {
			lane[f.Kind] = min(len(lanes), chartLanesMax-1)
			if len(lanes) < chartLanesMax {
				lanes = append(lanes, f.Kind)
			}
		}
	}
	top3 := top2 + chartPanelHeight + chartAxisHeightPx + 8
	height := int(top3) + len(lanes)*chartLaneHeightPx + 6

	var opsMax float64
	var latMax time.Duration
	for _, b := range r.Timeline {
		opsMax = max(opsMax, float64(b.OK+b.Failed+b.TimedOut)/time.Duration(b.Width).Seconds())
		latMax = max(latMax, time.Duration(b.LatencyMax))
	}
	if opsMax == 0 {
		opsMax = 1
	}
	if latMax == 0 {
		latMax = time.Millisecond
	}

	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="timeline of seed %d" font-family="sans-serif" font-size="11">`,
		chartWidthPx, height, chartWidthPx, height, r.Seed)
	fmt.Fprintf(&s, `<rect x="0" y="0" width="%d" height="%d" fill="#fff"/>`, chartWidthPx, height)
	// Fault windows first, so data draws over them.
	for _, f := range r.Faults {
		_, colour := faultFamily(f.Kind)
		title := html.EscapeString(fmt.Sprintf("%s targets=%v %v–%v", f.Kind, f.Targets, f.From, f.To))
		if f.To > f.From {
			w := max(x(f.To)-x(f.From), 1)
			fmt.Fprintf(&s, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.18"><title>%s</title></rect>`,
				x(f.From), top1, w, top2+chartPanelHeight-top1, colour, title)
		} else {
			fmt.Fprintf(&s, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2" stroke-dasharray="3,2"><title>%s</title></line>`,
				x(f.From), x(f.From), top1, top2+chartPanelHeight, colour, title)
		}
	}
	// Panel frames and labels.
	for _, p := range []struct {
		top   float64
		label string
	}{{top1, fmt.Sprintf("client calls per second (top of scale %.0f/s)", opsMax)}, {top2, fmt.Sprintf("call latency (top of scale %v)", latMax.Round(time.Millisecond))}} {
		fmt.Fprintf(&s, `<rect x="%d" y="%.1f" width="%.0f" height="%d" fill="none" stroke="#999"/>`, chartPlotLeftPx, p.top, plotW, chartPanelHeight)
		fmt.Fprintf(&s, `<text x="%d" y="%.1f" fill="#333">%s</text>`, chartPlotLeftPx, p.top-5, html.EscapeString(p.label))
	}
	// Series keys, in the left margin beside each panel.
	for i, k := range []struct {
		top         float64
		label, fill string
	}{{top1, "ok", theme.CallOK}, {top1, "failed", theme.CallFailed}, {top1, "timed out", theme.CallTimedOut}, {top2, "p50", theme.SeriesLatency}, {top2, "max", theme.CallFailed}} {
		row := i
		if i >= 3 {
			row = i - 3
		}
		y := k.top + 8 + float64(row*15)
		fmt.Fprintf(&s, `<rect x="%d" y="%.1f" width="10" height="10" fill="%s"/><text x="%d" y="%.1f" fill="#333">%s</text>`, 8, y, k.fill, 22, y+9, k.label)
	}
	// Throughput: stacked bars per bucket.
	for _, b := range r.Timeline {
		w := max(x(b.At+b.Width)-x(b.At)-0.5, 0.5)
		y := top1 + chartPanelHeight
		for _, part := range []struct {
			n      int
			colour string
		}{{b.OK, theme.CallOK}, {b.Failed, theme.CallFailed}, {b.TimedOut, theme.CallTimedOut}} {
			if part.n == 0 {
				continue
			}
			h := chartPanelHeight * float64(part.n) / time.Duration(b.Width).Seconds() / opsMax
			y -= h
			fmt.Fprintf(&s, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, x(b.At), y, w, h, part.colour)
		}
	}
	// Latency: p50 polyline, max dots.
	latY := func(d Duration) float64 {
		return top2 + chartPanelHeight - chartPanelHeight*float64(d)/float64(latMax)
	}
	var points []string
	for _, b := range r.Timeline {
		if b.OK+b.Failed+b.TimedOut == 0 {
			continue
		}
		mid := b.At + b.Width/2
		points = append(points, fmt.Sprintf("%.1f,%.1f", x(mid), latY(b.LatencyP50)))
		fmt.Fprintf(&s, `<circle cx="%.1f" cy="%.1f" r="1.6" fill="%s"/>`, x(mid), latY(b.LatencyMax), theme.CallFailed)
	}
	if len(points) > 0 {
		fmt.Fprintf(&s, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5"/>`, strings.Join(points, " "), theme.SeriesLatency)
	}
	// Time axis.
	step := tickStep(span)
	axisY := top2 + chartPanelHeight
	for t := time.Duration(0); t <= span; t += step {
		fmt.Fprintf(&s, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#999"/>`, x(Duration(t)), x(Duration(t)), axisY, axisY+4)
		fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#333">%v</text>`, x(Duration(t)), axisY+16, t)
	}
	// Fault lanes: one row per kind, one bar per fault, named targets.
	for i, kind := range lanes {
		y := top3 + float64(i*chartLaneHeightPx)
		fmt.Fprintf(&s, `<text x="%d" y="%.1f" text-anchor="end" fill="#333" font-size="10">%s</text>`, chartPlotLeftPx-6, y+9.5, html.EscapeString(kind))
		fmt.Fprintf(&s, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#eee"/>`, chartPlotLeftPx, chartPlotLeftPx+plotW, y+6, y+6)
	}
	for _, f := range r.Faults {
		_, colour := faultFamily(f.Kind)
		y := top3 + float64(lane[f.Kind]*chartLaneHeightPx)
		title := html.EscapeString(fmt.Sprintf("%s targets=%v %v–%v", f.Kind, f.Targets, f.From, f.To))
		w := max(x(f.To)-x(f.From), 2)
		fmt.Fprintf(&s, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" rx="2" fill="%s"><title>%s</title></rect>`, x(f.From), y+1, w, chartLaneHeightPx-3, colour, title)
		if w > 24 {
			fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" fill="#fff" font-size="9">%s</text>`, x(f.From)+3, y+9, html.EscapeString(fmt.Sprint(f.Targets)))
		}
	}
	s.WriteString(`</svg>`)
	return template.HTML(s.String())
}

// tickStep picks a round step giving at most chartTicksMax ticks.
func tickStep(span time.Duration) time.Duration {
	for _, step := range []time.Duration{
		100 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second,
		10 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 10 * time.Minute, time.Hour,
	} {
		if span/step <= chartTicksMax {
			return step
		}
	}
	return span / chartTicksMax
}

// faultLegend lists the fault families present in r, with their colours.
func faultLegend(faults []FaultWindow) template.HTML {
	seen := map[string]string{}
	var families []string
	for _, f := range faults {
		fam, colour := faultFamily(f.Kind)
		if _, ok := seen[fam]; !ok {
			seen[fam] = colour
			families = append(families, fam)
		}
	}
	slices.Sort(families)
	var s strings.Builder
	for _, fam := range families {
		fmt.Fprintf(&s, `<span class="swatch" style="background:%s"></span>%s `, seen[fam], html.EscapeString(fam))
	}
	return template.HTML(s.String())
}
