package announce

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// timeout bounds every wait: announcements between namespaces take effect in milliseconds.
const timeout = 5 * time.Second

var (
	vip4 = netip.MustParseAddr("198.51.100.10")
	vip6 = netip.MustParseAddr("2001:db8::10")
	// oldMAC stands for the previous Master in the client's neighbour cache.
	oldMAC = "02:00:00:00:00:01"
)

// neighMAC returns the link-layer address h's neighbour cache holds for ip, or "".
func neighMAC(t *testing.T, h *testenv.Host, ip netip.Addr) string {
	t.Helper()
	f := strings.Fields(h.IP("neigh", "show", ip.String(), "dev", h.Link))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "lladdr" {
			return f[i+1]
		}
	}
	return ""
}

// waitNeighMAC waits until h's cache holds mac for ip and returns how long that took. The kernel
// does not say when it has processed a packet, so this polls, within a deadline.
func waitNeighMAC(t *testing.T, h *testenv.Host, ip netip.Addr, mac string, since time.Time) time.Duration {
	t.Helper()
	for {
		got := neighMAC(t, h, ip)
		if got == mac {
			return time.Since(since)
		}
		if time.Since(since) > timeout {
			t.Fatalf("%s's entry for %s has lladdr %q after %v, want %s", h.Name, ip, got, timeout, mac)
		}
		time.Sleep(time.Millisecond)
	}
}

// garpSeen is what a client sees of a gratuitous ARP.
type garpSeen struct {
	EthDst, EthSrc     string
	Op                 arp.Operation
	SenderHW, TargetHW string
	SenderIP, TargetIP string
}

// naSeen is what a client sees of a Neighbor Advertisement.
type naSeen struct {
	Dst                         string
	HopLimit                    int
	Router, Solicited, Override bool
	Target, TargetLLA           string
}

// capture holds client-side sockets that see announcements on the wire.
type capture struct {
	arp *arp.Client
	ndp *ndp.Conn
}

func listenClient(t *testing.T, h *testenv.Host) *capture {
	t.Helper()
	c := &capture{}
	if err := h.Do(func() error {
		ifi, err := net.InterfaceByName(h.Link)
		if err != nil {
			return err
		}
		if c.arp, err = arp.Dial(ifi); err != nil {
			return err
		}
		if c.ndp, _, err = ndp.Listen(ifi, ndp.Unspecified); err != nil {
			return err
		}
		var f ipv6.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv6.ICMPTypeNeighborAdvertisement)
		return errors.Join(c.ndp.SetICMPFilter(&f), c.ndp.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst, true))
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c.arp != nil {
			_ = c.arp.Close()
		}
		if c.ndp != nil {
			_ = c.ndp.Close()
		}
	})
	return c
}

// garp returns the next gratuitous ARP for ip, skipping other ARP traffic.
func (c *capture) garp(t *testing.T, ip netip.Addr) garpSeen {
	t.Helper()
	if err := c.arp.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		t.Fatal(err)
	}
	for {
		p, f, err := c.arp.Read()
		if err != nil {
			t.Fatalf("waiting for a gratuitous ARP for %s: %v", ip, err)
		}
		if p.SenderIP == ip {
			return garpSeen{
				EthDst: f.Destination.String(), EthSrc: f.Source.String(), Op: p.Operation,
				SenderHW: p.SenderHardwareAddr.String(), TargetHW: p.TargetHardwareAddr.String(),
				SenderIP: p.SenderIP.String(), TargetIP: p.TargetIP.String(),
			}
		}
	}
}

// na returns the next Neighbor Advertisement for target.
func (c *capture) na(t *testing.T, target netip.Addr) naSeen {
	t.Helper()
	if err := c.ndp.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		t.Fatal(err)
	}
	for {
		m, cm, _, err := c.ndp.ReadFrom()
		if err != nil {
			t.Fatalf("waiting for a neighbor advertisement for %s: %v", target, err)
		}
		na, ok := m.(*ndp.NeighborAdvertisement)
		if !ok || na.TargetAddress != target {
			continue
		}
		seen := naSeen{Router: na.Router, Solicited: na.Solicited, Override: na.Override, Target: na.TargetAddress.String()}
		if cm != nil {
			seen.Dst, seen.HopLimit = cm.Dst.String(), cm.HopLimit
		}
		for _, o := range na.Options {
			if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target {
				seen.TargetLLA = lla.Addr.String()
			}
		}
		return seen
	}
}

