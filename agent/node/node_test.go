package node

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

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
				n := newTestNode(tc.set, hungHooks{})
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

// newTestNode is a Node with no routers whose speaker enqueues on h, wired as Start wires it.
func newTestNode(timeout time.Duration, h speaker.HookRunner) *Node {
	return &Node{opts: Options{ShutdownTimeout: timeout}, health: newHealth(time.Second), hooks: h,
		speaker: speaker.New(speaker.Options{Hooks: noWait{h}})}
}

// TestLeaveDoesNotWaitForStopHooks proves that the routers can be reported stopped before a stop
// hook that hangs uses up the grace period (issue 9 item 11), and that Leave and the wait for the
// hooks share one shutdown timeout.
func TestLeaveDoesNotWaitForStopHooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 25 * time.Second
		n := newTestNode(timeout, hungHooks{})
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
