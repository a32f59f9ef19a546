package controllers

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/internal/dark"
)

// TestHandoverBound checks Summary.Settling against RFC 9568 §6.1's timers, worked out by hand:
// Skew_Time = (256 - Priority) × Master_Adver_Interval / 256 (version 2: (256 - Priority) / 256 s),
// Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time.
func TestHandoverBound(t *testing.T) {
	nodes := map[string]labels.Set{"a": {}, "b": {}, "c": {}}
	interval := func(d time.Duration) func(*vrrpv1.VirtualIP) {
		return func(v *vrrpv1.VirtualIP) { v.Spec.AdvertInterval = &metav1.Duration{Duration: d} }
	}
	v2 := func(v *vrrpv1.VirtualIP) { v.Spec.Version = vrrpv1.VRRPv2 }
	prio := func(p int32) func(*vrrpv1.NodeStatus) { return func(e *vrrpv1.NodeStatus) { e.Priority = p } }

	tests := map[string]struct {
		vip  *vrrpv1.VirtualIP
		dark map[string]string
		want time.Duration
	}{
		"one MASTER is settled": {
			vip: vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "MASTER"), entry("b", "BACKUP"))),
		},
		"no report yet is settled: nothing hands over": {
			vip: vip("web", 51, "198.51.100.1/24"),
		},
		"no MASTER waits Master_Down_Interval of the lowest priority: 3 × 1s + 156/256 s": {
			vip:  vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "BACKUP", prio(200)), entry("b", "BACKUP", prio(100)))),
			want: 3*time.Second + 609375*time.Microsecond,
		},
		"no MASTER at a 100ms interval: 300ms + 56/256 × 100ms": {
			vip:  vip("web", 51, "198.51.100.1/24", interval(100*time.Millisecond), withEntries(entry("a", "BACKUP", prio(200)))),
			want: 300*time.Millisecond + 21875*time.Microsecond,
		},
		"no MASTER with no priority known takes priority 1, the longest skew: 3s + 255/256 s": {
			vip:  vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "FAULT", prio(0)), entry("b", "INIT", prio(0)))),
			want: 3*time.Second + 996093750*time.Nanosecond,
		},
		"no MASTER with every live entry FAULT or STOPPED is not held: no Backup can take over": {
			vip: vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "FAULT", prio(100)), entry("b", "STOPPED", prio(0)))),
		},
		"no MASTER with every entry dark is not held, at VRRPv2's longest interval either": {
			vip:  vip("web", 51, "198.51.100.1/24", v2, interval(255*time.Second), withEntries(entry("a", "MASTER", prio(1)), entry("b", "BACKUP", prio(1)))),
			dark: map[string]string{"a": dark.NodeUnreachable, "b": dark.AgentGone},
		},
		"no MASTER waits for the lowest priority of the routers that can take over, not of a FAULT one": {
			vip:  vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "FAULT", prio(1)), entry("b", "BACKUP", prio(128)))),
			want: 3*time.Second + 500*time.Millisecond,
		},
		"version 2 skews in seconds whatever the interval: 3 × 5s + 156/256 s": {
			vip:  vip("web", 51, "198.51.100.1/24", v2, interval(5*time.Second), withEntries(entry("a", "BACKUP", prio(100)))),
			want: 15*time.Second + 609375*time.Microsecond,
		},
		"a dark entry's priority does not count": {
			vip:  vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "MASTER", prio(1)), entry("b", "BACKUP", prio(128)))),
			dark: map[string]string{"a": dark.NodeUnreachable},
			want: 3*time.Second + 500*time.Millisecond,
		},
		"two MASTERs wait one advertisement interval": {
			vip:  vip("web", 51, "198.51.100.1/24", interval(2*time.Second), withEntries(entry("a", "MASTER"), entry("b", "MASTER"))),
			want: 2 * time.Second,
		},
		"an invalid spec is settled: only an edit changes it": {
			vip: vip("web", 51, "198.51.100.1/24", withSelector(&metav1.LabelSelector{MatchLabels: map[string]string{"not a key!": "x"}}),
				withEntries(entry("a", "FAULT"))),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Summarize(tc.vip, nil, nodes, tc.dark, now).Settling; got != tc.want {
				t.Errorf("Settling = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestHandoversHold runs the hold of one VirtualIP through sequences of summaries on a fake
// timeline: each step is a summary seen at an offset from the start, the wait it gets and whether
// it is reported as flapping.
func TestHandoversHold(t *testing.T) {
	const latency = time.Second
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	one := Summary{Conditions: []metav1.Condition{{Type: "Ready", Reason: "OneMaster"}}}
	none := Summary{Conditions: []metav1.Condition{{Type: "Ready", Reason: "NoMaster"}}, Settling: 3600 * time.Millisecond}
	split := Summary{Conditions: []metav1.Condition{{Type: "Ready", Reason: "SplitBrain"}}, Settling: time.Second}
	slow := Summary{Conditions: []metav1.Condition{{Type: "Ready", Reason: "NoMaster"}}, Settling: 10 * time.Second}
	type step struct {
		at       time.Duration
		vip      string
		sum      Summary
		wait     time.Duration
		flapping bool
	}
	// flap is a short two-Master episode at `at` that ends half a second later, held for its bound
	// either way; flapping is whether the VirtualIP is flapping during and after it.
	flap := func(at time.Duration, flapping bool) []step {
		return []step{{at, "web", split, 2 * time.Second, flapping}, {at + 500*time.Millisecond, "web", one, 0, flapping}}
	}
	tests := map[string][]step{
		"a settled summary is never held": {
			{0, "web", one, 0, false},
			{time.Hour, "web", one, 0, false},
		},
		"no MASTER is held for its bound and the latency, counted from when it was first seen": {
			{0, "web", none, 4600 * time.Millisecond, false},
			{2 * time.Second, "web", none, 2600 * time.Millisecond, false},
			{4600 * time.Millisecond, "web", none, 0, false},
			{time.Minute, "web", none, 0, false},
		},
		"a handover that ends within the bound is never let through": {
			{0, "web", one, 0, false},
			{time.Second, "web", none, 4600 * time.Millisecond, false},
			{3 * time.Second, "web", one, 0, false},
		},
		"two MASTERs have the shorter bound of one interval": {
			{0, "web", split, 2 * time.Second, false},
			{1500 * time.Millisecond, "web", split, 500 * time.Millisecond, false},
			{2 * time.Second, "web", split, 0, false},
		},
		"a change from two MASTERs to none goes on waiting from the first, for the larger bound": {
			{0, "web", split, 2 * time.Second, false},
			{time.Second, "web", none, 3600 * time.Millisecond, false},
			{4600 * time.Millisecond, "web", none, 0, false},
		},
		"no MASTER and two MASTERs taking turns every 3s are one stretch, reported after the larger bound": {
			{0, "web", none, 4600 * time.Millisecond, false},
			{3 * time.Second, "web", split, 1600 * time.Millisecond, false},
			{6 * time.Second, "web", none, 0, false},
			{9 * time.Second, "web", split, 0, false},
			{180 * time.Second, "web", none, 0, false},
		},
		"a stretch once reported is held no longer when its bound grows": {
			{0, "web", split, 2 * time.Second, false},
			{2 * time.Second, "web", split, 0, false},
			{2500 * time.Millisecond, "web", none, 0, false},
		},
		"a settled summary between two gaps starts the second one's wait afresh": {
			{0, "web", none, 4600 * time.Millisecond, false},
			{4 * time.Second, "web", one, 0, false},
			{5 * time.Second, "web", none, 4600 * time.Millisecond, false},
		},
		"the fourth short two-MASTER episode within a minute makes it flapping, with each gap still held, until a minute passes without one": slices.Concat(
			flap(0, false), flap(10*time.Second, false), flap(20*time.Second, false),
			flap(30*time.Second, true), flap(40*time.Second, true),
			[]step{
				{99 * time.Second, "web", one, 0, true},
				{100 * time.Second, "web", one, 0, false},
				{101 * time.Second, "web", split, 2 * time.Second, false},
			},
		),
		"flapping that nothing looked at when it ended is over at the next gap": slices.Concat(
			flap(0, false), flap(10*time.Second, false), flap(20*time.Second, false), flap(30*time.Second, true),
			flap(100*time.Second, false),
		),
		"a gap longer than its bound is let through while flapping, as at any time": slices.Concat(
			flap(0, false), flap(10*time.Second, false), flap(20*time.Second, false),
			[]step{
				{30 * time.Second, "web", split, 2 * time.Second, true},
				{32 * time.Second, "web", split, 0, true},
				{33 * time.Second, "web", one, 0, true},
			},
		),
		"short episodes further apart than the window are handovers, each held": slices.Concat(
			flap(0, false), flap(30*time.Second, false), flap(61*time.Second, false), flap(92*time.Second, false), flap(123*time.Second, false),
		),
		"the window grows with the bound: ten times the largest bound and the latency, 110s for 10s": {
			{0, "web", slow, 11 * time.Second, false},
			{time.Second, "web", one, 0, false},
			{40 * time.Second, "web", slow, 11 * time.Second, false},
			{41 * time.Second, "web", one, 0, false},
			{80 * time.Second, "web", slow, 11 * time.Second, false},
			{81 * time.Second, "web", one, 0, false},
			{110 * time.Second, "web", slow, 11 * time.Second, true},
			{111 * time.Second, "web", one, 0, true},
			{219 * time.Second, "web", one, 0, true},
			{220 * time.Second, "web", one, 0, false},
		},
		"VirtualIPs are timed apart": {
			{0, "web", none, 4600 * time.Millisecond, false},
			{3 * time.Second, "db", none, 4600 * time.Millisecond, false},
			{4600 * time.Millisecond, "web", none, 0, false},
			{4600 * time.Millisecond, "db", none, 3 * time.Second, false},
		},
	}
	for name, steps := range tests {
		t.Run(name, func(t *testing.T) {
			var h handovers
			for i, s := range steps {
				wait, f := h.hold(s.vip, look{}, s.sum, start.Add(s.at), latency)
				if wait != s.wait || (f.note != "") != s.flapping || f.until.IsZero() != (f.note == "") {
					t.Errorf("step %d (%s %s at %v): wait %v, flapping %q until %v; want %v, flapping %v", i, s.vip, readyReason(s.sum), s.at, wait, f.note, f.until, s.wait, s.flapping)
				}
			}
		})
	}
}

func TestHandoversForgetADeletedVirtualIP(t *testing.T) {
	var h handovers
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	none := Summary{Conditions: []metav1.Condition{{Type: "Ready", Reason: "NoMaster"}}, Settling: time.Second}
	h.hold("web", look{}, none, at, 0)
	h.forget("web")
	if got, _ := h.hold("web", look{}, none, at.Add(time.Minute), 0); got != time.Second {
		t.Errorf("a VirtualIP recreated with the same name waits %v, want its full bound", got)
	}
}

// TestHandoversFlapUntilAWindowAfterTheLastGap: flapping ends a window after the last gap began,
// and a VirtualIP made again under the same name (its deletion never reconciled) starts afresh.
func TestHandoversFlapUntilAWindowAfterTheLastGap(t *testing.T) {
	var h handovers
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	split := Summary{Conditions: []metav1.Condition{{Type: "Ready", Reason: "SplitBrain"}}, Settling: time.Second}
	one := Summary{Conditions: []metav1.Condition{{Type: "Ready", Reason: "OneMaster"}}}
	for _, at := range []time.Duration{0, 10 * time.Second, 20 * time.Second, 30 * time.Second} {
		h.hold("web", look{uid: "uid-1"}, split, start.Add(at), time.Second)
		h.hold("web", look{uid: "uid-1"}, one, start.Add(at+500*time.Millisecond), time.Second)
	}
	if _, f := h.hold("web", look{uid: "uid-1"}, one, start.Add(45*time.Second), time.Second); !f.until.Equal(start.Add(90 * time.Second)) {
		t.Errorf("flapping until %v (%q), want 90s after the start: a minute after the fourth gap began", f.until.Sub(start), f.note)
	}
	if wait, f := h.hold("web", look{uid: "uid-2"}, split, start.Add(46*time.Second), time.Second); wait != 2*time.Second || f.note != "" {
		t.Errorf("a VirtualIP made again under its name waits %v, flapping %q; want its full bound of 2s, not flapping", wait, f.note)
	}
}

// TestHandoversANewLeaderKeepsTheMark: a controller with nothing remembered of a VirtualIP that
// the stored object says is flapping keeps it so for a window from then, settled or not; and one
// that remembers the VirtualIP takes its memory over a stale object's mark.
func TestHandoversANewLeaderKeepsTheMark(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	split := Summary{Conditions: []metav1.Condition{{Type: "Ready", Reason: "SplitBrain"}}, Settling: time.Second}
	one := Summary{Conditions: []metav1.Condition{{Type: "Ready", Reason: "OneMaster"}}}

	var settled handovers
	if wait, f := settled.hold("web", look{uid: "uid-1", flapped: true}, one, start, time.Second); wait != 0 || f.note == "" || !f.until.Equal(start.Add(time.Minute)) {
		t.Errorf("settled, marked: wait %v, flapping %q until %v; want no wait, flapping until a minute on", wait, f.note, f.until.Sub(start))
	}
	for _, at := range []time.Duration{time.Minute, time.Minute + time.Second} {
		if _, f := settled.hold("web", look{uid: "uid-1", flapped: true}, one, start.Add(at), time.Second); f.note != "" {
			t.Errorf("%v on, the object still marked (a stale cache): flapping %q; want it over", at, f.note)
		}
	}

	var unsettled handovers
	if wait, f := unsettled.hold("web", look{uid: "uid-1", flapped: true}, split, start, time.Second); wait != 2*time.Second || f.note == "" || !f.until.Equal(start.Add(time.Minute)) {
		t.Errorf("in a gap, marked: wait %v, flapping %q until %v; want the gap held 2s, flapping until a minute on", wait, f.note, f.until.Sub(start))
	}
	if _, f := unsettled.hold("web", look{uid: "uid-1", flapped: true}, one, start.Add(500*time.Millisecond), time.Second); !f.until.Equal(start.Add(time.Minute)) {
		t.Errorf("the gap over: flapping %q until %v; want until a minute after it began", f.note, f.until.Sub(start))
	}

	// The gap under way when the new leader looks first turns out to be asked for: the mark stays.
	var excused handovers
	before := look{uid: "uid-1", flapped: true, steer: steer{nodes: map[string]string{"a": ""}}}
	after := look{uid: "uid-1", flapped: true, steer: steer{nodes: map[string]string{"a": "Cordoned"}}}
	excused.hold("web", before, split, start, time.Second)
	excused.hold("web", after, split, start.Add(200*time.Millisecond), time.Second)
	if _, f := excused.hold("web", after, one, start.Add(500*time.Millisecond), time.Second); !f.until.Equal(start.Add(time.Minute)) {
		t.Errorf("the gap under way excused: flapping %q until %v; want until a minute after the first look", f.note, f.until.Sub(start))
	}
}

// TestHandoversAReportedGapStaysCounted: a change of steering seen after a counted gap was let
// through (past its bound, written with the Flapping note it made) does not take the note back.
func TestHandoversAReportedGapStaysCounted(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	split := Summary{Conditions: []metav1.Condition{{Type: "Ready", Reason: "SplitBrain"}}, Settling: time.Second}
	one := Summary{Conditions: []metav1.Condition{{Type: "Ready", Reason: "OneMaster"}}}
	var h handovers
	l := look{uid: "uid-1", steer: steer{nodes: map[string]string{"a": ""}}}
	for _, at := range []time.Duration{0, 10 * time.Second, 20 * time.Second} {
		h.hold("web", l, split, start.Add(at), time.Second)
		h.hold("web", l, one, start.Add(at+500*time.Millisecond), time.Second)
	}
	h.hold("web", l, split, start.Add(30*time.Second), time.Second)
	if wait, f := h.hold("web", l, split, start.Add(32*time.Second), time.Second); wait != 0 || f.note == "" {
		t.Fatalf("the fourth gap past its bound: wait %v, flapping %q; want it let through, flapping", wait, f.note)
	}
	l.steer = steer{nodes: map[string]string{"a": "Cordoned"}}
	if _, f := h.hold("web", l, split, start.Add(33*time.Second), time.Second); f.note == "" {
		t.Errorf("a change of steering after the gap was let through: flapping %q; want the note kept", f.note)
	}
}

// TestHandoversAskedForStretchesAreNotCounted: a gap that begins within askedFor (4 × 1s + 1s +
// 1s of latency here) of a change of steering, before it or after, is held but not counted
// towards flapping; one that begins further from one, or with nothing changed, is.
func TestHandoversAskedForStretchesAreNotCounted(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	split := Summary{Conditions: []metav1.Condition{{Type: "Ready", Reason: "SplitBrain"}}, Settling: time.Second}
	one := Summary{Conditions: []metav1.Condition{{Type: "Ready", Reason: "OneMaster"}}}
	// gap is a two-Master gap of half a second at `at`. When asked, the steering changes by before
	// it began (a negative by: during the gap, which ends half a second after it began).
	type gap struct {
		at    time.Duration
		asked bool
		by    time.Duration
	}
	nobody := func(at time.Duration) gap { return gap{at: at} }
	asked := func(at, by time.Duration) gap { return gap{at, true, by} }
	tests := map[string]struct {
		gaps     []gap
		flapping bool
	}{
		"five handovers in a minute, each asked for, are not flapping": {
			[]gap{asked(0, 0), asked(10*time.Second, 500*time.Millisecond), asked(20*time.Second, 2*time.Second), asked(30*time.Second, 6*time.Second), asked(40*time.Second, 0)},
			false,
		},
		"nor when each change came 5s before, within four intervals and a second and the latency": {
			[]gap{asked(0, 5*time.Second), asked(10*time.Second, 5*time.Second), asked(20*time.Second, 5*time.Second), asked(30*time.Second, 5*time.Second)},
			false,
		},
		"nor when the change is seen during the gap": {
			[]gap{asked(0, -100*time.Millisecond), asked(10*time.Second, -400*time.Millisecond), asked(20*time.Second, -time.Millisecond), asked(30*time.Second, -300*time.Millisecond)},
			false,
		},
		"four gaps in a minute with nothing asked for are flapping": {
			[]gap{nobody(0), nobody(10 * time.Second), nobody(20 * time.Second), nobody(30 * time.Second)},
			true,
		},
		"a change of steering longer than askedFor before a gap does not excuse it": {
			[]gap{asked(0, 6100*time.Millisecond), asked(10*time.Second, 7*time.Second), asked(20*time.Second, 9*time.Second), asked(30*time.Second, 9*time.Second)},
			true,
		},
		"three gaps nobody asked for and one asked for are not flapping yet": {
			[]gap{nobody(0), nobody(10 * time.Second), asked(20*time.Second, 0), nobody(30 * time.Second)},
			false,
		},
		"nor are three after an asked-for one": {
			[]gap{asked(0, 0), nobody(10 * time.Second), nobody(20 * time.Second), nobody(30 * time.Second)},
			false,
		},
		"four nobody asked for among asked-for ones are": {
			[]gap{nobody(0), asked(10*time.Second, 0), nobody(20 * time.Second), nobody(30 * time.Second), nobody(40 * time.Second)},
			true,
		},
		"a fourth gap excused during it takes back the flapping it made": {
			[]gap{nobody(0), nobody(10 * time.Second), nobody(20 * time.Second), asked(30*time.Second, -200*time.Millisecond)},
			false,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var h handovers
			l := look{uid: "uid-1", steer: steer{nodes: map[string]string{"a": ""}}}
			h.hold("web", l, one, start.Add(-time.Minute), time.Second)
			steerAgain := func() { l.steer = steer{generation: l.steer.generation + 1, nodes: l.steer.nodes} }
			var f flap
			for i, g := range tc.gaps {
				if g.asked && g.by >= 0 {
					steerAgain()
					h.hold("web", l, one, start.Add(g.at-g.by), time.Second)
				}
				if wait, _ := h.hold("web", l, split, start.Add(g.at), time.Second); wait != 2*time.Second {
					t.Errorf("gap %d: wait %v, want it held for its bound of 2s, as any", i, wait)
				}
				if g.asked && g.by < 0 {
					steerAgain()
					h.hold("web", l, split, start.Add(g.at-g.by), time.Second)
				}
				_, f = h.hold("web", l, one, start.Add(g.at+500*time.Millisecond), time.Second)
			}
			if (f.note != "") != tc.flapping {
				t.Errorf("after the last gap: flapping %q, want flapping %v", f.note, tc.flapping)
			}
		})
	}
}

// TestHandoversAGapNotCountedLeavesTheWindow: a gap asked for, with a larger bound than the
// counted ones, neither stretches their window nor brings back an alarm that ended.
func TestHandoversAGapNotCountedLeavesTheWindow(t *testing.T) {
	const latency = time.Second
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	split := Summary{Conditions: []metav1.Condition{{Type: "Ready", Reason: "SplitBrain"}}, Settling: 2 * time.Second}
	none := Summary{Conditions: []metav1.Condition{{Type: "Ready", Reason: "NoMaster"}}, Settling: 7 * time.Second}
	one := Summary{Conditions: []metav1.Condition{{Type: "Ready", Reason: "OneMaster"}}}
	var h handovers
	l := look{uid: "uid-1", steer: steer{nodes: map[string]string{"a": ""}}}
	for _, at := range []time.Duration{0, 15 * time.Second, 30 * time.Second, 45 * time.Second} {
		h.hold("web", l, split, start.Add(at), latency)
		h.hold("web", l, one, start.Add(at+500*time.Millisecond), latency)
	}
	if _, f := h.hold("web", l, one, start.Add(105*time.Second), latency); f.note != "" {
		t.Fatalf("a minute after the fourth gap began: flapping %q, want it over", f.note)
	}
	l.steer = steer{nodes: map[string]string{"a": "Cordoned"}}
	h.hold("web", l, one, start.Add(110*time.Second), latency)
	if _, f := h.hold("web", l, none, start.Add(111*time.Second), latency); f.note != "" {
		t.Errorf("a cordon's gap, its bound 8s (a window of 80s): flapping %q; want the alarm to stay over", f.note)
	}
}

// TestSteering: what an administrator steers a router with changes its steering; what the
// protocol, a fault, a check or a crash does does not, nor does the entries' order.
func TestSteering(t *testing.T) {
	entry := func(node string, state vrrpv1.RouterState, reason string) vrrpv1.NodeStatus {
		return vrrpv1.NodeStatus{Node: node, State: state, Reason: reason}
	}
	vip := func(gen int64, nodes ...vrrpv1.NodeStatus) *vrrpv1.VirtualIP {
		v := &vrrpv1.VirtualIP{Status: vrrpv1.VirtualIPStatus{Nodes: nodes}}
		v.Generation = gen
		return v
	}
	a, b := entry("a", "MASTER", ""), entry("b", "BACKUP", "")
	// Each case is a series of looks after the first, base, with whether each changed steering.
	type step struct {
		vip     *vrrpv1.VirtualIP
		changed bool
	}
	tests := map[string][]step{
		"a handover by the protocol":   {{vip(1, entry("a", "BACKUP", ""), entry("b", "MASTER", "")), false}},
		"the entries in another order": {{vip(1, b, a), false}},
		"a FAULT and its recovery":     {{vip(1, entry("a", "FAULT", "InterfaceDown"), entry("b", "MASTER", "")), false}, {vip(1, a, b), false}},
		"an agent's stop, crash or restart": {
			{vip(1, entry("a", "STOPPED", ""), entry("b", "MASTER", "")), false}, {vip(1, entry("a", "INIT", ""), b), false}, {vip(1, a, b), false},
		},
		"a cordon and an uncordon":  {{vip(1, entry("a", "BACKUP", "Cordoned"), entry("b", "MASTER", "")), true}, {vip(1, a, b), true}},
		"a release for maintenance": {{vip(1, entry("a", "STOPPED", "Maintenance"), entry("b", "MASTER", "")), true}},
		"a drain":                   {{vip(1, entry("a", "STOPPED", "Excluded"), entry("b", "MASTER", "")), true}},
		"kubectl vrrp failover, then a FAULT of the preferred node and its recovery": {
			{vip(1, entry("a", "BACKUP", ""), entry("b", "MASTER", "Preferred")), true},
			{vip(1, a, entry("b", "FAULT", "CheckFailed")), false},
			{vip(1, entry("a", "BACKUP", ""), entry("b", "MASTER", "Preferred")), false},
		},
		"a new spec":           {{vip(2, a, b), true}},
		"a node's first entry": {{vip(1, a, b, entry("c", "BACKUP", "")), false}},
		"a node's first entry, preferred (one past MaxListedNodes, listed only while MASTER)": {
			{vip(1, entry("a", "BACKUP", ""), b, entry("c", "MASTER", "Preferred")), true},
		},
		"a node's entry gone": {{vip(1, a), false}},
	}
	for name, steps := range tests {
		var st steer
		st.follow(steering(vip(1, a, b), nil, nil))
		for i, s := range steps {
			if got := st.follow(steering(s.vip, nil, nil)); got != s.changed {
				t.Errorf("%s, look %d: changed %v, want %v", name, i+1, got, s.changed)
			}
		}
	}
}

// TestSteeringFollowsTheNodes: the administrative actions on the participants' Nodes, and the
// preferred-node annotation, are steering too (review of issue 12). An unlisted Master's agent
// (past MaxListedNodes) writes the reason of a cordon together with the step back that removes
// its entry, which then never shows the reason: four cordons of unlisted Masters within a minute
// were Flapping.
func TestSteeringFollowsTheNodes(t *testing.T) {
	entry := func(node string, state vrrpv1.RouterState) vrrpv1.NodeStatus {
		return vrrpv1.NodeStatus{Node: node, State: state}
	}
	web := map[string]string{"role": "web"}
	vip := func(prefer string, nodes ...vrrpv1.NodeStatus) *vrrpv1.VirtualIP {
		v := &vrrpv1.VirtualIP{Status: vrrpv1.VirtualIPStatus{Nodes: nodes}}
		v.Generation = 1
		v.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: web}
		if prefer != "" {
			v.Annotations = map[string]string{vrrpv1.PreferredNodeAnnotation: prefer}
		}
		return v
	}
	a, b, c := entry("a", "MASTER"), entry("b", "BACKUP"), entry("c", "MASTER")
	ab := vip("", a, entry("b", "BACKUP"))
	ignoring := vip("", a, entry("b", "BACKUP"))
	ignoring.Spec.Failover = &vrrpv1.Failover{OnCordon: vrrpv1.CordonIgnore}
	// c takes part and is past MaxListedNodes (an entry only while MASTER); d does not take part.
	nodes := map[string]labels.Set{"a": web, "b": web, "c": web, "d": {"role": "storage"}}
	none := map[string]string{"a": "", "b": "", "c": "", "d": ""}
	with := func(node, actions string) map[string]string {
		m := maps.Clone(none)
		m[node] = actions
		return m
	}
	// Each case is a series of looks after the first, base (ab, the Nodes unknown), with whether
	// each changed steering. Their Nodes are as admin says; nil: unknown.
	type step struct {
		vip     *vrrpv1.VirtualIP
		admin   map[string]string
		changed bool
	}
	tests := map[string][]step{
		"a Master past MaxListedNodes cordoned, then uncordoned": {
			{vip("", a, b, c), none, false},
			{vip("", a, b, c), with("c", "cordoned"), true},
			{ab, with("c", "cordoned"), false},
			{ab, none, true},
		},
		"a node drained (cordoned and excluded), then released for maintenance": {
			{ab, none, false}, {ab, with("a", "cordoned,excluded"), true}, {ab, with("a", "maintenance"), true},
		},
		"kubectl vrrp failover --to a node past MaxListedNodes, then --clear": {
			{vip("c", a, b), none, true}, {ab, none, true},
		},
		"a cordon of a node that does not take part": {{ab, none, false}, {ab, with("d", "cordoned"), false}},
		"a node that joins the cluster cordoned": {
			{ab, map[string]string{"a": "", "b": ""}, false}, {ab, with("c", "cordoned"), false},
		},
		"the Nodes unknown for a look": {{ab, with("a", "cordoned"), false}, {ab, nil, false}, {ab, with("a", "cordoned"), false}},
		// The diff's review: under onCordon Ignore a cordon changes nothing of the router's.
		"a cordon under onCordon Ignore, then a drain's exclude label": {
			{ignoring, none, false}, {ignoring, with("a", "cordoned"), false}, {ignoring, with("a", "cordoned,excluded"), true},
		},
	}
	for name, steps := range tests {
		var st steer
		st.follow(steering(ab, nodes, nil))
		for i, s := range steps {
			known := nodes
			if s.admin == nil {
				known = nil
			}
			if got := st.follow(steering(s.vip, known, s.admin)); got != s.changed {
				t.Errorf("%s, look %d: changed %v, want %v", name, i+1, got, s.changed)
			}
		}
	}
}

// Review of issue 12: a VirtualIP that selects more nodes than it lists, whose Master is unlisted
// each time it is cordoned (most of its nodes are), is not Flapping after four cordons within a
// minute: the controller sees each cordon on the Node (its watch requeues the VirtualIP), before
// the gap, though the Master's entry only goes.
func TestCordonsOfUnlistedMastersAreNotFlapping(t *testing.T) {
	nodes := map[string]labels.Set{}
	admin := map[string]string{}
	var listed []vrrpv1.NodeStatus
	for i := 1; i <= vrrpv1.MaxListedNodes; i++ {
		n := fmt.Sprintf("a%03d", i)
		nodes[n], admin[n] = labels.Set{}, ""
		listed = append(listed, vrrpv1.NodeStatus{Node: n, State: vrrpv1.StateBackup, Priority: 100})
	}
	for i := 1; i <= 20; i++ {
		n := fmt.Sprintf("z%02d", i)
		nodes[n], admin[n] = labels.Set{}, ""
	}
	vip := func(master string) *vrrpv1.VirtualIP {
		v := &vrrpv1.VirtualIP{}
		v.Name, v.UID, v.Generation = "web", "u", 1
		v.Spec.VirtualRouterID = 51
		v.Spec.Addresses = []string{"198.51.100.1/24"}
		v.Spec.AdvertInterval = &metav1.Duration{Duration: time.Second}
		v.Status.Nodes = slices.Clone(listed)
		if master != "" {
			v.Status.Nodes = append(v.Status.Nodes, vrrpv1.NodeStatus{Node: master, State: vrrpv1.StateMaster, Priority: 100})
		}
		return v
	}
	var h handovers
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	see := func(v *vrrpv1.VirtualIP, at time.Time) flap {
		sum := Summarize(v, nil, nodes, nil, metav1.NewTime(at))
		_, f := h.hold(v.Name, lookAt(v, nodes, maps.Clone(admin)), sum, at, time.Second)
		return f
	}
	see(vip("z01"), start.Add(-time.Hour))
	for i := 1; i <= 2*flapEpisodes; i++ {
		at := start.Add(time.Duration(i) * 12 * time.Second)
		master, next := fmt.Sprintf("z%02d", i), fmt.Sprintf("z%02d", i+1)
		admin[master] = "cordoned"
		see(vip(master), at)
		see(vip(""), at.Add(50*time.Millisecond))
		if f := see(vip(next), at.Add(700*time.Millisecond)); f.note != "" {
			t.Fatalf("after %d cordons of unlisted Masters 12 s apart: %q, want no flapping", i, f.note)
		}
	}
}

// Review of issue 12: the steering of nodes whose entries are gone is kept (a node past
// MaxListedNodes has one only while MASTER), but not of nodes gone from the cluster: with nodes
// that come and go, the memory would grow for ever.
func TestHoldForgetsTheSteeringOfNodesThatLeft(t *testing.T) {
	var h handovers
	one := Summary{Master: "n0"}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 1000 {
		name := fmt.Sprintf("n%d", i)
		v := &vrrpv1.VirtualIP{Status: vrrpv1.VirtualIPStatus{Nodes: []vrrpv1.NodeStatus{{Node: name, State: "MASTER"}}}}
		v.UID = "uid-1"
		h.hold("web", lookAt(v, map[string]labels.Set{name: {}, "kept": {}}, nil), one, start.Add(time.Duration(i)*time.Second), time.Second)
	}
	if n := len(h.seen["web"].steer.nodes); n != 1 {
		t.Errorf("the steering of %d nodes is remembered after 1000 came and went one by one, want 1", n)
	}
}

func TestSteeringReasons(t *testing.T) {
	want := []string{desired.ReasonCordoned, desired.ReasonMaintenance, desired.ReasonExcluded, desired.ReasonPreferred}
	if diff := cmp.Diff(want, steeringReasons); diff != "" {
		t.Errorf("steeringReasons differ from agent/desired's (-want +got):\n%s", diff)
	}
}

// TestHeartbeatsRequeueNothing runs the predicates that setupWithManager registers on the Node and
// agent pod watches: a kubelet rewrites its Node's status every few seconds and its pods' status
// now and then; only what liveness reads passes.
func TestHeartbeatsRequeueNothing(t *testing.T) {
	ready := func(status corev1.ConditionStatus, beat time.Time, rv string, labels map[string]string) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a", ResourceVersion: rv, Labels: labels},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeReady, Status: status, LastHeartbeatTime: metav1.NewTime(beat), LastTransitionTime: metav1.NewTime(beat)}}}}
		slim, _ := slimNode(n)
		return slim.(*corev1.Node)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	changed := func(change func(*corev1.Node)) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a", ResourceVersion: "2"},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeReady, Status: "True", LastHeartbeatTime: metav1.NewTime(t0), LastTransitionTime: metav1.NewTime(t0)}}}}
		change(n)
		slim, _ := slimNode(n)
		return slim.(*corev1.Node)
	}
	nodeTests := map[string]struct {
		old, new *corev1.Node
		want     bool
	}{
		"a heartbeat passes nothing": {
			old: ready("True", t0, "1", map[string]string{"zone": "x"}), new: ready("True", t0.Add(10*time.Second), "2", map[string]string{"zone": "x"}),
		},
		"Ready turning Unknown passes": {
			old: ready("True", t0, "1", nil), new: ready("Unknown", t0, "2", nil), want: true,
		},
		"Ready turning False passes": {
			old: ready("True", t0, "1", nil), new: ready("False", t0, "2", nil), want: true,
		},
		"a label change passes": {
			old: ready("True", t0, "1", nil), new: ready("True", t0, "2", map[string]string{"zone": "y"}), want: true,
		},
		// What nodeSteering reads, through the cache's transform.
		"a cordon passes": {
			old: ready("True", t0, "1", nil), new: changed(func(n *corev1.Node) { n.Spec.Unschedulable = true }), want: true,
		},
		"the maintenance annotation passes": {
			old: ready("True", t0, "1", nil), new: changed(func(n *corev1.Node) { n.Annotations = map[string]string{vrrpv1.MaintenanceAnnotation: "true"} }), want: true,
		},
		"another annotation passes nothing": {
			old: ready("True", t0, "1", nil), new: changed(func(n *corev1.Node) { n.Annotations = map[string]string{"node.alpha.kubernetes.io/ttl": "0"} }),
		},
	}
	for name, tc := range nodeTests {
		t.Run(name, func(t *testing.T) {
			if got := nodeChanged.Update(event.TypedUpdateEvent[*corev1.Node]{ObjectOld: tc.old, ObjectNew: tc.new}); got != tc.want {
				t.Errorf("update passes = %v, want %v", got, tc.want)
			}
		})
	}

	pod := func(node string, phase corev1.PodPhase, ip, rv string, agent ...corev1.ContainerState) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "agent-a", ResourceVersion: rv},
			Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase, PodIP: ip}}
		for _, st := range agent {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: "agent", State: st})
		}
		slim, _ := slimPod(p)
		return slim.(*corev1.Pod)
	}
	podTests := map[string]struct {
		old, new *corev1.Pod
		want     bool
	}{
		"a status update of a running pod passes nothing": {
			old: pod("a", corev1.PodRunning, "", "1"), new: pod("a", corev1.PodRunning, "198.51.100.2", "2"),
		},
		"a pod that stops running passes": {
			old: pod("a", corev1.PodRunning, "", "1"), new: pod("a", corev1.PodFailed, "", "2"), want: true,
		},
		"a pod scheduled to a node passes": {
			old: pod("", corev1.PodPending, "", "1"), new: pod("a", corev1.PodPending, "", "2"), want: true,
		},
		"an agent whose container crashes in a Running pod passes": {
			old:  pod("a", corev1.PodRunning, "", "1", corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}),
			new:  pod("a", corev1.PodRunning, "", "2", corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}),
			want: true,
		},
		"a restart count going up while the container runs passes nothing": {
			old: pod("a", corev1.PodRunning, "", "1", corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}),
			new: pod("a", corev1.PodRunning, "", "2", corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}),
		},
	}
	for name, tc := range podTests {
		t.Run(name, func(t *testing.T) {
			if got := podChanged.Update(event.TypedUpdateEvent[*corev1.Pod]{ObjectOld: tc.old, ObjectNew: tc.new}); got != tc.want {
				t.Errorf("update passes = %v, want %v", got, tc.want)
			}
		})
	}
}
