package kube

import (
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// TestAFlappingRoutersEventsAreBounded: a router that changes state every advert (10 ms) records
// eventBurst Events, and then one every eventEvery; the others are counted, and the next Event
// recorded says how many it stands for. Status is not bounded: its entry still follows.
func TestAFlappingRoutersEventsAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := events.NewFakeRecorder(100)
		rep, w, _ := recordingReporterOf(t, rec, &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "vip-0"}})
		rep.participate(routersAt(1, 10*time.Millisecond))
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
		if got := suppressed(); got != 20 {
			t.Errorf("%v Events counted as suppressed, want 20", got)
		}
		if got := w.take(); !slices.Contains(got, "vip-0 MASTER 100") {
			t.Errorf("the entry's writes %q never said MASTER", got)
		}

		time.Sleep(eventEvery)
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 100})
		synctest.Wait()
		got := drain(rec)
		if len(got) != 1 || !strings.Contains(got[0], "BecameBackup") || !strings.Contains(got[0], "; 20 earlier changes of this router since") {
			t.Errorf("the first transition after %v recorded %q, want one BecameBackup that counts the 20 suppressed", eventEvery, got)
		}
		if got := suppressed(); got != 20 {
			t.Errorf("%v Events counted as suppressed after one was recorded, want still 20", got)
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
