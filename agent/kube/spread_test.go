package kube

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// A VirtualIP's first entries go out one node after the other: each waits for the entry of the
// node before it (desired.Router.Previous), with its Event, or for its rank's slot when that node
// never writes. A MASTER does not wait, and a node leaving writes its last words at once. All the
// nodes writing the one object together cost a minute and 24 etcd updates per landed write at
// 100 nodes in BenchmarkFleet; one after the other, 5 s and one each.
func TestAFirstEntryWaitsForTheNodeBeforeIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		vips := []*vrrpv1.VirtualIP{
			{ObjectMeta: metav1.ObjectMeta{Name: "after-n1"}},
			{ObjectMeta: metav1.ObjectMeta{Name: "after-gone"}},
			{ObjectMeta: metav1.ObjectMeta{Name: "master"}},
		}
		rec := events.NewFakeRecorder(10)
		rep, w, c := recordingReporterOf(t, rec, vips[0], vips[1], vips[2])
		rep.participate(desired.Result{Routers: []desired.Router{
			{Name: "after-n1", Rank: 2, Previous: "n1"},
			{Name: "after-gone", Rank: 3, Previous: "gone"},
			{Name: "master", Rank: 5, Previous: "n4"},
		}})
		wantWrites(t, "started", w, "labels ")
		for _, name := range []string{"after-n1", "after-gone"} {
			rep.observe(speaker.Status{Router: name, State: vrrp.StateBackup, Priority: 100})
		}
		rep.observe(speaker.Status{Router: "master", State: vrrp.StateMaster, Priority: 100})
		time.Sleep(takeoverSettle)
		wantWrites(t, "the routers reported", w, "master MASTER 100")
		if got := len(rec.Events); got != 1 {
			t.Errorf("%d Events at the start, want the MASTER's only", got)
		}

		v := vips[0].DeepCopy()
		v.Status.Nodes = []vrrpv1.NodeStatus{{Node: "n1", State: vrrpv1.StateBackup, Priority: 100}}
		if err := c.Status().Update(context.Background(), v); err != nil {
			t.Fatal(err)
		}
		rep.verifySoon() // as the informer's update does
		wantWrites(t, "n1's entry came", w, "after-n1 BACKUP 100")
		if got := len(rec.Events); got != 2 {
			t.Errorf("%d Events once n1's entry came, want after-n1's too", got)
		}

		time.Sleep(3*firstWriteSpacing - takeoverSettle - time.Nanosecond)
		wantWrites(t, "before its slot", w)
		time.Sleep(time.Nanosecond)
		wantWrites(t, "at its slot, with the node before it silent", w, "after-gone BACKUP 100")
	})
}

func TestALeavingNodeWritesItsFirstEntryAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep, w := recordingReporter(t)
		rep.participate(desired.Result{Routers: []desired.Router{{Name: "vip-0", Rank: 7, Previous: "n6"}}})
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateStopped})
		wantWrites(t, "stopped", w, "labels ")
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if !rep.flush(ctx) {
			t.Fatal("the flush left writes")
		}
		wantWrites(t, "flushed", w, "vip-0 STOPPED 0")
	})
}

// An agent that restarts finds its own entry in the VirtualIP: its first write is no first for the
// object, and one that puts right a stale entry (a MASTER killed and back as BACKUP) must not wait
// for a node before it that may never write.
func TestARestartedNodePutsItsEntryRightAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "vip-0"},
			Status: vrrpv1.VirtualIPStatus{Nodes: []vrrpv1.NodeStatus{{Node: "primary", State: vrrpv1.StateMaster, Priority: 100}}}}
		rep, w, _ := recordingReporterOf(t, events.NewFakeRecorder(10), v)
		rep.participate(desired.Result{Routers: []desired.Router{{Name: "vip-0", Rank: 400, Previous: "gone"}}})
		wantWrites(t, "started", w, "labels ")
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 100})
		rep.verifySoon() // a resync, or any VirtualIP's status change
		wantWrites(t, "back as BACKUP", w, "vip-0 BACKUP 100")
	})
}

// A slot whose time has come while maxWrites writes are in flight waits for one of them to end,
// which wakes the writer; left in slots, its past time woke Start at once, again and again.
func TestASlotKeptWaitingByMaxWritesDoesNotWakeTheWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep := newReporter("primary", logr.Discard())
		rep.labels = false
		for i := range maxWrites {
			rep.inflight[fmt.Sprintf("busy-%d", i)] = true
		}
		rep.entries["vip-0"] = &vrrpv1.NodeStatus{Node: "primary", State: vrrpv1.StateBackup, Priority: 100}
		rep.dirty["vip-0"] = true
		rep.slots["vip-0"] = slot{at: time.Now().Add(100 * time.Millisecond), after: "n0"}
		time.Sleep(time.Second)

		rep.dispatch(context.Background())
		rep.mu.Lock()
		defer rep.mu.Unlock()
		if !rep.dirty["vip-0"] || len(rep.inflight) != maxWrites {
			t.Fatalf("with %d writes in flight, dispatch started another", maxWrites)
		}
		if at := rep.nextWake(); !at.IsZero() {
			t.Errorf("with only a write that waits for a write to end, Start wakes at %v (now %v), want never", at, time.Now())
		}
		if !rep.due(time.Now()) {
			t.Error("the entry whose slot came is not due")
		}
	})
}
