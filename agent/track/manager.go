package track

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/vrrp-dev/vrrp-operator/agent/hooks"
	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
)

// Links tells whether network interfaces are up, for interface checks. NetlinkLinks is the real
// one; tests use fakes.
type Links interface {
	// Watch calls onChange with the state of ifname soon after it is called, and again on every
	// change, until cancel is called. up means administratively up with carrier; detail says so in
	// words, e.g. "link eth1 has no carrier (down)". Watch must not block, and onChange must not
	// block either.
	Watch(ifname string, onChange func(up bool, detail string)) (cancel func())
}

// Options configure a Manager.
type Options struct {
	// HookDir holds the programs exec checks may run, with the rules of notify hooks (see
	// agent/hooks): Command[0] resolved inside it, no shell, a scrubbed environment, the process
	// group killed at the timeout.
	HookDir string
	// Pods answers pods checks; nil (a standalone agent) makes them fail.
	Pods PodSource
	// Links answers interface checks; nil means NetlinkLinks in the process's network namespace.
	Links Links
	// Clock times intervals and Result.Since; nil means the real clock. Timeouts of a run are real
	// time, as they bound a real process or connection.
	Clock clock.Clock
	// Metrics, if not nil, get the vrrp_operator_track_* series.
	Metrics *metrics.Metrics
	Log     logr.Logger
	// OnChange, if not nil, is called after Results changed through a check (not through Sync,
	// whose caller reads Results itself). Calls are coalesced and come from a goroutine of the
	// Manager's own, one at a time, so a slow OnChange delays only later calls, never a check.
	OnChange func()

	// afterRun, in tests, is called by a running check after each run, once the timer of the next
	// one is set.
	afterRun func(Key)
	// readFile, in tests, stands in for what file checks read (readInt).
	readFile func(path string) (int, error)
}

// EnvCheck names the check in the environment of an exec check, besides hooks.EnvName (the
// VirtualIP) and PATH.
const EnvCheck = "VRRP_CHECK"

// Manager runs the checks of every router on this node, each in a goroutine of its own, and keeps
// their Results. exec, http, tcp and file checks run at once and then every Interval, never two
// runs of one check at a time, and change state after Rise or Fall runs in a row (see fold);
// interface and pods checks follow their sources' events, one event being enough.
type Manager struct {
	opts   Options
	clock  clock.Clock
	log    logr.Logger
	runner *hooks.Runner

	mu      sync.Mutex
	checks  map[Key]*running
	results map[Key]Result
	closed  bool

	wg       sync.WaitGroup // the checks' goroutines, stopped ones included
	changed  chan struct{}  // capacity 1: an OnChange call is due
	quit     chan struct{}
	notified chan struct{} // closed when the OnChange goroutine has ended
}

// running is one started check; the Manager's lock guards against.
type running struct {
	key     Key
	check   Check
	cancel  context.CancelFunc
	against int // outcomes in a row that disagree with the state, for rise and fall
}

// NewManager returns a Manager that runs no check until Sync.
func NewManager(o Options) *Manager {
	m := &Manager{
		opts:     o,
		clock:    o.Clock,
		log:      o.Log.WithName("track"),
		checks:   map[Key]*running{},
		results:  map[Key]Result{},
		changed:  make(chan struct{}, 1),
		quit:     make(chan struct{}),
		notified: make(chan struct{}),
	}
	if m.clock == nil {
		m.clock = clock.RealClock{}
	}
	if m.opts.Links == nil {
		m.opts.Links = NewNetlinkLinks(m.log)
	}
	// The verdict of a check is due at its timeout: SIGKILL at once, so that neither the state nor
	// the next run waits on a program that ignores SIGTERM.
	m.runner = hooks.NewRunner(o.HookDir, m.log, nil, hooks.WithKillGrace(0))
	go m.notify()
	return m
}

// Sync makes the running checks those of want (router name -> its checks): it starts new checks,
// stops removed ones and starts changed ones (Check.Equal false) over, from their last Result. Checks that
// stay keep running undisturbed, with their Results. Of two checks of one router with the same
// name, the first counts.
func (m *Manager) Sync(want map[string][]Check) {
	wanted := map[Key]Check{}
	for router, checks := range want {
		for _, c := range checks {
			if c.Invalid != "" {
				continue // nothing to run; agent/desired shows it Unknown with why
			}
			k := Key{Router: router, Check: c.Name}
			if _, dup := wanted[k]; dup {
				m.log.Info("Ignoring a second check of the same name", "virtualIP", router, "check", c.Name)
				continue
			}
			wanted[k] = c
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	// A changed check starts over with its last Result: its new runs move it by rise and fall.
	// Starting over from Unknown (counted as passing) would let a node whose service is broken
	// take the VIP for a run or two whenever someone edits a weight or an interval.
	prev := map[Key]Result{}
	for k, r := range m.checks {
		c, ok := wanted[k]
		if ok && c.Equal(r.check) {
			continue
		}
		r.cancel()
		delete(m.checks, k)
		if ok {
			prev[k] = m.results[k]
			continue
		}
		delete(m.results, k)
		if m.opts.Metrics != nil {
			m.opts.Metrics.ForgetCheck(k.Router, k.Check)
		}
	}
	for k, c := range wanted {
		if _, ok := m.checks[k]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := &running{key: k, check: c, cancel: cancel}
		m.checks[k] = r
		m.results[k] = prev[k]
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.run(ctx, r)
		}()
	}
}

// Results returns a copy of every running check's Result; checks without a finished run yet are
// there, Unknown.
func (m *Manager) Results() map[Key]Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.results)
}

