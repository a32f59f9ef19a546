package kube

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// withListLimit sets rep's list limit, as vrrpv1.MaxListedNodes would be at a smaller size.
func withListLimit(rep *reporter, n int) {
	rep.mu.Lock()
	rep.listLimit = n
	rep.mu.Unlock()
}

// A node after the first vrrpv1.MaxListedNodes of a VirtualIP writes no entry while BACKUP, one
// as soon as it is MASTER and removes it when it steps down: status.master stays right while a
// VirtualIP of 500 nodes holds 100 entries. Its start is no Event; its handover is.
func TestAnUnlistedNodeWritesItsEntryOnlyWhileMaster(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := events.NewFakeRecorder(10)
		vip := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "vip-0"}}
		rep, w, _ := recordingReporterOf(t, rec, vip)
		withListLimit(rep, 2)
		rep.participate(desired.Result{Routers: []desired.Router{{Name: "vip-0", Rank: 2, Previous: "n1"}}})
		wantWrites(t, "started", w, "labels ")

		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateInit, Priority: 100})
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 100})
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 90})
		wantWrites(t, "a BACKUP", w)
		if got := len(rec.Events); got != 0 {
			t.Errorf("%d Events for an unlisted node's start, want none", got)
		}

		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateMaster, Priority: 90})
		wantWrites(t, "MASTER", w, "vip-0 MASTER 90")
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 90})
		wantWrites(t, "BACKUP again", w, "vip-0")
		if got := len(rec.Events); got != 2 {
			t.Errorf("%d Events for the unlisted node's handover, want BecameMaster and BecameBackup", got)
		}
	})
}

// A node whose rank changes (a node joins or leaves before it by name) starts or stops writing
// its entry without waiting for its next transition.
func TestANodeWhoseRankChangesIsListedOrUnlisted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep, w := recordingReporter(t)
		withListLimit(rep, 2)
		rep.participate(desired.Result{Routers: []desired.Router{{Name: "vip-0", Rank: 0}}})
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 100})
		wantWrites(t, "listed", w, "labels ", "vip-0 BACKUP 100")

		rep.participate(desired.Result{Routers: []desired.Router{{Name: "vip-0", Rank: 2, Previous: "n1"}}})
		wantWrites(t, "two nodes joined before it", w, "vip-0")
		rep.participate(desired.Result{Routers: []desired.Router{{Name: "vip-0", Rank: 2, Previous: "n1"}}})
		wantWrites(t, "a sync without a change", w)

		rep.participate(desired.Result{Routers: []desired.Router{{Name: "vip-0", Rank: 1, Previous: "n0"}}})
		wantWrites(t, "one of them left", w, "vip-0 BACKUP 100")
	})
}

// An unlisted node whose entry is in status (written before an agent restart, or by hand) removes
// it; one that has none writes nothing, not even when the VirtualIP stops selecting it. A router
// the node cannot run is not listed either.
func TestAnUnlistedNodeRemovesAnEntryLeftInStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		left := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "left"},
			Status: vrrpv1.VirtualIPStatus{Nodes: []vrrpv1.NodeStatus{{Node: "primary", State: vrrpv1.StateMaster, Priority: 100}}}}
		none := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "none"}}
		rep, w, _ := recordingReporterOf(t, nil, left, none)
		withListLimit(rep, 2)
		rep.participate(desired.Result{
			Routers: []desired.Router{{Name: "left", Rank: 5, Previous: "n4"}},
			Errors:  []desired.RouterError{{Name: "none", Err: errors.New("no interface"), Rank: 3}},
		})
		wantWrites(t, "started", w, "labels ", "left")

		rep.participate(desired.Result{})
		wantWrites(t, "no longer selected", w)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if !rep.flush(ctx) {
			t.Error("the flush left writes")
		}
	})
}
