package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
	"github.com/vrrp-dev/vrrp-operator/agent/track"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// FieldManager is the prefix of the agents' field managers; each node's agent owns exactly its own
// entry of status.nodes (and the master labels of its own Node) under FieldManager + node name.
const FieldManager = "vrrp.dev/agent-"

// Backoff bounds for writes that failed (API server away): short enough that status is right again
// within seconds of its return.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// reassertAfter is how long after its write an entry may still look different in the cache without
// being applied again: the cache catches up with the agent's own writes within milliseconds, and a
// later difference means someone else changed or removed the entry. Each re-assert of the same
// entry in a row doubles it, up to reassertMax: a writer that keeps undoing ours (the controller
// whose cache counts this node out, a re-assert the API server takes but does not keep) is not
// fought once a second.
var reassertAfter = time.Second

const reassertMax = time.Minute

// maxCoalesce bounds how long a change that needs no haste waits to be written with the ones that
// follow it (see reporter.held): an entry's change without a transition, the master labels.
const maxCoalesce = time.Second

// takeoverSettle is how long a transition to MASTER waits to be written, at most one advert
// interval: two Backups of one priority whose Master_Down timers fire together both take over,
// and the one with the lower primary address steps back at the other's first advert (RFC 9568
// §6.4.3). In BenchmarkStatusHandover, on cores the API server kept busy, such a second Master was
// back in BACKUP 15 ms later at the median and 50 ms at p95. Written at once, it cost a write of
// the MASTER entry, a write of the BACKUP entry that waited for the first to land (one write of
// an entry at a time: 200 ms under that load, the tail of the benchmark's latencies), for most of
// the ten VirtualIPs of each cordon; held, the step back finds the entry as it was and writes
// nothing (see takeover; the slowest twentieth of them still write both). A Master still there
// after the other's next advert is no fleeting one.
const takeoverSettle = 50 * time.Millisecond

// A VirtualIP's first entries go out one node after the other, in the order of desired.Router.Rank:
// a node writes its first entry, unless it is MASTER, once the entry of the node before it
// (Previous) is in its cache, and at the latest firstWriteSpacing times its rank after it took the
// router on, for a node before it that never writes. A VirtualIP created for 100 nodes, or 100
// agents started at once, otherwise has them all apply to the one object together, and each apply
// that lands makes the API server redo the others: BenchmarkFleet saw 24 etcd updates per landed
// write and a minute until all 100 entries were there. The slot is meant to be slower than the
// chain (an apply took 26 ms at 25 entries, 106 ms at 200 and 205 ms at 400), so that it stands in
// only for a node that does not write: slots that overtake the chain bring the crowd back, which
// at several hundred entries they begin to.
const firstWriteSpacing = 250 * time.Millisecond

// slot is when a router's first entry may be written: after the entry of node after, or at at.
// A slot of another kind delays instead the removal of the entry of a node that became unlisted
// (slotRemoval), or only the router's Events (slotEvents): a nodeSelector or spec.unicast change
// may unlist hundreds at once. Every slot holds the router's Events.
type slot struct {
	at    time.Time
	after string
	kind  slotKind
}

type slotKind uint8

const (
	slotFirstWrite slotKind = iota
	slotRemoval
	slotEvents
)

// A router's Events are bounded: eventBurst at once, then one every eventEvery. A router that
// flaps (two Masters that keep preempting each other, forged adverts on a segment without
// authentication, a check that keeps failing and passing) can change tens of times a second at
// 10 ms adverts, and each Event is a request to the API server that every agent of the cluster
// shares. client-go's events library folds repeats into a series only for Events about the same
// object version, and a VirtualIP's version changes with every status write. Beyond the budget a
// router's latest change waits for the budget to allow it and is then recorded, saying how many
// changes before it were not (counted in metrics.EventsSuppressed): a router's Events always end
// with its latest change, at most eventEvery late. The agent's log and the transitions and
// check-change metrics keep every change.
const (
	eventBurst = 10
	eventEvery = 6 * time.Second
)

// eventBudget is a router's budget of Events, a generic cell rate algorithm: an Event may go out
// from eventBurst-1 intervals before tat on, and moves tat one interval past the later of tat and
// its time. last is the latest change the budget holds back; dropped counts the changes it held
// back and then replaced, the first of them observed at since.
type eventBudget struct {
	tat     time.Time
	last    *transition
	dropped int
	since   time.Time
}

// allowedAt is when b lets the next Event out.
func (b *eventBudget) allowedAt() time.Time {
	return b.tat.Add(-(eventBurst - 1) * eventEvery)
}

