package kube

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// A node after the first vrrpv1.MaxListedNodes of a VirtualIP writes no entry while BACKUP, one
// once it has been MASTER for takeoverSettle, and removes it when it steps down: status.master stays right while a
// VirtualIP of 500 nodes holds 100 entries. Its start is no Event; its handover is.
func TestAnUnlistedNodeWritesItsEntryOnlyWhileMaster(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := events.NewFakeRecorder(10)
		vip := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "vip-0"}}
		rep, w, _ := recordingReporterOf(t, rec, vip)
		rep.participate(desired.Result{Routers: []desired.Router{{Name: "vip-0", Rank: 200, Previous: "n199", Unlisted: true}}})
		wantWrites(t, "started", w, "labels ")

		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateInit, Priority: 100})
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 100})
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 90})
		wantWrites(t, "a BACKUP", w)
		if got := len(rec.Events); got != 0 {
			t.Errorf("%d Events for an unlisted node's start, want none", got)
		}

		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateMaster, Priority: 90})
		time.Sleep(takeoverSettle)
		wantWrites(t, "MASTER", w, "vip-0 MASTER 90")
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 90})
		wantWrites(t, "BACKUP again", w, "vip-0")
		if got := len(rec.Events); got != 2 {
			t.Errorf("%d Events for the unlisted node's handover, want BecameMaster and BecameBackup", got)
		}

		// A takeover that ends before its entry goes out leaves nothing to remove.
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateMaster, Priority: 90})
		time.Sleep(takeoverSettle / 2)
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 90})
		time.Sleep(takeoverSettle)
		wantWrites(t, "a takeover that ended within takeoverSettle", w)
		if got := len(rec.Events); got != 4 {
			t.Errorf("%d Events after a second, short takeover, want 4", got)
		}

		// An entry that reassert found left behind is removed, a short takeover coming before
		// its removal went out.
		rep.mu.Lock()
		rep.entries["vip-0"], rep.dirty["vip-0"] = nil, true
		rep.foreign["vip-0"] = foreignEntry{index: 0, entry: &vrrpv1.NodeStatus{Node: "primary", State: vrrpv1.StateMaster}}
		rep.mu.Unlock()
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateMaster, Priority: 90})
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 90})
		wantWrites(t, "a short takeover before a reasserted removal", w, "vip-0", `vip-0 [{"op":"test","path":"/status/nodes/0/node","value":"primary"},{"op":"remove","path":"/status/nodes/0"}]`)
	})
}

// A node whose rank changes (a node joins or leaves before it by name) starts or stops writing
// its entry without waiting for its next transition.
func TestANodeWhoseRankChangesIsListedOrUnlisted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep, w := recordingReporter(t)
		rep.participate(desired.Result{Routers: []desired.Router{{Name: "vip-0", Rank: 0}}})
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 100})
		wantWrites(t, "listed", w, "labels ", "vip-0 BACKUP 100")

		unlisted := desired.Result{Routers: []desired.Router{{Name: "vip-0", Rank: 100, Previous: "n99", Unlisted: true}}}
		rep.participate(unlisted)
		wantWrites(t, "a hundred nodes joined before it", w)
		time.Sleep(firstWriteSpacing) // the removals of nodes unlisted at once go out in turn
		wantWrites(t, "a hundred nodes joined before it, at its turn", w, "vip-0")
		rep.participate(unlisted)
		wantWrites(t, "a sync without a change", w)

		// Listed again, it writes in its turn: after the node before it, or at its slot.
		rep.participate(desired.Result{Routers: []desired.Router{{Name: "vip-0", Rank: 99, Previous: "n98"}}})
		wantWrites(t, "one of them left", w)
		time.Sleep(99 * firstWriteSpacing)
		wantWrites(t, "at its slot", w, "vip-0 BACKUP 100")
	})
}

// A node unlisted before its first entry went out (waiting for its turn) has nothing to remove.
func TestANodeUnlistedBeforeItsFirstWriteWritesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep, w := recordingReporter(t)
		rep.participate(desired.Result{Routers: []desired.Router{{Name: "vip-0", Rank: 99, Previous: "n98"}}})
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 100})
		wantWrites(t, "waiting for its turn", w, "labels ")
		rep.participate(desired.Result{Routers: []desired.Router{{Name: "vip-0", Rank: 100, Previous: "n99", Unlisted: true}}})
		time.Sleep(100 * firstWriteSpacing)
		wantWrites(t, "unlisted", w)
	})
}

