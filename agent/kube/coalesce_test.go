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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// writeLog records what a reporter of node primary wrote, one line a request: "vip-0 BACKUP 150
// Cordoned" for an entry, "labels vip-0,vip-1" for the master labels.
type writeLog struct {
	mu    sync.Mutex
	lines []string
}

func (w *writeLog) add(line string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, line)
}

// take returns the lines written since the last take, sorted: writes go out together.
func (w *writeLog) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.lines
	w.lines = nil
	slices.Sort(out)
	return out
}

// recordingReporter is a reporter of node primary, running in its own goroutine until the test
// ends, whose writes land and are recorded.
func recordingReporter(t *testing.T) (*reporter, *writeLog) {
	t.Helper()
	rep, w, _ := recordingReporterOf(t, nil)
	return rep, w
}

// recordingReporterOf is recordingReporter with objs in its cache, and its Events recorded; it
// returns the cache too. Entry writes do not change the objects.
func recordingReporterOf(t *testing.T, rec events.EventRecorder, objs ...client.Object) (*reporter, *writeLog, client.Client) {
	t.Helper()
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	w := &writeLog{}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithStatusSubresource(objs...).WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(_ context.Context, _ client.WithWatch, obj client.Object, _ client.Patch, _ ...client.PatchOption) error {
			labels, _, _ := unstructured.NestedStringMap(obj.(*unstructured.Unstructured).Object, "metadata", "labels")
			var names []string
			for k := range labels {
				names = append(names, strings.TrimPrefix(k, "vrrp.dev/master-"))
			}
			slices.Sort(names)
			w.add("labels " + strings.Join(names, ","))
			return nil
		},
		SubResourcePatch: func(_ context.Context, _ client.Client, _ string, obj client.Object, patch client.Patch, _ ...client.SubResourcePatchOption) error {
			u, ok := obj.(*unstructured.Unstructured)
			if !ok { // removeForeign's JSON patch
				data, _ := patch.Data(obj)
				w.add(obj.GetName() + " " + string(data))
				return nil
			}
			nodes, _, _ := unstructured.NestedSlice(u.Object, "status", "nodes")
			line := obj.GetName()
			for _, n := range nodes {
				e := n.(map[string]any)
				priority := e["priority"]
				if priority == nil {
					priority = 0
				}
				line += fmt.Sprintf(" %v %v", e["state"], priority)
				if e["reason"] != nil {
					line += fmt.Sprintf(" %v", e["reason"])
				}
			}
			w.add(line)
			return nil
		},
	}).Build()
	rep := newReporter("primary", logr.Discard())
	rep.connect(c, rec, metrics.New(nil))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = rep.Start(ctx) }()
	return rep, w, c
}

// routersAt is the desired result of routers vip-0 … vip-(n-1), advertising every interval.
func routersAt(n int, interval time.Duration) desired.Result {
	var res desired.Result
	for i := range n {
		res.Routers = append(res.Routers, desired.Router{Name: fmt.Sprintf("vip-%d", i), Config: vrrp.Config{AdvertInterval: interval}})
	}
	return res
}

func wantWrites(t *testing.T, when string, w *writeLog, want ...string) {
	t.Helper()
	synctest.Wait()
	if got := w.take(); !slices.Equal(got, want) {
		t.Errorf("%s: wrote %q, want %q", when, got, want)
	}
}

// TestAChangeWithoutATransitionWaitsForTheTransitionItBrings: an uncordoned Backup gets its priority
// back and preempts at the Master's next advert. Its entry is written once, MASTER with the new
// priority, not once for the priority and again a tenth of a second later for the state (a third
// of an uncordon's status writes in BenchmarkStatusHandover). A change that brings no transition
// is written once the router's coalesce window (three adverts) has passed; a transition is held
// only when it is a takeover, for takeoverSettle.
func TestAChangeWithoutATransitionWaitsForTheTransitionItBrings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep, w := recordingReporter(t)
		rep.participate(routersAt(1, 100*time.Millisecond))
		wantWrites(t, "started", w, "labels ")
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 1, Reason: desired.ReasonCordoned})
		wantWrites(t, "the first report", w, "vip-0 BACKUP 1 Cordoned")

		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 150})
		wantWrites(t, "uncordoned", w)
		time.Sleep(120 * time.Millisecond)
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateMaster, Priority: 150})
		time.Sleep(takeoverSettle)
		wantWrites(t, "preempted", w, "vip-0 MASTER 150")
		time.Sleep(time.Second)
		wantWrites(t, "a second later", w, "labels vip-0")

		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateMaster, Priority: 1, Reason: desired.ReasonCordoned})
		time.Sleep(299 * time.Millisecond)
		wantWrites(t, "a change without a transition, within the window", w)
		time.Sleep(time.Millisecond)
		wantWrites(t, "a change without a transition, at the end of the window", w, "vip-0 MASTER 1 Cordoned")
	})
}

