package speaker

import (
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
)

// status returns node's only router status.
func (c *cluster) status(node string) Status {
	c.t.Helper()
	sts := c.speakers[node].Statuses()
	if len(sts) != 1 {
		c.t.Fatalf("%s runs %d routers, want 1", node, len(sts))
	}
	return sts[0]
}

// everMaster reports whether node ever reported MASTER.
func (c *cluster) everMaster(node string) bool {
	return !c.becameMasterAt(node).IsZero()
}

// wantFault checks that node is FAULT for reason, with a message that says why.
func (c *cluster) wantFault(node, reason, message string) {
	c.t.Helper()
	st := c.status(node)
	if st.State != vrrp.StateFault || st.Reason != reason || !strings.Contains(st.Message, message) {
		c.t.Errorf("%s reports %s %q %q, want FAULT %s with a message containing %q", node, st.State, st.Reason, st.Message, reason, message)
	}
}

// startBoth starts the seed's router on primary (150) and secondary (100), after prepare.
func startBoth(t *testing.T, prepare func(c *cluster)) *cluster {
	c := newCluster(t, map[string]string{"primary": "198.51.100.253", "secondary": "198.51.100.254"})
	if prepare != nil {
		prepare(c)
	}
	c.speakers["primary"].Apply([]desired.Router{seed(150)})
	c.speakers["secondary"].Apply([]desired.Router{seed(100)})
	return c
}

// Issue 9 item 3: a router that cannot hear must not run the election.
func TestARouterWithoutAWorkingSocketIsFaultUntilItHasOne(t *testing.T) {
	mdi := vrrp.MasterDownInterval(2, 100, time.Second)
	tests := map[string]func(t *testing.T){
		"a backup whose socket will not open is FAULT, never MASTER, and BACKUP once it opens": func(t *testing.T) {
			c := startBoth(t, func(c *cluster) { c.nodes["secondary"].set(func(n *node) { n.listenFail = 6 }) })
			time.Sleep(mdi + time.Second)
			synctest.Wait()
			c.wantFault("secondary", ReasonNoSocket, "no such device")
			time.Sleep(10 * time.Second)
			synctest.Wait()
			if st := c.status("secondary"); st.State != vrrp.StateBackup || st.Reason != "" || st.Message != "" {
				t.Errorf("secondary reports %s %q %q once its socket opened, want BACKUP without reason", st.State, st.Reason, st.Message)
			}
			if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
				t.Errorf("masters (-want +got):\n%s", diff)
			}
			if c.everMaster("secondary") {
				t.Error("the deaf secondary became MASTER beside the primary")
			}
		},
		"a backup whose socket's reader dies is FAULT at once and BACKUP once a new socket opens": func(t *testing.T) {
			c := startBoth(t, nil)
			time.Sleep(10 * time.Second)
			synctest.Wait()
			// The new socket, opened at once and then every second, fails five times.
			c.nodes["secondary"].set(func(n *node) { n.listenFail = 5 })
			c.nodes["secondary"].breakReaders()
			synctest.Wait()
			c.wantFault("secondary", ReasonNoSocket, "stopped reading")
			time.Sleep(mdi + time.Second)
			synctest.Wait()
			c.wantFault("secondary", ReasonNoSocket, "no such device")
			time.Sleep(5 * time.Second)
			synctest.Wait()
			if st := c.status("secondary"); st.State != vrrp.StateBackup {
				t.Errorf("secondary is %s once a new socket opened, want BACKUP", st.State)
			}
			if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
				t.Errorf("masters (-want +got):\n%s", diff)
			}
			if c.everMaster("secondary") {
				t.Error("the deaf secondary became MASTER beside the primary")
			}
		},
		"a master whose socket's reader dies once opens a new one at once and keeps the VIP": func(t *testing.T) {
			c := startBoth(t, nil)
			time.Sleep(10 * time.Second)
			synctest.Wait()
			c.nodes["primary"].breakReaders()
			time.Sleep(10 * time.Second)
			synctest.Wait()
			if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
				t.Errorf("masters (-want +got):\n%s", diff)
			}
			if c.everMaster("secondary") {
				t.Error("one bad read on the primary's socket made the secondary MASTER")
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			for _, st := range c.changes["primary"] {
				if st.State == vrrp.StateFault {
					t.Errorf("the primary went FAULT %s %q on one bad read", st.Reason, st.Message)
				}
			}
		},
		"a master whose socket's reader dies gives the VIP up and the backup takes over": func(t *testing.T) {
			c := startBoth(t, nil)
			time.Sleep(10 * time.Second)
			synctest.Wait()
			c.nodes["primary"].set(func(n *node) { n.listenFail = 100 })
			start := time.Now()
			c.nodes["primary"].breakReaders()
			time.Sleep(5 * time.Second)
			synctest.Wait()
			c.wantFault("primary", ReasonNoSocket, "no such device")
			if diff := cmp.Diff([]string{"secondary"}, c.masters()); diff != "" {
				t.Errorf("masters (-want +got):\n%s", diff)
			}
			// Its socket gone, the primary cannot send priority 0: the backup waits Master_Down_Interval.
			if took := c.becameMasterAt("secondary").Sub(start); took > mdi+10*time.Millisecond {
				t.Errorf("takeover took %v, want at most Master_Down_Interval %v", took, mdi)
			}
		},
	}
	for name, test := range tests {
		t.Run(name, func(t *testing.T) { synctest.Test(t, test) })
	}
}

