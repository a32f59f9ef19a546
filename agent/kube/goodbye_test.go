package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-logr/logr"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
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
	goodbye(plane, rep, logr.Discard(), nil)

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
	leave      func() // what its routers report when they leave; nil: services STOPPED
}

func (s *slowLeave) Leave() error {
	s.deadline = time.Now().Add(s.timeout)
	time.Sleep(s.leaveTakes)
	if s.leave != nil {
		s.leave()
		return nil
	}
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
				// What runs beside the last words (the uninstall check) hangs as well.
				var besideEnded time.Time
				beside := func(ctx context.Context) {
					<-ctx.Done()
					besideEnded = time.Now()
				}
				start := time.Now()
				goodbye(plane, rep, logr.Discard(), beside)
				if took := plane.closedAt.Sub(start); took != tc.wantClose {
					t.Errorf("Close came %v after Leave started, want %v (shutdown timeout %v)", took, tc.wantClose, timeout)
				}
				if besideEnded.IsZero() || besideEnded.After(plane.closedAt) {
					t.Errorf("what runs beside the last words ended at %v, Close came at %v: want it run, and ended before", besideEnded, plane.closedAt)
				}
			})
		})
	}
}

// TestGoodbyeTriesAFailedLastWordAgain proves that a final write that fails once (the API server
// restarting, an etcd leader change) is tried again within the shutdown's time: before, one
// failure left the entry MASTER for a node that had left and, after an uninstall, its master label
// on for good.
func TestGoodbyeTriesAFailedLastWordAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		scheme, err := newScheme()
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		tries, landed := map[string]int{}, map[string]string{}
		write := func(obj client.Object, p client.Patch) error {
			data, err := p.Data(obj)
			if err != nil {
				return err
			}
			kind := obj.GetObjectKind().GroupVersionKind().Kind
			mu.Lock()
			defer mu.Unlock()
			if tries[kind]++; tries[kind] == 1 {
				return apierrors.NewServiceUnavailable("etcdserver: leader changed")
			}
			landed[kind] = string(data)
			return nil
		}
		c := fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(interceptor.Funcs{
			Patch: func(_ context.Context, _ client.WithWatch, obj client.Object, p client.Patch, _ ...client.PatchOption) error {
				return write(obj, p)
			},
			SubResourcePatch: func(_ context.Context, _ client.Client, _ string, obj client.Object, p client.Patch, _ ...client.SubResourcePatchOption) error {
				return write(obj, p)
			},
		}).Build()
		rep := newReporter("primary", logr.Discard())
		rep.connect(c, nil, metrics.New(nil))
		rep.participate(desired.Result{Routers: []desired.Router{{Name: "services"}}})
		rep.observe(speaker.Status{Router: "services", State: vrrp.StateMaster, Priority: 150})

		plane := &slowLeave{rep: rep, timeout: 25 * time.Second}
		start := time.Now()
		goodbye(plane, rep, logr.Discard(), nil)

		mu.Lock()
		defer mu.Unlock()
		if !strings.Contains(landed["VirtualIP"], `"state":"STOPPED"`) {
			t.Errorf("the entry that landed: %q after %d tries; want STOPPED", landed["VirtualIP"], tries["VirtualIP"])
		}
		if n, ok := landed["Node"]; !ok || strings.Contains(n, vrrpv1.MasterLabel("services")) {
			t.Errorf("the labels that landed: %q (landed %v) after %d tries; want none of %s", n, ok, tries["Node"], vrrpv1.MasterLabel("services"))
		}
		if took := plane.closedAt.Sub(start); took > finalStatusTimeout {
			t.Errorf("Close came %v after Leave started, want within %v", took, finalStatusTimeout)
		}
	})
}

// droppingRecorder is the manager's recorder once the manager has stopped: it drops every Event.
type droppingRecorder struct{ dropped *int }

func (d droppingRecorder) Eventf(runtime.Object, runtime.Object, string, string, string, string, ...any) {
	*d.dropped++
}