// TestAHandoverRelabelsTheNodeOnce: the routers of a handover change state over about one advert
// interval (each at its own Master's next advert). The Node's master labels are written once for
// all of them, not once for the first and again for those that changed while that write was in
// flight.
func TestAHandoverRelabelsTheNodeOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep, w := recordingReporter(t)
		rep.participate(routersAt(3, 100*time.Millisecond))
		for i := range 3 {
			rep.observe(speaker.Status{Router: fmt.Sprintf("vip-%d", i), State: vrrp.StateBackup, Priority: 100})
		}
		wantWrites(t, "started", w, "labels ", "vip-0 BACKUP 100", "vip-1 BACKUP 100", "vip-2 BACKUP 100")

		start := time.Now()
		for i := range 3 {
			rep.observe(speaker.Status{Router: fmt.Sprintf("vip-%d", i), State: vrrp.StateMaster, Priority: 100})
			synctest.Wait()
			time.Sleep(40 * time.Millisecond)
		}
		got := w.take()
		if !slices.Equal(got, []string{"vip-0 MASTER 100", "vip-1 MASTER 100"}) {
			t.Errorf("three transitions 40 ms apart wrote %q after 120 ms, want the first two entries and no label yet", got)
		}
		time.Sleep(start.Add(80 * time.Millisecond).Add(takeoverSettle).Sub(time.Now()))
		wantWrites(t, "takeoverSettle after the third transition", w, "vip-2 MASTER 100")
		time.Sleep(start.Add(300 * time.Millisecond).Sub(time.Now()))
		wantWrites(t, "three adverts after the first transition", w, "labels vip-0,vip-1,vip-2")

		// A router that fails drops its label at once: it must not outlive the mastery.
		rep.participate(desired.Result{Routers: routersAt(3, 100*time.Millisecond).Routers[1:],
			Errors: []desired.RouterError{{Name: "vip-0", Err: fmt.Errorf("no such interface")}}})
		wantWrites(t, "vip-0 failed", w, "labels vip-1,vip-2", "vip-0 FAULT 0 InvalidSpec")
	})
}

// TestATakeoverThatEndsAtOnceIsNotWritten: two Backups of one priority whose Master_Down timers
// fire together both take over, and one steps back at the other's first advert. Its entry, which
// status never showed MASTER, stays as written: not MASTER and then BACKUP behind that write, nor
// BACKUP with a new lastTransitionTime. Both transitions are still recorded as Events. A step back
// is written when the entry before the takeover had a change of its own to write, or differs from
// it but for the time. A takeover that lasts is written takeoverSettle after it, or one advert
// interval when that is shorter.
func TestATakeoverThatEndsAtOnceIsNotWritten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		vips := []client.Object{&vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "vip-0"}},
			&vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "vip-1"}}}
		rec := events.NewFakeRecorder(10)
		rep, w, c := recordingReporterOf(t, rec, vips...)
		res := routersAt(2, 100*time.Millisecond)
		res.Routers[1].Config.AdvertInterval = 10 * time.Millisecond
		rep.participate(res)
		backup := func() speaker.Status {
			return speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 100, Since: time.Now()}
		}
		takeover := func() {
			t.Helper()
			rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateMaster, Priority: 100, Since: time.Now()})
			time.Sleep(15 * time.Millisecond)
			rep.observe(backup())
		}
		wantEvents := func(when string, want ...string) {
			t.Helper()
			for _, want := range want {
				select {
				case e := <-rec.Events:
					if !strings.Contains(e, want) {
						t.Errorf("%s: Event %q, want %s", when, e, want)
					}
				default:
					t.Errorf("%s: no %s Event", when, want)
				}
			}
		}
		entry := func() *vrrpv1.NodeStatus {
			rep.mu.Lock()
			defer rep.mu.Unlock()
			return rep.entries["vip-0"]
		}
		rep.observe(backup())
		wantWrites(t, "started", w, "labels ", "vip-0 BACKUP 100")
		wantEvents("started", "BecameBackup")
		first := entry()
		// This fake API server keeps no applied status: put the entry where a sync compares it.
		var vip vrrpv1.VirtualIP
		if err := c.Get(context.Background(), client.ObjectKey{Name: "vip-0"}, &vip); err != nil {
			t.Fatal(err)
		}
		vip.Status.Nodes = []vrrpv1.NodeStatus{*first}
		if err := c.Status().Update(context.Background(), &vip); err != nil {
			t.Fatal(err)
		}

		time.Sleep(time.Second)
		takeover()
		wantWrites(t, "a takeover that ended after 15 ms", w)
		wantEvents("a takeover that ended after 15 ms", "BecameMaster", "BecameBackup")
		if e := entry(); e != first {
			t.Errorf("after a takeover that ended after 15 ms the entry is %+v, want it as written before: %+v", e, first)
		}
		time.Sleep(time.Second)
		wantWrites(t, "a second after a takeover that ended after 15 ms", w)
		rep.participate(res)
		wantWrites(t, "a sync after a takeover that ended after 15 ms", w)

		// An entry removed by someone else while the takeover was held, and the sync that saw it
		// then passed over it as due: once the step back finds nothing to write, it is put back.
		time.Sleep(reassertMax)
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateMaster, Priority: 100, Since: time.Now()})
		vip.Status.Nodes = nil
		if err := c.Status().Update(context.Background(), &vip); err != nil {
			t.Fatal(err)
		}
		rep.participate(res)
		synctest.Wait()
		time.Sleep(15 * time.Millisecond)
		rep.observe(backup())
		wantWrites(t, "a takeover that ended after 15 ms, its entry removed meanwhile", w, "vip-0 BACKUP 100")
		wantEvents("a takeover that ended after 15 ms, its entry removed meanwhile", "BecameMaster", "BecameBackup")

		// A change of its own waiting to be written when the takeover came: the step back carries it.
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 90, Since: first.LastTransitionTime.Time})
		takeover()
		wantWrites(t, "a takeover that ended after 15 ms, with a priority change held before it", w, "vip-0 BACKUP 100")
		wantEvents("a takeover that ended after 15 ms, with a priority change held before it", "BecameMaster", "BecameBackup")

		// Back in another way than it was (a new reason): the step back is written.
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateMaster, Priority: 100, Since: time.Now()})
		time.Sleep(15 * time.Millisecond)
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 100, Reason: desired.ReasonExcluded, Since: time.Now()})
		wantWrites(t, "a takeover that ended after 15 ms with a new reason", w, "vip-0 BACKUP 100 Excluded")
		wantEvents("a takeover that ended after 15 ms with a new reason", "BecameMaster", "BecameBackup")

		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateMaster, Priority: 100, Since: time.Now()})
		time.Sleep(takeoverSettle - time.Nanosecond)
		wantWrites(t, "a takeover, within takeoverSettle", w)
		time.Sleep(time.Nanosecond)
		wantWrites(t, "a takeover that lasted takeoverSettle", w, "vip-0 MASTER 100")
		rep.observe(backup())
		wantWrites(t, "a step back after the MASTER entry went out", w, "vip-0 BACKUP 100")
		wantEvents("a takeover that lasted takeoverSettle", "BecameMaster", "BecameBackup")

		rep.observe(speaker.Status{Router: "vip-1", State: vrrp.StateMaster, Priority: 100})
		time.Sleep(10*time.Millisecond - time.Nanosecond)
		wantWrites(t, "a takeover at 10 ms adverts, within one interval", w)
		time.Sleep(time.Nanosecond)
		wantWrites(t, "a takeover at 10 ms adverts, after one interval", w, "vip-1 MASTER 100")
	})
}