// take lets an Event out at now, which b allows, and notes in t the changes dropped before it.
func (b *eventBudget) take(t *transition, now time.Time) {
	b.tat = later(b.tat, now).Add(eventEvery)
	t.suppressed, t.since = b.dropped, b.since
	b.dropped = 0
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// spend decides the Event of t at now: it goes out (true) or waits in the budget as its router's
// latest change. Either way t replaces the change that waited, which is dropped: replaced is 1
// then. r.mu is held.
func (r *reporter) spend(t *transition, now time.Time) (out bool, replaced int) {
	if !r.known[t.router] {
		return true, 0 // the last words of a router that is gone: few, and no budget to keep
	}
	b := r.budgets[t.router]
	if b == nil {
		b = &eventBudget{}
		r.budgets[t.router] = b
	}
	if b.last != nil {
		if b.dropped == 0 {
			b.since = b.last.at
		}
		b.dropped++
		b.last, replaced = nil, 1
	}
	if now.Before(b.allowedAt()) {
		c := *t
		b.last = &c
		return false, replaced
	}
	b.take(t, now)
	return true, replaced
}

// lastEvent leaves, of the Events of router name that is going away, only its latest change: the
// one its budget holds or the last one queued. Unbounded by a budget, they go out at once. r.mu is
// held.
func (r *reporter) lastEvent(name string) {
	var last *transition
	if b := r.budgets[name]; b != nil {
		last = b.last
	}
	r.pending = slices.DeleteFunc(r.pending, func(t transition) bool {
		if t.router != name {
			return false
		}
		if t.recorded() {
			c := t
			last = &c
		}
		return true
	})
	if last != nil {
		r.pending = append(r.pending, *last)
	}
}

// heldEvents returns the changes that waited in their budget and may go out at now. A budget
// back to full burst with nothing waiting is dropped: it is as good as none. r.mu is held.
func (r *reporter) heldEvents(now time.Time) []transition {
	var out []transition
	for name, b := range r.budgets {
		if b.last == nil && !b.tat.After(now) {
			delete(r.budgets, name)
		}
		if b.last == nil || now.Before(b.allowedAt()) {
			continue
		}
		t := *b.last
		b.last = nil
		b.take(&t, now)
		out = append(out, t)
	}
	return out
}

// refusalLogEvery bounds how often a write the API server keeps refusing is logged: a missing RBAC
// rule or a refusal of the admission policy needs a person, and retries every maxBackoff must not
// flood the log meanwhile.
const refusalLogEvery = time.Minute

// reporter writes what the routers observe to the API server. It never blocks the routers: observe
// records the latest status and the writer goroutine catches up, latest state wins.
type reporter struct {
	c       client.Client
	rec     events.EventRecorder
	metrics *metrics.Metrics
	node    string
	log     logr.Logger
	kick    chan struct{}

	mu      sync.Mutex
	entries map[string]*vrrpv1.NodeStatus // router -> entry to write; nil: remove ours
	dirty   map[string]bool
	masters map[string]bool // routers this node is MASTER of, for the node label
	labels  bool            // the node label needs writing
	states  map[string]vrrp.State
	pending []transition       // Events to emit
	known   map[string]bool    // routers that run here or failed to (participate)
	running map[string]bool    // routers that run here: only they report through observe
	refused map[string]refusal // resource/object -> the refusal last logged
	// nodeGoneSaid: that this node's Node object is gone was logged at level 0; a label write
	// that lands says it is back.
	nodeGoneSaid atomic.Bool
	sources      map[string]string    // router -> the unicast source this node publishes
	landed       map[string]time.Time // router -> when its entry's last write landed
	verify       bool                 // compare the cache's entries with ours before the next flush
	// checks holds each router's checks as last observed (name -> state), for Events on changes.
	checks map[string]map[string]track.State
	// reasserts counts the re-asserts of each entry in a row, until it is seen as written for as
	// long as the next re-assert would wait.
	reasserts map[string]int
	// foreign holds, for each entry to re-assert, the entry as the cache had it: fields in it that
	// ours leaves empty are someone else's, which an apply cannot take away (see writeEntry).
	foreign map[string]foreignEntry
	// inflight holds the entries (and labelKey) being written: none is written twice at once, and
	// one that changes meanwhile is written again when the write ends. writesEnded counts the
	// writes that ended; ended is broadcast at each, for flush.
	inflight    map[string]bool
	writesEnded int
	ended       *sync.Cond
	// retrying holds the writes that failed, due again at retryAt; backoff is the last wait, which
	// doubles while writes keep failing. failing holds the keys whose last write failed.
	retrying map[string]bool
	failing  map[string]bool
	retryAt  time.Time
	backoff  time.Duration
	// held holds, for the entries whose change keeps the router's state (priority, reason, checks,
	// last hook), when that change is due: it waits up to the router's coalesce window for the
	// transition it often brings (an uncordoned Backup's priority, then its preemption one advert
	// later), which then carries it in one write. labelsAt is the same for the master labels, held
	// from the first transition that changes them, so that a handover of many VirtualIPs
	// relabels the Node once. A transition to MASTER is held too, for takeoverSettle. Zero or
	// absent: due at once. intervals holds each running router's advert interval, which sets its
	// coalesce window (see coalesceWindow) and bounds its takeoverSettle.
	held      map[string]time.Time
	labelsAt  time.Time
	intervals map[string]time.Duration
	// labelled holds the routers of the master labels the last write that landed applied; nil
	// before the first and after a failed one. A label write due that would apply them again (a
	// takeover that ended before its labels went out) is not made. stray holds the master labels
	// someone else set on this Node that the next label write removes (see reassertLabels).
	labelled []string
	stray    []string
	// slots holds, for the routers whose entry has not been written yet, when their first write
	// is due (see firstWriteSpacing); an entry that reports MASTER does not wait for it.
	slots map[string]slot
	// unlisted holds the routers for which this node comes after the first
	// vrrpv1.MaxListedNodes of the VirtualIP's nodes (desired.Router.Unlisted): their entry is
	// written only while MASTER. observed holds each running router's entry as last observed,
	// listed or not, for when the node's rank changes.
	unlisted map[string]bool
	observed map[string]*vrrpv1.NodeStatus
	// written holds the routers whose entry is in the API as far as this agent's writes tell:
	// the last write that landed was an entry, not a removal. faults holds, for the unlisted
	// routers this node cannot run, the error last recorded as an Event: they write no entry.
	written map[string]bool
	faults  map[string]string
	// budgets bounds each router's Events (see eventBurst).
	budgets map[string]*eventBudget
	// takeovers holds, for the routers whose transition to MASTER is held (see takeoverSettle)
	// and whose entry was clean when it came, that MASTER entry and the one written before it.
	// Any other report of the router meanwhile (a hook's result, a priority), a write of the
	// earlier entry that fails, and the MASTER entry going out end the record: the step back is
	// then written.
	takeovers map[string]takeover
}

// takeover is a held transition to MASTER: master is the entry due, before the entry written (or
// being written) when it came. A step back before master goes out leaves before as it was.
type takeover struct {
	master, before *vrrpv1.NodeStatus
}

// foreignEntry is this node's entry as found in the cache, at its index in status.nodes.
type foreignEntry struct {
	index int
	entry *vrrpv1.NodeStatus
}

// refusal is a write the API server refused, as last logged.
type refusal struct {
	message string
	at      time.Time
}

// transition is an Event to emit: a router's state changed, or, when check is set, a check's.
type transition struct {
	router   string
	from, to vrrp.State
	priority uint8
	reason   string

	check      string
	checkState track.State
	message    string

	// at is when it was observed. suppressed changes of the router before it were not recorded,
	// the first at since (see spend).
	at         time.Time
	suppressed int
	since      time.Time
}

// recorded reports whether t makes an Event (see event): a start in INIT makes none.
func (t transition) recorded() bool {
	if t.check != "" {
		return true
	}
	_, reason := transitionEvent(t.to)
	return reason != ""
}

// transitionEvent is the type and reason of the Event of a transition to state; no reason: none.
func transitionEvent(to vrrp.State) (typ, reason string) {
	switch to {
	case vrrp.StateMaster:
		return corev1.EventTypeNormal, "BecameMaster"
	case vrrp.StateBackup:
		return corev1.EventTypeNormal, "BecameBackup"
	case vrrp.StateFault:
		return corev1.EventTypeWarning, "Fault"
	case vrrp.StateStopped:
		return corev1.EventTypeNormal, "Stopped"
	}
	return "", ""
}

// newReporter returns a reporter that records from now on and writes once connected and started.
func newReporter(node string, log logr.Logger) *reporter {
	// labels starts true: the first write removes master labels a predecessor left on this Node.
	r := &reporter{node: node, log: log.WithName("status"), kick: make(chan struct{}, 1),
		entries: map[string]*vrrpv1.NodeStatus{}, dirty: map[string]bool{}, masters: map[string]bool{},
		states: map[string]vrrp.State{}, known: map[string]bool{}, running: map[string]bool{}, refused: map[string]refusal{},
		sources: map[string]string{}, landed: map[string]time.Time{}, labels: true,
		reasserts: map[string]int{}, foreign: map[string]foreignEntry{}, checks: map[string]map[string]track.State{},
		inflight: map[string]bool{}, retrying: map[string]bool{}, failing: map[string]bool{},
		held: map[string]time.Time{}, intervals: map[string]time.Duration{}, slots: map[string]slot{},
		unlisted: map[string]bool{}, observed: map[string]*vrrpv1.NodeStatus{}, written: map[string]bool{}, faults: map[string]string{},
		budgets: map[string]*eventBudget{}, takeovers: map[string]takeover{}}
	r.ended = sync.NewCond(&r.mu)
	return r
}

// connect gives the reporter its client, recorder and metrics; it is called before Start.
func (r *reporter) connect(c client.Client, rec events.EventRecorder, m *metrics.Metrics) {
	r.c, r.rec, r.metrics = c, rec, m
}

// participate tells the reporter which VirtualIPs this node takes part in: a running router or one
// that cannot run here (reported as FAULT with the reason). Entries of the others are removed.
func (r *reporter) participate(res desired.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now, running, unlisted := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, d := range res.Routers {
		now[d.Name], running[d.Name] = true, true
		if d.Unlisted {
			unlisted[d.Name] = true
		}
	}
	faults, at := map[string]string{}, time.Now()
	for _, e := range res.Errors {
		now[e.Name] = true
		var want *vrrpv1.NodeStatus
		if !e.Unlisted {
			want = &vrrpv1.NodeStatus{Node: r.node, State: vrrpv1.StateFault, Reason: e.Reason(), Message: truncate(e.Error(), 1024)}
		} else {
			// No entry: a Warning Event says it, once for each error, in the node's turn (the
			// same error on hundreds of nodes must not reach the API server at once).
			unlisted[e.Name] = true
			faults[e.Name] = e.Reason() + ": " + truncate(e.Error(), 512)
			if faults[e.Name] != r.faults[e.Name] {
				r.pending = append(r.pending, transition{router: e.Name, from: r.states[e.Name], to: vrrp.StateFault, reason: e.Reason(), message: e.Error(), at: at})
				if _, ok := r.slots[e.Name]; !ok {
					r.slots[e.Name] = unlistedTurn(at, e.Rank, true)
				}
			}
		}
		switch old := r.entries[e.Name]; {
		case want == nil && old != nil && !r.written[e.Name] && !r.inflight[e.Name]:
			r.entries[e.Name] = nil // never written: nothing to remove
			r.undue(e.Name)
		case (old == nil) != (want == nil) || (old != nil && (old.State != want.State || old.Reason != want.Reason || old.Message != want.Message)):
			r.entries[e.Name], r.dirty[e.Name] = want, true
			delete(r.held, e.Name)
			// A MASTER entry goes at once: status.master must not name a node that cannot
			// run the router.
			if want == nil && old.State != vrrpv1.StateMaster {
				r.slots[e.Name] = unlistedTurn(at, e.Rank, false)
			}
		}
		// A router in error runs no more: the master label must not outlive its mastery, or
		// workloads that follow the VIP by node affinity stay where the VIP is not.
		if r.masters[e.Name] {
			delete(r.masters, e.Name)
			delete(r.states, e.Name)
			r.labels, r.labelsAt = true, time.Time{}
		}
	}
	r.faults = faults
	for name := range r.known {
		if !now[name] {
			// An unlisted node that wrote nothing has nothing to remove: a VirtualIP that stops
			// selecting hundreds of nodes must not cost hundreds of writes.
			if r.written[name] || r.inflight[name] || !r.unlisted[name] {
				r.entries[name], r.dirty[name] = nil, true
			} else {
				r.entries[name] = nil
				r.undue(name)
			}
			delete(r.held, name)
			delete(r.slots, name)
			delete(r.states, name)
			delete(r.checks, name)
			// A VirtualIP created again under this name starts afresh, not backing off.
			delete(r.reasserts, name)
			r.lastEvent(name)
			delete(r.budgets, name)
			if r.metrics != nil {
				r.metrics.EventsSuppressed.DeleteLabelValues(name)
			}
			delete(r.landed, name)
			delete(r.foreign, name)
			delete(r.takeovers, name)
			if r.masters[name] {
				delete(r.masters, name)
				r.labels, r.labelsAt = true, time.Time{}
			}
		}
	}
	clear(r.intervals)
	for _, d := range res.Routers {
		r.intervals[d.Name] = d.Config.AdvertInterval
		// A node that becomes listed without an entry writes its first one in turn too: a
		// nodeSelector change may list many at once.
		first := !r.known[d.Name] || (r.unlisted[d.Name] && r.entries[d.Name] == nil)
		if first && d.Rank > 0 && !d.Unlisted {
			r.slots[d.Name] = slot{at: at.Add(time.Duration(d.Rank) * firstWriteSpacing), after: d.Previous}
		}
	}
	// Unicast peers send to the address published here: a new one is news even without a
	// transition.
	sources := map[string]string{}
	for _, d := range res.Routers {
		if d.Source.IsValid() {
			sources[d.Name] = d.Source.String()
		}
	}
	ranks := map[string]int{}
	for _, d := range res.Routers {
		ranks[d.Name] = d.Rank
	}
	was := r.unlisted
	r.unlisted = unlisted
	maps.DeleteFunc(r.observed, func(name string, _ *vrrpv1.NodeStatus) bool { return !running[name] })
	for name, e := range r.observed {
		unlisting := unlisted[name] && !was[name]
		if unlisting {
			// Its first write's turn is moot, and so is the Event of its start.
			delete(r.slots, name)
			r.pending = slices.DeleteFunc(r.pending, func(t transition) bool {
				return t.router == name && t.check == "" && t.from == vrrp.StateInit && (t.to == vrrp.StateBackup || t.to == vrrp.StateStopped)
			})
		}
		if e.Address != sources[name] {
			c := *e // flush may be encoding e
			c.Address = sources[name]
			e = &c
			r.observed[name] = e
		}
		// The node's rank may have changed too (a node came or went before it).
		want := r.listed(name, e)
		switch {
		case want == r.entries[name] || sameEntry(want, r.entries[name]):
		case want == nil && !r.written[name] && !r.inflight[name]:
			// Unlisted before its entry went out, or after it was removed: there is nothing
			// to remove (an entry left by a predecessor is reasserted away).
			r.entries[name] = nil
			r.undue(name)
		default:
			r.entries[name], r.dirty[name] = want, true
			delete(r.held, name)
			if want == nil && unlisting {
				r.slots[name] = unlistedTurn(at, ranks[name], false)
			}
		}
	}
	r.known, r.running, r.sources = now, running, sources
	// Every sync (an event or a resync) checks that the entries are still there as written.
	r.verify = true
	r.signal()
}

// verifySoon has the next flush check this node's entries against the cache: a VirtualIP's status
// changed, and the change may have removed or altered an entry of ours.
func (r *reporter) verifySoon() {
	r.mu.Lock()
	r.verify = true
	r.mu.Unlock()
	r.signal()
}

// observe is the speaker's OnStatus: it must not block.
func (r *reporter) observe(st speaker.Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.running[st.Router] {
		return // removed or failing: its last words must not overwrite the entry
	}
	e := &vrrpv1.NodeStatus{Node: r.node, State: vrrpv1.RouterState(st.State.String()), Priority: int32(st.Priority),
		Reason: st.Reason, Message: truncate(st.Message, 1024), Interface: st.Interface, Address: r.sources[st.Router],
		Checks: checkStatuses(st.Checks)}
	if st.State == vrrp.StateStopped {
		e.Priority = 0 // a stopped router takes no part in elections
	}
	if !st.Since.IsZero() {
		t := metav1.NewTime(st.Since)
		e.LastTransitionTime = &t
	}
	if h := st.LastHook; h != nil {
		d := metav1.Duration{Duration: h.Duration.Round(time.Millisecond)}
		started := metav1.NewTime(h.Started)
		e.LastHook = &vrrpv1.HookResult{Kind: h.Job.Kind, ExitCode: int32(h.ExitCode), TimedOut: h.TimedOut,
			Duration: &d, StartTime: &started, Output: truncate(h.Output, 1024)}
	}
	// The speaker reports whatever changed, checks included; an entry that reads the same as the one
	// written (or due) is not written again: steady state writes nothing. A transition is due at
	// once, with any change held before it, but for a takeover (see takeoverSettle); a change that
	// keeps the state waits (see held), unless a transition is due already.
	now := time.Now()
	r.observed[st.Router] = e
	to, took := r.takeovers[st.Router]
	delete(r.takeovers, st.Router)
	if old, want := r.entries[st.Router], r.listed(st.Router, e); !sameEntry(old, want) {
		_, held := r.held[st.Router]
		_, reasserting := r.foreign[st.Router]
		dirty := r.dirty[st.Router]
		r.entries[st.Router], r.dirty[st.Router] = want, true
		switch {
		case want == nil && !r.written[st.Router] && !r.inflight[st.Router] && !reasserting:
			// An unlisted node's takeover that ended before its entry went out: nothing to remove
			// (unless reassert found one left behind, whose removal is due).
			r.undue(st.Router)
		case took && old == to.master && dirty && !reasserting && !r.failing[st.Router] && sameBut(to.before, want):
			// A takeover that ended before its entry went out, back to the entry written before
			// it but for lastTransitionTime: status never showed it, and a write now would say
			// only when it ended. Its Events record it. Two Backups that take over together make
			// one such step back for every VirtualIP of a cordon, all in the API server's busiest
			// moment.
			r.entries[st.Router], r.observed[st.Router] = to.before, to.before
			delete(r.dirty, st.Router)
			delete(r.held, st.Router)
			// reassert passed over the entry while it was due: the next one compares it.
			r.verify = true
		case want != nil && want.State == vrrpv1.StateMaster && (old == nil || old.State != want.State):
			r.held[st.Router] = now.Add(r.settle(st.Router))
			if old != nil && !dirty && !reasserting && !r.failing[st.Router] {
				r.takeovers[st.Router] = takeover{master: want, before: old}
			}
		case old == nil || want == nil || old.State != want.State:
			delete(r.held, st.Router)
		case !dirty && !held:
			r.held[st.Router] = now.Add(r.window(st.Router))
		}
	}
	// An unlisted node's start as BACKUP or STOPPED is not news: hundreds of them would each
	// record it at once.
	if old, ok := r.states[st.Router]; (ok && old != st.State) || (!ok && st.State != vrrp.StateInit) {
		start := !ok || old == vrrp.StateInit
		if !(r.unlisted[st.Router] && start && (st.State == vrrp.StateBackup || st.State == vrrp.StateStopped)) {
			r.pending = append(r.pending, transition{router: st.Router, from: old, to: st.State, priority: st.Priority, reason: st.Reason, at: now})
		}
	}
	r.states[st.Router] = st.State
	r.checkEvents(st)
	if master := st.State == vrrp.StateMaster; master != r.masters[st.Router] {
		if master {
			r.masters[st.Router] = true
		} else {
			delete(r.masters, st.Router)
		}
		if !r.labels {
			r.labelsAt = now.Add(r.window(st.Router))
		}
		r.labels = true
	}
	r.signal()
}

// undue drops the write due for router name, which needs none: its entry was never written. A
// failed write of it is moot, and no longer keeps the backoff up. r.mu is held.
func (r *reporter) undue(name string) {
	delete(r.dirty, name)
	delete(r.held, name)
	delete(r.failing, name)
	if len(r.failing) == 0 {
		r.backoff = 0
	}
}

// unlistedTurn is the slot of a node of rank that has just become unlisted: its entry's removal
// (or, eventOnly, its first Event) waits for its turn, at most MaxListedNodes turns: a
// nodeSelector or spec.unicast change may unlist hundreds of nodes at once.
func unlistedTurn(at time.Time, rank int, eventOnly bool) slot {
	s := slot{at: at.Add(time.Duration(1+rank%vrrpv1.MaxListedNodes) * firstWriteSpacing), kind: slotRemoval}
	if eventOnly {
		s.kind = slotEvents
	}
	return s
}

// listed is the entry to write for router name as observed, e: e itself, or none when this node
// is unlisted for it and not its MASTER (see vrrpv1.MaxListedNodes). r.mu is held.
func (r *reporter) listed(name string, e *vrrpv1.NodeStatus) *vrrpv1.NodeStatus {
	if r.unlisted[name] && e.State != vrrpv1.StateMaster {
		return nil
	}
	return e
}

// coalesceWindow is how long a change that needs no haste may wait for the changes that follow it
// on a router advertising every interval: three intervals, Master_Down_Interval without its
// Skew_Time, within which VRRP settles what a priority change starts (a Backup that now outranks
// the Master preempts at its next advert; a Master that fell below a Backup is preempted and hears
// the new Master's advert within two), at most maxCoalesce.
func coalesceWindow(interval time.Duration) time.Duration {
	if interval <= 0 {
		return maxCoalesce
	}
	return min(3*interval, maxCoalesce)
}

// window is the coalesce window of router name, maxCoalesce when unknown. r.mu is held.
func (r *reporter) window(name string) time.Duration {
	if d, ok := r.intervals[name]; ok {
		return coalesceWindow(d)
	}
	return maxCoalesce
}

// settle is how long a transition of router name to MASTER is held: takeoverSettle, at most its
// advert interval. r.mu is held.
func (r *reporter) settle(name string) time.Duration {
	if d := r.intervals[name]; d > 0 {
		return min(takeoverSettle, d)
	}
	return takeoverSettle
}

// checkEvents queues an Event for each check of st that turned Passing or Failing from the other;
// a first result after Unknown (a new check, an agent restart) is news in status only. r.mu is held.
func (r *reporter) checkEvents(st speaker.Status) {
	prev := r.checks[st.Router]
	now := make(map[string]track.State, len(st.Checks))
	for _, c := range st.Checks {
		s := c.Result.State
		now[c.Name] = s
		if old := prev[c.Name]; old != track.Unknown && s != track.Unknown && old != s {
			r.pending = append(r.pending, transition{router: st.Router, priority: st.Priority,
				check: c.Name, checkState: s, message: c.Result.Message, at: time.Now()})
		}
	}
	r.checks[st.Router] = now
}

// checkStatuses are the checks of a status entry.
func checkStatuses(checks []desired.CheckState) []vrrpv1.CheckStatus {
	if len(checks) == 0 {
		return nil
	}
	out := make([]vrrpv1.CheckStatus, 0, len(checks))
	for _, c := range checks {
		cs := vrrpv1.CheckStatus{Name: c.Name, State: vrrpv1.CheckState(c.Result.State.String()), Weight: int32(c.Weight),
			Message: truncate(c.Result.Message, 256)}
		if !c.Result.Since.IsZero() {
			t := metav1.NewTime(c.Result.Since)
			cs.Since = &t
		}
		out = append(out, cs)
	}
	return out
}

func (r *reporter) signal() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Start is the manager runnable that writes: status entries, the node label, Events. Writes do not
// wait for each other: an entry that changes while another's write is in flight goes out at once.
func (r *reporter) Start(ctx context.Context) error {
	for {
		var retry <-chan time.Time
		r.mu.Lock()
		if at := r.nextWake(); !at.IsZero() {
			retry = time.After(time.Until(at))
		}
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-r.kick:
		case <-retry:
		}
		r.reassert(ctx)
		r.dispatch(ctx)
	}
}

