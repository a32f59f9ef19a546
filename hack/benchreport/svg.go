package main

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The plot's geometry, in SVG user units (pixels at 100 %).
const (
	plotWidth  = 960
	labelRight = 250 // bar labels end here
	axisLeft   = 260 // the value axis starts here
	axisRight  = plotWidth - 110
	barHeight  = 12
	barGap     = 3  // between the bars of one group
	groupGap   = 10 // between groups
	panelGap   = 46 // between panels: room for the axis labels and the next title
)

// colors per implementation; others are grey.
var colors = map[string]string{ours: "#1f6fb4", theirs: "#e07b1a"}

func color(impl string) string {
	if c, ok := colors[impl]; ok {
		return c
	}
	return "#888888"
}

// panel is the groups of one family and unit, on one value axis.
type panel struct {
	title  string
	unit   string
	groups []group
}

// panels returns the panels of the families in which both implementations measured something:
// the plot compares; what this project alone measured is in the page's tables.
func panels(groups []group) []panel {
	var compared []string
	for _, g := range groups {
		if g.sideBySide() && !slices.Contains(compared, g.family()) {
			compared = append(compared, g.family())
		}
	}
	var ps []panel
	for _, g := range groups {
		if !slices.Contains(compared, g.family()) {
			continue
		}
		title := g.family()
		if i := slices.IndexFunc(ps, func(p panel) bool { return p.title == title && p.unit == g.Unit }); i >= 0 {
			ps[i].groups = append(ps[i].groups, g)
			continue
		}
		ps = append(ps, panel{title: title, unit: g.Unit, groups: []group{g}})
	}
	return ps
}

// scale maps values of a panel onto the axis: logarithmic when they span more than a factor of
// 30 (failover from 10 ms to 3 s adverts), linear from zero otherwise.
type scale struct {
	log    bool
	lo, hi float64
}

