package hooks

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Kinds of hooks, named as in the VirtualIP spec.
const (
	KindNotify = "notify"
	KindMaster = "master"
	KindBackup = "backup"
	KindFault  = "fault"
	KindStop   = "stop"
)

// Names of the environment variables every hook gets.
const (
	EnvName      = "VRRP_NAME"
	EnvState     = "VRRP_STATE"
	EnvPriority  = "VRRP_PRIORITY"
	EnvAddresses = "VRRP_ADDRESSES"
	EnvNode      = "NODE_NAME"
)

const (
	// DefaultTimeout applies to a Job without a Timeout, as the spec's default hooks.timeout.
	DefaultTimeout = 30 * time.Second
	// DefaultKillGrace is how long a timed-out hook has between SIGTERM and SIGKILL.
	DefaultKillGrace = 2 * time.Second
	// DefaultMaxQueued bounds the jobs waiting per router. A router that flaps faster than its hooks
	// run would otherwise grow its queue without end; the newest transitions are the ones that say
	// what the node is now, so the oldest waiting job is dropped.
	DefaultMaxQueued = 256
	// outputWaitDelay bounds how long the Result of a hook that exited waits for the rest of its
	// output, held open by a child it left running (a daemon it started, like the seed's VPN). The
	// child of a notify hook is not killed; the verdict never waits for it.
	outputWaitDelay = time.Second
)

var (
	// ErrTimeout is the Result error of a hook killed at its timeout.
	ErrTimeout = errors.New("hook timed out")
	// ErrDropped is the Result error of a job dropped because its router's queue was full.
	ErrDropped = errors.New("hook dropped: queue full")
	// ErrCut is the Result error of a job killed or dropped by Cut, at shutdown.
	ErrCut = errors.New("hook cut short: the agent is shutting down")
)

// Job is one hook run.
type Job struct {
	Router  string            // the VirtualIP's name; jobs of one router run in order
	Kind    string            // KindNotify, KindMaster, ...
	Command []string          // as configured; Command[0] is relative to the hook directory
	Args    []string          // appended to Command, e.g. NotifyArgs for notify
	Env     map[string]string // see StateEnv; PATH is always the Runner's
	Timeout time.Duration     // 0 means DefaultTimeout
}

// Result is what became of a Job.
type Result struct {
	Job      Job
	Path     string // the resolved program, empty if it was refused
	Started  time.Time
	Duration time.Duration
	ExitCode int // -1 when the hook did not start or was killed by a signal
	TimedOut bool
	Output   string // the last lines of combined stdout and stderr
	Err      error  // nil only when the hook exited with status 0
}

// NotifyArgs are the arguments keepalived passes to its notify script: INSTANCE <name> <STATE>
// <priority>. The seed's keepalived.sh reads TYPE=$1 NAME=$2 STATE=$3.
func NotifyArgs(router, state string, priority int) []string {
	return []string{"INSTANCE", router, state, strconv.Itoa(priority)}
}

// StateEnv returns the environment variables every hook gets. Addresses are space separated, in the
// order given.
func StateEnv(router, state string, priority int, addrs []netip.Prefix, node string) map[string]string {
	a := make([]string, len(addrs))
	for i, p := range addrs {
		a[i] = p.String()
	}
	return map[string]string{
		EnvName:      router,
		EnvState:     state,
		EnvPriority:  strconv.Itoa(priority),
		EnvAddresses: strings.Join(a, " "),
		EnvNode:      node,
	}
}

// Runner runs hooks from one directory: one queue per router, routers in parallel.
type Runner struct {
	dir       string
	log       logr.Logger
	onResult  func(Result)
	killGrace time.Duration
	maxQueued int

	mu      sync.Mutex
	queues  map[string][]queued // waiting jobs by router; a key exists while a worker runs for it
	pending int                 // waiting plus running jobs
	idle    chan struct{}       // closed when pending drops to zero
	// cuts counts the calls of Cut and cutBy is the time the last one gave; running holds, for
	// each router whose worker runs a job, what cancels it and the timer that will (see Cut).
	cuts    int
	cutBy   time.Time
	running map[string]runningJob
}

// queued is a job waiting, enqueued after cuts calls of Cut.
type queued struct {
	job  Job
	cuts int
}

type runningJob struct {
	cancel context.CancelCauseFunc
	timer  *time.Timer // nil: it has its own timeout only
}

// cutAt arms the timer that cuts the job at by.
func (j *runningJob) cutAt(by time.Time) {
	cancel := j.cancel
	j.timer = time.AfterFunc(time.Until(by), func() { cancel(ErrCut) })
}

// Option changes a Runner's defaults.
type Option func(*Runner)

// WithKillGrace sets the time between SIGTERM and SIGKILL for a hook at its timeout; 0 sends SIGKILL
// at once.
func WithKillGrace(d time.Duration) Option { return func(r *Runner) { r.killGrace = d } }

// WithMaxQueued sets how many jobs may wait per router before the oldest is dropped.
func WithMaxQueued(n int) Option { return func(r *Runner) { r.maxQueued = max(n, 1) } }

