package desired

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// chooseInterface returns the interface a router runs on: the named one as is, or the one whose
// subnet holds addr, so that one VirtualIP serves nodes whose interfaces are named differently (the
// seed's ens3 and eth0).
//
// An up interface wins. When none is up but exactly one down interface still holds the subnet, that
// one is chosen: the driver then puts the router in FAULT and runs the fault hook, and it recovers
// by itself when the link comes back, whereas an error would make the router vanish and run the
// stop hook instead.
func chooseInterface(named string, ifs []Interface, addr netip.Addr) (string, error) {
	if named != "" {
		return named, nil
	}
	var up, down []string
	for _, ifi := range ifs {
		if !slices.ContainsFunc(ifi.Prefixes, func(p netip.Prefix) bool { return p.Contains(addr) }) {
			continue
		}
		if ifi.Up {
			up = append(up, ifi.Name)
		} else {
			down = append(down, ifi.Name)
		}
	}
	slices.Sort(up)
	slices.Sort(down)
	up, down = slices.Compact(up), slices.Compact(down)
	switch {
	case len(up) == 1:
		return up[0], nil
	case len(up) > 1:
		return "", fmt.Errorf("choosing the interface for %s: %s all hold its subnet, set spec.interface: %w",
			addr, strings.Join(up, ", "), ErrAmbiguousInterface)
	case len(down) == 1:
		return down[0], nil
	case len(down) > 1:
		return "", fmt.Errorf("choosing the interface for %s: %s (all down) hold its subnet, set spec.interface: %w",
			addr, strings.Join(down, ", "), ErrAmbiguousInterface)
	}
	return "", fmt.Errorf("choosing the interface for %s: none of this node's addresses is in its subnet, set spec.interface or add one: %w",
		addr, ErrNoInterface)
}

// unicastSource returns the address this node's unicast adverts leave from, which its peers must
// know: its InternalIP of the router's family when that is on ifname, else its address on ifname in
// the subnet of vip, else its first address on ifname of that family; zero when ifname has none. For
// IPv6 the link-local address RFC 9568 §5.1.2.1 names for multicast would not do: peers know none
// of them, and keepalived's unicast_src_ip and unicast_peer are global addresses too. Interfaces
// hold no link-local address and no VIP (see Interface.Prefixes).
func unicastSource(ifname string, ifs []Interface, internal []netip.Addr, vip netip.Addr) netip.Addr {
	var own []netip.Prefix
	for _, ifi := range ifs {
		if ifi.Name != ifname {
			continue
		}
		for _, p := range ifi.Prefixes {
			if ip := p.Addr(); ip.Is6() == vip.Is6() && ip.IsGlobalUnicast() {
				own = append(own, p)
			}
		}
	}
	for _, ip := range internal {
		if slices.ContainsFunc(own, func(p netip.Prefix) bool { return p.Addr() == ip }) {
			return ip
		}
	}
	if i := slices.IndexFunc(own, func(p netip.Prefix) bool { return p.Contains(vip) }); i >= 0 {
		return own[i].Addr()
	}
	if len(own) > 0 {
		return own[0].Addr()
	}
	return netip.Addr{}
}