// Issue 9 item 2: a Master that cannot put its VIP on the interface retries, and gives way when
// retrying does not help.
func TestAMasterThatCannotHoldItsVIP(t *testing.T) {
	errFull := errors.New("writing address record: no space left on device")
	tests := map[string]func(t *testing.T){
		"a transient failure is retried at once, and the master holds and announces the VIP": func(t *testing.T) {
			c := startBoth(t, func(c *cluster) { c.nodes["primary"].set(func(n *node) { n.addFail = 2 }) })
			time.Sleep(10 * time.Second)
			synctest.Wait()
			if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
				t.Fatalf("masters (-want +got):\n%s", diff)
			}
			n := c.nodes["primary"]
			// Retried after 100 ms, then 200 ms.
			if got, want := n.adds[0].Sub(c.becameMasterAt("primary")), 300*time.Millisecond; got != want {
				t.Errorf("the VIP was added %v after the primary became MASTER, want %v", got, want)
			}
			if n.announced != 3 {
				t.Errorf("primary announced the VIP %d times, want the burst of 3 once it held it", n.announced)
			}
			if st := c.status("primary"); st.Message != "" {
				t.Errorf("primary still reports %q once it holds the VIP", st.Message)
			}
			if got := testutil.ToFloat64(c.metrics["primary"].AddressErrors.WithLabelValues("services", metrics.OpAdd)); got != 2 {
				t.Errorf("primary counted %v failed adds, want 2", got)
			}
		},
		"a lasting failure makes the master FAULT after Master_Down_Interval, the backup take over, and the master come back once it can add": func(t *testing.T) {
			// A full disk: Check sees it too.
			c := startBoth(t, func(c *cluster) { c.nodes["primary"].set(func(n *node) { n.addErr, n.checkErr = errFull, errFull }) })
			time.Sleep(10 * time.Second)
			synctest.Wait()
			c.wantFault("primary", ReasonAddressFailed, "no space left on device")
			if diff := cmp.Diff([]string{"secondary"}, c.masters()); diff != "" {
				t.Fatalf("masters (-want +got):\n%s", diff)
			}
			// The primary resigns at its Master_Down_Interval with priority 0: the secondary takes
			// over after its Skew_Time.
			bound := vrrp.MasterDownInterval(2, 150, time.Second) + vrrp.SkewTime(2, 100, time.Second)
			if took := c.becameMasterAt("secondary").Sub(c.becameMasterAt("primary")); took > bound+10*time.Millisecond {
				t.Errorf("the secondary took over %v after the primary became MASTER without the VIP, want at most %v", took, bound)
			}
			// Room on the disk again: the primary checks, starts again as Backup and preempts.
			c.nodes["primary"].set(func(n *node) { n.addErr, n.checkErr = nil, nil })
			time.Sleep(15 * time.Second)
			synctest.Wait()
			if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
				t.Errorf("masters once the primary can add again (-want +got):\n%s", diff)
			}
			if st := c.status("primary"); st.Reason != "" || st.Message != "" {
				t.Errorf("primary reports %q %q once it holds the VIP, want neither", st.Reason, st.Message)
			}
		},
	}
	for name, test := range tests {
		t.Run(name, func(t *testing.T) { synctest.Test(t, test) })
	}
}

