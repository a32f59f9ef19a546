package main

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// group is one measurement as every implementation did it: the rows that differ only in impl,
// version and the numbers.
type group struct {
	Scenario string
	AdvertMS int64
	VRRP     int
	Routers  int
	Unit     string
	Impls    []row // this project first, keepalived second, others by name
}

func (g group) find(impl string) (row, bool) {
	i := slices.IndexFunc(g.Impls, func(r row) bool { return r.Impl == impl })
	if i < 0 {
		return row{}, false
	}
	return g.Impls[i], true
}

func (g group) ours() row   { r, _ := g.find(ours); return r }
func (g group) theirs() row { r, _ := g.find(theirs); return r }

// sideBySide reports whether both this project and keepalived measured the group.
func (g group) sideBySide() bool {
	_, a := g.find(ours)
	_, b := g.find(theirs)
	return a && b
}

// ratio is this project's median over keepalived's: below 1 is faster or lighter.
func (g group) ratio() (float64, bool) {
	if !g.sideBySide() || g.theirs().Median == 0 {
		return 0, false
	}
	return g.ours().Median / g.theirs().Median, true
}

// splitScenario cuts a scenario at its first space or hyphen: "failover graceful" and
// "status-entry-latency" are of the families failover and status.
func splitScenario(s string) (family, rest string) {
	if i := strings.IndexAny(s, " -"); i >= 0 {
		return s[:i], strings.ReplaceAll(s[i+1:], "-", " ")
	}
	return s, ""
}

// family is the scenario's first word ("failover", "footprint", "status"): a panel of the plot.
func (g group) family() string {
	f, _ := splitScenario(g.Scenario)
	return f
}

// detail is the scenario without its family, with the advert interval and VRRP version: a bar's
// label in the family's panel.
func (g group) detail() string {
	_, d := splitScenario(g.Scenario)
	parts := []string{}
	if d != "" {
		parts = append(parts, d)
	}
	a := advertLabel(g.AdvertMS)
	if g.VRRP != 0 {
		a += fmt.Sprintf(" v%d", g.VRRP)
	}
	parts = append(parts, a)
	if g.Routers > 1 {
		parts = append(parts, fmt.Sprintf("%d routers", g.Routers))
	}
	return strings.Join(parts, ", ")
}

// familyRank orders the page as `make bench` runs: failover, footprint, status, then the rest.
func familyRank(f string) int {
	switch f {
	case "failover":
		return 0
	case "footprint":
		return 1
	case "status":
		return 2
	}
	return 3
}

func implRank(impl string) int {
	switch impl {
	case ours:
		return 0
	case theirs:
		return 1
	}
	return 2
}

// compare groups the rows, in the page's order: by family, scenario, longer adverts first.
func (r report) compare() []group {
	var groups []group
	for _, x := range r.Rows {
		i := slices.IndexFunc(groups, func(g group) bool {
			return g.Scenario == x.Scenario && g.AdvertMS == x.AdvertMS && g.VRRP == x.VRRP && g.Routers == x.Routers && g.Unit == x.Unit
		})
		if i < 0 {
			groups = append(groups, group{Scenario: x.Scenario, AdvertMS: x.AdvertMS, VRRP: x.VRRP, Routers: x.Routers, Unit: x.Unit})
			i = len(groups) - 1
		}
		// A later row of the same implementation replaces an earlier one, as in the file.
		if j := slices.IndexFunc(groups[i].Impls, func(o row) bool { return o.Impl == x.Impl }); j >= 0 {
			groups[i].Impls[j] = x
		} else {
			groups[i].Impls = append(groups[i].Impls, x)
		}
	}
	for _, g := range groups {
		slices.SortStableFunc(g.Impls, func(a, b row) int {
			return cmp.Or(cmp.Compare(implRank(a.Impl), implRank(b.Impl)), strings.Compare(a.Impl, b.Impl))
		})
	}
	slices.SortStableFunc(groups, func(a, b group) int {
		return cmp.Or(
			cmp.Compare(familyRank(a.family()), familyRank(b.family())),
			strings.Compare(a.family(), b.family()),
			strings.Compare(a.Unit, b.Unit),
			strings.Compare(a.Scenario, b.Scenario),
			cmp.Compare(b.AdvertMS, a.AdvertMS),
			cmp.Compare(a.Routers, b.Routers),
		)
	})
	return groups
}

// advertLabel writes an advert interval as people say it: 1s, 100ms, 10ms.
func advertLabel(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return (time.Duration(ms) * time.Millisecond).String()
}

// formatValue writes a number with three significant digits at most, and its unit.
func formatValue(v float64, unit string) string {
	s := formatNumber(v)
	switch unit {
	case "%":
		return s + " %"
	case "":
		return s
	}
	return s + " " + unit
}

func formatNumber(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1 || a == 0:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}
