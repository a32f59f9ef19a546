package addresses

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

var (
	vip4 = netip.MustParsePrefix("198.51.100.252/24")
	vip6 = netip.MustParsePrefix("2001:db8::252/64")
)

// newHost returns a namespace with eth0 holding the node's own addresses.
func newHost(t *testing.T) *testenv.Host {
	t.Helper()
	return testenv.NewLab(t).Host("eth0", "198.51.100.1/24", "2001:db8::1/64")
}

// newManager opens a Manager bound to host's namespace.
func newManager(t *testing.T, host *testenv.Host, dir string) *Manager {
	t.Helper()
	var m *Manager
	if err := host.Do(func() (err error) {
		m, err = NewManager(dir, testr.New(t))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// ipAddr is an address as `ip -j addr show` prints it.
type ipAddr struct {
	Local     string `json:"local"`
	Prefixlen int    `json:"prefixlen"`
	Valid     uint32 `json:"valid_life_time"`
	Preferred uint32 `json:"preferred_life_time"`
	Broadcast string `json:"broadcast"`
	Tentative bool   `json:"tentative"`
	NoDAD     bool   `json:"nodad"`
}

// addrs returns what the kernel has on eth0, by address, as the admin would see it.
func addrs(t *testing.T, host *testenv.Host) map[string]ipAddr {
	t.Helper()
	var links []struct {
		AddrInfo []ipAddr `json:"addr_info"`
	}
	if err := json.Unmarshal([]byte(host.IP("-j", "addr", "show", "dev", "eth0")), &links); err != nil {
		t.Fatal(err)
	}
	m := map[string]ipAddr{}
	for _, l := range links {
		for _, a := range l.AddrInfo {
			m[a.Local] = a
		}
	}
	return m
}

func TestAddHoldsAVIPWithAFiniteLifetimeThatAddRefreshes(t *testing.T) {
	host := newHost(t)
	m := newManager(t, host, t.TempDir())

	for _, lifetime := range []time.Duration{60 * time.Second, 30 * time.Second, 90*time.Second + time.Millisecond} {
		if err := m.Add("eth0", vip4, lifetime); err != nil {
			t.Fatal(err)
		}
		a, ok := addrs(t, host)["198.51.100.252"]
		max := uint32((lifetime + time.Second - 1) / time.Second)
		// The kernel may have counted a second down already.
		if !ok || a.Prefixlen != 24 || a.Valid > max || a.Valid < max-2 || a.Preferred != a.Valid {
			t.Errorf("after Add with lifetime %s: %+v present %v; want /24 with valid = preferred in [%d, %d]", lifetime, a, ok, max-2, max)
		}
	}
	want := []Entry{{Interface: "eth0", Prefix: vip4}}
	if diff := cmp.Diff(want, m.Held(), equate); diff != "" {
		t.Errorf("Held (-want +got):\n%s", diff)
	}
	if a := addrs(t, host)["198.51.100.1"]; a.Valid != forever {
		t.Errorf("the node's own address changed: %+v", a)
	}
}

func TestAVIPThatIsNoLongerRefreshedExpiresByItself(t *testing.T) {
	host := newHost(t)
	m := newManager(t, host, t.TempDir())
	const lifetime = 2 * time.Second

	// Refreshed well within its lifetime, as the Master does, it outlives it...
	start := time.Now()
	refresh := time.NewTicker(lifetime / 4)
	defer refresh.Stop()
	for time.Since(start) < lifetime*3/2 {
		if err := m.Add("eth0", vip4, lifetime); err != nil {
			t.Fatal(err)
		}
		if _, ok := addrs(t, host)["198.51.100.252"]; !ok {
			t.Fatalf("VIP vanished %s after the first Add although refreshed", time.Since(start))
		}
		<-refresh.C
	}
	// ...and once the refreshes stop, as when the agent is SIGKILLed, the kernel removes it.
	last := time.Now()
	if err := m.Add("eth0", vip4, lifetime); err != nil {
		t.Fatal(err)
	}
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		if _, ok := addrs(t, host)["198.51.100.252"]; !ok {
			break
		}
		if time.Since(last) > lifetime+2*time.Second {
			t.Fatalf("VIP with lifetime %s still there %s after the last refresh", lifetime, time.Since(last))
		}
		<-poll.C
	}
	t.Logf("VIP with lifetime %s gone %s after the last refresh", lifetime, time.Since(last).Round(10*time.Millisecond))
	if _, ok := addrs(t, host)["198.51.100.1"]; !ok {
		t.Error("the node's own address went with the VIP")
	}
}

func TestIPv6VIPsSkipDuplicateAddressDetection(t *testing.T) {
	host := newHost(t)
	m := newManager(t, host, t.TempDir())

	if err := m.Add("eth0", vip6, 0); err != nil {
		t.Fatal(err)
	}
	a, ok := addrs(t, host)["2001:db8::252"]
	if !ok || a.Tentative || !a.NoDAD || a.Valid != forever {
		t.Errorf("IPv6 VIP right after Add: %+v present %v; want usable at once (nodad, not tentative), valid forever", a, ok)
	}
}

func TestRemoveTakesOnlyTheAgentsAddressesAndIsIdempotent(t *testing.T) {
	host := newHost(t)
	m := newManager(t, host, t.TempDir())
	for _, p := range []netip.Prefix{vip4, vip6} {
		if err := m.Add("eth0", p, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		for _, p := range []netip.Prefix{vip4, vip6, netip.MustParsePrefix("203.0.113.9/24")} {
			if err := m.Remove("eth0", p); err != nil {
				t.Errorf("Remove %s, time %d: %v", p, i+1, err)
			}
		}
	}
	got := addrs(t, host)
	for _, a := range []string{"198.51.100.252", "2001:db8::252"} {
		if _, ok := got[a]; ok {
			t.Errorf("%s still on eth0 after Remove", a)
		}
	}
	if _, ok := got["198.51.100.1"]; !ok {
		t.Error("Remove took the node's own address")
	}
	if held := m.Held(); len(held) != 0 {
		t.Errorf("Held after Remove = %v, want none", held)
	}
}

func TestAnAddressTheAgentDidNotAddIsLeftAlone(t *testing.T) {
	host := newHost(t)
	host.IP("addr", "add", "198.51.100.252/24", "dev", "eth0")
	m := newManager(t, host, t.TempDir())

	if err := m.Add("eth0", vip4, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if held := m.Held(); len(held) != 0 {
		t.Errorf("Held = %v, want nothing: the admin's address is not the agent's", held)
	}
	if err := m.Remove("eth0", vip4); err != nil {
		t.Fatal(err)
	}
	if a, ok := addrs(t, host)["198.51.100.252"]; !ok || a.Valid != forever {
		t.Errorf("the admin's address after Add and Remove: %+v present %v; want it untouched", a, ok)
	}

	// Once the admin takes it away, the agent's Add holds its own.
	host.IP("addr", "del", "198.51.100.252/24", "dev", "eth0")
	if err := m.Add("eth0", vip4, time.Minute); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Entry{{Interface: "eth0", Prefix: vip4}}, m.Held(), equate); diff != "" {
		t.Errorf("Held (-want +got):\n%s", diff)
	}
}

// HoldsAddr answers what Held lists, by address whatever the prefix length and interface, and
// allocates nothing: listing the interfaces asks it about every address of the node.
func TestHoldsAddrTellsTheAgentsAddressesWithoutCopying(t *testing.T) {
	host := newHost(t)
	host.IP("addr", "add", "198.51.100.251/24", "dev", "eth0")
	m := newManager(t, host, t.TempDir())
	admins := netip.MustParsePrefix("198.51.100.251/24")
	for _, p := range []netip.Prefix{vip4, vip6, admins} {
		if err := m.Add("eth0", p, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	for a, want := range map[string]bool{
		"198.51.100.252": true, "2001:db8::252": true,
		"198.51.100.251": false, // the admin's
		"198.51.100.1":   false, // the node's own
	} {
		if got := m.HoldsAddr(netip.MustParseAddr(a)); got != want {
			t.Errorf("HoldsAddr(%s) = %v, want %v", a, got, want)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { m.HoldsAddr(vip6.Addr()) }); allocs != 0 {
		t.Errorf("HoldsAddr allocates %v times a call", allocs)
	}
	if err := m.Remove("eth0", vip4); err != nil {
		t.Fatal(err)
	}
	if m.HoldsAddr(vip4.Addr()) {
		t.Errorf("HoldsAddr(%s) after Remove", vip4.Addr())
	}
}

func TestARestartedAgentRemovesWhatTheLastOneLeft(t *testing.T) {
	host := newHost(t)
	host.IP("link", "add", "extra0", "type", "veth", "peer", "name", "extra1")
	dir := t.TempDir()
	crashed := newManager(t, host, dir)
	for _, e := range []Entry{{"eth0", vip4}, {"eth0", vip6}, {"extra0", netip.MustParsePrefix("203.0.113.252/24")}} {
		if err := crashed.Add(e.Interface, e.Prefix, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	// The agent dies without removing anything, and one interface goes away meanwhile.
	host.IP("link", "del", "extra0")

	m := newManager(t, host, dir)
	if diff := cmp.Diff(crashed.Held(), m.Held(), equate); diff != "" {
		t.Errorf("record after restart (-want +got):\n%s", diff)
	}
	removed, err := m.RemoveLeftovers()
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{{"eth0", vip4}, {"eth0", vip6}}
	if diff := cmp.Diff(want, removed, equate); diff != "" {
		t.Errorf("RemoveLeftovers (-want +got):\n%s", diff)
	}
	got := addrs(t, host)
	for _, a := range []string{"198.51.100.252", "2001:db8::252"} {
		if _, ok := got[a]; ok {
			t.Errorf("%s still on eth0 after RemoveLeftovers", a)
		}
	}
	if held := m.Held(); len(held) != 0 {
		t.Errorf("Held after RemoveLeftovers = %v, want none", held)
	}
	again := newManager(t, host, dir)
	if removed, err := again.RemoveLeftovers(); err != nil || len(removed) != 0 {
		t.Errorf("a second restart removed %v, %v; want nothing", removed, err)
	}
}

func TestStateFileIsWrittenWhereTheAdminExpectsIt(t *testing.T) {
	host := newHost(t)
	dir := filepath.Join(t.TempDir(), "vrrp")
	m := newManager(t, host, dir)
	if err := m.Add("eth0", vip4, time.Minute); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"version\": 1,\n  \"addresses\": [\n    {\n      \"interface\": \"eth0\",\n      \"prefix\": \"198.51.100.252/24\"\n    }\n  ]\n}\n"
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", StateFile, diff)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*")); len(leftovers) != 0 {
		t.Errorf("temporary files left in the state directory: %v", leftovers)
	}
}

// fullDir returns a directory on a tmpfs of one page that a file already fills, so that the
// record cannot be written, and a function that gives the tmpfs room again.
func fullDir(t *testing.T) (dir string, makeRoom func()) {
	t.Helper()
	dir = t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=4k"); err != nil {
		testenv.Unavailable(t, "test needs to mount a tmpfs: "+err.Error())
		return "", nil
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(dir, "fill"), make([]byte, 4096), 0o600); err != nil {
		t.Fatalf("filling the tmpfs: %v", err)
	}
	return dir, func() {
		if err := os.Remove(filepath.Join(dir, "fill")); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheckTellsWhetherAnAddCouldSucceedWithoutAddingAnything(t *testing.T) {
	host := newHost(t)
	dir, makeRoom := fullDir(t)
	m := newManager(t, host, dir)

	// A full disk: the record cannot take the VIP, so Add refuses it, and Check says so.
	if err := m.Add("eth0", vip4, time.Minute); err == nil {
		t.Fatal("Add succeeded with the record's disk full")
	}
	if err := m.Check("eth0", vip4); !errors.Is(err, unix.ENOSPC) {
		t.Errorf("Check with the record's disk full = %v, want ENOSPC", err)
	}
	if err := m.Check("eth9", vip4); err == nil {
		t.Error("Check of an interface that does not exist succeeded")
	}
	makeRoom()
	if err := m.Check("eth0", vip4); err != nil {
		t.Errorf("Check with room on the disk = %v, want nil", err)
	}
	if _, ok := addrs(t, host)["198.51.100.252"]; ok || len(m.Held()) != 0 {
		t.Errorf("Check added the VIP: on the interface %v, held %v", ok, m.Held())
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*")); len(leftovers) != 0 {
		t.Errorf("Check left temporary files in the state directory: %v", leftovers)
	}
	if err := m.Add("eth0", vip4, time.Minute); err != nil {
		t.Errorf("Add after Check passed = %v", err)
	}
}

// Add sends its own RTM_NEWADDR rather than netlink.Handle.AddrReplace's (rtnl_linux.go): the
// address it leaves must be the same, broadcast address included, whatever the prefix length.
func TestAddLeavesTheAddressNetlinkAddrReplaceWould(t *testing.T) {
	host := newHost(t)
	m := newManager(t, host, t.TempDir())
	for _, tc := range []struct {
		prefix, broadcast string
	}{
		{"198.51.100.252/24", "198.51.100.255"},
		{"198.51.100.130/25", "198.51.100.255"},
		{"198.51.100.66/26", "198.51.100.127"},
		{"198.51.100.9/29", "198.51.100.15"},
		{"198.51.100.20/31", ""},
		{"198.51.100.30/32", ""},
	} {
		p := netip.MustParsePrefix(tc.prefix)
		if err := m.Add("eth0", p, time.Minute); err != nil {
			t.Fatal(err)
		}
		a, ok := addrs(t, host)[p.Addr().String()]
		if !ok || a.Prefixlen != p.Bits() || a.Broadcast != tc.broadcast {
			t.Errorf("%s after Add: %+v present %v; want broadcast %q", p, a, ok, tc.broadcast)
		}
	}
}

// The Master refreshes every VIP at a third of its lifetime: 125 refreshes a second for 250 VIPs
// with the default 6 s. A refresh is one netlink request without a lookup of the interface, and
// allocates nothing.
func TestARefreshAllocatesNothing(t *testing.T) {
	host := newHost(t)
	m := newManager(t, host, t.TempDir())
	if err := m.Add("eth0", vip4, time.Minute); err != nil {
		t.Fatal(err)
	}
	var err error
	allocs := testing.AllocsPerRun(100, func() {
		if e := m.Add("eth0", vip4, time.Minute); e != nil {
			err = e
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Errorf("a refresh allocates %v times, want 0", allocs)
	}
}

// The interface index Add remembers goes with the interface: one created again under the same
// name gets the VIP at the next refresh.
func TestARefreshFollowsAnInterfaceCreatedAgain(t *testing.T) {
	host := newHost(t)
	host.IP("link", "add", "vip0", "type", "veth", "peer", "name", "vip1")
	m := newManager(t, host, t.TempDir())
	p := netip.MustParsePrefix("203.0.113.252/24")
	if err := m.Add("vip0", p, time.Minute); err != nil {
		t.Fatal(err)
	}
	host.IP("link", "del", "vip0")
	host.IP("link", "add", "vip0", "type", "veth", "peer", "name", "vip1")
	if err := m.Add("vip0", p, time.Minute); err != nil {
		t.Fatalf("refresh after the interface was created again: %v", err)
	}
	if out := host.IP("-o", "addr", "show", "dev", "vip0"); !strings.Contains(out, "inet 203.0.113.252/24") {
		t.Errorf("the VIP is not on the new vip0: %s", out)
	}
}

// Whether a VIP is on the interface already is read from the dump of the family's addresses
// without an allocation per address (issue 12: through netlink.AddrList, a Master's 250 first
// adds made 30 MB of garbage): the VIP is found with any prefix length, among more addresses than
// one datagram of the dump holds, and only on its own interface.
func TestPresentFindsAnAddressAmongManyOnItsInterfaceOnly(t *testing.T) {
	host := newHost(t)
	var batch strings.Builder
	for i := range 250 {
		fmt.Fprintf(&batch, "addr add 203.0.113.%d/32 dev eth0\naddr add 2001:db8::1:%x/128 dev eth0\n", i, i)
	}
	batch.WriteString("link add other type veth peer name other-peer\naddr add 198.51.100.77/24 dev other\naddr add 2001:db8::77/64 dev other\n")
	batch.WriteString("addr add 198.51.100.99/32 dev eth0\naddr add 2001:db8::99/128 dev eth0\n")
	file := filepath.Join(t.TempDir(), "batch")
	if err := os.WriteFile(file, []byte(batch.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	host.IP("-batch", file)
	m := newManager(t, host, t.TempDir())
	var link netlink.Link
	if err := host.Do(func() (err error) {
		link, err = netlink.LinkByName("eth0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"198.51.100.99": true, "2001:db8::99": true, // a /32 and a /128, asked for as a /24 and a /64 would be
		"203.0.113.249": true, "2001:db8::1:f9": true, // the last of many
		"198.51.100.1": true, "2001:db8::1": true, // the node's own
		"198.51.100.77": false, "2001:db8::77": false, // on another interface
		"198.51.100.252": false, "2001:db8::252": false,
	} {
		got, err := m.present(link, netip.MustParseAddr(addr))
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("present(%s) = %v, want %v", addr, got, want)
		}
	}
	ip := netip.MustParseAddr("2001:db8::1:f9")
	if allocs := testing.AllocsPerRun(10, func() { _, _ = m.rt.hasAddr(link.Attrs().Index, ip) }); allocs != 0 {
		t.Errorf("reading the dump of 250 addresses allocated %v times, want none", allocs)
	}
}

// BenchmarkRefresh is what a Master pays for each lifetime refresh of a VIP, 125 a second with
// 250 VIPs and the default lifetime: the request and its acknowledgement, with the kernel's work
// between them.
func BenchmarkRefresh(b *testing.B) {
	testenv.RequireRoot(b)
	host := testenv.NewLab(b).Host("eth0", "198.51.100.1/24")
	var m *Manager
	if err := host.Do(func() (err error) {
		m, err = NewManager(b.TempDir(), logr.Discard())
		return err
	}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Close)
	if err := m.Add("eth0", vip4, time.Minute); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Add("eth0", vip4, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

// With promote_secondaries off, as in a new network namespace, removing the first address of a
// subnet takes the others of that subnet with it: another router's VIP must not go with it.
func TestRemovingTheFirstVIPOfASubnetLeavesTheOthers(t *testing.T) {
	host := newHost(t)
	host.Sysctl(t, "net/ipv4/conf/eth0/promote_secondaries", "0")
	m := newManager(t, host, t.TempDir())
	first, second, third := netip.MustParsePrefix("203.0.113.10/24"), netip.MustParsePrefix("203.0.113.11/24"), netip.MustParsePrefix("203.0.113.12/24")
	for _, p := range []netip.Prefix{first, second, third} {
		if err := m.Add("eth0", p, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	// The secondary goes alone.
	if err := m.Remove("eth0", third); err != nil {
		t.Fatal(err)
	}
	got := addrs(t, host)
	if _, ok := got["203.0.113.12"]; ok {
		t.Error("203.0.113.12 still on eth0 after Remove")
	}
	for _, a := range []string{"203.0.113.10", "203.0.113.11"} {
		if _, ok := got[a]; !ok {
			t.Errorf("%s went with the removal of a secondary", a)
		}
	}

	// The primary takes its secondaries with it; the agent's come back with their lifetime.
	if err := m.Remove("eth0", first); err != nil {
		t.Fatal(err)
	}
	got = addrs(t, host)
	if _, ok := got["203.0.113.10"]; ok {
		t.Error("203.0.113.10 still on eth0 after Remove")
	}
	if a, ok := got["203.0.113.11"]; !ok || a.Valid == forever || a.Valid > 60 || a.Prefixlen != 24 {
		t.Errorf("203.0.113.11 after removing the subnet's first VIP: %+v present %v; want it there with a lifetime of at most 60 s", a, ok)
	}
	if _, ok := got["198.51.100.1"]; !ok {
		t.Error("the node's own address went")
	}
	if diff := cmp.Diff([]Entry{{Interface: "eth0", Prefix: second}}, m.Held(), equate); diff != "" {
		t.Errorf("Held (-want +got):\n%s", diff)
	}
}

// A VIP in its last second, whose router has stopped refreshing it, is not added back with the
// lifetime the kernel reads for it, 0, which the kernel takes for for ever: it would outlive its
// agent beside the new Master.
func TestAVIPInItsLastSecondIsNotAddedBackForEver(t *testing.T) {
	tests := map[string]struct {
		validLft uint32
		want     time.Duration
		ok       bool
	}{
		"seconds left are the lifetime":            {validLft: 5, want: 5 * time.Second, ok: true},
		"the last second's 0 is not added back":    {validLft: 0, ok: false},
		"an address without a lifetime keeps none": {validLft: forever, want: 0, ok: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got, ok := lifetimeLeft(tc.validLft); got != tc.want || ok != tc.ok {
				t.Errorf("lifetimeLeft(%d) = %v, %v; want %v, %v", tc.validLft, got, ok, tc.want, tc.ok)
			}
		})
	}
}