func newScale(p panel) scale {
	lo, hi := math.Inf(1), 0.0
	for _, g := range p.groups {
		for _, r := range g.Impls {
			for _, v := range []float64{r.Min, r.Median, r.Max} {
				if v > 0 {
					lo = min(lo, v)
				}
				hi = max(hi, v)
			}
		}
	}
	if hi <= 0 {
		return scale{lo: 0, hi: 1}
	}
	if lo < hi/30 {
		return scale{log: true, lo: math.Pow(10, math.Floor(math.Log10(lo))), hi: math.Pow(10, math.Ceil(math.Log10(hi)))}
	}
	return scale{lo: 0, hi: niceCeil(hi * 1.05)}
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func (s scale) x(v float64) float64 {
	f := 0.0
	switch {
	case s.log && v > 0:
		f = (math.Log10(v) - math.Log10(s.lo)) / (math.Log10(s.hi) - math.Log10(s.lo))
	case !s.log:
		f = (v - s.lo) / (s.hi - s.lo)
	}
	f = min(max(f, 0), 1)
	return axisLeft + f*(axisRight-axisLeft)
}

func (s scale) ticks() []float64 {
	var t []float64
	if s.log {
		for d := s.lo; d <= s.hi*1.0001; d *= 10 {
			for _, m := range []float64{1, 2, 5} {
				if v := d * m; v <= s.hi*1.0001 {
					t = append(t, v)
				}
			}
		}
		return t
	}
	step := niceCeil(s.hi / 5)
	for v := 0.0; v <= s.hi*1.0001; v += step {
		t = append(t, v)
	}
	return t
}

// renderSVG draws one panel per family and unit: per measurement a bar to each implementation's
// median, a whisker from its min to its max, and the median written beside it.
func renderSVG(groups []group) string {
	var body strings.Builder
	y := 52.0
	for _, p := range panels(groups) {
		s := newScale(p)
		title := p.title
		if d, ok := familyTitles[p.title]; ok {
			title = d
		}
		title += " (" + p.unit
		if s.log {
			title += ", log scale"
		}
		title += ")"
		fmt.Fprintf(&body, "<text x=\"%d\" y=\"%.1f\" class=\"title\">%s</text>\n", 10, y, esc(title))
		y += 10
		top := y
		height := 0.0
		for _, g := range p.groups {
			height += float64(len(g.Impls))*(barHeight+barGap) - barGap + groupGap
		}
		bottom := top + height
		for _, t := range s.ticks() {
			x := s.x(t)
			fmt.Fprintf(&body, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>\n", x, top, x, bottom)
			fmt.Fprintf(&body, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\">%s</text>\n", x, bottom+13, esc(formatTick(t)))
		}
		fmt.Fprintf(&body, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"axis\"/>\n", axisLeft, top, axisLeft, bottom)
		for _, g := range p.groups {
			gh := float64(len(g.Impls))*(barHeight+barGap) - barGap
			fmt.Fprintf(&body, "<text x=\"%d\" y=\"%.1f\" class=\"label\">%s</text>\n", labelRight, y+gh/2+4, esc(g.detail()))
			for _, r := range g.Impls {
				x0, xm := s.x(s.lo), s.x(r.Median)
				if !s.log {
					x0 = s.x(0)
				}
				cy := y + barHeight/2
				fmt.Fprintf(&body, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>%s</title></rect>\n",
					x0, y, max(xm-x0, 1), barHeight, color(r.Impl), esc(fmt.Sprintf("%s %s %s: median %s, min %s, max %s, %d runs",
						r.Impl, r.Scenario, advertLabel(r.AdvertMS), formatValue(r.Median, r.Unit), formatValue(r.Min, r.Unit), formatValue(r.Max, r.Unit), r.Runs)))
				xl, xh := s.x(r.Min), s.x(r.Max)
				fmt.Fprintf(&body, "<path d=\"M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f %.1fV%.1f\" class=\"whisker\"/>\n",
					xl, cy-4, cy+4, xl, cy, xh, xh, cy-4, cy+4)
				fmt.Fprintf(&body, "<text x=\"%.1f\" y=\"%.1f\" class=\"value\">%s</text>\n", max(xh, xm)+5, cy+4, esc(formatValue(r.Median, r.Unit)))
				y += barHeight + barGap
			}
			y += groupGap - barGap
		}
		y = bottom + panelGap
	}
	height := y - panelGap + 26

	var b strings.Builder
	fmt.Fprintf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" viewBox=\"0 0 %d %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
		plotWidth, height, plotWidth, height)
	b.WriteString("<!-- Generated by `make bench` (hack/benchreport) from _output/bench.json: do not edit. -->\n")
	b.WriteString("<style>.title{font-weight:bold;font-size:14px}.label{text-anchor:end}.tick{text-anchor:middle;fill:#555;font-size:10px}" +
		".grid{stroke:#ddd}.axis{stroke:#555}.whisker{stroke:#222;fill:none}.value{fill:#222}</style>\n")
	fmt.Fprintf(&b, "<rect width=\"%d\" height=\"%.0f\" fill=\"#fff\"/>\n", plotWidth, height)
	// The legend: each implementation that appears, this project first.
	x := float64(axisLeft)
	for _, impl := range implsOf(groups) {
		fmt.Fprintf(&b, "<rect x=\"%.1f\" y=\"12\" width=\"14\" height=\"12\" fill=\"%s\"/>\n", x, color(impl))
		fmt.Fprintf(&b, "<text x=\"%.1f\" y=\"22\">%s</text>\n", x+19, esc(impl))
		x += 19 + 7.5*float64(len(impl)) + 24
	}
	fmt.Fprintf(&b, "<text x=\"%.1f\" y=\"22\" fill=\"#555\">bar: median; whisker: min to max</text>\n", x)
	b.WriteString(body.String())
	b.WriteString("</svg>\n")
	return b.String()
}

func implsOf(groups []group) []string {
	var out []string
	for _, g := range groups {
		for _, r := range g.Impls {
			if !slices.Contains(out, r.Impl) {
				out = append(out, r.Impl)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b string) int { return implRank(a) - implRank(b) })
	return out
}

// familyTitles describe the panels of known families.
var familyTitles = map[string]string{
	"failover":  "failover: from the signal to the Master to the VIP on the Backup",
	"footprint": "footprint in steady state",
	"status":    "status: from a transition on the wire to the watcher",
}

// formatTick writes an axis value without trailing zeros: 10000, 2.5, 0.1.
func formatTick(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

func esc(s string) string { return html.EscapeString(s) }
