package e2e

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// The routers of the agent under attack, all Master alone at priority 150, so that a forged
// advert of priority 254 that got through would make them BACKUP.
var (
	wireV4     = netip.MustParseAddr("198.51.100.1")
	wireV6     = netip.MustParseAddr("2001:db8::1")
	wirePeer   = netip.MustParseAddr("198.51.100.99") // the unicast router's only peer, absent until the control
	attackerV4 = netip.MustParseAddr("198.51.100.66")
	groupV4    = netip.MustParseAddr("224.0.0.18")
	groupV6    = netip.MustParseAddr("ff02::12")

	seedVIPv6  = netip.MustParseAddr("2001:db8::252")
	unicastVIP = netip.MustParseAddr("198.51.100.253")

	// Well-formed adverts for each router, which the cases spoil one way each.
	goodV2 = advert{version: 2, vrid: 51, priority: 254, count: -1, interval: 1, authType: 1, password: "secret12", addrs: []netip.Addr{seedVIP}}
	goodV6 = advert{version: 3, vrid: 52, priority: 254, count: -1, interval: 10, addrs: []netip.Addr{seedVIPv6}}
	goodUC = advert{version: 3, vrid: 53, priority: 254, count: -1, interval: 10, addrs: []netip.Addr{unicastVIP}}
)

// probe is one malformed packet, and the drop it must be counted as.
type probe struct {
	name    string
	advert  advert
	v6      bool                // send over IPv6 to ff02::12
	unicast bool                // send to the agent's address instead of the group
	ttl     int                 // 0: 255
	spoil   func([]byte) []byte // applied after encoding, checksum included
	router  string              // virtual_ip label of the drop; "" when no router took the packet
	reason  string
}

func with(a advert, f func(*advert)) advert {
	a.addrs = append([]netip.Addr(nil), a.addrs...)
	f(&a)
	return a
}

// The malformed classes of the protocol issue, each sent on the wire. Every one is otherwise an
// advert of priority 254 for a router that is Master at 150.
var probes = []probe{
	{name: "TTL 1, as from off-link", advert: goodV2, ttl: 1, router: "seed", reason: "ttl"},
	{name: "version 4", advert: with(goodV2, func(a *advert) { a.version = 4 }), router: "seed", reason: "version"},
	{name: "type 2, not an advertisement", advert: with(goodV2, func(a *advert) { a.typ = 2 }), router: "seed", reason: "type"},
	{name: "a VRID no router here has", advert: with(goodV2, func(a *advert) { a.vrid = 99 }), router: "", reason: "vrid"},
	{name: "truncated inside the header", advert: goodV2, spoil: func(b []byte) []byte { return b[:6] }, router: "seed", reason: "length"},
	{name: "truncated inside the address list", advert: goodV2, spoil: func(b []byte) []byte { return b[:len(b)-2] }, router: "seed", reason: "length"},
	{name: "address count 2 with one address", advert: with(goodV2, func(a *advert) { a.count = 2 }), router: "seed", reason: "address_count"},
	{name: "address count 0 and no address", advert: with(goodV2, func(a *advert) { a.count, a.addrs = 0, nil }), router: "seed", reason: "address_count"},
	{name: "interval 0", advert: with(goodV2, func(a *advert) { a.interval = 0 }), router: "seed", reason: "interval"},
	{name: "a bad checksum", advert: goodV2, spoil: func(b []byte) []byte { b[7] ^= 0xff; return b }, router: "seed", reason: "checksum"},
	{name: "VRRPv2 interval 2s where ours is 1s", advert: with(goodV2, func(a *advert) { a.interval = 2 }), router: "seed", reason: "interval_mismatch"},
	{name: "a wrong PASS password", advert: with(goodV2, func(a *advert) { a.password = "guessed!" }), router: "seed", reason: "auth"},
	{name: "no authentication where PASS is configured", advert: with(goodV2, func(a *advert) { a.authType, a.password = 0, "" }), router: "seed", reason: "auth"},
	{name: "VRRPv3 for the VRRPv2 router", advert: with(goodV2, func(a *advert) { a.version, a.authType, a.password, a.interval = 3, 0, "", 100 }), router: "seed", reason: "version"},
	{name: "a loopback address in the address list", advert: with(goodV2, func(a *advert) { a.addrs = []netip.Addr{netip.MustParseAddr("127.0.0.1")} }), router: "seed", reason: "address_list"},
	{name: "VRRPv2 over IPv6: address family mismatch", advert: with(goodV6, func(a *advert) { a.version, a.interval = 2, 1 }), v6: true, router: "six", reason: "family"},
	{name: "a unicast advert from a node that is not a peer", advert: goodUC, unicast: true, router: "uni", reason: "not_peer"},
}