// Issue 9 item 6: an address left behind by a failed removal is not the Backup's to announce.
func TestABackupNeverAnnouncesAVIPItFailedToRemove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, map[string]string{"primary": "198.51.100.253", "secondary": "198.51.100.254"})
		refreshing := func(prio uint8) desired.Router {
			d := seed(prio)
			d.GARP.Refresh = 2 * time.Second
			return d
		}
		c.speakers["primary"].Apply([]desired.Router{refreshing(150)})
		c.speakers["secondary"].Apply([]desired.Router{refreshing(100)})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		p := c.nodes["primary"]
		p.set(func(n *node) { n.removeErr = errors.New("netlink: no buffer space available") })
		cordoned := refreshing(1)
		cordoned.Resign, cordoned.Reason = true, "Cordoned"
		c.speakers["primary"].Apply([]desired.Router{cordoned})
		synctest.Wait()
		before := p.announced
		time.Sleep(5 * time.Second)
		synctest.Wait()
		st := c.status("primary")
		if st.State != vrrp.StateBackup || !p.holds(vip) {
			t.Fatalf("primary is %s holding the VIP %v; the test needs a BACKUP whose removal failed", st.State, p.holds(vip))
		}
		if p.announced != before {
			t.Errorf("the BACKUP announced the VIP it failed to remove %d times", p.announced-before)
		}
		if !strings.Contains(st.Message, "retrying") {
			t.Errorf("primary reports %q, want that it is retrying the removal", st.Message)
		}
		p.set(func(n *node) { n.removeErr = nil })
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if p.holds(vip) {
			t.Error("the BACKUP still holds the VIP after removal works again: it was not retried")
		}
		if st := c.status("primary"); st.Message != "" {
			t.Errorf("primary still reports %q once the VIP is removed", st.Message)
		}
	})
}

// A failed removal's "retrying" message goes once the address is wanted again: a Master again
// holds it rightly, and nothing would retry, so the message would stay forever.
func TestARemovalErrorIsForgottenWhenTheAddressIsWantedAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startBoth(t, nil)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		p := c.nodes["primary"]
		p.set(func(n *node) { n.removeErr = errors.New("netlink: no buffer space available") })
		cordoned := seed(1)
		cordoned.Resign, cordoned.Reason = true, "Cordoned"
		c.speakers["primary"].Apply([]desired.Router{cordoned})
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if st := c.status("primary"); st.State != vrrp.StateBackup || !strings.Contains(st.Message, "retrying") {
			t.Fatalf("primary reports %s %q; the test needs a BACKUP retrying a removal", st.State, st.Message)
		}
		// Uncordoned, the primary preempts and wants the address it still holds; removals still fail.
		back := time.Now()
		c.speakers["primary"].Apply([]desired.Router{seed(150)})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
			t.Fatalf("masters after uncordon (-want +got):\n%s", diff)
		}
		if st := c.status("primary"); st.Message != "" {
			t.Errorf("the MASTER holding its VIP reports %q, want no message", st.Message)
		}
		// And status said so from the transition on: no MASTER was reported with the message.
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, st := range c.changes["primary"] {
			if st.State == vrrp.StateMaster && st.Message != "" && !st.Since.Before(back) {
				t.Errorf("primary reported MASTER with %q", st.Message)
			}
		}
	})
}

// watchVIP samples every 10 ms for d how many nodes hold the VIP, and returns how long none did
// and how long more than one did.
func (c *cluster) watchVIP(d time.Duration) (dark, dual time.Duration) {
	const step = 10 * time.Millisecond
	for range d / step {
		time.Sleep(step)
		synctest.Wait()
		holders := 0
		for _, n := range c.nodes {
			if n.holds(vip) {
				holders++
			}
		}
		switch {
		case holders == 0:
			dark += step
		case holders > 1:
			dual += step
		}
	}
	return dark, dual
}

// masterEntries counts how often node reported MASTER.
func (c *cluster) masterEntries(node string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, last := 0, vrrp.StateInit
	for _, st := range c.changes[node] {
		if st.State == vrrp.StateMaster && last != vrrp.StateMaster {
			n++
		}
		last = st.State
	}
	return n
}