// An unlisted node whose entry is in status (written before an agent restart, or by someone else)
// removes it; one that
// has none writes nothing, not even when the VirtualIP stops selecting it. A router the node cannot
// run is listed as FAULT, or not at all when the node is unlisted.
func TestAnUnlistedNodeRemovesAnEntryLeftInStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		left := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "left"},
			Status: vrrpv1.VirtualIPStatus{Nodes: []vrrpv1.NodeStatus{{Node: "primary", State: vrrpv1.StateMaster, Priority: 100}}}}
		none := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "none"}}
		fault := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "fault"}}
		rep, w, _ := recordingReporterOf(t, nil, left, none, fault)
		rep.participate(desired.Result{
			Routers: []desired.Router{{Name: "left", Rank: 500, Previous: "n499", Unlisted: true}},
			Errors: []desired.RouterError{{Name: "none", Err: errors.New("no interface"), Unlisted: true},
				{Name: "fault", Err: errors.New("no interface")}},
		})
		synctest.Wait()
		got := w.take()
		slices.Sort(got) // the writes go out together
		// The apply of none removes the entry this node's field manager wrote; the guarded JSON
		// patch one that someone else wrote (here, as the fake client does not apply, both go).
		if want := []string{"fault FAULT 0 InvalidSpec", "labels ", "left",
			`left [{"op":"test","path":"/status/nodes/0/node","value":"primary"},{"op":"remove","path":"/status/nodes/0"}]`}; !slices.Equal(got, want) {
			t.Errorf("started: wrote %q, want %q", got, want)
		}

		rep.participate(desired.Result{})
		wantWrites(t, "no longer selected: the listed node removes its entry", w, "fault")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if !rep.flush(ctx) {
			t.Error("the flush left writes")
		}
	})
}

// An unlisted node that cannot run a router writes no FAULT entry: a Warning Event says why, once
// for each error, not at every sync, in the node's turn (hundreds of nodes may share the error).
func TestAnUnlistedNodeThatCannotRunARouterRecordsAnEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := events.NewFakeRecorder(10)
		vip := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "vip-0"}}
		rep, w, _ := recordingReporterOf(t, rec, vip)
		broken := func(msg string) desired.Result {
			return desired.Result{Errors: []desired.RouterError{{Name: "vip-0", Err: errors.New(msg), Rank: 101, Unlisted: true}}}
		}
		rep.participate(broken("no interface holds 198.51.100.0/24"))
		rep.participate(broken("no interface holds 198.51.100.0/24"))
		wantWrites(t, "started", w, "labels ")
		time.Sleep(2*firstWriteSpacing - time.Nanosecond)
		synctest.Wait()
		if got := len(rec.Events); got != 0 {
			t.Errorf("%d Events before the node's turn", got)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if got := len(rec.Events); got != 1 {
			t.Errorf("%d Events at the node's turn, with nothing else to do, want 1", got)
		}
		rep.participate(broken("no interface holds 198.51.100.0/25"))
		time.Sleep(2 * firstWriteSpacing)
		synctest.Wait()
		if got := len(rec.Events); got != 2 {
			t.Fatalf("%d Events, want one for each error", got)
		}
		if e := <-rec.Events; e != `Warning Fault primary is FAULT with priority 0 (InvalidSpec): virtual router "vip-0": no interface holds 198.51.100.0/24` {
			t.Errorf("Event %q", e)
		}
		wantWrites(t, "after the errors", w)
	})
}

// A node unlisted twice writes one removal: the second time its entry is gone already.
func TestAnEntryRemovedOnceIsNotRemovedAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep, w := recordingReporter(t)
		listed := desired.Result{Routers: []desired.Router{{Name: "vip-0", Rank: 99, Previous: "n98"}}}
		unlisted := desired.Result{Routers: []desired.Router{{Name: "vip-0", Rank: 100, Previous: "n99", Unlisted: true}}}
		rep.participate(listed)
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 100})
		time.Sleep(99 * firstWriteSpacing)
		wantWrites(t, "listed", w, "labels ", "vip-0 BACKUP 100")
		rep.participate(unlisted)
		time.Sleep(firstWriteSpacing)
		wantWrites(t, "unlisted", w, "vip-0")
		rep.participate(listed) // waits for its turn again
		rep.participate(unlisted)
		time.Sleep(100 * firstWriteSpacing)
		wantWrites(t, "listed and unlisted before its turn", w)
	})
}

// The turn of an unlisted node's Fault Event holds nothing else: once listed, the router's FAULT
// entry goes out at once.
func TestAFaultEventsTurnDoesNotHoldTheEntry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep, w := recordingReporter(t)
		err := errors.New("no interface holds 198.51.100.0/24")
		rep.participate(desired.Result{Errors: []desired.RouterError{{Name: "vip-0", Err: err, Rank: 199, Unlisted: true}}})
		wantWrites(t, "unlisted", w, "labels ")
		rep.participate(desired.Result{Errors: []desired.RouterError{{Name: "vip-0", Err: err, Rank: 99}}})
		wantWrites(t, "listed", w, "vip-0 FAULT 0 InvalidSpec")
	})
}

// An unlisted MASTER whose router can no longer run removes its MASTER entry at once, not in its
// turn: status.master must not name it.
func TestAnUnlistedMasterThatCannotRunRemovesItsEntryAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep, w := recordingReporter(t)
		rep.participate(desired.Result{Routers: []desired.Router{{Name: "vip-0", Rank: 150, Unlisted: true}}})
		synctest.Wait() // the first label write (none) goes out before the takeover, not beside it
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateMaster, Priority: 100})
		time.Sleep(maxCoalesce) // the MASTER entry and then its label
		synctest.Wait()
		if got, want := w.take(), []string{"labels ", "labels vip-0", "vip-0 MASTER 100"}; !slices.Equal(got, want) {
			t.Fatalf("MASTER: wrote %q, want %q", got, want)
		}
		rep.participate(desired.Result{Errors: []desired.RouterError{{Name: "vip-0", Err: errors.New("the Secret is gone"), Rank: 150, Unlisted: true}}})
		wantWrites(t, "cannot run", w, "labels ", "vip-0")
	})
}
