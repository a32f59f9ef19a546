package controllers

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// Flapping: a router that keeps passing through short gaps (a Backup that misses adverts on a
// lossy link, takes over and steps down again) never stays unsettled past its bound, yet it is
// broken. When the flapEpisodes-th stretch without exactly one Master begins within flapWindow of
// the first, the VirtualIP is flapping: Degraded turns True (reason Flapping) and stays so until a
// window passes without a new stretch. The gaps themselves are held like any handover's: one
// condition that stays up is what an alert can wait on, where a Ready that flickers for every
// gap of a tenth of a second is not, and each of those gaps would cost the API server two more
// writes (and two Events) while something is already wrong.
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
// announced (issue 9 item 8), while gaps that keep coming make it flapping. The memory is the
// controller's alone: a new leader starts afresh, which at worst delays an alarm by one bound, or
// one window; a VirtualIP it finds marked flapping stays so for a window from then (flappedBefore),
// rather than turning Healthy because the memory is new.
type handovers struct {
	mu   sync.Mutex
	seen map[string]*stretch
}

// stretch is a VirtualIP's latest time without exactly one Master.
type stretch struct {
	uid      types.UID     // of the VirtualIP: one deleted and made again under its name starts afresh
	since    time.Time     // when it began; zero once settled
	bound    time.Duration // the largest Settling seen during it
	reported bool          // it has been let through: held no longer until it ends
	starts   []time.Time   // when the latest stretches began, this one included; at most flapEpisodes
	window   time.Duration // flapWindow of the latest stretch
	flapping bool          // flapEpisodes stretches began within a window, and no window has passed since the last
}

// flap says that a VirtualIP is flapping: note is for Degraded's message, until is when it ends
// unless another stretch begins first. The zero flap is a VirtualIP that is not.
type flap struct {
	note  string
	until time.Time
}

// hold returns how much longer the summary of the VirtualIP name (of uid) must wait before it is written:
// zero when it is settled, or unsettled for longer than the largest Settling it has had since it
// was last settled plus latency; and whether the VirtualIP is flapping (see flapEpisodes). The
// way of being unsettled may change during a stretch (no Master, then two, then none): the
// stretch goes on, with the largest bound seen, so that a router that never settles is reported
// all the same. flapped says that the stored object is marked flapping (flappedBefore): with
// nothing remembered of it, a window counts from now.
func (h *handovers) hold(name string, uid types.UID, sum Summary, flapped bool, now time.Time, latency time.Duration) (wait time.Duration, f flap) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.seen[name]
	if s != nil && s.uid != uid {
		delete(h.seen, name)
		s = nil
	}
	if s == nil && flapped {
		s = &stretch{uid: uid, flapping: true, window: max(minFlapWindow, flapBounds*(sum.Settling+latency))}
		if sum.Settling <= 0 {
			s.starts = []time.Time{now} // else the stretch under way begins now, below
		}
		if h.seen == nil {
			h.seen = map[string]*stretch{}
		}
		h.seen[name] = s
	}
	if sum.Settling <= 0 {
		if s == nil {
			return 0, flap{}
		}
		// What is remembered stays until the VirtualIP is gone (forget): a reconcile that reads
		// the object from a cache not yet showing the write that ended its flapping must not
		// take the mark for a new leader's (flapped).
		s.since, s.bound, s.reported = time.Time{}, 0, false
		return 0, s.flap(now)
	}
	if s == nil {
		s = &stretch{uid: uid}
		if h.seen == nil {
			h.seen = map[string]*stretch{}
		}
		h.seen[name] = s
	}
	if s.since.IsZero() {
		if len(s.starts) > 0 && now.Sub(s.starts[len(s.starts)-1]) >= s.window {
			s.flapping = false // over, though nothing reconciled the VirtualIP when it ended
		}
		s.since = now
		s.starts = append(s.starts, now)
		if len(s.starts) > flapEpisodes {
			s.starts = slices.Delete(s.starts, 0, len(s.starts)-flapEpisodes)
		}
	}
	s.bound = max(s.bound, sum.Settling)
	s.window = max(minFlapWindow, flapBounds*(s.bound+latency))
	if len(s.starts) == flapEpisodes && s.starts[flapEpisodes-1].Sub(s.starts[0]) <= s.window {
		s.flapping = true
	}
	if !s.reported {
		wait = max(s.since.Add(s.bound+latency).Sub(now), 0)
		s.reported = wait == 0
	}
	return wait, s.flap(now)
}

// flap is the stretch's flap at now; a window after the last stretch began, it is over.
func (s *stretch) flap(now time.Time) flap {
	last := s.starts[len(s.starts)-1]
	if !s.flapping || now.Sub(last) >= s.window {
		s.flapping = false
		return flap{}
	}
	return flap{note: fmt.Sprintf("%s%d times without exactly one MASTER within %v", flapNote, flapEpisodes, s.window), until: last.Add(s.window)}
}

// flapNote begins the note that Summary.flapping adds to Degraded's message.
const flapNote = "flapping: "

// flappedBefore says whether the stored VirtualIP is marked flapping: Degraded True with reason
// Flapping, or another reason whose message carries the note.
func flappedBefore(vip *vrrpv1.VirtualIP) bool {
	d := meta.FindStatusCondition(vip.Status.Conditions, vrrpv1.ConditionDegraded)
	return d != nil && d.Status == metav1.ConditionTrue && (d.Reason == vrrpv1.ReasonFlapping || strings.Contains(d.Message, "; "+flapNote))
}

// forget drops what is remembered of a VirtualIP that is gone.
func (h *handovers) forget(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.seen, name)
}

// flapping marks the summary of a flapping VirtualIP (see flapEpisodes) with note: Degraded turns
// True with reason Flapping unless another reason holds it already, whose message then ends with
// note, as does Ready's when it reports a gap past its bound. A VirtualIP that no agent reports
// on, or whose spec no agent can run, is not marked: neither is news of a handover. vip and now
// are those the summary was made of: its conditions and Events are made again from them.
func (s *Summary) flapping(vip *vrrpv1.VirtualIP, now metav1.Time, note string) {
	if note == "" || !s.reported || len(s.Conditions) != 2 {
		return
	}
	ready, degraded := s.Conditions[0], s.Conditions[1]
	switch {
	case degraded.Reason == vrrpv1.ReasonInvalidSpec:
		return
	case degraded.Status != metav1.ConditionTrue:
		degraded.Status, degraded.Reason, degraded.Message = metav1.ConditionTrue, vrrpv1.ReasonFlapping, ready.Message+"; "+note
	default:
		degraded.Message += "; " + note
	}
	if ready.Reason == vrrpv1.ReasonNoMaster || ready.Reason == vrrpv1.ReasonSplitBrain {
		ready.Message += "; " + note
	}
	s.Conditions = conditions(vip, now, ready, degraded)
	s.Events = transitions(vip.Status.Conditions, ready, degraded, s.reported)
}

func readyReason(sum Summary) string {
	for _, c := range sum.Conditions {
		if c.Type == vrrpv1.ConditionReady {
			return c.Reason
		}
	}
	return ""
}