// nextWake is when a write that waits (a retry, a held change) is due next; zero: none waits.
// r.mu is held.
func (r *reporter) nextWake() time.Time {
	next := r.retryAt
	earlier := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if r.labels {
		earlier(r.labelsAt)
	}
	for name := range r.dirty {
		if !r.inflight[name] && !r.retrying[name] {
			earlier(r.waitsUntil(name))
		}
	}
	for _, t := range r.pending { // Events held by a slot with nothing to write
		if s, ok := r.slots[t.router]; ok {
			earlier(s.at)
		}
	}
	for _, b := range r.budgets { // a router's latest change, held by its Event budget
		if b.last != nil {
			earlier(b.allowedAt())
		}
	}
	return next
}

// flush writes everything dirty and waits for it, writes in flight included; it reports whether
// nothing is left to write. It is for shutdown and tests. A write that fails is not tried again
// within the flush unless its backoff ends meanwhile, but the others go on: the last words of
// every router, and the label, matter.
func (r *reporter) flush(ctx context.Context) bool {
	r.mu.Lock()
	clear(r.retrying) // what failed before is due now
	r.retryAt = time.Time{}
	r.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		r.mu.Lock()
		r.ended.Broadcast()
		r.mu.Unlock()
	})
	defer stop()
	for ctx.Err() == nil {
		r.mu.Lock()
		clear(r.held) // nothing waits for more changes or its turn: these are the last words
		for _, b := range r.budgets {
			b.tat = time.Time{} // nor for its Event budget
		}
		clear(r.slots)
		r.labelsAt = time.Time{}
		r.mu.Unlock()
		r.dispatch(ctx)
		r.mu.Lock()
		// Wait for one write to end: the next goes out at once, keeping maxWrites in flight.
		ended := r.writesEnded
		for len(r.inflight) > 0 && r.writesEnded == ended && ctx.Err() == nil {
			r.ended.Wait()
		}
		done := len(r.inflight) == 0 && !r.due(time.Now())
		written := len(r.dirty) == 0 && !r.labels
		r.mu.Unlock()
		if done {
			return written
		}
	}
	return false
}

