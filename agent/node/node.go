// Package node assembles the agent's data plane on this node: the address record (with leftovers
// of a killed predecessor removed first), the hook runner, the speaker on the real network, and the
// metrics endpoint. Both ways of running the agent, in a cluster and standalone, feed it desired
// inputs; it derives this node's routers and applies them.
package node

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vrrp-dev/vrrp-operator/agent/addresses"
	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/hooks"
	"github.com/vrrp-dev/vrrp-operator/agent/host"
	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/agent/netif"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
	"github.com/vrrp-dev/vrrp-operator/agent/track"
)

// DefaultShutdownTimeout bounds the goodbye at exit (priority-0 adverts, address removal, stop
// hooks) unless Options say otherwise: well inside Kubernetes' default 30 s grace period.
const DefaultShutdownTimeout = 25 * time.Second

// Options configure the node's data plane.
type Options struct {
	Name            string // the node's name
	HookDir         string
	StateDir        string
	MetricsAddr     string // as ParseBindAddress takes it; "" or "0": no metrics endpoint
	AddressLifetime time.Duration
	// ShutdownTimeout bounds the goodbye at exit; 0 means DefaultShutdownTimeout. In a pod it must
	// end before terminationGracePeriodSeconds, when the kubelet kills the agent.
	ShutdownTimeout time.Duration
	// StatusReserve is kept back from ShutdownTimeout for the caller to report the routers stopped
	// between Leave and Close: Leave ends by the deadline minus it (at most half the timeout).
	StatusReserve time.Duration
	// Resync is how often the main loop derives the routers again without an event; /healthz
	// reports the loop as wedged after several missed rounds.
	Resync time.Duration
	Log    logr.Logger
	// OnStatus receives every change of a router's status; it must not block.
	OnStatus func(speaker.Status)
	// Pods answers the pods checks of spec.track (agent/kube); nil in standalone mode.
	Pods track.PodSource
}

// Node is the running data plane.
type Node struct {
	opts        Options
	log         logr.Logger
	addrs       *addresses.Manager
	ann         *host.Announcers
	speaker     routers
	metrics     *metrics.Metrics
	health      *health
	stopMetrics func()
	// hooks is the runner the speaker enqueues on. The speaker gets it without Wait, so that its
	// Shutdown returns once the routers have left, and Close waits for the stop hooks after the
	// caller has reported the routers stopped.
	hooks speaker.HookRunner

	mu       sync.Mutex
	reported map[string]string // router -> error last logged

	// tracker runs the routers' checks. applyMu orders Run against the re-applications its
	// changes cause (retrack), and guards routers, the last routers Run was given.
	tracker   *track.Manager
	retrackc  chan struct{}
	stopc     chan struct{}
	trackDone chan struct{}
	applyMu   sync.Mutex
	routers   []desired.Router

	// stopReap ends the collection of what hooks leave behind (hooks.Reap).
	stopReap context.CancelFunc

	leaving  sync.Once
	deadline time.Time // of the whole goodbye, set when it starts
	leaveErr error
}

// routers is what the node drives of its speaker.
type routers interface {
	Apply([]desired.Router)
	Shutdown(context.Context) error
	HookDone(hooks.Result)
}

// newSpeaker is the speaker of a running node.
func newSpeaker(o speaker.Options) routers { return speaker.New(o) }