// Review of issue 9 item 2: the addresses' Check cannot see every reason an add fails (a netlink
// error, IPv6 disabled on the interface). A node whose check passes while its adds fail must not
// come back preempting, fail again and leave the VIP unheld for a Master_Down_Interval each time.
func TestANodeWhoseAddsFailUnseenByTheCheckDoesNotPreemptAgainAndAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errNetlink := errors.New("netlink: permission denied")
		c := startBoth(t, func(c *cluster) { c.nodes["primary"].set(func(n *node) { n.addErr = errNetlink }) })
		dark, dual := c.watchVIP(120 * time.Second)
		entries := c.masterEntries("primary")
		t.Logf("in 120 s: the VIP unheld for %v, held twice for %v; the primary became MASTER %d times", dark, dual, entries)
		if entries != 1 {
			t.Errorf("the primary became MASTER without its VIP %d times in 120 s, want once", entries)
		}
		// Its first Master_Down_Interval alone, then its own Master_Down_Interval of retries and
		// the secondary's Skew_Time.
		bound := 2*vrrp.MasterDownInterval(2, 150, time.Second) + vrrp.SkewTime(2, 100, time.Second)
		if dark > bound+50*time.Millisecond {
			t.Errorf("the VIP was unheld for %v of 120 s, want at most %v", dark, bound)
		}
		if diff := cmp.Diff([]string{"secondary"}, c.masters()); diff != "" {
			t.Errorf("masters (-want +got):\n%s", diff)
		}
		st := c.status("primary")
		if st.State != vrrp.StateBackup || !strings.Contains(st.Message, "not preempting") || !strings.Contains(st.Message, "permission denied") {
			t.Errorf("primary reports %s %q %q, want BACKUP saying it does not preempt and why", st.State, st.Reason, st.Message)
		}

		// Adds work again, and the secondary goes away: the primary takes over, holds the VIP and
		// preempts again from then on.
		c.nodes["primary"].set(func(n *node) { n.addErr = nil })
		if err := c.speakers["secondary"].Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if st := c.status("primary"); st.State != vrrp.StateMaster || st.Message != "" || !c.nodes["primary"].holds(vip) {
			t.Fatalf("primary reports %s %q holding the VIP %v once alone, want MASTER with the VIP and no message", st.State, st.Message, c.nodes["primary"].holds(vip))
		}
		c.speakers["secondary"] = New(Options{Node: "secondary", Addresses: c.nodes["secondary"], Announcer: c.nodes["secondary"],
			Hooks: c.nodes["secondary"], Network: c.nodes["secondary"], AddressLifetime: 6 * time.Second})
		c.speakers["secondary"].Apply([]desired.Router{seed(100)})
		cordoned := seed(1)
		cordoned.Resign, cordoned.Reason = true, "Cordoned"
		c.speakers["primary"].Apply([]desired.Router{cordoned})
		time.Sleep(5 * time.Second)
		c.speakers["primary"].Apply([]desired.Router{seed(150)})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
			t.Errorf("masters after a cordon and uncordon of the primary, which preempts again (-want +got):\n%s", diff)
		}
	})
}

// Review of issue 9 item 2: a node alone whose first add works but whose refreshes keep failing
// holds its VIP for a moment each time it is Master; that must not count as holding it, or the
// AddressFailed hold never grows and the node cycles FAULT, BACKUP, MASTER every few seconds.
func TestTheAddressFailedHoldGrowsWhenOnlyTheFirstAddWorks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, map[string]string{"primary": "198.51.100.253"})
		c.nodes["primary"].set(func(n *node) { n.refreshErr = errors.New("netlink: no buffer space available") })
		c.speakers["primary"].Apply([]desired.Router{seed(150)})
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		holds := faultHolds(c, "primary")
		t.Logf("FAULT holds in five minutes: %v", holds)
		want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second}
		if len(holds) > len(want) {
			holds = holds[:len(want)]
		}
		if diff := cmp.Diff(want, holds); diff != "" {
			t.Errorf("FAULT holds (-want +got):\n%s", diff)
		}
	})
}

// faultHolds returns how long each FAULT of node lasted.
func faultHolds(c *cluster, node string) []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var holds []time.Duration
	var since time.Time
	for _, st := range c.changes[node] {
		switch {
		case st.State == vrrp.StateFault && since.IsZero():
			since = st.Since
		case st.State != vrrp.StateFault && !since.IsZero():
			holds = append(holds, st.Since.Sub(since))
			since = time.Time{}
		}
	}
	return holds
}

// A node alone whose adds keep failing goes FAULT for 5 s, then 10 s, doubling up to a minute, so
// that it does not cycle through MASTER every few seconds.
func TestTheAddressFailedHoldGrowsWithEachFailureInARow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, map[string]string{"primary": "198.51.100.253"})
		c.nodes["primary"].set(func(n *node) { n.addErr = errors.New("netlink: permission denied") })
		c.speakers["primary"].Apply([]desired.Router{seed(150)})
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		c.mu.Lock()
		var holds []time.Duration
		var since time.Time
		for _, st := range c.changes["primary"] {
			switch {
			case st.State == vrrp.StateFault && since.IsZero():
				since = st.Since
			case st.State != vrrp.StateFault && !since.IsZero():
				holds = append(holds, st.Since.Sub(since))
				since = time.Time{}
			}
		}
		c.mu.Unlock()
		want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute}
		if len(holds) > len(want) {
			holds = holds[:len(want)]
		}
		if diff := cmp.Diff(want, holds); diff != "" {
			t.Errorf("FAULT holds (-want +got):\n%s", diff)
		}
	})
}