// TestMalformedPacketsAreCountedAndChangeNothing sends each malformed class from a third
// namespace to an agent whose routers are Master, and checks that the agent counts it under its
// reason in vrrp_operator_packets_dropped_total and that no router changes state. Well-formed
// adverts sent the same way at the end do make the routers step down, which proves the probes
// reached them.
func TestMalformedPacketsAreCountedAndChangeNothing(t *testing.T) {
	requireLab(t)
	t.Parallel()
	lab := testenv.NewLab(t)
	target := newNode(t, lab, "eth0", wireV4.String()+"/24", wireV6.String()+"/64")
	attacker := newNode(t, lab, "eth0", attackerV4.String()+"/24", "2001:db8::66/64")
	waitLinkLocal(t, target)
	waitLinkLocal(t, attacker)
	attackerLL, err := attacker.linkLocal()
	if err != nil {
		t.Fatal(err)
	}
	config := writeManifests(t, []vipSpec{
		{name: "seed", vrid: 51, version: 2, addresses: []string{"198.51.100.252/24"}, interval: "1s", priority: 150, password: "secret12"},
		{name: "six", vrid: 52, version: 3, addresses: []string{"2001:db8::252/64"}, interval: fast.String(), priority: 150},
		{name: "uni", vrid: 53, version: 3, addresses: []string{"198.51.100.253/24"}, interval: fast.String(), priority: 150, unicast: true},
	}, []nodeObj{{name: "target", internalIPs: []string{wireV4.String()}}, {name: "ghost", internalIPs: []string{wirePeer.String()}}})
	a := startAgent(t, target, "target", config, agentOptions{})
	routers := map[string]netip.Addr{"seed": seedVIP, "six": seedVIPv6, "uni": unicastVIP}
	for r, vip := range routers {
		waitState(t, a, r, "MASTER")
		waitFor(t, time.Now(), 5*time.Second, fmt.Sprintf("router %s holds %s", r, vip), func() bool { return target.has(vip) })
	}
	before := mustScrape(t, a)

	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			src, dst := attackerV4, groupV4
			switch {
			case p.v6:
				src, dst = attackerLL, groupV6
			case p.unicast:
				dst = wireV4
			}
			ttl := p.ttl
			if ttl == 0 {
				ttl = 255
			}
			payload := p.advert.encode(src, dst)
			if p.spoil != nil {
				payload = p.spoil(payload)
			}
			labels := map[string]string{"virtual_ip": p.router, "reason": p.reason}
			was := mustScrape(t, a).sum(metrics.PacketsDropped, labels)
			const copies = 3
			for range copies {
				if err := sendVRRP(attacker, src, dst, ttl, payload); err != nil {
					t.Fatalf("sending: %v", err)
				}
			}
			var now scrape
			if !pollUntil(3*time.Second, func() bool {
				now = mustScrape(t, a)
				return now.sum(metrics.PacketsDropped, labels)-was >= copies
			}) {
				t.Fatalf("%d packets sent, %s{virtual_ip=%q,reason=%q} rose by %v; drops now: %v",
					copies, metrics.PacketsDropped, p.router, p.reason, now.sum(metrics.PacketsDropped, labels)-was, drops(now))
			}
			if got := now.sum(metrics.PacketsDropped, labels) - was; got != copies {
				t.Errorf("%d packets sent, counted %v times", copies, got)
			}
		})
	}

	after := mustScrape(t, a)
	unchanged := t.Run("no router changed state", func(t *testing.T) {
		if b, n := before.sum(metrics.Transitions, nil), after.sum(metrics.Transitions, nil); b != n {
			t.Errorf("%s went from %v to %v while only malformed packets arrived", metrics.Transitions, b, n)
		}
		for r, vip := range routers {
			if s := after.state(r); s != "MASTER" {
				t.Errorf("router %s is %s after the malformed packets, want MASTER", r, s)
			}
			if !target.has(vip) {
				t.Errorf("router %s lost %s to malformed packets", r, vip)
			}
		}
	})
	t.Run("no malformed packet counts as an accepted advert", func(t *testing.T) {
		// The help of vrrp_operator_adverts_received_total says "received and accepted by a
		// router": an advert a router drops (wrong password, interval, version) is not accepted.
		if b, n := before.sum(metrics.AdvertsReceived, nil), after.sum(metrics.AdvertsReceived, nil); b != n {
			t.Errorf("%s went from %v to %v, though every one of these packets was dropped and counted in %s: "+
				"agent/speaker/router.go receive() counts an advert as received before the instance's checks (VRID, version, "+
				"auth, interval) that end in a Drop action", metrics.AdvertsReceived, b, n, metrics.PacketsDropped)
		}
	})
	if !unchanged {
		return
	}

	// Controls: the same adverts, well formed, from where they must come from, take over.
	attacker.IP("addr", "add", wirePeer.String()+"/24", "dev", attacker.Link)
	controls := map[string]struct {
		router   string
		advert   advert
		src, dst netip.Addr
	}{
		"a well-formed VRRPv2 advert with the password makes the seed router step down": {router: "seed", advert: goodV2, src: attackerV4, dst: groupV4},
		"a well-formed VRRPv3 IPv6 advert makes the IPv6 router step down":              {router: "six", advert: goodV6, src: attackerLL, dst: groupV6},
		"a unicast advert from the peer's address makes the unicast router step down":   {router: "uni", advert: goodUC, src: wirePeer, dst: wireV4},
	}
	for name, c := range controls {
		t.Run(name, func(t *testing.T) {
			labels := map[string]string{"virtual_ip": c.router, "from": "MASTER", "to": "BACKUP"}
			was := mustScrape(t, a).sum(metrics.Transitions, labels)
			if err := sendVRRP(attacker, c.src, c.dst, 255, c.advert.encode(c.src, c.dst)); err != nil {
				t.Fatalf("sending: %v", err)
			}
			var now scrape
			if !pollUntil(3*time.Second, func() bool {
				now = mustScrape(t, a)
				return now.sum(metrics.Transitions, labels) > was
			}) {
				t.Fatalf("router %s did not step down to a priority-254 advert; drops: %v", c.router, drops(now))
			}
		})
	}
}

func mustScrape(t testing.TB, a *agent) scrape {
	t.Helper()
	s, err := a.metrics()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// drops lists the non-zero drop counters, for failure messages.
func drops(s scrape) []string {
	var out []string
	for _, x := range s {
		if x.name == metrics.PacketsDropped && x.value != 0 {
			out = append(out, fmt.Sprintf("%s/%s/%s=%v", x.labels["interface"], x.labels["virtual_ip"], x.labels["reason"], x.value))
		}
	}
	return out
}
