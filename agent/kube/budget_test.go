package kube

import (
	"context"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// TestAFlappingRoutersEventsAreBounded: a router that changes state every advert (10 ms) records
// eventBurst Events at once; its latest change then waits for the budget (one every eventEvery)
// and is recorded saying how many changes before it were not, which are counted. The Events end
// with the router's state: a change the budget held is not lost. Status is not bounded.
func TestAFlappingRoutersEventsAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := events.NewFakeRecorder(100)
		rep, w, _ := recordingReporterOf(t, rec, &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "vip-0"}})
		rep.participate(routersAt(1, 10*time.Millisecond))
		start := time.Now()
		states := []vrrp.State{vrrp.StateBackup, vrrp.StateMaster}
		for i := range 30 {
			rep.observe(speaker.Status{Router: "vip-0", State: states[i%2], Priority: 100})
			time.Sleep(10 * time.Millisecond)
		}
		synctest.Wait()
		if got := drain(rec); len(got) != eventBurst {
			t.Errorf("30 transitions in 300 ms recorded %d Events, want %d: %q", len(got), eventBurst, got)
		}
		suppressed := func() float64 { return testutil.ToFloat64(rep.metrics.EventsSuppressed.WithLabelValues("vip-0")) }
		if got := suppressed(); got != 19 {
			t.Errorf("%v Events counted as suppressed, want 19 (the 30th waits)", got)
		}
		if got := w.take(); !slices.Contains(got, "vip-0 MASTER 100") {
			t.Errorf("the entry's writes %q never said MASTER", got)
		}

		time.Sleep(start.Add(eventEvery - time.Millisecond).Sub(time.Now()))
		if got := drain(rec); len(got) != 0 {
			t.Errorf("before the budget allows one, %q", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		got := drain(rec)
		if len(got) != 1 || !strings.Contains(got[0], "BecameMaster") || !strings.Contains(got[0], "; 19 earlier changes of this router since") {
			t.Errorf("%v after the first Event, the budget let out %q, want the latest change (BecameMaster) counting 19", eventEvery, got)
		}

		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 100})
		synctest.Wait()
		if got := drain(rec); len(got) != 0 {
			t.Errorf("a change right after, with the budget spent: %q", got)
		}
		time.Sleep(eventEvery)
		synctest.Wait()
		if got := drain(rec); len(got) != 1 || !strings.Contains(got[0], "BecameBackup") || strings.Contains(got[0], "earlier changes") {
			t.Errorf("%v later, %q, want BecameBackup, none dropped before it", eventEvery, got)
		}
		if got := suppressed(); got != 19 {
			t.Errorf("%v Events counted as suppressed at the end, want still 19", got)
		}

		rep.participate(desired.Result{})
		rep.mu.Lock()
		n := len(rep.budgets)
		rep.mu.Unlock()
		if n != 0 {
			t.Errorf("%d budgets kept after the router went away", n)
		}
	})
}

// TestAChangeHeldByTheBudgetGoesOutWhenTheRouterGoesOrTheAgentStops: a router's latest change,
// held by its Event budget, is recorded at once when the router goes away (and none of the others
// of the router queued meanwhile) or when the agent flushes its last words.
func TestAChangeHeldByTheBudgetGoesOutWhenTheRouterGoesOrTheAgentStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := events.NewFakeRecorder(100)
		rep, _, _ := recordingReporterOf(t, rec, &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "vip-0"}},
			&vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "vip-1"}})
		rep.participate(routersAt(2, 10*time.Millisecond))
		states := []vrrp.State{vrrp.StateBackup, vrrp.StateMaster}
		for _, name := range []string{"vip-0", "vip-1"} {
			for i := range 12 {
				rep.observe(speaker.Status{Router: name, State: states[i%2], Priority: 100})
				time.Sleep(10 * time.Millisecond)
			}
		}
		synctest.Wait()
		if got := drain(rec); len(got) != 2*eventBurst {
			t.Fatalf("12 transitions of each of two routers recorded %d Events, want %d", len(got), 2*eventBurst)
		}

		rep.participate(desired.Result{Routers: routersAt(2, 10*time.Millisecond).Routers[1:]})
		synctest.Wait()
		if got := drain(rec); len(got) != 1 || !strings.Contains(got[0], "BecameMaster") {
			t.Errorf("vip-0 went away: %q, want its latest change, BecameMaster", got)
		}

		if !rep.flush(context.Background()) {
			t.Error("the flush left writes undone")
		}
		synctest.Wait()
		if got := drain(rec); len(got) != 1 || !strings.Contains(got[0], "BecameMaster") || !strings.Contains(got[0], "; 1 earlier changes") {
			t.Errorf("the agent stopped: %q, want vip-1's latest change, BecameMaster, counting the one it replaced", got)
		}
	})
}

// drain returns the Events rec holds.
func drain(rec *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}
