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
// window passes without a new stretch. A stretch that someone asked for does not count: one that
// begins within its bound of a change of what people steer the router with (steering: a cordon,
// a drain, kubectl vrrp failover, a graceful stop, a new spec), so that moving a VIP about by hand
// raises no alarm while a lossy link, a crashing agent or a check that keeps failing does. The gaps themselves are held like any handover's: one
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

// handovers remembers, per VirtualIP, what steered it last and the stretch the controller has seen it unsettled (no Master
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
	steer    string        // steering of the VirtualIP when last looked at
	steered  time.Time     // when steer last changed; zero when it has not since the memory began
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

// look is what hold needs of the stored VirtualIP besides its summary.
type look struct {
	uid     types.UID
	flapped bool   // it is marked flapping (flappedBefore)
	steer   string // steering(vip)
}

// lookAt returns what hold needs of vip.
func lookAt(vip *vrrpv1.VirtualIP) look {
	return look{uid: vip.UID, flapped: flappedBefore(vip), steer: steering(vip)}
}

// hold returns how much longer the summary of the VirtualIP name (of l.uid) must wait before it is written:
// zero when it is settled, or unsettled for longer than the largest Settling it has had since it
// was last settled plus latency; and whether the VirtualIP is flapping (see flapEpisodes). The
// way of being unsettled may change during a stretch (no Master, then two, then none): the
// stretch goes on, with the largest bound seen, so that a router that never settles is reported
// all the same. A VirtualIP marked flapping (l.flapped) of which nothing is remembered stays so
// for a window from now. What is remembered stays until the VirtualIP is gone (forget): a
// reconcile that reads the object from a cache not yet showing the write that ended its flapping
// must not take the mark for a new leader's.
func (h *handovers) hold(name string, l look, sum Summary, now time.Time, latency time.Duration) (wait time.Duration, f flap) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.seen[name]
	if s != nil && s.uid != l.uid {
		s = nil
	}
	if s == nil {
		s = &stretch{uid: l.uid, steer: l.steer}
		if l.flapped {
			s.flapping, s.window = true, max(minFlapWindow, flapBounds*(sum.Settling+latency))
			if sum.Settling <= 0 {
				s.starts = []time.Time{now} // else the stretch under way begins now, below
			}
		}
		if h.seen == nil {
			h.seen = map[string]*stretch{}
		}
		h.seen[name] = s
	}
	if l.steer != s.steer {
		s.steer, s.steered = l.steer, now
	}
	if sum.Settling <= 0 {
		s.since, s.bound, s.reported = time.Time{}, 0, false
		return 0, s.flap(now)
	}
	if s.since.IsZero() {
		if len(s.starts) > 0 && now.Sub(s.starts[len(s.starts)-1]) >= s.window {
			s.flapping = false // over, though nothing reconciled the VirtualIP when it ended
		}
		s.since = now
		// A stretch that begins within its bound of a change of steering is what someone asked
		// for: it is held as any, but it is not counted.
		if s.steered.IsZero() || now.Sub(s.steered) > sum.Settling+latency {
			s.starts = append(s.starts, now)
			if len(s.starts) > flapEpisodes {
				s.starts = slices.Delete(s.starts, 0, len(s.starts)-flapEpisodes)
			}
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
	if !s.flapping || len(s.starts) == 0 || now.Sub(s.starts[len(s.starts)-1]) >= s.window {
		s.flapping = false
		return flap{}
	}
	last := s.starts[len(s.starts)-1]
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

// steering is what people steer vip's router with, as its entries and spec show: each node's
// entry whose priority an administrative action set (cordoned, released for maintenance, excluded
// by a drain, preferred by kubectl vrrp failover) or that is STOPPED (the agent's graceful stop),
// and the spec's generation. A FAULT, a check's weight, a crashed agent or a lost advert changes
// none of it.
func steering(vip *vrrpv1.VirtualIP) string {
	var steered []string
	for _, e := range vip.Status.Nodes {
		switch {
		case e.State == vrrpv1.StateStopped:
			steered = append(steered, e.Node+"="+string(vrrpv1.StateStopped))
		case slices.Contains(steeringReasons, e.Reason):
			steered = append(steered, e.Node+"="+e.Reason)
		}
	}
	slices.Sort(steered) // the entries' order is the writers'
	return fmt.Sprintf("%d %s", vip.Generation, strings.Join(steered, " "))
}

// steeringReasons are the reasons of a priority that an administrative action set, as
// agent/desired names them (not imported: it would bring the agent's hooks and checks into the
// controller's binary; TestSteeringReasons keeps them equal).
var steeringReasons = []string{"Cordoned", "Maintenance", "Excluded", "Preferred"}

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
