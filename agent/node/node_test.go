package node

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/hooks"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
)

// hungHooks is a hook runner whose stop hooks never end.
type hungHooks struct{}

func (hungHooks) Enqueue(hooks.Job) {}

func (hungHooks) Wait(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestShutdownTimeout(t *testing.T) {
	tests := map[string]struct {
		set, want time.Duration
	}{
		"stop hooks are cut after the default when none is set":              {0, DefaultShutdownTimeout},
		"a longer grace period lets stop hooks run longer":                   {100 * time.Second, 100 * time.Second},
		"a shorter grace period cuts stop hooks sooner":                      {5 * time.Second, 5 * time.Second},
		"a negative timeout, refused by the flag, falls back to the default": {-time.Second, DefaultShutdownTimeout},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newTestNode(Options{ShutdownTimeout: tc.set}, hungHooks{}, newSpeaker)
				start := time.Now()
				err := n.leave()
				if took := time.Since(start); took != tc.want {
					t.Errorf("shutdown gave up after %v, want %v", took, tc.want)
				}
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("shutdown error = %v, want the deadline exceeded", err)
				}
			})
		})
	}
}

// newTestNode is a Node with no routers and hook runner h, wired by the code that wires Start's.
func newTestNode(o Options, h speaker.HookRunner, newSpeaker func(speaker.Options) routers) *Node {
	n := &Node{opts: o, health: newHealth(time.Second)}
	n.wire(h, newSpeaker)
	return n
}

// TestLeaveDoesNotWaitForStopHooks proves that the routers can be reported stopped before a stop
// hook that hangs uses up the grace period (issue 9 item 11), and that Leave and the wait for the
// hooks share one shutdown timeout.
func TestLeaveDoesNotWaitForStopHooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 25 * time.Second
		// The real speaker, wired as Start wires it: were it given the runner itself, its Shutdown
		// would wait for the hung hook.
		n := newTestNode(Options{ShutdownTimeout: timeout}, hungHooks{}, newSpeaker)
		start := time.Now()
		if err := n.Leave(); err != nil {
			t.Fatalf("Leave: %v", err)
		}
		if took := time.Since(start); took != 0 {
			t.Errorf("Leave waited %v for a hung stop hook, want no wait", took)
		}
		time.Sleep(10 * time.Second) // the caller reports the routers stopped meanwhile
		err := n.leave()
		if took := time.Since(start); took != timeout {
			t.Errorf("Leave and the wait for stop hooks took %v together, want the one shutdown timeout %v", took, timeout)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("waiting for a hung stop hook: error %v, want the deadline exceeded", err)
		}
	})
}

// slowRouters are routers that leave only when made to: Shutdown returns at its deadline.
type slowRouters struct{}

func (slowRouters) Apply([]desired.Router) {}

func (slowRouters) HookDone(hooks.Result) {}

func (slowRouters) Shutdown(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestLeaveKeepsTimeForTheStatus proves that routers slow to leave leave the caller StatusReserve
// of the shutdown timeout to report them stopped, and that the reserve cannot eat the whole
// timeout: before, Leave could use all of it and the final status write came after.
func TestLeaveKeepsTimeForTheStatus(t *testing.T) {
	tests := map[string]struct {
		timeout, reserve time.Duration
		wantLeave        time.Duration
	}{
		"Leave ends 3 s before the 25 s timeout":                    {25 * time.Second, 3 * time.Second, 22 * time.Second},
		"no reserve: Leave may use the whole timeout":               {25 * time.Second, 0, 25 * time.Second},
		"a reserve longer than half a short timeout gets only half": {4 * time.Second, 3 * time.Second, 2 * time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newTestNode(Options{ShutdownTimeout: tc.timeout, StatusReserve: tc.reserve}, hungHooks{},
					func(speaker.Options) routers { return slowRouters{} })
				start := time.Now()
				if err := n.Leave(); !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Leave: %v, want the deadline exceeded", err)
				}
				if took := time.Since(start); took != tc.wantLeave {
					t.Errorf("Leave took %v, want %v", took, tc.wantLeave)
				}
				if d := n.Deadline().Sub(start); d != tc.timeout {
					t.Errorf("Deadline is %v after the start, want the shutdown timeout %v", d, tc.timeout)
				}
				_ = n.leave()
				if took := time.Since(start); took != tc.timeout {
					t.Errorf("the goodbye took %v, want the shutdown timeout %v", took, tc.timeout)
				}
			})
		})
	}
}

// cutHooks is a hook runner that records its Cuts.
type cutHooks struct {
	hungHooks
	cuts []time.Time
}

func (h *cutHooks) Cut(by time.Time) { h.cuts = append(h.cuts, by) }

// Leave cuts the hooks of the node's life once, giving them half the shutdown timeout, and with
// a short one what leaves cutReserve, before the routers leave and enqueue their STOP notify and
// stop hooks (see hooks.Runner.Cut).
func TestLeaveCutsTheHooksOnce(t *testing.T) {
	for _, c := range []struct{ timeout, by time.Duration }{
		{timeout: 20 * time.Second, by: 10 * time.Second},
		{timeout: 6 * time.Second, by: 6*time.Second - cutReserve},
		{timeout: 2 * time.Second, by: 0},
	} {
		t.Run(c.timeout.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := &cutHooks{}
				n := newTestNode(Options{ShutdownTimeout: c.timeout}, h, newSpeaker)
				start := time.Now()
				if err := n.Leave(); err != nil {
					t.Fatal(err)
				}
				_ = n.leave()
				if want := []time.Time{start.Add(c.by)}; !slices.Equal(h.cuts, want) {
					t.Errorf("Cuts by %v, want one by %v", h.cuts, want)
				}
			})
		})
	}
}
