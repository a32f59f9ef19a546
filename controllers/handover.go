package controllers

import (
	"fmt"
	"slices"
	"sync"
	"time"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// Flapping: a router that keeps passing through short gaps (a Backup that misses adverts on a
// lossy link, takes over and steps down again) never stays unsettled past its bound, yet it is
// broken. The flapEpisodes-th stretch without exactly one Master that begins within flapWindow of
// the first is reported at once, as are the ones after it while they keep coming that often.
const (
	flapEpisodes = 4
	// flapBounds × the largest bound (plus latency) of the stretch under way, at least
	// minFlapWindow, is the window: deliberate handovers (a cordon, a rolling upgrade of the agents)
	// come seconds to minutes apart, a flapping router's gaps a few bounds apart.
	flapBounds    = 10
	minFlapWindow = time.Minute
)

// handovers remembers, per VirtualIP, the stretch the controller has seen it unsettled (no Master
// or several, Summary.Settling > 0) and when recent stretches began, so that a handover, which
// passes through such a state for less than the protocol's own bound, is neither written nor
// announced (issue 9 item 8), while gaps that keep coming are. The memory is the controller's
// alone: a new leader starts afresh, which at worst delays an alarm by one bound, or one window.
type handovers struct {
	mu   sync.Mutex
	seen map[string]*stretch
}

// stretch is a VirtualIP's latest time without exactly one Master.
type stretch struct {
	since    time.Time     // when it began; zero once settled
	bound    time.Duration // the largest Settling seen during it
	reported bool          // it has been let through: held no longer until it ends
	starts   []time.Time   // when the latest stretches began, this one included; at most flapEpisodes
	window   time.Duration // flapWindow of the latest stretch
}

// hold returns how much longer the summary of the VirtualIP name must wait before it is written:
// zero when it is settled, or unsettled for longer than the largest Settling it has had since it
// was last settled plus latency, or when it is the flapEpisodes-th unsettled stretch within the
// flap window; flapping then says so, for the summary's messages. The way of being unsettled may
// change during a stretch (no Master, then two, then none): the stretch goes on, with the largest
// bound seen, so that a router that never settles is reported all the same.
func (h *handovers) hold(name string, sum Summary, now time.Time, latency time.Duration) (wait time.Duration, flapping string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.seen[name]
	if sum.Settling <= 0 {
		if s != nil {
			s.since, s.bound, s.reported = time.Time{}, 0, false
			if now.Sub(s.starts[len(s.starts)-1]) > s.window {
				delete(h.seen, name)
			}
		}
		return 0, ""
	}
	if s == nil {
		s = &stretch{}
		if h.seen == nil {
			h.seen = map[string]*stretch{}
		}
		h.seen[name] = s
	}
	if s.since.IsZero() {
		s.since = now
		s.starts = append(s.starts, now)
		if len(s.starts) > flapEpisodes {
			s.starts = slices.Delete(s.starts, 0, len(s.starts)-flapEpisodes)
		}
	}
	s.bound = max(s.bound, sum.Settling)
	s.window = max(minFlapWindow, flapBounds*(s.bound+latency))
	if len(s.starts) == flapEpisodes && s.starts[flapEpisodes-1].Sub(s.starts[0]) <= s.window {
		s.reported = true
		return 0, fmt.Sprintf("flapping: %d times without exactly one MASTER within %v", flapEpisodes, s.window)
	}
	if s.reported {
		return 0, ""
	}
	wait = max(s.since.Add(s.bound+latency).Sub(now), 0)
	s.reported = wait == 0
	return wait, ""
}

// forget drops what is remembered of a VirtualIP that is gone.
func (h *handovers) forget(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.seen, name)
}

// flapping adds note to the messages of the conditions and Events that report the state a
// flapping router is in (NoMaster, SplitBrain), so that they say why a short gap was reported.
func (s *Summary) flapping(note string) {
	if note == "" {
		return
	}
	unsettled := func(reason string) bool {
		return reason == vrrpv1.ReasonNoMaster || reason == vrrpv1.ReasonSplitBrain
	}
	for i := range s.Conditions {
		if c := &s.Conditions[i]; unsettled(c.Reason) {
			c.Message = truncate(c.Message+"; "+note, maxConditionMessage)
		}
	}
	for i := range s.Events {
		if e := &s.Events[i]; unsettled(e.Reason) {
			e.Note += "; " + note
		}
	}
}

func readyReason(sum Summary) string {
	for _, c := range sum.Conditions {
		if c.Type == vrrpv1.ConditionReady {
			return c.Reason
		}
	}
	return ""
}
