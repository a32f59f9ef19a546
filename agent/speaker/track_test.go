package speaker

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/track"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
)

// primaryAddr is the primary's address on the fake LAN (startBoth).
const primaryAddr = "198.51.100.253"

// failing is the seed's router on a node where an unweighted check fails.
func failing(priority uint8) desired.Router {
	d := seed(priority)
	d.CheckFault = "check haproxy fails"
	return d
}

// Issue 10 item 2: a priority change reaches the wire at once, a Master that falls below a Backup
// loses the VIP within the Backup's Skew_Time, and a failing unweighted check is a FAULT.
func TestTrackedPriorityAndCheckFaultReachTheWireAtOnce(t *testing.T) {
	skew := vrrp.SkewTime(2, 100, time.Second) // the secondary's
	tests := map[string]func(t *testing.T, c *cluster, tap *fakeConn){
		"a Master's lowered priority is advertised at once and it stays Master above the Backup": func(t *testing.T, c *cluster, tap *fakeConn) {
			c.speakers["primary"].Apply([]desired.Router{seed(120)})
			synctest.Wait()
			if diff := cmp.Diff([]heard{{primaryAddr, 120}}, tap.adverts(t)); diff != "" {
				t.Errorf("adverts at the instant of the change (-want +got):\n%s", diff)
			}
			time.Sleep(5 * time.Second)
			synctest.Wait()
			if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
				t.Errorf("masters (-want +got):\n%s", diff)
			}
			if st := c.status("primary"); st.Priority != 120 {
				t.Errorf("primary reports priority %d, want 120", st.Priority)
			}
		},
		"a Master lowered below the Backup hands over within the Backup's Skew_Time": func(t *testing.T, c *cluster, tap *fakeConn) {
			start := time.Now()
			c.speakers["primary"].Apply([]desired.Router{seed(50)})
			synctest.Wait()
			if diff := cmp.Diff([]heard{{primaryAddr, 50}}, tap.adverts(t)); diff != "" {
				t.Errorf("adverts at the instant of the change (-want +got):\n%s", diff)
			}
			time.Sleep(5 * time.Second)
			synctest.Wait()
			if diff := cmp.Diff([]string{"secondary"}, c.masters()); diff != "" {
				t.Fatalf("masters (-want +got):\n%s", diff)
			}
			if took := c.becameMasterAt("secondary").Sub(start); took > skew {
				t.Errorf("the takeover took %v, want the secondary's Skew_Time %v", took, skew)
			}
		},
		"a failing check makes the Master send priority 0 at once, drop its VIP and go FAULT, and it comes back through BACKUP": func(t *testing.T, c *cluster, tap *fakeConn) {
			start := time.Now()
			c.speakers["primary"].Apply([]desired.Router{failing(150)})
			synctest.Wait()
			if diff := cmp.Diff([]heard{{primaryAddr, 0}}, tap.adverts(t)); diff != "" {
				t.Errorf("adverts at the instant of the failure (-want +got):\n%s", diff)
			}
			if c.nodes["primary"].holds(vip) {
				t.Error("the primary in FAULT still holds the VIP")
			}
			c.wantFault("primary", ReasonCheckFailed, "check haproxy fails")
			time.Sleep(5 * time.Second)
			synctest.Wait()
			if diff := cmp.Diff([]string{"secondary"}, c.masters()); diff != "" {
				t.Fatalf("masters while the check fails (-want +got):\n%s", diff)
			}
			if took := c.becameMasterAt("secondary").Sub(start); took > skew {
				t.Errorf("the takeover took %v, want the secondary's Skew_Time %v", took, skew)
			}

			c.speakers["primary"].Apply([]desired.Router{seed(150)})
			synctest.Wait()
			if st := c.status("primary"); st.State != vrrp.StateBackup || st.Reason != "" || st.Message != "" {
				t.Errorf("primary reports %s %q %q once the check passes, want BACKUP without reason", st.State, st.Reason, st.Message)
			}
			time.Sleep(5 * time.Second)
			synctest.Wait()
			if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
				t.Errorf("masters once the check passes (-want +got):\n%s", diff)
			}
			want := [][]string{
				{"keepalived.sh", "INSTANCE", "services", "BACKUP", "150"},
				{"keepalived.sh", "INSTANCE", "services", "MASTER", "150"},
				{"keepalived.sh", "INSTANCE", "services", "FAULT", "150"},
				{"keepalived.sh", "INSTANCE", "services", "BACKUP", "150"},
				{"keepalived.sh", "INSTANCE", "services", "MASTER", "150"},
			}
			if diff := cmp.Diff(want, c.nodes["primary"].hookCalls()); diff != "" {
				t.Errorf("primary's hooks (-want +got):\n%s", diff)
			}
		},
		"a Backup whose check fails is FAULT and does not take over from a Master that leaves": func(t *testing.T, c *cluster, tap *fakeConn) {
			c.speakers["secondary"].Apply([]desired.Router{failing(100)})
			synctest.Wait()
			c.wantFault("secondary", ReasonCheckFailed, "check haproxy fails")
			if got := tap.adverts(t); len(got) != 0 {
				t.Errorf("the Backup going FAULT sent %v, want nothing", got)
			}
			c.speakers["primary"].Apply(nil)
			time.Sleep(10 * time.Second)
			synctest.Wait()
			if c.state("secondary") != vrrp.StateFault || c.nodes["secondary"].holds(vip) {
				t.Errorf("secondary is %s holding the VIP %v, want FAULT without it", c.state("secondary"), c.nodes["secondary"].holds(vip))
			}
		},
		"the interface comes before a failing check, which keeps the router FAULT once the link is up": func(t *testing.T, c *cluster, tap *fakeConn) {
			c.nodes["primary"].setLink(false)
			c.speakers["primary"].Apply([]desired.Router{failing(150)})
			synctest.Wait()
			c.wantFault("primary", ReasonInterfaceDown, "link eth0 is down")
			c.nodes["primary"].setLink(true)
			time.Sleep(5 * time.Second)
			synctest.Wait()
			c.wantFault("primary", ReasonCheckFailed, "check haproxy fails")
			c.mu.Lock()
			defer c.mu.Unlock()
			faulted := false
			for _, st := range c.changes["primary"] {
				faulted = faulted || st.State == vrrp.StateFault
				if faulted && st.State != vrrp.StateFault {
					t.Errorf("primary went %s between the link and the check", st.State)
				}
			}
		},
	}
	for name, test := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := startBoth(t, nil)
				time.Sleep(10 * time.Second)
				synctest.Wait()
				if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
					t.Fatalf("masters before (-want +got):\n%s", diff)
				}
				test(t, c, c.lan.tap())
			})
		})
	}
}

