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
				n := &Node{opts: Options{ShutdownTimeout: tc.set}, speaker: speaker.New(speaker.Options{Hooks: hungHooks{}})}
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
