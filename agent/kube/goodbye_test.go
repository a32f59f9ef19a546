package kube

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// hungStopHook is a data plane whose routers stop at once and whose stop hook hangs: Close, which
// waits for the hooks, returns only when the test lets the hook end.
type hungStopHook struct {
	rep      *reporter
	atClose  func() // what the test checks while the hook still runs
	hookDone bool
}

func (h *hungStopHook) Leave() error {
	h.rep.observe(speaker.Status{Router: "services", State: vrrp.StateStopped, Priority: 150})
	return nil
}

func (h *hungStopHook) Deadline() time.Time { return time.Now().Add(time.Hour) }

func (h *hungStopHook) Close() error {
	if h.hookDone {
		return nil
	}
	h.atClose()
	h.hookDone = true
	return nil
}

// TestGoodbyeWritesStoppedBeforeWaitingForStopHooks proves that the STOPPED entry and the master
// label's removal are written while a stop hook still runs (issue 9 item 11): before, the agent
// waited for the hooks (up to --shutdown-timeout) first, and a hook that used up the pod's grace
// period left status saying MASTER for a node that had left.
func TestGoodbyeWritesStoppedBeforeWaitingForStopHooks(t *testing.T) {
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var writes []string // status entries and label sets, in order
	record := func(obj client.Object, p client.Patch) error {
		data, err := p.Data(obj)
		if err != nil {
			return err
		}
		mu.Lock()
		writes = append(writes, obj.GetObjectKind().GroupVersionKind().Kind+" "+string(data))
		mu.Unlock()
		return nil
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(_ context.Context, _ client.WithWatch, obj client.Object, p client.Patch, _ ...client.PatchOption) error {
			if _, ok := obj.(*unstructured.Unstructured); !ok {
				return nil
			}
			return record(obj, p)
		},
		SubResourcePatch: func(_ context.Context, _ client.Client, _ string, obj client.Object, p client.Patch, _ ...client.SubResourcePatchOption) error {
			return record(obj, p)
		},
	}).Build()
	rep := newReporter("primary", logr.Discard())
	rep.connect(c, nil, metrics.New(nil))
	rep.participate(desired.Result{Routers: []desired.Router{{Name: "services"}}})
	rep.observe(speaker.Status{Router: "services", State: vrrp.StateMaster, Priority: 150})
	rep.flush(context.Background())
	mu.Lock()
	writes = nil
	mu.Unlock()

	plane := &hungStopHook{rep: rep}
	var whileHookRuns []string
	plane.atClose = func() {
		mu.Lock()
		defer mu.Unlock()
		whileHookRuns = append(whileHookRuns, writes...)
	}
	goodbye(plane, rep, logr.Discard())

	if !plane.hookDone {
		t.Fatal("goodbye did not wait for the stop hooks")
	}
	var stopped, unlabelled bool
	for _, w := range whileHookRuns {
		stopped = stopped || strings.HasPrefix(w, "VirtualIP ") && strings.Contains(w, `"state":"STOPPED"`)
		unlabelled = unlabelled || strings.HasPrefix(w, "Node ") && !strings.Contains(w, vrrpv1.MasterLabel("services"))
	}
	if !stopped || !unlabelled {
		t.Errorf("while the stop hook ran, written: %q; want the STOPPED entry and the label set without %s",
			whileHookRuns, vrrpv1.MasterLabel("services"))
	}
}

// slowLeave is a data plane whose routers take leaveTakes to leave, within a shutdown timeout that
// started with Leave.
type slowLeave struct {
	rep        *reporter
	timeout    time.Duration
	leaveTakes time.Duration
	deadline   time.Time
	closedAt   time.Time
}

func (s *slowLeave) Leave() error {
	s.deadline = time.Now().Add(s.timeout)
	time.Sleep(s.leaveTakes)
	s.rep.observe(speaker.Status{Router: "services", State: vrrp.StateStopped, Priority: 150})
	return nil
}

func (s *slowLeave) Deadline() time.Time { return s.deadline }

func (s *slowLeave) Close() error {
	s.closedAt = time.Now()
	return nil
}

// TestGoodbyeEndsByTheShutdownDeadline proves that the final status write, to an API server that
// does not answer, is clipped to the shutdown timeout: before, its 3 s came on top of a Leave that
// could use the whole timeout, and the kubelet's SIGKILL could come first.
func TestGoodbyeEndsByTheShutdownDeadline(t *testing.T) {
	const timeout = 25 * time.Second
	tests := map[string]struct {
		leaveTakes time.Duration
		wantClose  time.Duration // after Leave started
	}{
		"a Leave that took all but a second leaves the final status that second": {
			leaveTakes: timeout - time.Second, wantClose: timeout,
		},
		"a Leave that used the whole timeout leaves the final status no time": {
			leaveTakes: timeout, wantClose: timeout,
		},
		"a quick Leave gives the final status its own 3 s": {
			leaveTakes: time.Second, wantClose: time.Second + finalStatusTimeout,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				scheme, err := newScheme()
				if err != nil {
					t.Fatal(err)
				}
				hang := func(ctx context.Context) error {
					<-ctx.Done()
					return ctx.Err()
				}
				c := fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(interceptor.Funcs{
					Patch: func(ctx context.Context, _ client.WithWatch, _ client.Object, _ client.Patch, _ ...client.PatchOption) error {
						return hang(ctx)
					},
					SubResourcePatch: func(ctx context.Context, _ client.Client, _ string, _ client.Object, _ client.Patch, _ ...client.SubResourcePatchOption) error {
						return hang(ctx)
					},
				}).Build()
				rep := newReporter("primary", logr.Discard())
				rep.connect(c, nil, metrics.New(nil))
				rep.participate(desired.Result{Routers: []desired.Router{{Name: "services"}}})
				rep.observe(speaker.Status{Router: "services", State: vrrp.StateMaster, Priority: 150})

				plane := &slowLeave{rep: rep, timeout: timeout, leaveTakes: tc.leaveTakes}
				start := time.Now()
				goodbye(plane, rep, logr.Discard())
				if took := plane.closedAt.Sub(start); took != tc.wantClose {
					t.Errorf("Close came %v after Leave started, want %v (shutdown timeout %v)", took, tc.wantClose, timeout)
				}
			})
		})
	}
}