// lastWords is flush at shutdown: a write that failed is tried again, up to flushRetries times
// within ctx, flushPause after the flush that failed it and twice as long each time after that. A
// single flush leaves a failed write to its backoff, which at shutdown never comes: one transient
// failure (the API server restarting, an etcd leader change) left the node's entry MASTER, and
// after an uninstall its master label on for good.
//
// The routers' Events (Stopped) are written after the entries and the label, with the time left:
// the manager's recorder has stopped by then (lastEvents).
func (r *reporter) lastWords(ctx context.Context) bool {
	r.mu.Lock()
	var events *lastEvents
	if r.rec != nil {
		events = newLastEvents(r.c, r.log)
		r.rec = events
	}
	r.mu.Unlock()
	written := r.flush(ctx)
	for pause, retries := flushPause, 0; !written && retries < flushRetries; pause, retries = 2*pause, retries+1 {
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
		written = r.flush(ctx)
	}
	if events != nil {
		events.write(ctx)
	}
	return written
}

// flushRetries and flushPause make lastWords' retries 1.5 s in all, within the 3 s of
// finalStatusTimeout.
const (
	flushRetries = 4
	flushPause   = 100 * time.Millisecond
)

// jitter spreads d over [d/2, 3d/2): agents whose writes failed together (the API server away,
// or overloaded by a VirtualIP that many nodes write at once) must not come back together, each
// wave of retries making the next.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d)
}

