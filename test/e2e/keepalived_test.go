package e2e

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// interopCase is one way of running the seed's virtual router, which keepalived and the agent must
// agree on.
type interopCase struct {
	version  int
	interval time.Duration
	password string
	unicast  bool
	high     string // the priority-150 node's address (interface ens3)
	low      string // the priority-100 node's address (interface eth0)
	client   string
	vip      string // with prefix length
	seedHook bool   // both run the seed's notify script
}

var (
	v4Hosts = interopCase{high: seedPrimary, low: seedSecondary, client: seedClient, vip: "198.51.100.252/24"}
	v6Hosts = interopCase{high: "2001:db8::253/64", low: "2001:db8::254/64", client: "2001:db8::10/64", vip: "2001:db8::252/64"}
)

func (c interopCase) with(f func(*interopCase)) interopCase { f(&c); return c }

// label names the case in the timing summary.
func (c interopCase) label(keepalivedHigh bool) string {
	family := "IPv4"
	if strings.Contains(c.vip, ":") {
		family = "IPv6"
	}
	s := fmt.Sprintf("keepalived v%d %s", c.version, family)
	if c.unicast {
		s += " unicast"
	}
	if c.version == 2 {
		s += " (seed)"
	}
	if keepalivedHigh {
		return s + ", keepalived Master:"
	}
	return s + ", agent Master:"
}

// TestKeepalivedInterop runs keepalived from Debian and the agent as the two routers of one
// virtual router, each in both roles: election, a graceful handover when the Master stops, the
// Master taking the VIP back when it returns, and a takeover when the Master is killed.
func TestKeepalivedInterop(t *testing.T) {
	requireLab(t)
	testenv.RequireTool(t, "keepalived")
	t.Parallel()
	cases := map[string]interopCase{
		"the seed's configuration: VRRPv2, PASS, VRID 51, priorities 150 and 100, adverts every second": v4Hosts.with(func(c *interopCase) {
			c.version, c.interval, c.password, c.seedHook = 2, time.Second, "secret12", true
		}),
		"VRRPv3 over IPv4 with keepalived's default checksum": v4Hosts.with(func(c *interopCase) {
			c.version, c.interval = 3, 100*time.Millisecond
		}),
		"VRRPv3 over IPv6": v6Hosts.with(func(c *interopCase) {
			c.version, c.interval = 3, 100*time.Millisecond
		}),
		"unicast peers": v4Hosts.with(func(c *interopCase) {
			c.version, c.interval, c.unicast = 3, 100*time.Millisecond, true
		}),
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, keepalivedHigh := range []bool{true, false} {
				role := "keepalived Master, agent Backup"
				if !keepalivedHigh {
					role = "agent Master, keepalived Backup"
				}
				t.Run(role, func(t *testing.T) {
					t.Parallel()
					runInterop(t, c, keepalivedHigh)
				})
			}
		})
	}
}

// router is either implementation, as the interop scenario drives it.
type router interface {
	start()
	sigterm()
	waitExit()
	kill()
}

