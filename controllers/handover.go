package controllers

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// Flapping: a router that keeps passing through short gaps (a Backup that misses adverts on a
// lossy link, takes over and steps down again) never stays unsettled past its bound, yet it is
// broken. When the flapEpisodes-th stretch without exactly one Master begins within flapWindow of
// the first, the VirtualIP is flapping: Degraded turns True (reason Flapping) and stays so until a
// window passes without a new stretch. A stretch that someone asked for is not counted: one that
// begins within askedFor of a change of what an administrator steers the router with (steering:
// a cordon, a drain, kubectl vrrp failover, a new spec), so that moving a VIP about by hand raises
// no alarm while a lossy link, a crashing agent or a check that keeps failing does. The gaps
// themselves are held like any handover's: one condition that stays up is what an alert can wait
// on, where a Ready that flickers for every gap of a tenth of a second is not, and each of those
// gaps would cost the API server two more writes (and two Events) while something is already
// wrong.
const (
	flapEpisodes = 4
	// flapBounds × the bound (plus latency) of the latest counted stretch, at least
	// minFlapWindow, is the window: a flapping router's gaps come a few bounds apart.
	flapBounds    = 10
	minFlapWindow = time.Minute
)

// askedFor is how long after a change of steering a stretch that begins is taken for its result:
// the takeover a changed priority brings comes within Master_Down_Interval (at most four advert
// intervals, of which a SplitBrain's settling is one, and a NoMaster's is the whole), the agents
// hold a change of priority up to 1 s for the transition it brings, and their writes take
// latency to arrive, in either order: a change seen up to askedFor after a stretch began excuses
// it too.
func askedFor(settling, latency time.Duration) time.Duration {
	return 4*settling + time.Second + latency
}

// handovers remembers, per VirtualIP, what steers it and the stretch the controller has seen it
// unsettled (no Master or several, Summary.Settling > 0) and when recent stretches began, so that
// a handover, which passes through such a state for less than the protocol's own bound, is
// neither written nor announced (issue 9 item 8), while gaps that keep coming make it flapping.
// The memory is the controller's alone: a new leader starts afresh, which at worst delays an alarm
// by one bound, or one window, or counts one stretch asked for just before it started; a
// VirtualIP it finds marked flapping stays so for a window from then (flappedBefore), rather than
// turning Healthy because the memory is new.
type handovers struct {
	mu   sync.Mutex
	seen map[string]*stretch
}

// stretch is a VirtualIP's latest time without exactly one Master.
type stretch struct {
	uid      types.UID     // of the VirtualIP: one deleted and made again under its name starts afresh
	steer    steer         // what steers the VirtualIP, as last seen
	steered  time.Time     // when steer last changed; zero when it has not since the memory began
	since    time.Time     // when it began; zero once settled
	bound    time.Duration // the largest Settling seen during it
	reported bool          // it has been let through: held no longer until it ends
	counted  bool          // it is counted: its start is the last of starts
	before   bool          // flapping before it was counted
	beforeW  time.Duration // window before it was counted
	starts   []time.Time   // when the latest counted stretches began; at most flapEpisodes
	window   time.Duration // flapWindow of the latest counted stretch
	flapping bool          // flapEpisodes counted stretches began within a window, and no window has passed since the last
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
	flapped bool  // it is marked flapping (flappedBefore)
	steer   steer // steering(vip, ...)
	// nodes are the cluster's Nodes by name: the steering of any other is forgotten. Nil: unknown.
	nodes map[string]labels.Set
}

