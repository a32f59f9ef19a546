package netif

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vrrp-dev/vrrp-operator/agent/addresses"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// bound is how long a test waits for what should take milliseconds.
const bound = 10 * time.Second

func TestInterfaceForPicksEachNodesOwnInterface(t *testing.T) {
	lab := testenv.NewLab(t)
	primary := lab.Host("ens3", "198.51.100.253/24")
	secondary := lab.Host("eth0", "198.51.100.254/24")
	// A second interface on the secondary, in another subnet, holding a VIP of another router.
	secondary.IP("link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
	secondary.IP("addr", "add", "203.0.113.1/24", "dev", "eth1")
	secondary.IP("addr", "add", "203.0.113.252/24", "dev", "eth1")
	secondary.IP("link", "set", "eth1", "up")
	held := func(a netip.Addr) bool { return a == netip.MustParseAddr("203.0.113.252") }

	tests := map[string]struct {
		host    *testenv.Host
		vip     string
		exclude func(netip.Addr) bool
		want    string
		wantErr error
	}{
		"the primary holds the seed's VIP on ens3":            {host: primary, vip: "198.51.100.252", want: "ens3"},
		"the secondary holds the seed's VIP on eth0":          {host: secondary, vip: "198.51.100.252", want: "eth0"},
		"a VIP in the other subnet goes to eth1":              {host: secondary, vip: "203.0.113.253", exclude: held, want: "eth1"},
		"a VIP in no subnet of the node is a clear error":     {host: primary, vip: "203.0.113.253", wantErr: ErrNoInterface},
		"an IPv6 VIP where the node has no IPv6 subnet fails": {host: primary, vip: "2001:db8::252", wantErr: ErrNoInterface},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got string
			err := tc.host.Do(func() (err error) {
				got, err = InterfaceFor(netip.MustParseAddr(tc.vip), tc.exclude)
				return err
			})
			if got != tc.want || !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Errorf("InterfaceFor(%s) = %q, %v; want %q, %v", tc.vip, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestInterfacesListsTheNodesSubnets(t *testing.T) {
	host := testenv.NewLab(t).Host("eth0", "198.51.100.254/24", "2001:db8::254/64")
	// Its peer stays down: no carrier.
	host.IP("link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
	host.IP("addr", "add", "203.0.113.1/24", "dev", "eth1")
	host.IP("addr", "add", "203.0.113.252/24", "dev", "eth1")
	host.IP("addr", "add", "203.0.113.7/32", "dev", "eth1")
	host.IP("link", "set", "eth1", "up")
	held := func(a netip.Addr) bool { return a == netip.MustParseAddr("203.0.113.252") }

	var got []Interface
	if err := host.Do(func() (err error) {
		got, err = Interfaces(held)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want := []Interface{
		{Name: "eth0", Up: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.254/24"), netip.MustParsePrefix("2001:db8::254/64")}},
		{Name: "eth1", Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.1/24")}},
		{Name: "eth1p"},
	}
	if diff := cmp.Diff(want, got, equate, cmpopts.EquateComparable(netip.Prefix{}), cmpopts.EquateEmpty(),
		cmpopts.SortSlices(func(a, b Interface) bool { return a.Name < b.Name })); diff != "" {
		t.Errorf("Interfaces (-want +got):\n%s", diff)
	}
}

func TestPrimaryAddressIsTheNodesOwn(t *testing.T) {
	host := testenv.NewLab(t).Host("eth0", "198.51.100.1/24", "2001:db8::1/64")
	host.IP("addr", "add", "198.51.100.252/24", "dev", "eth0") // a VIP, secondary in the subnet
	host.IP("addr", "add", "203.0.113.252/24", "dev", "eth0")  // a VIP, primary of its subnet
	vips := func(a netip.Addr) bool {
		return a == netip.MustParseAddr("198.51.100.252") || a == netip.MustParseAddr("203.0.113.252")
	}

	var v4, v6 netip.Addr
	var v6err error
	if err := host.Do(func() (err error) {
		if v4, err = PrimaryAddress("eth0", false, vips); err != nil {
			return err
		}
		v6, v6err = PrimaryAddress("eth0", true, vips)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := netip.MustParseAddr("198.51.100.1"); v4 != want {
		t.Errorf("IPv4 primary address = %s, want %s", v4, want)
	}
	// The link-local address may still be tentative right after the link came up.
	if v6err != nil && !errors.Is(v6err, ErrNoAddress) || v6err == nil && !v6.IsLinkLocalUnicast() {
		t.Errorf("IPv6 primary address = %s, %v; want a link-local one or ErrNoAddress while tentative", v6, v6err)
	}
	err := host.Do(func() error {
		_, err := PrimaryAddress("eth9", false, nil)
		return err
	})
	if err == nil {
		t.Error("PrimaryAddress of a missing interface succeeded")
	}
}

// watch runs Watch inside host and returns the statuses it reports. Watch ends with the test.
func watch(t *testing.T, host *testenv.Host, ifname string, v6 bool, exclude func(netip.Addr) bool, quietPort uint32) <-chan Status {
	t.Helper()
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), testr.New(t)))
	statuses := make(chan Status, 100)
	errc := make(chan error, 1)
	go func() {
		errc <- host.Do(func() error {
			return Watch(ctx, ifname, v6, exclude, quietPort, func(s Status) {
				select {
				case statuses <- s:
				case <-ctx.Done():
				}
			})
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
		case <-time.After(bound):
			t.Errorf("Watch did not return within %s of its context ending", bound)
		}
	})
	return statuses
}

// expect waits up to within for the next status and compares it with want.
func expect(t *testing.T, statuses <-chan Status, within time.Duration, want Status) {
	t.Helper()
	select {
	case got := <-statuses:
		if diff := cmp.Diff(want, got, equate); diff != "" {
			t.Fatalf("status (-want +got):\n%s", diff)
		}
	case <-time.After(within):
		t.Fatalf("no status within %s, want %+v", within, want)
	}
}

// eventually waits up to within for a status with up, skipping others on the way.
func eventually(t *testing.T, statuses <-chan Status, within time.Duration, up bool) Status {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case s := <-statuses:
			if s.Up == up {
				return s
			}
			t.Logf("on the way: %+v", s)
		case <-deadline:
			t.Fatalf("no status with Up=%v within %s", up, within)
		}
	}
}

func TestWatchTracksLinkCarrierAndAddress(t *testing.T) {
	host := testenv.NewLab(t).Host("eth0", "198.51.100.1/24")
	// A veth pair inside the namespace, so the test can take the carrier away by downing the peer.
	host.IP("link", "add", "trk0", "type", "veth", "peer", "name", "trk1")
	host.IP("addr", "add", "198.51.100.10/24", "dev", "trk0")
	host.IP("link", "set", "trk1", "up")
	host.IP("link", "set", "trk0", "up")
	vip := netip.MustParseAddr("203.0.113.252")
	statuses := watch(t, host, "trk0", false, func(a netip.Addr) bool { return a == vip }, 0)
	upOn := Status{Up: true, Address: netip.MustParseAddr("198.51.100.10")}

	expect(t, statuses, bound, upOn)
	steps := []struct {
		what string
		ip   []string
		want Status
	}{
		{"link down", []string{"link", "set", "trk0", "down"}, Status{Reason: "link trk0 is down"}},
		{"link up", []string{"link", "set", "trk0", "up"}, upOn},
		{"carrier lost", []string{"link", "set", "trk1", "down"}, Status{Reason: "link trk0 has no carrier (lower-layer-down)"}},
		{"carrier back", []string{"link", "set", "trk1", "up"}, upOn},
		// Adding the VIP changes nothing, so the next status is the one of the step after it.
		{"VIP added", []string{"addr", "add", vip.String() + "/24", "dev", "trk0"}, Status{}},
		{"node address removed", []string{"addr", "del", "198.51.100.10/24", "dev", "trk0"}, Status{Reason: "no IPv4 address on trk0"}},
		{"node address back", []string{"addr", "add", "198.51.100.10/24", "dev", "trk0"}, upOn},
		{"interface deleted", []string{"link", "del", "trk0"}, Status{Reason: "interface trk0 not found"}},
	}
	for _, s := range steps {
		start := time.Now()
		host.IP(s.ip...)
		if s.want == (Status{}) {
			continue
		}
		// Within a second, the bound the issue sets for going to FAULT.
		expect(t, statuses, time.Second, s.want)
		t.Logf("%s: reported %s after running ip", s.what, time.Since(start).Round(10*time.Microsecond))
	}

	// Created again under the same name, with a new index: followed all the same.
	host.IP("link", "add", "trk0", "type", "veth", "peer", "name", "trk1")
	host.IP("addr", "add", "198.51.100.10/24", "dev", "trk0")
	host.IP("link", "set", "trk1", "up")
	host.IP("link", "set", "trk0", "up")
	if got := eventually(t, statuses, bound, true); got != upOn {
		t.Errorf("after re-creation: %+v, want %+v", got, upOn)
	}
}

func TestWatchWaitsForTheIPv6LinkLocalAddress(t *testing.T) {
	host := testenv.NewLab(t).Host("eth0", "2001:db8::1/64")
	statuses := watch(t, host, "eth0", true, nil, 0)

	// Right after the link came up the link-local address may still be tentative.
	if s := eventually(t, statuses, bound, true); !s.Address.IsLinkLocalUnicast() {
		t.Errorf("IPv6 status %+v, want sending from a link-local address", s)
	}
	host.IP("link", "set", "eth0", "down")
	expect(t, statuses, time.Second, Status{Reason: "link eth0 is down"})
	start := time.Now()
	host.IP("link", "set", "eth0", "up")
	if s := eventually(t, statuses, bound, true); !s.Address.IsLinkLocalUnicast() {
		t.Errorf("IPv6 status after link up %+v, want sending from a link-local address", s)
	}
	t.Logf("up again %s after the link, once duplicate address detection passed", time.Since(start).Round(time.Millisecond))
}

// The agent's pod has NET_ADMIN and NET_RAW but not CAP_SYS_ADMIN, which entering a namespace needs:
// a watch in the process's own namespace must name none (test/localcluster runs it in such a pod).
func TestWatchEntersANamespaceOnlyFromAnotherOne(t *testing.T) {
	ns, err := watchedNamespace()
	if err != nil {
		t.Fatal(err)
	}
	if ns.IsOpen() {
		ns.Close()
		t.Errorf("in the process's own namespace the watch names namespace %v, want none", ns)
	}
	host := testenv.NewLab(t).Host("eth0", "198.51.100.1/24")
	if err := host.Do(func() error {
		ns, err := watchedNamespace()
		if err != nil {
			return err
		}
		defer ns.Close()
		if !ns.IsOpen() {
			return errors.New("from a thread in another namespace the watch names none")
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// A Master refreshes the lifetime of each VIP every few seconds, and each refresh is an
// RTM_NEWADDR: reading the interface (every address of it) for each would cost more than the
// adverts. Only a notification that can change the status is followed by a read.
func TestWatchReadsNothingForLifetimeRefreshes(t *testing.T) {
	host := testenv.NewLab(t).Host("eth0", "198.51.100.1/24")
	vip := "198.51.100.252/24"
	host.IP("addr", "add", vip, "dev", "eth0", "valid_lft", "60", "preferred_lft", "60")
	statuses := watch(t, host, "eth0", false, func(a netip.Addr) bool { return a == netip.MustParsePrefix(vip).Addr() }, 0)
	expect(t, statuses, bound, Status{Up: true, Address: netip.MustParseAddr("198.51.100.1")})

	before := reads.Load()
	const refreshes = 20
	for range refreshes {
		host.IP("addr", "replace", vip, "dev", "eth0", "valid_lft", "60", "preferred_lft", "60")
	}
	// A change that matters, behind the refreshes: once it is reported, they have been seen.
	host.IP("link", "set", "eth0", "down")
	expect(t, statuses, time.Second, Status{Reason: "link eth0 is down"})
	// The link change may come as two notifications (flags, then operstate), read apart.
	if got := reads.Load() - before; got > 2 {
		t.Errorf("%d lifetime refreshes and a link change cost %d reads of the interface, want at most 2", refreshes, got)
	}
}

// What the address manager adds and refreshes is dropped by the kernel before it wakes the watch
// (quietPort): the same change made by ip, another netlink port, does reach it.
func TestWatchNeverWakesForTheAddressManagersChanges(t *testing.T) {
	host := testenv.NewLab(t).Host("eth0", "198.51.100.1/24")
	var m *addresses.Manager
	if err := host.Do(func() (err error) {
		m, err = addresses.NewManager(t.TempDir(), testr.New(t))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	vip := netip.MustParsePrefix("198.51.100.252/24")
	statuses := watch(t, host, "eth0", false, m.HoldsAddr, m.Port())
	up := Status{Up: true, Address: netip.MustParseAddr("198.51.100.1")}
	expect(t, statuses, bound, up)

	// settled waits until a link change made after everything before it has been reported, and
	// returns the address notifications the watch took since before.
	settled := func(before int64) int64 {
		t.Helper()
		host.IP("link", "set", "eth0", "down")
		expect(t, statuses, time.Second, Status{Reason: "link eth0 is down"})
		host.IP("link", "set", "eth0", "up")
		// The link's flags may come up before its operstate does: a status on the way may say
		// there is no carrier yet.
		if got := eventually(t, statuses, time.Second, true); got != up {
			t.Fatalf("status after link up: %+v, want %+v", got, up)
		}
		return addrNotes.Load() - before
	}
	before := addrNotes.Load()
	const refreshes = 20
	for range refreshes {
		if err := m.Add("eth0", vip, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if got := settled(before); got > 0 {
		t.Errorf("the manager's add and %d refreshes woke the watch with %d notifications, want none", refreshes-1, got)
	}
	before = addrNotes.Load()
	host.IP("addr", "replace", vip.String(), "dev", "eth0", "valid_lft", "60", "preferred_lft", "60")
	if got := settled(before); got < 1 {
		t.Errorf("a refresh by ip reached the watch with %d notifications, want at least one", got)
	}
	if err := m.Remove("eth0", vip); err != nil {
		t.Error(err)
	}
}