// labelKey stands for the node label among the entries in flight and waiting to be retried; no
// VirtualIP has an empty name.
const labelKey = ""

// due reports whether dispatch would start a write at now. r.mu is held.
func (r *reporter) due(now time.Time) bool {
	if !r.retryAt.IsZero() && !now.Before(r.retryAt) {
		return len(r.dirty) > 0 || r.labels
	}
	if r.labels && !r.inflight[labelKey] && !r.retrying[labelKey] && !now.Before(r.labelsAt) {
		return true
	}
	for name := range r.dirty {
		if !r.inflight[name] && !r.retrying[name] && !now.Before(r.waitsUntil(name)) {
			return true
		}
	}
	return false
}

// waitsUntil is when the dirty entry of router name may be written: after its held change's
// time and, unless it is MASTER or a removal, its first write's slot. r.mu is held.
func (r *reporter) waitsUntil(name string) time.Time {
	at := r.held[name]
	if s, ok := r.slots[name]; ok && s.at.After(at) {
		if e := r.entries[name]; (e == nil && s.kind == slotRemoval) || (e != nil && e.State != vrrpv1.StateMaster && s.kind == slotFirstWrite) {
			at = s.at
		}
	}
	return at
}

// dispatch starts the writes that are due, up to maxWrites in flight: the node label's first
// (workloads that follow the VIP are placed by it), then the dirty entries that have none in
// flight, MASTER entries first. It does not wait for them. Writes that failed wait for retryAt,
// held changes for their time.
// Each entry is a request of its own (one object per VirtualIP): written one after
// the other, a handover of many VirtualIPs kept the last entry waiting for all the others' round
// trips, and a flush that waited for all its writes kept the next transition waiting for the
// slowest of them.
func (r *reporter) dispatch(ctx context.Context) {
	r.mu.Lock()
	now := time.Now()
	if !r.retryAt.IsZero() && !now.Before(r.retryAt) {
		clear(r.retrying)
		r.retryAt = time.Time{}
	}
	// Held changes whose time has come are due like any other: one that maxWrites keeps waiting
	// goes out when a write ends, and Start must not wake for it meanwhile, again and again.
	maps.DeleteFunc(r.held, func(_ string, at time.Time) bool { return !now.Before(at) })
	maps.DeleteFunc(r.slots, func(_ string, s slot) bool { return !now.Before(s.at) })
	if !now.Before(r.labelsAt) {
		r.labelsAt = time.Time{}
	}
	labels := r.labels && !r.inflight[labelKey] && !r.retrying[labelKey] && !now.Before(r.labelsAt) && len(r.inflight) < maxWrites
	var masters, stray []string
	if labels {
		r.labels, r.labelsAt = false, time.Time{}
		masters = slices.Sorted(maps.Keys(r.masters))
		if r.labelled != nil && slices.Equal(masters, r.labelled) {
			labels = false
		} else {
			r.inflight[labelKey] = true
			// A stray label of a router this node has become MASTER of since is one to keep.
			stray = slices.DeleteFunc(r.stray, func(k string) bool {
				return slices.ContainsFunc(masters, func(name string) bool { return vrrpv1.MasterLabel(name) == k })
			})
			r.stray = nil
		}
	}
	due := map[string]*vrrpv1.NodeStatus{}
	for name := range r.dirty {
		if !r.inflight[name] && !r.retrying[name] && !now.Before(r.waitsUntil(name)) {
			due[name] = r.entries[name]
		}
	}
	type job struct {
		name    string
		e       *vrrpv1.NodeStatus
		foreign *foreignEntry
	}
	var jobs []job
	for _, name := range writeOrder(due) {
		if len(r.inflight) >= maxWrites {
			break
		}
		j := job{name: name, e: due[name]}
		if f, found := r.foreign[name]; found {
			j.foreign = &f
			delete(r.foreign, name)
		}
		delete(r.dirty, name)
		delete(r.held, name)
		delete(r.slots, name)
		delete(r.takeovers, name) // its MASTER entry is going out: a step back is news
		r.inflight[name] = true
		jobs = append(jobs, j)
	}
	// A router's Events wait with its first entry (slots): at a VirtualIP's creation every node
	// has one, and the API server would take them all at once.
	var pending []transition
	r.pending = slices.DeleteFunc(r.pending, func(t transition) bool {
		if _, waits := r.slots[t.router]; waits {
			return false
		}
		if !t.recorded() {
			return true
		}
		out, replaced := r.spend(&t, now)
		if out {
			pending = append(pending, t)
		}
		if replaced > 0 && r.metrics != nil {
			// Under r.mu: participate deletes a gone router's series, which must not come back.
			r.metrics.EventsSuppressed.WithLabelValues(t.router).Add(float64(replaced))
		}
		return true
	})
	pending = append(pending, r.heldEvents(now)...)
	r.mu.Unlock()

	if labels {
		go func() {
			err := r.writeLabels(ctx, masters)
			r.mu.Lock()
			r.labelled = nil
			if err == nil {
				r.labelled = append([]string{}, masters...) // not nil: none is a set of labels too
			}
			r.mu.Unlock()
			if err == nil && len(stray) > 0 {
				r.removeStray(ctx, stray)
			}
			r.finish(ctx, metrics.ResourceNodeLabel, "Node/"+r.node, labelKey, err)
		}()
	}
	for _, j := range jobs {
		go func() {
			err := r.writeEntry(ctx, j.name, j.e)
			if err == nil {
				r.mu.Lock()
				if j.e != nil {
					r.written[j.name] = true
				} else {
					delete(r.written, j.name)
				}
				r.mu.Unlock()
			}
			if j.foreign != nil && err == nil {
				err = r.removeForeign(ctx, j.name, j.e, *j.foreign)
			}
			r.finish(ctx, metrics.ResourceVirtualIPStatus, "VirtualIP/"+j.name, j.name, err)
		}()
	}
	// Events are best effort, status and labels are not; the recorder writes them on its own.
	for _, t := range pending {
		r.event(ctx, t)
	}
}