// lookAt returns what hold needs of vip, in a cluster of nodes whose administrative steering is
// admin (nodeSteering; nil: unknown).
func lookAt(vip *vrrpv1.VirtualIP, nodes map[string]labels.Set, admin map[string]string) look {
	return look{uid: vip.UID, flapped: flappedBefore(vip), steer: steering(vip, nodes, admin), nodes: nodes}
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
		s = &stretch{uid: l.uid}
		s.steer.follow(l.steer)
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
	if s.steer.follow(l.steer) {
		s.steered = now
		// A change seen while a counted stretch is under way, soon enough after it began and
		// before it was let through (written, perhaps with a Flapping note), excuses it after all.
		// Its start stays when it is all that holds a mark a new leader found (l.flapped).
		if s.counted && !s.reported && now.Sub(s.since) <= askedFor(s.bound, latency) {
			if len(s.starts) > 1 || !s.before {
				s.starts = s.starts[:len(s.starts)-1]
			}
			s.counted, s.flapping, s.window = false, s.before, s.beforeW
		}
	}
	s.steer.prune(l.nodes)
	if sum.Settling <= 0 {
		s.since, s.bound, s.reported, s.counted = time.Time{}, 0, false, false
		return 0, s.flap(now)
	}
	if s.since.IsZero() {
		if len(s.starts) > 0 && now.Sub(s.starts[len(s.starts)-1]) >= s.window {
			s.flapping = false // over, though nothing reconciled the VirtualIP when it ended
		}
		s.since = now
		if s.steered.IsZero() || now.Sub(s.steered) > askedFor(sum.Settling, latency) {
			s.counted, s.before, s.beforeW = true, s.flapping, s.window
			s.starts = append(s.starts, now)
			if len(s.starts) > flapEpisodes {
				s.starts = slices.Delete(s.starts, 0, len(s.starts)-flapEpisodes)
			}
		}
	}
	s.bound = max(s.bound, sum.Settling)
	if s.counted {
		s.window = max(minFlapWindow, flapBounds*(s.bound+latency))
		if len(s.starts) == flapEpisodes && s.starts[flapEpisodes-1].Sub(s.starts[0]) <= s.window {
			s.flapping = true
		}
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

// steer is what an administrator steers a VirtualIP's router with, as its spec, entries and Nodes
// show: the spec's generation, for each node whether its entry's priority was set by an
// administrative action (its reason cordoned, released for maintenance, excluded by a drain,
// preferred by kubectl vrrp failover) and which, and the same actions as the objects they are made
// on show them: the participants' Nodes and the VirtualIP's preferred-node annotation. A lost
// advert, a crashed agent or a check's weight changes none of it. A FAULT entry's reason is the
// fault's: it says nothing of the node's steering, which is taken to be what it was (faulted).
//
// The entries alone miss a steered node past MaxListedNodes: it has an entry only while MASTER, and
// its agent writes the reason of a cordon together with the step back that removes the entry.
type steer struct {
	generation int64
	nodes      map[string]string // node → steeringReasons member, "" for none, faulted while FAULT
	admin      map[string]string // participant → nodeSteering; nil: unknown
	prefer     string            // the preferred-node annotation
}

// faulted stands for a FAULT entry's steering in steer.nodes: unknown, kept as it was.
const faulted = "\x00FAULT"

// steering returns vip's steer, in a cluster of nodes steered as admin says (nil: unknown).
func steering(vip *vrrpv1.VirtualIP, nodes map[string]labels.Set, admin map[string]string) steer {
	st := steer{generation: vip.Generation, nodes: make(map[string]string, len(vip.Status.Nodes)),
		prefer: vip.Annotations[vrrpv1.PreferredNodeAnnotation]}
	if sel, err := participants(&vip.Spec); err == nil && admin != nil {
		// Under onCordon Ignore a cordon changes nothing of the router's: no steering.
		ignore := vip.Spec.Failover != nil && vip.Spec.Failover.OnCordon == vrrpv1.CordonIgnore
		st.admin = map[string]string{}
		for n, set := range nodes {
			if v, ok := admin[n]; ok && sel.Matches(set) {
				if ignore {
					v = strings.Join(slices.DeleteFunc(strings.Split(v, ","), func(a string) bool { return a == cordonedAction }), ",")
				}
				st.admin[n] = v
			}
		}
	}
	for _, e := range vip.Status.Nodes {
		switch {
		case e.State == vrrpv1.StateFault:
			st.nodes[e.Node] = faulted
		case slices.Contains(steeringReasons, e.Reason):
			st.nodes[e.Node] = e.Reason
		default:
			st.nodes[e.Node] = ""
		}
	}
	return st
}

// follow takes in what a later look saw, keeping a FAULT node's steering and that of nodes whose
// entries are gone (a node past MaxListedNodes has one only while MASTER), and says whether any
// of it changed. The first look changes nothing; after it, a node's first entry is a change only
// when an administrative reason set its priority.
func (st *steer) follow(seen steer) (changed bool) {
	if st.nodes == nil {
		st.generation, st.nodes, st.admin, st.prefer = seen.generation, map[string]string{}, seen.admin, seen.prefer
		for n, v := range seen.nodes {
			if v != faulted {
				st.nodes[n] = v
			}
		}
		return false
	}
	changed = seen.generation != st.generation || seen.prefer != st.prefer
	st.generation, st.prefer = seen.generation, seen.prefer
	// A participant's Node: a node that joins the participants is not steered by joining.
	if seen.admin != nil {
		for n, v := range seen.admin {
			if old, known := st.admin[n]; known && old != v {
				changed = true
			}
		}
		st.admin = seen.admin
	}
	for n, v := range seen.nodes {
		if old, known := st.nodes[n]; v != faulted && (!known || old != v) {
			changed = changed || known || v != ""
			st.nodes[n] = v
		}
	}
	return changed
}

// prune forgets the nodes that are no longer in the cluster (nil: unknown): follow keeps the nodes
// whose entries are gone, and a cluster whose nodes come and go would grow the memory for ever.
// One that comes back under the same name is new again.
func (st *steer) prune(nodes map[string]labels.Set) {
	if nodes == nil {
		return
	}
	for n := range st.nodes {
		if _, ok := nodes[n]; !ok {
			delete(st.nodes, n)
		}
	}
}

// cordonedAction is a cordon in nodeSteering.
const cordonedAction = "cordoned"

// nodeSteering is, for each Node, the administrative actions on it that steer the routers of its
// agent (agent/desired's node policy): cordoned, released for maintenance, excluded; "" for none.
func nodeSteering(nodes []corev1.Node) map[string]string {
	out := make(map[string]string, len(nodes))
	for _, n := range nodes {
		var on []string
		if n.Spec.Unschedulable {
			on = append(on, cordonedAction)
		}
		if strings.EqualFold(n.Annotations[vrrpv1.MaintenanceAnnotation], "true") {
			on = append(on, "maintenance")
		}
		if _, ok := n.Labels[vrrpv1.ExcludeLabel]; ok {
			on = append(on, "excluded")
		}
		out[n.Name] = strings.Join(on, ",")
	}
	return out
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