// TestGoodbyeRecordsTheStoppedEvents proves that the Stopped Event of each router is written at
// shutdown: the last words come after the manager has stopped, whose recorder then drops every
// Event, and the README's Stopped Event never appeared.
func TestGoodbyeRecordsTheStoppedEvents(t *testing.T) {
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	vip := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "services", UID: "u1"}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(vip).WithStatusSubresource(vip).Build()
	dropped := 0
	rep := newReporter("primary", logr.Discard())
	rep.connect(c, droppingRecorder{&dropped}, metrics.New(nil))
	rep.participate(desired.Result{Routers: []desired.Router{{Name: "services"}}})
	rep.observe(speaker.Status{Router: "services", State: vrrp.StateMaster, Priority: 150})
	rep.flush(context.Background())
	before := dropped

	goodbye(&slowLeave{rep: rep, timeout: 25 * time.Second}, rep, logr.Discard(), nil)

	var evs eventsv1.EventList
	if err := c.List(context.Background(), &evs, client.InNamespace(metav1.NamespaceDefault)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs.Items {
		got = append(got, e.Reason+" "+e.Regarding.Name+" "+e.Related.Name+" "+e.ReportingController+": "+e.Note)
	}
	want := "Stopped services primary " + EventController + ": primary is STOPPED with priority 150"
	if !slices.Contains(got, want) {
		t.Errorf("Events written at shutdown: %q; want %q (the manager's recorder dropped %d)", got, want, dropped-before)
	}
	if dropped != before {
		t.Errorf("%d Events went to the manager's stopped recorder", dropped-before)
	}
}

// TestGoodbyeWritesTheEntriesBeforeTheEvents proves that a node's Stopped Events wait for its
// STOPPED entries: written as they came, each one's round trip held up the entries after the
// first maxWrites, and a node in hundreds of VirtualIPs used up the final status's time on them.
func TestGoodbyeWritesTheEntriesBeforeTheEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		scheme, err := newScheme()
		if err != nil {
			t.Fatal(err)
		}
		const routers = 3 * maxWrites
		var vips []client.Object
		var res desired.Result
		for i := range routers {
			name := fmt.Sprintf("vip-%02d", i)
			vips = append(vips, &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: name}})
			res.Routers = append(res.Routers, desired.Router{Name: name})
		}
		var mu sync.Mutex
		var order []string
		note := func(what string) {
			time.Sleep(20 * time.Millisecond) // a round trip
			mu.Lock()
			order = append(order, what)
			mu.Unlock()
		}
		c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(vips...).WithInterceptorFuncs(interceptor.Funcs{
			Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				note("event")
				return c.Create(ctx, obj, opts...)
			},
			Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
				note("label")
				return nil
			},
			SubResourcePatch: func(context.Context, client.Client, string, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
				note("entry")
				return nil
			},
		}).Build()
		dropped := 0
		rep := newReporter("primary", logr.Discard())
		rep.connect(c, droppingRecorder{&dropped}, metrics.New(nil))
		rep.participate(res)
		for _, r := range res.Routers {
			rep.observe(speaker.Status{Router: r.Name, State: vrrp.StateBackup, Priority: 100})
		}
		rep.flush(context.Background())
		mu.Lock()
		order = nil
		mu.Unlock()

		plane := &slowLeave{rep: rep, timeout: 25 * time.Second}
		plane.leave = func() {
			for _, r := range res.Routers {
				rep.observe(speaker.Status{Router: r.Name, State: vrrp.StateStopped, Priority: 100})
			}
		}
		goodbye(plane, rep, logr.Discard(), nil)

		mu.Lock()
		defer mu.Unlock()
		first, last, n := slices.Index(order, "event"), -1, 0
		for i, w := range order {
			if w == "entry" {
				last, n = i, n+1
			}
		}
		if n != routers || first < 0 || first < last {
			t.Errorf("%d entries written, the first Event as write %d, the last entry as write %d; want all %d entries before any Event: %v",
				n, first, last, routers, order)
		}
	})
}