// finish accounts for the end of a write of key (an entry, or labelKey) to resource's object. A
// failed write is due again after a backoff that doubles while writes keep failing, and starts
// from minBackoff again once every write that failed has landed. A write cut short because its
// context ended (Start's, at shutdown) failed nothing: it is due again at once, for the flush
// that writes the last words. Either way Start looks for more to write and flush for the next
// write to start.
func (r *reporter) finish(ctx context.Context, resource, object, key string, err error) {
	cut := err != nil && ctx.Err() != nil
	if !cut {
		r.wrote(resource, object, err)
	}
	now := time.Now()
	r.mu.Lock()
	delete(r.inflight, key)
	r.writesEnded++
	if err != nil {
		if key == labelKey {
			r.labels = true
		} else {
			r.dirty[key] = true // unless a newer state already made it so
			// The entry written before a takeover held now may not be in the API: a step back
			// must be written.
			delete(r.takeovers, key)
		}
	}
	switch {
	case cut:
	case err != nil:
		r.failing[key] = true
		r.retrying[key] = true
		if r.retryAt.IsZero() {
			r.backoff = min(max(2*r.backoff, minBackoff), maxBackoff)
			r.retryAt = now.Add(jitter(r.backoff))
		}
	default:
		if key == labelKey || r.known[key] {
			r.landed[key] = now
		}
		// Writes that land beside one the API server keeps refusing do not end its backoff.
		delete(r.failing, key)
		if len(r.failing) == 0 {
			r.backoff = 0
		}
	}
	r.ended.Broadcast()
	r.mu.Unlock()
	r.signal()
}

// maxWrites bounds the writes in flight at a time: enough for the handover of every
// VirtualIP of a cluster at once, few enough not to flood the API server when it returns after an
// outage with every entry due.
const maxWrites = 16

