package speaker

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
)

// The agents of a VirtualIP learn a changed address list one after another, seconds apart (or, on
// a node running from its last known configuration, hours). Whichever learns it first, the other
// keeps following the Master: one Master throughout.
func TestAChangedAddressListKeepsOneMasterWhicheverNodeLearnsItFirst(t *testing.T) {
	const added = "198.51.100.251/24"
	withAdded := func(prio uint8) desired.Router {
		d := seed(prio)
		d.Config.Addresses = append(d.Config.Addresses, netip.MustParsePrefix(added))
		return d
	}
	tests := map[string]struct {
		first string
		prio  uint8
	}{
		"the master learns it first": {first: "primary", prio: 150},
		"the backup learns it first": {first: "secondary", prio: 100},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := startBoth(t, nil)
				time.Sleep(10 * time.Second)
				synctest.Wait()
				c.speakers[tc.first].Apply([]desired.Router{withAdded(tc.prio)})
				// The other node learns it 20 s later: many Master_Down_Intervals.
				time.Sleep(20 * time.Second)
				synctest.Wait()
				if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
					t.Errorf("masters while only %s has the new list (-want +got):\n%s", tc.first, diff)
				}
				if c.everMaster("secondary") {
					t.Error("the secondary became MASTER beside the primary")
				}
				other := map[string]string{"primary": "secondary", "secondary": "primary"}[tc.first]
				m := c.metrics[other]
				if got := testutil.ToFloat64(m.AddressMismatch.WithLabelValues("services")); tc.first == "primary" && got == 0 {
					t.Error("the secondary did not count the adverts with the other list")
				}
				if got := testutil.ToFloat64(m.Dropped.WithLabelValues("eth0", "services", "address_mismatch")); got != 0 {
					t.Errorf("%s dropped %v adverts of the same virtual router as address_mismatch", other, got)
				}
				c.speakers[other].Apply([]desired.Router{withAdded(map[string]uint8{"primary": 150, "secondary": 100}[other])})
				time.Sleep(10 * time.Second)
				synctest.Wait()
				if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
					t.Errorf("masters once both have the new list (-want +got):\n%s", diff)
				}
				if !c.nodes["primary"].holds(added) {
					t.Error("the primary does not hold the added address")
				}
			})
		})
	}
}
