package speaker

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
)

// A successor whose VRID the socket will not take yet, because its predecessor did not stop within
// stopWait (a hung netlink call), hears nothing: it is FAULT NoSocket rather than a deaf Backup
// that becomes a second Master, and joins once the predecessor has gone.
func TestARouterWhoseVRIDIsStillTakenIsFaultUntilItIsRegistered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startBoth(t, nil)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		renamed := func(prio uint8) desired.Router {
			d := seed(prio)
			d.Name, d.Config.Name = "renamed", "renamed"
			return d
		}
		hang := make(chan struct{})
		p := c.nodes["primary"]
		p.set(func(n *node) { n.removeHang = hang })
		c.speakers["secondary"].Apply([]desired.Router{renamed(100)})
		// The primary's old router sends priority 0 and hangs removing the VIP; after stopWait the
		// successor starts on the VRID the old one still holds.
		applied := make(chan struct{})
		go func() {
			defer close(applied)
			c.speakers["primary"].Apply([]desired.Router{renamed(150)})
		}()
		renamedOn := func(node string) Status {
			for _, st := range c.speakers[node].Statuses() {
				if st.Router == "renamed" {
					return st
				}
			}
			return Status{}
		}
		time.Sleep(stopWait + 10*time.Second)
		synctest.Wait()
		<-applied
		st := renamedOn("primary")
		if st.State != vrrp.StateFault || st.Reason != ReasonNoSocket || !strings.Contains(st.Message, "VRID") {
			t.Errorf("the primary's successor reports %s %q %q while its VRID is taken, want FAULT NoSocket saying why", st.State, st.Reason, st.Message)
		}
		if renamedOn("secondary").State != vrrp.StateMaster {
			t.Errorf("the secondary is %s, want MASTER after the primary's priority 0", renamedOn("secondary").State)
		}
		c.mu.Lock()
		for _, st := range c.changes["primary"] {
			if st.Router == "renamed" && st.State == vrrp.StateMaster {
				t.Error("the deaf successor became MASTER beside the secondary")
			}
		}
		c.mu.Unlock()

		// The hung call returns: the predecessor leaves and the successor joins and preempts.
		close(hang)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
			t.Errorf("masters once the predecessor left (-want +got):\n%s", diff)
		}
		if st := c.status("primary"); st.Reason != "" || st.Message != "" {
			t.Errorf("primary reports %q %q once registered, want neither", st.Reason, st.Message)
		}
	})
}
