package speaker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/hooks"
	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/agent/sockets"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
)

// AddressHolder puts VIPs on interfaces and takes them off (agent/addresses).
type AddressHolder interface {
	Add(ifname string, p netip.Prefix, lifetime time.Duration) error
	Remove(ifname string, p netip.Prefix) error
	// Check reports whether Add could succeed now, without changing anything.
	Check(ifname string, p netip.Prefix) error
}

// Announcer sends gratuitous ARP or unsolicited neighbor advertisements (agent/announce).
type Announcer interface {
	Announce(ifname string, addrs []netip.Addr) error
}

// HookRunner runs hooks in order per router without blocking (agent/hooks).
type HookRunner interface {
	Enqueue(hooks.Job)
	Wait(ctx context.Context) error
}

// LinkStatus is what a router needs to know of its interface.
type LinkStatus struct {
	Up      bool
	Reason  string     // why not Up
	Primary netip.Addr // the node's own address: IPv4 primary or IPv6 link-local
}

// Network opens sockets and watches interfaces (agent/sockets, agent/netif).
type Network interface {
	Listen(ifname string, v6 bool) (sockets.Conn, error)
	// Watch reports the interface's status at once and on every change until ctx ends.
	Watch(ctx context.Context, ifname string, v6 bool, onChange func(LinkStatus))
}

// Status is one router's state on this node, for status reporting and tests.
type Status struct {
	Router   string
	State    vrrp.State
	Priority uint8
	// Reason says why the priority or state is what it is: Cordoned, Maintenance, or for FAULT
	// InterfaceDown, NoSocket, CheckFailed, AddressFailed.
	Reason    string
	Message   string // details: the error behind a fault, or an address being retried
	Interface string
	Since     time.Time
	LastHook  *hooks.Result
	// Checks are the router's spec.track states on this node, as desired.Track gave them.
	Checks []desired.CheckState
}

// Options configure a Speaker.
type Options struct {
	Node      string
	Addresses AddressHolder
	Announcer Announcer
	Hooks     HookRunner
	Network   Network
	Metrics   *metrics.Metrics // nil: metrics.New(nil)
	Log       logr.Logger
	// AddressLifetime is the valid lifetime of VIPs; the Master refreshes it at a third of it, so
	// that the VIP of an agent killed with SIGKILL disappears by itself. 0 means forever.
	AddressLifetime time.Duration
	// OnStatus is called on every change of a router's Status. It must not block.
	OnStatus func(Status)
}

// Speaker runs the routers of one node.
type Speaker struct {
	opts Options
	log  logr.Logger

	mu      sync.Mutex
	routers map[string]*router
	links   map[linkKey]*link
	status  map[string]Status
	// closed: Shutdown has begun. A sync still running then must not start routers that nothing
	// would stop.
	closed bool
	// release hands memory back once statuses have been quiet for releaseAfter; nil until the
	// first status.
	release *time.Timer
	// publishing is held (a token in it) from a status's store to the end of its OnStatus: a
	// router's transition and a hook's result, stored from different goroutines, reach OnStatus
	// in the order they were stored, so the last status OnStatus sees is the router's latest. A
	// hook's result published after a newer transition had the reporter keep the old state. A
	// channel rather than a Mutex, so that a test's synctest bubble sees a goroutine that waits
	// for it as durably blocked.
	publishing chan struct{}
}

// releaseAfter is how long the routers' statuses stay unchanged before the speaker hands memory
// back to the system (releaseMemory). Routers that start or change state grow their goroutines'
// stacks (netlink, the address record, announcements, logging) and leave garbage behind; an agent
// that allocates nothing per advert collects only every two minutes, and a stack shrinks by half
// per collection at most. 250 routers becoming Master kept 6 MiB of stacks they no longer used
// (BenchmarkFootprint). A collection of such a heap costs about a millisecond.
const releaseAfter = 10 * time.Second

// releaseMemory collects and returns free memory to the system; tests replace it.
var releaseMemory = func() {
	// Each collection halves the stacks that use less than a quarter of theirs: two take a
	// router's stack grown to 16 KiB back to the 4 KiB it waits in.
	runtime.GC()
	debug.FreeOSMemory()
}

// New returns a Speaker with no routers.
func New(opts Options) *Speaker {
	if opts.Metrics == nil {
		opts.Metrics = metrics.New(nil)
	}
	if opts.OnStatus == nil {
		opts.OnStatus = func(Status) {}
	}
	return &Speaker{
		opts:    opts,
		log:     opts.Log,
		routers: map[string]*router{},
		links:   map[linkKey]*link{},
		status:  map[string]Status{},

		publishing: make(chan struct{}, 1),
	}
}

// stopWait bounds how long Apply waits for a stopping router before it starts its successor. A
// router stops in microseconds (one advert, netlink calls; hooks run elsewhere), so this only
// guards against a hung netlink call.
const stopWait = 5 * time.Second