// NewRunner returns a Runner for the hooks in dir. onResult, if not nil, is called once per Job,
// from the router's worker goroutine (or from Enqueue for a dropped job), and must not block.
func NewRunner(dir string, log logr.Logger, onResult func(Result), opts ...Option) *Runner {
	r := &Runner{
		dir:       dir,
		log:       log,
		onResult:  onResult,
		killGrace: DefaultKillGrace,
		maxQueued: DefaultMaxQueued,
		queues:    map[string][]queued{},
		running:   map[string]runningJob{},
		idle:      make(chan struct{}),
	}
	close(r.idle)
	for _, o := range opts {
		o(r)
	}
	return r
}

// Enqueue schedules job after the jobs already queued for its router and returns at once.
func (r *Runner) Enqueue(job Job) {
	r.mu.Lock()
	if r.pending == 0 {
		r.idle = make(chan struct{})
	}
	r.pending++
	q, running := r.queues[job.Router]
	var dropped *Job
	if len(q) >= r.maxQueued {
		dropped = &q[0].job
		q = q[1:]
		r.pending--
	}
	r.queues[job.Router] = append(q, queued{job: job, cuts: r.cuts})
	r.mu.Unlock()
	if !running {
		go r.work(job.Router)
	}
	if dropped != nil {
		r.log.Info("Hook queue full, dropped the oldest job", "virtualIP", dropped.Router, "hook", dropped.Kind)
		r.report(Result{Job: *dropped, ExitCode: -1, Err: ErrDropped})
	}
}

// Cut bounds, at shutdown, the hooks enqueued before it: they run as they would, in order, but
// any still running at by is killed as at its timeout (SIGTERM, then SIGKILL after the grace) and
// any not started by then is dropped, their Results saying ErrCut. The jobs enqueued after it (the
// STOP notify and the stop hook of the routers leaving) then run, rather than wait behind a
// transition's hook that hangs for its whole timeout while the shutdown timeout runs out: the stop
// hook is what puts right what the node leaves (the seed's master flag). A hook that ends in time
// runs as keepalived's would: every transition's notify, then STOP.
func (r *Runner) Cut(by time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cuts++
	r.cutBy = by
	for router, j := range r.running {
		if j.timer == nil {
			j.cutAt(by)
			r.running[router] = j
		}
	}
}

// Wait returns when every job enqueued so far, and any enqueued meanwhile, has finished, or with
// the context's error. The agent calls it at shutdown so that stop hooks complete.
func (r *Runner) Wait(ctx context.Context) error {
	r.mu.Lock()
	idle := r.idle
	r.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run runs job at once on the calling goroutine, outside every queue, with the same rules as a
// queued job (resolved inside the hook directory, no shell, the scrubbed environment, its process
// group killed at the timeout), and returns its Result. It neither logs the Result nor passes it to
// onResult, and Wait does not wait for it: it is for callers that judge the outcome themselves, such
// as health checks. Cancelling ctx kills the job's process group; the Result's error then wraps
// ctx's error.
//
// Unlike a queued job, Run leaves nothing behind: once the program exits, what remains of its
// process group gets SIGKILL, so a check that backgrounds a process does not add one per interval.
// The Result is the program's own exit status, not held up by what it started. A process that
// leaves the group (setsid) escapes, as it escapes the timeout.
func (r *Runner) Run(ctx context.Context, job Job) Result {
	return r.run(ctx, job, true)
}

// work runs the queue of one router until it is empty.
func (r *Runner) work(router string) {
	for {
		r.mu.Lock()
		q := r.queues[router]
		if len(q) == 0 {
			delete(r.queues, router)
			r.mu.Unlock()
			return
		}
		job := q[0]
		r.queues[router] = q[1:]
		var res Result
		if job.cuts < r.cuts && !time.Now().Before(r.cutBy) {
			r.mu.Unlock()
			res = Result{Job: job.job, ExitCode: -1, Err: fmt.Errorf("%s hook of %s not run: %w", job.job.Kind, router, ErrCut)}
		} else {
			ctx, cancel := context.WithCancelCause(context.Background())
			j := runningJob{cancel: cancel}
			if job.cuts < r.cuts {
				j.cutAt(r.cutBy)
			}
			r.running[router] = j
			r.mu.Unlock()
			res = r.run(ctx, job.job, false)
			r.mu.Lock()
			if j := r.running[router]; j.timer != nil {
				j.timer.Stop()
			}
			delete(r.running, router)
			r.mu.Unlock()
			cancel(nil)
		}
		r.logResult(res)
		r.report(res)

		r.mu.Lock()
		r.pending--
		if r.pending == 0 {
			close(r.idle)
		}
		r.mu.Unlock()
	}
}

func (r *Runner) report(res Result) {
	if r.onResult != nil {
		r.onResult(res)
	}
}

func (r *Runner) logResult(res Result) {
	kv := []any{"virtualIP", res.Job.Router, "hook", res.Job.Kind, "path", res.Path,
		"exitCode", res.ExitCode, "duration", res.Duration, "timedOut", res.TimedOut}
	if res.Err != nil {
		r.log.Error(res.Err, "Hook failed", append(kv, "output", res.Output)...)
		return
	}
	r.log.V(1).Info("Hook ran", kv...)
}