// writeOrder is the order in which work's entries are written: MASTER entries first, as the
// controller's status.master waits for them, then by name.
func writeOrder(work map[string]*vrrpv1.NodeStatus) []string {
	names := slices.Collect(maps.Keys(work))
	master := func(n string) bool { return work[n] != nil && work[n].State == vrrpv1.StateMaster }
	slices.SortFunc(names, func(a, b string) int {
		if ma, mb := master(a), master(b); ma != mb {
			if ma {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return names
}

// reassert marks dirty every entry of ours that the cached VirtualIP lacks or holds otherwise than
// written: the object was deleted and created again between two syncs, the controller removed the
// entry while its cache disagreed about this node, or someone edited it. Nothing else would write
// it again until the router's next transition, and the controller would count this node out. It runs
// after a sync asked for it (participate), so within a resync; in steady state it writes nothing.
func (r *reporter) reassert(ctx context.Context) {
	r.mu.Lock()
	verify := r.verify
	r.verify = false
	r.mu.Unlock()
	if !verify || r.c == nil {
		return
	}
	// The cache may wait for a sync while the API server is away, as for Events.
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	// Read only: an agent checks every version of every VirtualIP, which copying would double.
	var vips vrrpv1.VirtualIPList
	if err := r.c.List(ctx, &vips, client.UnsafeDisableDeepCopy); err != nil {
		r.log.V(1).Info("listing VirtualIPs to check this node's entries", "error", err.Error())
		return
	}
	var node corev1.Node
	err := r.c.Get(ctx, client.ObjectKey{Name: r.node}, &node, client.UnsafeDisableDeepCopy)
	if err != nil && !apierrors.IsNotFound(err) {
		r.log.V(1).Info("reading this node to check its master labels", "error", err.Error())
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.reassertLabels(node.Labels, now)
	}
	for i := range vips.Items {
		v := &vips.Items[i]
		if s, ok := r.slots[v.Name]; ok && s.kind == slotFirstWrite && slices.ContainsFunc(v.Status.Nodes, func(e vrrpv1.NodeStatus) bool {
			// The node before has written, or this node's entry is there already (a restart):
			// the write is the first of neither the object's nor this node's, and a stale
			// entry must be put right at once.
			return (s.after != "" && e.Node == s.after) || e.Node == r.node
		}) {
			delete(r.slots, v.Name) // our turn: dispatch follows
		}
		want := r.entries[v.Name]
		if (want == nil && !r.unlisted[v.Name]) || r.dirty[v.Name] || r.inflight[v.Name] {
			continue // none of ours, or a write is due anyway or under way
		}
		// An unlisted node's entry must not be there: left by a restart, or written while the
		// node was listed or MASTER, it is removed.
		var got *vrrpv1.NodeStatus
		j := slices.IndexFunc(v.Status.Nodes, func(e vrrpv1.NodeStatus) bool { return e.Node == r.node })
		if j >= 0 {
			got = &v.Status.Nodes[j]
		}
		n, due := r.reassertDue(v.Name, sameEntry(got, want), now)
		if !due {
			continue
		}
		r.log.Info("this node's status entry is missing or differs from what the agent wrote; writing it again",
			"virtualIP", v.Name, "found", got != nil, "inARow", n)
		r.dirty[v.Name] = true
		if got != nil {
			r.foreign[v.Name] = foreignEntry{index: j, entry: got.DeepCopy()}
		}
	}
}

// reassertLabels compares the master labels of this Node, as the cache has them, with those the
// last label write that landed applied: someone removed one (kubectl label), or set one for a
// router this node is not MASTER of, or for none. Workloads the labels place would follow that until this
// node's masters next change. The labels are written again, at most once per reassertWait as
// for an entry, and the stray ones removed. r.mu is held.
func (r *reporter) reassertLabels(have map[string]string, now time.Time) {
	if r.labels || r.labelled == nil || r.inflight[labelKey] || r.retrying[labelKey] {
		return // a write is due or under way, or none landed yet
	}
	want := map[string]bool{}
	for _, name := range r.labelled {
		want[vrrpv1.MasterLabel(name)] = true
	}
	var missing, stray []string
	for k := range want {
		if have[k] != "true" {
			missing = append(missing, k)
		}
	}
	for k := range have {
		if strings.HasPrefix(k, vrrpv1.MasterLabelPrefix) && !want[k] {
			stray = append(stray, k)
		}
	}
	n, due := r.reassertDue(labelKey, len(missing) == 0 && len(stray) == 0, now)
	if !due {
		return
	}
	slices.Sort(missing)
	slices.Sort(stray)
	r.log.Info("this node's master labels differ from what the agent wrote; writing them again",
		"missing", missing, "stray", stray, "inARow", n)
	r.labels, r.labelsAt = true, time.Time{}
	r.labelled = nil // the write is due even though this node's masters are the same
	r.stray = stray
}

// reassertDue keeps the back-off of the re-asserts of key (an entry's VirtualIP, or labelKey), given
// whether the cache holds it as last written. It reports whether key is to be written again and how
// many re-asserts in a row that makes. r.mu is held.
func (r *reporter) reassertDue(key string, right bool, now time.Time) (int, bool) {
	n := r.reasserts[key]
	if right {
		// Seen right after our own write lands, the value proves nothing: a writer that undoes it
		// once it sees it (the controller counting this node out) would keep the count at 1 and
		// both would write every resync. It must have stayed as written for as long as the next
		// re-assert would wait.
		if n > 0 && now.Sub(r.landed[key]) >= reassertWait(n) {
			delete(r.reasserts, key)
		}
		return n, false
	}
	if now.Sub(r.landed[key]) < reassertWait(n) {
		return n, false // the cache may not have our write yet, or we are backing off
	}
	r.reasserts[key] = n + 1
	return n + 1, true
}

// reassertWait is how long after the last write the n+1st re-assert in a row may come.
func reassertWait(n int) time.Duration {
	if n >= 16 {
		return reassertMax
	}
	return min(reassertAfter<<n, reassertMax)
}

// sameBut reports whether entries a and b are the same but for their lastTransitionTime.
func sameBut(a, b *vrrpv1.NodeStatus) bool {
	if a == nil || b == nil {
		return a == b
	}
	c := *b
	c.LastTransitionTime = a.LastTransitionTime
	return sameEntry(a, &c)
}

// sameEntry compares entries as the API server stores them: times in whole seconds.
func sameEntry(a, b *vrrpv1.NodeStatus) bool {
	if a == nil || b == nil {
		return a == b
	}
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// wrote accounts for a write of object: failures are counted by reason. Refusals (RBAC, the
// admission policy) are logged at level 0, since retrying cannot fix them, on each new message and
// then once per refusalLogEvery; other failures (the API server away) at level 1, as retries
// usually land.
func (r *reporter) wrote(resource, object string, err error) {
	key := resource + "/" + object
	if err == nil {
		r.mu.Lock()
		delete(r.refused, key) // the next refusal is news again
		r.mu.Unlock()
		return
	}
	reason := writeErrorReason(err)
	r.metrics.APIWriteErrors.WithLabelValues(resource, reason).Inc()
	if reason != metrics.ReasonForbidden {
		r.log.V(1).Info("writing to the API server, will retry", "resource", resource, "object", object, "error", err.Error())
		return
	}
	now := time.Now()
	r.mu.Lock()
	last, seen := r.refused[key]
	report := !seen || last.message != err.Error() || now.Sub(last.at) >= refusalLogEvery
	if report {
		r.refused[key] = refusal{message: err.Error(), at: now}
	}
	r.mu.Unlock()
	if report {
		r.log.Error(err, "the API server refused the agent's write; check the agent's RBAC and the admission policy",
			"resource", resource, "object", object, "reason", string(apierrors.ReasonForError(err)))
	}
}

// writeErrorReason is the reason label of a failed write.
func writeErrorReason(err error) string {
	switch {
	case apierrors.IsForbidden(err):
		return metrics.ReasonForbidden
	case apierrors.IsConflict(err):
		return metrics.ReasonConflict
	default:
		return metrics.ReasonOther
	}
}

// writeEntry server-side-applies this node's entry of the VirtualIP's status.nodes; e nil applies
// none, which removes the entry this field manager owns.
func (r *reporter) writeEntry(ctx context.Context, name string, e *vrrpv1.NodeStatus) error {
	nodes := []any{}
	if e != nil {
		m, err := toMap(e)
		if err != nil {
			return err
		}
		nodes = append(nodes, m)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(vrrpv1.GroupVersion.WithKind("VirtualIP"))
	u.SetName(name)
	if err := unstructured.SetNestedSlice(u.Object, nodes, "status", "nodes"); err != nil {
		return err
	}
	err := r.c.Status().Patch(ctx, u, client.Apply, client.FieldOwner(FieldManager+r.node), client.ForceOwnership)
	if apierrors.IsNotFound(err) {
		return nil // deleted: nothing to report on
	}
	if err != nil {
		return fmt.Errorf("applying %s's status entry of VirtualIP %s: %w", r.node, name, err)
	}
	return nil
}

// removeForeign removes from this node's entry the fields that want leaves empty and the entry
// found (f) has: someone else set them, and a forced apply only takes over the fields it sends, so
// they would stay and the entry never be as written. With want nil (an unlisted node) it removes
// the entry, which an apply of none leaves when someone else wrote it. A JSON patch removes them,
// guarded by a test that the entry at f's index is still this node's; a failed guard (the apply
// removed it, or it moved) waits for the next re-assert.
func (r *reporter) removeForeign(ctx context.Context, name string, want *vrrpv1.NodeStatus, f foreignEntry) error {
	entry := fmt.Sprintf("/status/nodes/%d", f.index)
	var extra []string
	if want == nil {
		extra = []string{entry}
	} else {
		got, err := toMap(f.entry)
		if err != nil {
			return err
		}
		ours, err := toMap(want)
		if err != nil {
			return err
		}
		extra = extraFields(got, ours, entry)
	}
	if len(extra) == 0 {
		return nil
	}
	ops := []map[string]any{{"op": "test", "path": entry + "/node", "value": r.node}}
	for _, p := range extra {
		ops = append(ops, map[string]any{"op": "remove", "path": p})
	}
	data, err := json.Marshal(ops)
	if err != nil {
		return fmt.Errorf("encoding the removal of %v: %w", extra, err)
	}
	vip := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: name}}
	err = r.c.Status().Patch(ctx, vip, client.RawPatch(types.JSONPatchType, data), client.FieldOwner(FieldManager+r.node))
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case apierrors.IsInvalid(err) || statusCode(err) == http.StatusUnprocessableEntity:
		// The entry moved or changed since the cache showed it: the next re-assert looks again.
		r.log.V(1).Info("removing fields of others from this node's status entry", "virtualIP", name, "error", err.Error())
		return nil
	case err != nil:
		return fmt.Errorf("removing %v from %s's status entry of VirtualIP %s: %w", extra, r.node, name, err)
	}
	r.log.Info("removed fields this node's agent leaves empty from its status entry", "virtualIP", name, "fields", extra)
	return nil
}

// statusCode is the HTTP status of an API error, 0 for others.
func statusCode(err error) int32 {
	var s apierrors.APIStatus
	if errors.As(err, &s) {
		return s.Status().Code
	}
	return 0
}

// extraFields lists, as JSON pointers under prefix, the fields of got that ours lacks, descending
// into objects both have.
func extraFields(got, ours map[string]any, prefix string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(got)) {
		p := prefix + "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(k)
		o, ok := ours[k]
		if !ok {
			out = append(out, p)
			continue
		}
		gm, gok := got[k].(map[string]any)
		om, ook := o.(map[string]any)
		if gok && ook {
			out = append(out, extraFields(gm, om, p)...)
		}
	}
	return out
}

// writeLabels server-side-applies vrrp.dev/master-<name>=true for the routers this node is MASTER
// of; labels it set before and no longer applies are removed by the apply itself.
func (r *reporter) writeLabels(ctx context.Context, masters []string) error {
	labels := map[string]any{}
	for _, name := range masters {
		labels[vrrpv1.MasterLabel(name)] = "true"
	}
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("Node")
	u.SetName(r.node)
	if err := unstructured.SetNestedMap(u.Object, labels, "metadata", "labels"); err != nil {
		return err
	}
	if err := r.c.Patch(ctx, u, client.Apply, client.FieldOwner(FieldManager+r.node), client.ForceOwnership); err != nil {
		if (apierrors.IsForbidden(err) || apierrors.IsNotFound(err)) && r.nodeGone(ctx) {
			// An apply to a Node that is gone would create it, which the agent may not: the write
			// was retried for ever, logged as a matter of RBAC. The labels went with the Node; the
			// re-assert writes them again if it comes back. Said once: it stays gone for good
			// unless the node registers again.
			log := r.log.V(1)
			if r.nodeGoneSaid.CompareAndSwap(false, true) {
				log = r.log
			}
			log.Info("this node's Node object is gone, and its master labels with it; they are applied again if it comes back", "node", r.node)
			return nil
		}
		return fmt.Errorf("applying master labels on node %s: %w", r.node, err)
	}
	r.nodeGoneSaid.Store(false)
	return nil
}

// nodeGone reports whether this node's Node object is gone, as the cache has it.
func (r *reporter) nodeGone(ctx context.Context) bool {
	// The cache may wait for a sync while the API server is away, as for Events.
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var n corev1.Node
	return apierrors.IsNotFound(r.c.Get(ctx, client.ObjectKey{Name: r.node}, &n, client.UnsafeDisableDeepCopy))
}

// removeStray removes the master labels someone else set on this Node, which no apply can: a
// merge patch does. It is best effort: one that fails (a policy that protects the label) is tried
// again by the next re-assert that finds the label, backing off as re-asserts do, while the
// labels this node applies stand.
func (r *reporter) removeStray(ctx context.Context, stray []string) {
	remove := map[string]any{}
	for _, k := range stray {
		remove[k] = nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": remove}})
	if err == nil {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: r.node}}
		err = r.c.Patch(ctx, n, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(FieldManager+r.node))
	}
	if err != nil && ctx.Err() == nil {
		r.log.Info("could not remove master labels that others set on this node; trying again later",
			"labels", stray, "error", err.Error())
	}
}

// event emits an Event regarding the VirtualIP, related to this Node. Events are best effort: the
// recorder queues and retries them itself.
func (r *reporter) event(ctx context.Context, t transition) {
	r.mu.Lock()
	rec := r.rec
	r.mu.Unlock()
	if rec == nil {
		return // connected without a recorder (tests)
	}
	// The object comes from the cache, which may wait for a sync while the API server is away.
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var vip vrrpv1.VirtualIP
	if err := r.c.Get(ctx, client.ObjectKey{Name: t.router}, &vip); err != nil {
		return
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: r.node}}
	n.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Node"))
	if t.check != "" {
		typ, reason, verb := corev1.EventTypeNormal, "CheckPassing", "passing"
		if t.checkState == track.Failing {
			typ, reason, verb = corev1.EventTypeWarning, "CheckFailing", "failing"
		}
		note := fmt.Sprintf("node %s: check %s %s", r.node, t.check, verb)
		if t.message != "" {
			note += ": " + truncate(t.message, 256)
		}
		rec.Eventf(&vip, n, typ, reason, "Track", "%s; priority %d%s", note, t.priority, t.suppressedNote())
		return
	}
	typ, reason := transitionEvent(t.to)
	if reason == "" {
		return
	}
	note := fmt.Sprintf("%s is %s with priority %d", r.node, t.to, t.priority)
	if t.reason != "" {
		note += " (" + t.reason + ")"
	}
	if t.message != "" { // a router this unlisted node cannot run: no entry says why
		note += ": " + truncate(t.message, 512)
	}
	rec.Eventf(&vip, n, typ, reason, "Transition", "%s%s", note, t.suppressedNote())
}

// suppressedNote is what an Event adds about the Events of its router suppressed before it.
func (t transition) suppressedNote() string {
	if t.suppressed == 0 {
		return ""
	}
	return fmt.Sprintf("; %d earlier changes of this router since %s not recorded as Events (more than %d at once or one every %v)",
		t.suppressed, t.since.UTC().Format(time.RFC3339), eventBurst, eventEvery)
}

func toMap(e *vrrpv1.NodeStatus) (map[string]any, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(e)
	if err != nil {
		return nil, fmt.Errorf("encoding status entry: %w", err)
	}
	return m, nil
}

// truncate returns s as valid UTF-8 of at most n bytes: output of programs may be neither short
// nor UTF-8, and a rune cut in half would read as garbage.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
