package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/vishvananda/netlink"
)

// neighborMACs returns the distinct MACs that answer address resolution for ip from client
// within about d: ARP for IPv4, neighbor solicitation for IPv6.
func neighborMACs(client *node, ip netip.Addr, d time.Duration) ([]string, error) {
	if ip.Is4() {
		return arpMACs(client, ip, d)
	}
	return ndMACs(client, ip, d)
}

// ndMACs sends a neighbor solicitation for ip every 200ms for d from client and returns the
// distinct target link-layer addresses of the advertisements that answer, sorted.
func ndMACs(client *node, ip netip.Addr, d time.Duration) ([]string, error) {
	seen := map[string]bool{}
	err := client.Do(func() error {
		ifi, err := net.InterfaceByName(client.Link)
		if err != nil {
			return fmt.Errorf("looking up %s: %w", client.Link, err)
		}
		c, _, err := ndp.Listen(ifi, ndp.LinkLocal)
		if err != nil {
			return fmt.Errorf("opening an NDP socket on %s: %w", client, err)
		}
		defer c.Close()
		snm, err := ndp.SolicitedNodeMulticast(ip)
		if err != nil {
			return fmt.Errorf("solicited-node group of %s: %w", ip, err)
		}
		ns := &ndp.NeighborSolicitation{TargetAddress: ip, Options: []ndp.Option{
			&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: ifi.HardwareAddr},
		}}
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			if err := c.WriteTo(ns, nil, snm); err != nil {
				return fmt.Errorf("soliciting %s: %w", ip, err)
			}
			_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			for {
				m, _, _, err := c.ReadFrom()
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break
				}
				if err != nil {
					return fmt.Errorf("reading NDP on %s: %w", client, err)
				}
				na, ok := m.(*ndp.NeighborAdvertisement)
				if !ok || na.TargetAddress != ip {
					continue
				}
				for _, o := range na.Options {
					if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target {
						seen[lla.Addr.String()] = true
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("no neighbor advertisement for %s seen from %s", ip, client)
	}
	macs := make([]string, 0, len(seen))
	for m := range seen {
		macs = append(macs, m)
	}
	slices.Sort(macs)
	return macs, nil
}

// ping sends one echo request from client to ip, so that client has a neighbour entry for it.
func ping(t testing.TB, client *node, ip netip.Addr) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if out, err := client.Command(ctx, "ping", "-c", "1", "-W", "2", ip.String()).CombinedOutput(); err != nil {
		t.Fatalf("ping %s from %s: %v: %s", ip, client, err, out)
	}
}

// neighbor returns the MAC of client's neighbour entry for ip, or "".
func (n *node) neighbor(ip netip.Addr) string {
	family := netlink.FAMILY_V4
	if ip.Is6() {
		family = netlink.FAMILY_V6
	}
	neighs, err := n.nl.NeighList(n.link.Attrs().Index, family)
	if err != nil {
		return ""
	}
	for _, x := range neighs {
		if a, ok := netip.AddrFromSlice(x.IP); ok && a.Unmap() == ip && x.HardwareAddr != nil {
			return x.HardwareAddr.String()
		}
	}
	return ""
}

// waitNeighbor waits until client's neighbour entry for ip names owner's MAC, without the client
// asking: only the new Master's gratuitous ARP or unsolicited neighbour advertisement updates it.
func waitNeighbor(t testing.TB, since time.Time, client *node, ip netip.Addr, owner *node) time.Duration {
	t.Helper()
	if !pollUntil(3*time.Second, func() bool { return client.neighbor(ip) == owner.MAC }) {
		t.Fatalf("%s still resolves %s to %q, want %s's %s: no gratuitous ARP or unsolicited NA updated it",
			client, ip, client.neighbor(ip), owner, owner.MAC)
	}
	return time.Since(since)
}