// Apply makes the running routers those of want: changed ones are updated in place when their wire
// identity (VRID, version, family, interface) stays, replaced otherwise, routers not wanted any
// more stop (priority-0 advert, addresses removed, stop hook), and new ones start. Routers that
// stop are gone before any router starts: a successor may share their VRID on the same socket and
// their addresses, and must not lose either to its predecessor's goodbye.
func (s *Speaker) Apply(want []desired.Router) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.log.V(1).Info("shutting down; ignoring routers to apply", "routers", len(want))
		return
	}
	seen := map[string]bool{}
	var stopping []*router
	var starting []desired.Router
	for _, d := range want {
		seen[d.Name] = true
		r, ok := s.routers[d.Name]
		switch {
		case ok && r.identity == d.WireIdentity():
			r.update(d)
			continue
		case ok:
			s.log.Info("replacing router whose wire identity changed", "virtualIP", d.Name, "from", r.identity.String(), "to", d.WireIdentity().String())
			r.stop("reconfigured")
			stopping = append(stopping, r)
			delete(s.routers, d.Name)
		}
		starting = append(starting, d)
	}
	for name, r := range s.routers {
		if !seen[name] {
			r.stop("removed")
			stopping = append(stopping, r)
			delete(s.routers, name)
		}
	}
	s.mu.Unlock()

	for _, r := range stopping {
		select {
		case <-r.done:
		case <-time.After(stopWait):
			s.log.Error(nil, "router did not stop in time; starting its successor anyway", "virtualIP", r.name)
		}
	}
	if len(starting) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		// Shutdown began while the predecessors stopped.
		s.log.V(1).Info("shutting down; not starting routers", "routers", len(starting))
		return
	}
	for _, d := range starting {
		nr, err := s.startRouter(d)
		if err != nil {
			s.log.Error(err, "starting router", "virtualIP", d.Name)
			continue
		}
		s.routers[d.Name] = nr
	}
}

// Shutdown stops every router as the agent exits: Masters send priority-0 adverts and remove their
// addresses, and stop hooks run; it returns when they have finished or ctx ends. Apply does
// nothing from then on.
func (s *Speaker) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	if s.release != nil {
		s.release.Stop()
	}
	rs := make([]*router, 0, len(s.routers))
	for name, r := range s.routers {
		r.stop("shutdown")
		rs = append(rs, r)
		delete(s.routers, name)
	}
	s.mu.Unlock()
	for _, r := range rs {
		select {
		case <-r.done:
		case <-ctx.Done():
			return fmt.Errorf("waiting for routers to stop: %w", ctx.Err())
		}
	}
	if s.opts.Hooks == nil {
		return nil
	}
	if err := s.opts.Hooks.Wait(ctx); err != nil {
		return fmt.Errorf("waiting for stop hooks: %w", err)
	}
	return nil
}

// Statuses returns the status of every router, sorted by name.
func (s *Speaker) Statuses() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.status))
	for _, st := range s.status {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b Status) int {
		if a.Router < b.Router {
			return -1
		}
		if a.Router > b.Router {
			return 1
		}
		return 0
	})
	return out
}

// HookDone records a hook's result; wire it as the hooks.Runner's onResult.
func (s *Speaker) HookDone(res hooks.Result) {
	m := s.opts.Metrics
	result := "success"
	switch {
	case res.TimedOut:
		result = "timeout"
	case errors.Is(res.Err, hooks.ErrDropped):
		result = "dropped"
	case errors.Is(res.Err, hooks.ErrCut):
		result = "cut"
	case res.Path == "" && res.Err != nil:
		result = "refused"
	case res.Err != nil:
		result = "failure"
	}
	m.HookRuns.WithLabelValues(res.Job.Router, res.Job.Kind, result).Inc()
	if res.Path != "" {
		m.HookDuration.WithLabelValues(res.Job.Kind).Observe(res.Duration.Seconds())
	}
	if res.Err != nil {
		s.log.Info("hook failed", "virtualIP", res.Job.Router, "kind", res.Job.Kind, "exitCode", res.ExitCode,
			"timedOut", res.TimedOut, "error", res.Err.Error(), "output", res.Output)
	} else {
		s.log.V(1).Info("hook ran", "virtualIP", res.Job.Router, "kind", res.Job.Kind, "duration", res.Duration)
	}
	s.publishing <- struct{}{}
	defer func() { <-s.publishing }()
	s.mu.Lock()
	st, ok := s.status[res.Job.Router]
	if ok {
		r := res
		st.LastHook = &r
		s.status[res.Job.Router] = st
	}
	s.mu.Unlock()
	if ok {
		s.opts.OnStatus(st)
	}
}

// setStatus stores and reports a router's status, keeping the last hook result.
func (s *Speaker) setStatus(st Status) {
	s.publishing <- struct{}{}
	defer func() { <-s.publishing }()
	s.mu.Lock()
	if old, ok := s.status[st.Router]; ok && st.LastHook == nil {
		st.LastHook = old.LastHook
	}
	s.status[st.Router] = st
	switch {
	case s.closed: // the routers' last statuses: the process is about to end
	case s.release == nil:
		s.release = time.AfterFunc(releaseAfter, releaseMemory)
	default:
		s.release.Reset(releaseAfter)
	}
	s.mu.Unlock()
	s.opts.OnStatus(st)
}

// forgetStatus drops a stopped router's status and series, unless a successor of the same name
// runs already (Apply started it after stopWait): the series are its too, and routers look their
// counters up once.
func (s *Speaker) forgetStatus(name string) {
	s.mu.Lock()
	_, successor := s.routers[name]
	if !successor {
		delete(s.status, name)
	}
	s.mu.Unlock()
	if !successor {
		s.opts.Metrics.Forget(name)
	}
}