// Close stops every check, killing exec checks that run, and returns once their goroutines and the
// OnChange goroutine have ended. Sync does nothing afterwards.
func (m *Manager) Close() {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		for _, r := range m.checks {
			r.cancel()
		}
		close(m.quit)
	}
	m.mu.Unlock()
	m.wg.Wait()
	<-m.notified
}

// notify calls OnChange, one call for any number of changes since the last.
func (m *Manager) notify() {
	defer close(m.notified)
	for {
		select {
		case <-m.quit:
			return
		case <-m.changed:
			if m.opts.OnChange != nil {
				m.opts.OnChange()
			}
		}
	}
}

// run runs one check until ctx ends.
func (m *Manager) run(ctx context.Context, r *running) {
	c := r.check
	switch c.Kind {
	case KindExec, KindHTTP, KindTCP, KindFile:
		m.loop(ctx, r, m.probe(r.key, c))
	case KindInterface:
		m.follow(ctx, r, func(on func(bool, string)) func() { return m.opts.Links.Watch(c.Interface, on) })
	case KindPods:
		if m.opts.Pods == nil {
			m.record(r, outcome{message: "pods checks need the agent in cluster mode"}, false)
			<-ctx.Done()
			return
		}
		m.follow(ctx, r, func(on func(bool, string)) func() { return m.opts.Pods.Watch(c.Namespace, c.Selector, on) })
	default:
		m.record(r, outcome{message: fmt.Sprintf("unknown check kind %q", c.Kind)}, false)
		<-ctx.Done()
	}
}

// loop runs a probe at once and then every interval, never two runs at a time: a run that takes
// longer than the interval is followed at once by the next.
func (m *Manager) loop(ctx context.Context, r *running, p probe) {
	interval := r.check.interval()
	for {
		start := m.clock.Now()
		o := p(ctx)
		if ctx.Err() != nil {
			return // stopped during the run: the outcome is the stop's, not the check's
		}
		m.record(r, o, true)
		wait := interval - m.clock.Since(start)
		if wait <= 0 {
			if m.opts.afterRun != nil {
				m.opts.afterRun(r.key)
			}
			continue
		}
		t := m.clock.NewTimer(wait)
		if m.opts.afterRun != nil {
			m.opts.afterRun(r.key)
		}
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// follow records what an event source reports until ctx ends. Events have no rise or fall: the
// sources report changes, not samples.
func (m *Manager) follow(ctx context.Context, r *running, watch func(func(bool, string)) func()) {
	cancel := watch(func(ok bool, detail string) {
		m.record(r, outcome{pass: ok, message: detail}, false)
	})
	<-ctx.Done()
	cancel()
}

// record folds an outcome into r's Result. A check that was stopped or replaced meanwhile records
// nothing.
func (m *Manager) record(r *running, o outcome, ran bool) {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.checks[r.key] != r {
		return
	}
	rise, fall := r.check.Rise, r.check.Fall
	if !ran {
		rise, fall = 1, 1
	}
	k, mx := r.key, m.opts.Metrics
	if ran && mx != nil {
		res := metrics.RunPassed
		switch {
		case o.refused:
			res = metrics.RunNotRun
		case o.timeout:
			res = metrics.RunTimeout
		case !o.pass:
			res = metrics.RunFailed
		}
		mx.TrackRuns.WithLabelValues(k.Router, k.Check, res).Inc()
	}
	old := m.results[k]
	res, against := fold(old, r.against, rise, fall, o, now)
	r.against = against
	if res == old {
		return
	}
	m.results[k] = res
	if res.State != old.State {
		m.log.Info("Health check changed state", "virtualIP", k.Router, "check", k.Check,
			"from", old.State.String(), "to", res.State.String(), "message", res.Message)
		if mx != nil {
			to, v := metrics.CheckFailing, 0.0
			if res.State == Passing {
				to, v = metrics.CheckPassing, 1
			}
			mx.TrackStateChanges.WithLabelValues(k.Router, k.Check, to).Inc()
			mx.TrackPassing.WithLabelValues(k.Router, k.Check).Set(v)
		}
	}
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

// interval is the time from the start of one run to the start of the next.
func (c Check) interval() time.Duration {
	if c.Interval > 0 {
		return c.Interval
	}
	return DefaultInterval
}

// timeout bounds one run; keepalived's vrrp_script defaults it to the interval.
func (c Check) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return c.interval()
}