func TestAnnounceOnTheWireAndInNeighbourCaches(t *testing.T) {
	lab := testenv.NewLab(t)
	master := lab.Host("eth0", "198.51.100.1/24", "2001:db8::1/64")
	client := lab.Host("ens3", "198.51.100.2/24", "2001:db8::2/64")
	master.IP("addr", "add", vip4.String()+"/24", "dev", "eth0")
	master.IP("addr", "add", vip6.String()+"/64", "dev", "eth0", "nodad")
	master.WaitLinkLocal(t, master.Link)
	// The client last talked to the old Master. Linux updates such an entry from a gratuitous ARP
	// or an unsolicited NA, but creates none from them (arp_accept=0, RFC 4861 §7.2.5), so the
	// test seeds one, stale as an entry that has not been confirmed lately.
	for _, ip := range []netip.Addr{vip4, vip6} {
		client.IP("neigh", "replace", ip.String(), "lladdr", oldMAC, "dev", "ens3", "nud", "stale")
		if got := neighMAC(t, client, ip); got != oldMAC {
			t.Fatalf("seeded entry for %s has lladdr %q, want %s", ip, got, oldMAC)
		}
	}
	wire := listenClient(t, client)

	var s *Sender
	if err := master.Do(func() (err error) {
		s, err = New("eth0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	start := time.Now()
	// Announce runs outside the namespace, as New promises it may. The invalid address in the
	// middle is reported and does not stop the others.
	err := s.Announce([]netip.Addr{vip4, {}, vip6})
	if err == nil || !strings.Contains(err.Error(), "invalid IP") {
		t.Errorf("Announce with an invalid address = %v, want an error about it", err)
	}
	t.Logf("Announce returned after %v", time.Since(start))

	t.Run("the gratuitous ARP is a broadcast request from our MAC for the VIP", func(t *testing.T) {
		want := garpSeen{
			EthDst: ethernet.Broadcast.String(), EthSrc: master.MAC, Op: arp.OperationRequest,
			SenderHW: master.MAC, TargetHW: "00:00:00:00:00:00",
			SenderIP: vip4.String(), TargetIP: vip4.String(),
		}
		if diff := cmp.Diff(want, wire.garp(t, vip4)); diff != "" {
			t.Errorf("gratuitous ARP (-want +got):\n%s", diff)
		}
	})
	t.Run("the unsolicited NA goes to all nodes with hop limit 255, Override and our MAC", func(t *testing.T) {
		want := naSeen{Dst: "ff02::1", HopLimit: 255, Override: true, Target: vip6.String(), TargetLLA: master.MAC}
		if diff := cmp.Diff(want, wire.na(t, vip6)); diff != "" {
			t.Errorf("neighbor advertisement (-want +got):\n%s", diff)
		}
	})
	t.Run("a client's stale ARP entry for the VIP takes our MAC", func(t *testing.T) {
		t.Logf("updated %v after Announce", waitNeighMAC(t, client, vip4, master.MAC, start))
	})
	t.Run("a client's stale neighbour entry for the IPv6 VIP takes our MAC", func(t *testing.T) {
		t.Logf("updated %v after Announce", waitNeighMAC(t, client, vip6, master.MAC, start))
	})
	t.Run("the Router flag follows IPv6 forwarding on the interface", func(t *testing.T) {
		master.Sysctl(t, "net/ipv6/conf/eth0/forwarding", "1")
		if err := s.Announce([]netip.Addr{vip6}); err != nil {
			t.Fatal(err)
		}
		if got := wire.na(t, vip6); !got.Router {
			t.Errorf("NA from a forwarding interface has Router = false: %+v", got)
		}
	})
	t.Run("a MAC changed in place is the one announced (a bond's fail_over_mac)", func(t *testing.T) {
		const newMAC = "02:00:00:00:be:ef"
		master.IP("link", "set", "dev", "eth0", "address", newMAC)
		if err := s.Announce([]netip.Addr{vip4, vip6}); err != nil {
			t.Fatal(err)
		}
		if got := wire.garp(t, vip4); got.EthSrc != newMAC || got.SenderHW != newMAC {
			t.Errorf("gratuitous ARP after the MAC changed: %+v, want it from %s", got, newMAC)
		}
		if got := wire.na(t, vip6); got.TargetLLA != newMAC {
			t.Errorf("neighbor advertisement after the MAC changed: %+v, want target %s", got, newMAC)
		}
	})
	t.Run("Announce after Close fails", func(t *testing.T) {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Announce([]netip.Addr{vip4}); !errors.Is(err, ErrClosed) {
			t.Errorf("Announce after Close = %v, want %v", err, ErrClosed)
		}
	})
}

func TestNewRefusesWhatItCannotAnnounceOn(t *testing.T) {
	tests := map[string]struct {
		ifname, want string
	}{
		"a missing interface":                   {"vrrp-missing0", "vrrp-missing0"},
		"an interface with no Ethernet address": {"lo", "not an Ethernet interface"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := New(tt.ifname)
			if err == nil {
				_ = s.Close()
				t.Fatalf("New(%q) succeeded", tt.ifname)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New(%q) = %v, want an error containing %q", tt.ifname, err, tt.want)
			}
		})
	}
}
