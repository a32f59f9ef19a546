package announce

import "time"

// Defaults for a zero Schedule.
const (
	// DefaultCount is keepalived's garp_master_repeat: five announcements per transition.
	DefaultCount = 5
	// DefaultSpacing keeps each repeat past the 1 s neighbour lock time of Linux receivers
	// (net.ipv4.neigh.*.locktime), within which they ignore a MAC change that they do not
	// recognise as gratuitous, and ends the burst in under 5 s; RFC 5227 §2.3 spaces its two
	// announcements 2 s apart.
	DefaultSpacing = 1100 * time.Millisecond
)

// Schedule says when a router that has just become Master announces its addresses: at once,
// Count-1 more times Spacing apart, and then every Refresh for as long as it stays Master.
type Schedule struct {
	// Count is how many announcements follow a transition to Master, the first at once; zero or
	// less means DefaultCount.
	Count int
	// Spacing is the time between them; zero or less means DefaultSpacing.
	Spacing time.Duration
	// Refresh, when positive, repeats the announcement that often after the last of Count, for
	// switches and hosts that age their entries out (keepalived's garp_master_refresh); zero
	// turns it off.
	Refresh time.Duration
}

// Next returns when to announce next for a router that became Master at start, given that the
// announcements due until now have been sent: the first due strictly after now, or false when
// none is left. An announcement missed because the caller woke up late is skipped, not caught up:
// one announcement serves as well as several.
func (s Schedule) Next(start, now time.Time) (time.Time, bool) {
	count, spacing := s.Count, s.Spacing
	if count <= 0 {
		count = DefaultCount
	}
	if spacing <= 0 {
		spacing = DefaultSpacing
	}
	if now.Before(start) {
		return start, true
	}
	if i := int64(now.Sub(start)/spacing) + 1; i < int64(count) {
		return start.Add(time.Duration(i) * spacing), true
	}
	if s.Refresh <= 0 {
		return time.Time{}, false
	}
	// Here now is at or past the last announcement of the burst.
	last := start.Add(time.Duration(count-1) * spacing)
	return last.Add((now.Sub(last)/s.Refresh + 1) * s.Refresh), true
}