// Start removes the VIPs a previous agent left behind, then starts the speaker with no routers.
func Start(o Options) (*Node, error) {
	log := o.Log.WithValues("node", o.Name)
	listen, err := ParseBindAddress(o.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("metrics endpoint: %w", err)
	}
	addrs, err := addresses.NewManager(o.StateDir, log)
	if err != nil {
		return nil, fmt.Errorf("opening the address record: %w", err)
	}
	// A previous agent that was killed may have left VIPs behind: remove them before joining, so
	// this node never answers for a VIP it does not hold.
	left, err := addrs.RemoveLeftovers()
	if err != nil {
		addrs.Close()
		return nil, fmt.Errorf("removing VIPs a previous agent left: %w", err)
	}
	for _, e := range left {
		log.Info("removed VIP left by a previous agent", "address", e.Prefix, "interface", e.Interface)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h := newHealth(o.Resync)
	stopMetrics, err := serveMetrics(listen, reg, h, log)
	if err != nil {
		addrs.Close()
		return nil, err
	}
	n := &Node{opts: o, log: log, addrs: addrs, ann: &host.Announcers{}, metrics: metrics.New(reg), health: h,
		stopMetrics: stopMetrics, reported: map[string]string{}}
	var reapCtx context.Context
	reapCtx, n.stopReap = context.WithCancel(context.Background())
	go hooks.Reap(reapCtx, log)
	n.wire(hooks.NewRunner(o.HookDir, log, n.hookDone), newSpeaker)
	n.startTracking(track.Options{HookDir: o.HookDir, Pods: o.Pods, Metrics: n.metrics, Log: log})
	return n, nil
}

// startTracking starts the checks' runner; a change of any check's state re-applies the routers
// with their effective priorities, from a goroutine of its own, so that the runner never waits
// for the speaker.
func (n *Node) startTracking(o track.Options) {
	n.retrackc, n.stopc, n.trackDone = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	o.OnChange = func() {
		select {
		case n.retrackc <- struct{}{}:
		default:
		}
	}
	n.tracker = track.NewManager(o)
	go func() {
		defer close(n.trackDone)
		for {
			select {
			case <-n.stopc:
				return
			case <-n.retrackc:
				n.applyMu.Lock()
				n.speaker.Apply(desired.Track(n.routers, n.tracker.Results()))
				n.applyMu.Unlock()
			}
		}
	}()
}

// checks are the routers' checks, by router.
func checks(routers []desired.Router) map[string][]track.Check {
	out := make(map[string][]track.Check, len(routers))
	for _, r := range routers {
		if len(r.Checks) > 0 {
			out[r.Name] = r.Checks
		}
	}
	return out
}

// wire gives n its hook runner and its speaker, made by newSpeaker. The speaker gets the runner
// without Wait: its Shutdown must return once the routers have left, not wait for the stop hooks,
// which Close waits for after the caller has reported the routers stopped.
func (n *Node) wire(runner speaker.HookRunner, newSpeaker func(speaker.Options) routers) {
	n.hooks = runner
	network := &host.Network{Exclude: n.isVIP, Log: n.log}
	if n.addrs != nil {
		network.QuietPort = n.addrs.Port()
	}
	n.speaker = newSpeaker(speaker.Options{
		Node: n.opts.Name, Addresses: n.addrs, Announcer: n.ann, Hooks: noWait{runner},
		Network: network, Metrics: n.metrics, Log: n.log,
		AddressLifetime: n.opts.AddressLifetime, OnStatus: n.opts.OnStatus,
	})
}

// hookDone hands a hook's result to the speaker.
func (n *Node) hookDone(r hooks.Result) { n.speaker.HookDone(r) }

// isVIP reports whether a is a VIP this agent holds, never the node's own address.
func (n *Node) isVIP(a netip.Addr) bool { return n.addrs.HoldsAddr(a) }

// Apply derives this node's routers from in and runs them.
func (n *Node) Apply(in desired.Inputs) desired.Result {
	res, ok := n.Plan(in)
	if ok {
		n.Run(res)
	}
	return res
}

// Plan derives this node's routers from in, whose Interfaces are filled from the OS. Routers that
// cannot run here are logged once per distinct error. It is not ok when the interfaces could not be
// read: deriving without them would stop every router whose interface is found by subnet, a
// failover caused by a transient netlink error.
func (n *Node) Plan(in desired.Inputs) (desired.Result, bool) {
	in.NodeName = n.opts.Name
	ifaces, err := netif.Interfaces(n.isVIP)
	if err != nil {
		n.log.Error(err, "listing interfaces; keeping the routers as they are")
		n.health.waiting("listing interfaces: " + err.Error())
		return desired.Result{}, false
	}
	in.Interfaces = in.Interfaces[:0]
	for _, i := range ifaces {
		in.Interfaces = append(in.Interfaces, desired.Interface{Name: i.Name, Up: i.Up, Prefixes: i.Prefixes})
	}
	res := desired.Derive(in)
	n.mu.Lock()
	now := map[string]string{}
	for _, e := range res.Errors {
		now[e.Name] = e.Error()
		if n.reported[e.Name] != e.Error() {
			n.log.Error(e.Err, "VirtualIP cannot run on this node", "virtualIP", e.Name, "reason", e.Reason())
		}
	}
	n.reported = now
	n.mu.Unlock()
	return res, true
}

// Run makes the running routers those of res; from then on the agent is ready. Apply returns once
// the routers it starts are running.
func (n *Node) Run(res desired.Result) {
	n.applyMu.Lock()
	n.routers = res.Routers
	var results map[track.Key]track.Result
	if n.tracker != nil { // nil in tests that build a Node by hand
		n.tracker.Sync(checks(res.Routers))
		results = n.tracker.Results()
	}
	n.speaker.Apply(desired.Track(res.Routers, results))
	n.applyMu.Unlock()
	n.health.setReady()
}

// Metrics are the agent's collectors, served on the metrics endpoint.
func (n *Node) Metrics() *metrics.Metrics { return n.metrics }

// Heartbeat tells /healthz that the main loop is alive; the loop calls it on every round.
func (n *Node) Heartbeat() { n.health.heartbeat() }

// Waiting tells /readyz why no configuration runs yet.
func (n *Node) Waiting(reason string) { n.health.waiting(reason) }

// Leave stops every router as the agent exits: Masters send priority-0 adverts and remove their
// addresses, and stop hooks are started. It returns once the routers have left, without waiting for
// the hooks, so that the caller can report the routers stopped before a slow stop hook uses up the
// grace period (issue 9 item 11); Close then waits for the hooks. The shutdown timeout bounds Leave,
// the caller's report (StatusReserve) and Close together and starts with the first of them.
func (n *Node) Leave() error {
	n.leaving.Do(func() {
		n.health.notReady("shutting down")
		timeout := n.opts.ShutdownTimeout
		if timeout <= 0 {
			timeout = DefaultShutdownTimeout
		}
		start := time.Now()
		n.deadline = start.Add(timeout)
		reserve := min(max(n.opts.StatusReserve, 0), timeout/2)
		ctx, cancel := context.WithDeadline(context.Background(), n.deadline.Add(-reserve))
		defer cancel()
		// The hooks of the node's life get half the time, so that the routers' STOP notify and
		// stop hooks do not wait behind one that hangs; with a short timeout, at most what leaves
		// cutReserve for the kill and the stop hooks.
		if c, ok := n.hooks.(interface{ Cut(time.Time) }); ok {
			c.Cut(start.Add(max(0, min(timeout/2, timeout-cutReserve))))
		}
		if err := n.speaker.Shutdown(ctx); err != nil {
			n.leaveErr = fmt.Errorf("leaving the routers: %w", err)
		}
	})
	return n.leaveErr
}

// Deadline is, once Leave has returned, when the goodbye must be over: what the caller does between
// Leave and Close ends by then too. It is zero before Leave.
func (n *Node) Deadline() time.Time { return n.deadline }

// Close leaves every router cleanly (Leave, unless the caller did already), waits for the stop hooks
// within what is left of the shutdown timeout, then releases the node's resources.
func (n *Node) Close() error {
	err := n.leave()
	if n.tracker != nil {
		close(n.stopc)
		<-n.trackDone
		n.tracker.Close()
	}
	n.ann.Close()
	n.addrs.Close()
	n.stopMetrics()
	if n.stopReap != nil {
		n.stopReap()
	}
	if err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

// leave is Leave, then the wait for the stop hooks, within the shutdown timeout. The stop hooks
// get what is left of it even when some routers did not leave in time.
func (n *Node) leave() error {
	err := n.Leave()
	if n.hooks == nil {
		return err
	}
	ctx, cancel := context.WithDeadline(context.Background(), n.deadline)
	defer cancel()
	if werr := n.hooks.Wait(ctx); werr != nil {
		err = errors.Join(err, fmt.Errorf("waiting for stop hooks: %w", werr))
	}
	return err
}

// cutReserve is what a short shutdown timeout keeps back from the hooks of the node's life for
// killing one that hangs (hooks.DefaultKillGrace) and running the STOP notify and stop hooks.
const cutReserve = hooks.DefaultKillGrace + 2*time.Second

// noWait is a hook runner whose Wait returns at once: Node.leave waits for the hooks instead.
type noWait struct{ speaker.HookRunner }

func (noWait) Wait(context.Context) error { return nil }