// TestAHeldChangeKeptWaitingByMaxWritesDoesNotWakeTheWriter: a held change whose time has come
// while maxWrites writes are in flight waits for one of them to end, which wakes the writer. Left
// in held, its past time woke Start at once, again and again, spinning a core until a write ended.
func TestAHeldChangeKeptWaitingByMaxWritesDoesNotWakeTheWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep := newReporter("primary", logr.Discard())
		rep.labels = false
		for i := range maxWrites {
			rep.inflight[fmt.Sprintf("busy-%d", i)] = true
		}
		rep.entries["vip-0"] = &vrrpv1.NodeStatus{Node: "primary", State: vrrpv1.StateBackup, Priority: 1}
		rep.dirty["vip-0"] = true
		rep.held["vip-0"] = time.Now().Add(100 * time.Millisecond)
		rep.masters["vip-1"], rep.labels, rep.labelsAt = true, true, time.Now().Add(200*time.Millisecond)
		time.Sleep(time.Second)

		rep.dispatch(context.Background())
		rep.mu.Lock()
		defer rep.mu.Unlock()
		if !rep.dirty["vip-0"] || !rep.labels || len(rep.inflight) != maxWrites {
			t.Fatalf("with %d writes in flight, dispatch started another", maxWrites)
		}
		if at := rep.nextWake(); !at.IsZero() {
			t.Errorf("with only writes that wait for a write to end, Start wakes at %v (now %v), want never", at, time.Now())
		}
		if !rep.due(time.Now()) {
			t.Error("the change whose time has come is not due")
		}
	})
}

// TestAStepBackIsWrittenWhenTheEntryBeforeTheTakeoverDidNotLand: the entry written before a held
// takeover was still in flight and its write was cut short (or failed): it may not be in the API,
// so the step back is written.
func TestAStepBackIsWrittenWhenTheEntryBeforeTheTakeoverDidNotLand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep := newReporter("primary", logr.Discard())
		rep.participate(routersAt(1, 100*time.Millisecond))
		rep.entries["vip-0"] = &vrrpv1.NodeStatus{Node: "primary", State: vrrpv1.StateBackup, Priority: 100}
		rep.inflight["vip-0"] = true
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateMaster, Priority: 100})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		rep.finish(ctx, metrics.ResourceVirtualIPStatus, "VirtualIP/vip-0", "vip-0", context.Canceled)
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 100})
		rep.mu.Lock()
		defer rep.mu.Unlock()
		if !rep.dirty["vip-0"] {
			t.Error("after the write of the entry before the takeover was cut short, the step back is not due")
		}
	})
}