func runInterop(t testing.TB, c interopCase, keepalivedHigh bool) {
	lab := testenv.NewLab(t)
	high := newNode(t, lab, "ens3", c.high)
	low := newNode(t, lab, "eth0", c.low)
	client := newNode(t, lab, "eth0", c.client)
	vipPrefix := netip.MustParsePrefix(c.vip)
	vip := vipPrefix.Addr()
	if vip.Is6() {
		for _, n := range []*node{high, low, client} {
			waitLinkLocal(t, n)
		}
	}
	var hh, lh *seedHook
	if c.seedHook {
		hh, lh = newSeedHook(t), newSeedHook(t)
	}
	// The agent's side: one VirtualIP for both nodes, named by their role.
	spec := vipSpec{
		name: "vi-1", vrid: 51, version: c.version, addresses: []string{c.vip}, interval: c.interval.String(),
		priority: 100, priorities: map[string]int{"high": 150}, unicast: c.unicast, password: c.password, seedHooks: c.seedHook,
	}
	var nodes []nodeObj
	if c.unicast {
		nodes = []nodeObj{{name: "high", internalIPs: []string{addrOf(c.high)}}, {name: "low", internalIPs: []string{addrOf(c.low)}}}
	}
	manifests := writeManifests(t, []vipSpec{spec}, nodes)
	ka := kaSpec{version: c.version, vrid: 51, interval: kaInterval(c.interval), password: c.password, vip: c.vip}

	agentBinary(t)
	start := time.Now()
	var hr, lr router
	var kh *keepalived // high, when it is keepalived
	if keepalivedHigh {
		ka.state, ka.iface, ka.priority, ka.hook = "MASTER", high.Link, 150, hh
		if c.unicast {
			ka.unicastSrc, ka.unicastPeer = addrOf(c.high), addrOf(c.low)
		}
		kh = startKeepalived(t, high, keepalivedConfig(ka))
		hr = kh
		lr = startAgent(t, low, "low", manifests, agentOptions{hooks: lh})
	} else {
		ka.state, ka.iface, ka.priority, ka.hook = "BACKUP", low.Link, 100, lh
		if c.unicast {
			ka.unicastSrc, ka.unicastPeer = addrOf(c.low), addrOf(c.high)
		}
		hr = startAgent(t, high, "high", manifests, agentOptions{hooks: hh})
		// Without Node objects the standalone agent cannot know that it outranks every node, so it
		// starts as Backup, and a keepalived Backup whose timer ran out first would win (RFC 9568
		// §6.4.2) and change the notify calls checked below: keepalived joins once high holds the VIP.
		waitOwner(t, start, masterDownInterval(c.version, c.interval, 100)+10*time.Second, vip, high, low)
		lr = startKeepalived(t, low, keepalivedConfig(ka))
	}
	what := c.label(keepalivedHigh)
	mdi := masterDownInterval(c.version, c.interval, 100)
	flags := func(h, l string, why string) {
		if c.seedHook {
			waitFlag(t, hh, h, "high node "+why)
			waitFlag(t, lh, l, "low node "+why)
		}
	}

	if keepalivedHigh {
		// Started together, both routers may time out and be Master until low hears high's first
		// advert (RFC 9568 §6.4.2, §6.4.3): a check of the owner that starts in that instant sees
		// low's announcement. The election is over two adverts after keepalived enters MASTER, which
		// a loaded machine may delay past low's Master_Down_Interval from the start.
		waitFor(t, start, mdi+10*time.Second, "keepalived on "+high.String()+" enters MASTER", func() bool {
			return kh.logHas("Entering MASTER STATE")
		})
		time.Sleep(max(2*c.interval, time.Until(start.Add(mdi+2*c.interval))))
	}
	waitOwner(t, start, mdi+10*time.Second, vip, high, low)
	ping(t, client, vip)
	holdsAlone(t, max(2*mdi, time.Second), vip, client, high, low)
	flags("1", "0", "after the election")

	stop := time.Now()
	hr.sigterm()
	recordTiming(t, what+" graceful handover (SIGTERM Master)", waitOwner(t, stop, mdi+5*time.Second, vip, low, high))
	if keepalivedHigh {
		// The agent is the new Master: its announcements must move the client's neighbour entry.
		waitNeighbor(t, stop, client, vip, low)
	}
	hr.waitExit()
	holdsAlone(t, time.Second, vip, client, low, high)
	flags("0", "1", "after the Master stopped")

	back := time.Now()
	hr.start()
	recordTiming(t, what+" preempt back (Master restarted)", waitOwner(t, back, mdi+10*time.Second, vip, high, low))
	holdsAlone(t, time.Second, vip, client, high, low)
	flags("1", "0", "after the Master came back")

	// A crash: the Backup must notice the silence. A killed keepalived keeps its VIP, a killed
	// agent's IPv4 VIP expires (TestKilledMaster), so only the takeover is checked here.
	crash := time.Now()
	hr.kill()
	recordTiming(t, what+" takeover after SIGKILL of the Master", waitFor(t, crash, mdi+5*time.Second, low.String()+" takes "+vip.String(), func() bool { return low.has(vip) }))
	lr.sigterm()
	lr.waitExit()
	waitFor(t, time.Now(), 5*time.Second, low.String()+" releases "+vip.String()+" when stopped", func() bool { return !low.has(vip) })

	if c.seedHook {
		// Both implementations call the seed's script the same way in each role: notify with
		// INSTANCE <name> <STATE> <priority> on every transition, notify STOP and notify_stop at
		// stop. keepalived runs scripts without waiting for each other, so only the agent's calls
		// are checked in order.
		highName, lowName := spec.name, "VI_1"
		if keepalivedHigh {
			highName, lowName = "VI_1", spec.name
		}
		checkCalls(t, "high node", hh, !keepalivedHigh, []string{
			"INSTANCE " + highName + " BACKUP 150", "INSTANCE " + highName + " MASTER 150",
			"INSTANCE " + highName + " STOP 150", "0 VI_1 STOP",
			"INSTANCE " + highName + " BACKUP 150", "INSTANCE " + highName + " MASTER 150",
		})
		checkCalls(t, "low node", lh, keepalivedHigh, []string{
			"INSTANCE " + lowName + " BACKUP 100", "INSTANCE " + lowName + " MASTER 100",
			"INSTANCE " + lowName + " BACKUP 100", "INSTANCE " + lowName + " MASTER 100",
			"INSTANCE " + lowName + " STOP 100", "0 VI_1 STOP",
		})
	}
}

// checkCalls waits for the seed script's call log to have as many lines as want and compares
// them, in order or as a multiset.
func checkCalls(t testing.TB, who string, h *seedHook, ordered bool, want []string) {
	t.Helper()
	pollUntil(5*time.Second, func() bool { return len(h.callLog()) >= len(want) })
	got, cmpGot, cmpWant := h.callLog(), h.callLog(), slices.Clone(want)
	if !ordered {
		slices.Sort(cmpGot)
		slices.Sort(cmpWant)
	}
	if !slices.Equal(cmpGot, cmpWant) {
		t.Errorf("the seed's script on the %s was called with:\n got %q\nwant %q", who, got, want)
	}
}

// kaInterval writes d as keepalived's advert_int: seconds, with a fraction for VRRPv3.
func kaInterval(d time.Duration) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", d.Seconds()), "0"), ".")
}