// Issue 10 item 3: status shows each check's state; a change publishes it, a sync without one
// does not.
func TestACheckChangePublishesTheStatusAndNothingElseDoes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startBoth(t, nil)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		since := time.Now()
		checks := func(state track.State, message string, weight int) desired.Router {
			d := seed(100)
			d.Config.Priority = uint8(100 + weight)
			d.CheckStates = []desired.CheckState{
				{Name: "haproxy", Result: track.Result{State: state, Since: since, Message: message}, Weight: weight},
				{Name: "vpn", Result: track.Result{State: track.Passing, Since: since}},
			}
			return d
		}
		published := func() int {
			c.mu.Lock()
			defer c.mu.Unlock()
			return len(c.changes["secondary"])
		}
		steps := []struct {
			name    string
			d       desired.Router
			publish bool
		}{
			{"the first states are published", checks(track.Passing, "200 OK", 0), true},
			{"the same states again are not", checks(track.Passing, "200 OK", 0), false},
			{"a state copied anew is not", func() desired.Router {
				d := checks(track.Passing, "200 OK", 0)
				d.CheckStates = slices.Clone(d.CheckStates)
				d.CheckStates[0].Result.Since = since.In(time.FixedZone("elsewhere", 3600))
				return d
			}(), false},
			{"a new message is published", checks(track.Passing, "204 No Content", 0), true},
			{"a failing check with its weight and priority is published", checks(track.Failing, "503 Service Unavailable", -20), true},
		}
		for _, s := range steps {
			before := published()
			c.speakers["secondary"].Apply([]desired.Router{s.d})
			synctest.Wait()
			if got := published() > before; got != s.publish {
				t.Errorf("%s: published %v, want %v", s.name, got, s.publish)
			}
			st := c.status("secondary")
			if !slices.EqualFunc(s.d.CheckStates, st.Checks, checkStateEqual) {
				t.Errorf("%s: status shows checks %+v, want %+v", s.name, st.Checks, s.d.CheckStates)
			}
			if st.Priority != s.d.Config.Priority || st.State != vrrp.StateBackup {
				t.Errorf("%s: secondary reports %s at %d, want BACKUP at %d", s.name, st.State, st.Priority, s.d.Config.Priority)
			}
		}
	})
}
