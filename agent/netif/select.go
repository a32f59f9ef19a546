package netif

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

var (
	// ErrNoInterface means no interface has a subnet that holds the VIP.
	ErrNoInterface = errors.New("no interface has a subnet holding the address")
	// ErrAmbiguousInterface means several usable interfaces have such a subnet; the VirtualIP must
	// name one.
	ErrAmbiguousInterface = errors.New("several interfaces have a subnet holding the address")
	// ErrNoAddress means the interface has no address adverts could be sent from.
	ErrNoAddress = errors.New("no usable address")
)

// Status says whether an interface can carry a router.
type Status struct {
	Up      bool
	Reason  string     // why not, e.g. "link eth0 is down" or "no IPv4 address on eth0"; empty when Up
	Address netip.Addr // the source address for adverts (see PrimaryAddress) when Up
}

// Interface is one interface as config derivation sees it (agent/desired chooses among them).
type Interface struct {
	Name     string
	Up       bool           // administratively up with carrier
	Prefixes []netip.Prefix // the node's own subnets, as chooseInterface counts them
}

// iface is a snapshot of what the choices need to know about one interface.
type iface struct {
	name     string
	index    int
	adminUp  bool
	carrier  bool   // operstate up, or unknown for drivers that do not report it
	oper     string // the operstate, for the reason
	loopback bool
	addrs    []ifaddr
}

func (i iface) up() bool { return i.adminUp && i.carrier }

type ifaddr struct {
	prefix    netip.Prefix
	secondary bool // IPv4 only: the kernel's second and later address in a subnet
	tentative bool // IPv6: duplicate address detection still running
	dadFailed bool
}

// chooseInterface returns the interface whose subnet holds vip.
//
// The addresses that count are the node's own subnets: host routes (/32, /128) say nothing about a
// subnet, the VIP itself may already be held somewhere, link-local subnets are on every IPv6
// interface, and exclude (the VIPs the agent holds) would otherwise let one VIP claim an interface
// for the next. Addresses with a finite lifetime are not left out, although the agent's VIPs have
// one, because so do DHCP and SLAAC addresses.
//
// An interface that is down still counts when it is the only candidate: the router then starts in
// FAULT and recovers when the link does, instead of not starting at all. With several candidates
// the ones that are up win.
func chooseInterface(vip netip.Addr, ifaces []iface, exclude func(netip.Addr) bool) (string, error) {
	var all, up []string
	for _, i := range ifaces {
		if slices.ContainsFunc(subnets(i, exclude), func(p netip.Prefix) bool { return p.Addr() != vip && p.Contains(vip) }) {
			all = append(all, i.name)
			if i.up() {
				up = append(up, i.name)
			}
		}
	}
	switch {
	case len(up) == 1:
		return up[0], nil
	case len(up) > 1:
		return "", fmt.Errorf("choosing the interface for %s: %w: %s; name one in the VirtualIP", vip, ErrAmbiguousInterface, strings.Join(up, ", "))
	case len(all) == 1:
		return all[0], nil
	case len(all) > 1:
		return "", fmt.Errorf("choosing the interface for %s: %w, all down: %s; name one in the VirtualIP", vip, ErrAmbiguousInterface, strings.Join(all, ", "))
	}
	return "", fmt.Errorf("choosing the interface for %s: %w", vip, ErrNoInterface)
}

// subnets returns the addresses of i that stand for a subnet of the node (see chooseInterface),
// with their host bits, masked by the caller where needed.
func subnets(i iface, exclude func(netip.Addr) bool) []netip.Prefix {
	if i.loopback {
		return nil
	}
	var ps []netip.Prefix
	for _, a := range i.addrs {
		ip := a.prefix.Addr()
		if a.prefix.IsSingleIP() || ip.IsLinkLocalUnicast() || (exclude != nil && exclude(ip)) {
			continue
		}
		ps = append(ps, a.prefix)
	}
	return ps
}

// primaryAddress returns the address adverts are sent from, or why there is none.
//
// IPv4: the interface's primary address (RFC 9568 §5.1.1.1), i.e. the first primary address not
// excluded (the kernel lists a subnet's primary before its secondaries), else the first secondary one,
// for when the VIP the agent holds is the primary of its subnet. IPv6: a link-local address,
// since RFC 9568 §5.1.2.1 requires it as the source, and only once duplicate address detection has
// passed, as the kernel refuses to send from a tentative one.
func primaryAddress(i iface, v6 bool, exclude func(netip.Addr) bool) (netip.Addr, string) {
	var secondary, tentative netip.Addr
	for _, a := range i.addrs {
		ip := a.prefix.Addr()
		if ip.Is6() != v6 || (exclude != nil && exclude(ip)) || a.dadFailed {
			continue
		}
		switch {
		case v6 && !ip.IsLinkLocalUnicast():
		case v6 && a.tentative:
			if !tentative.IsValid() {
				tentative = ip
			}
		case !v6 && a.secondary:
			if !secondary.IsValid() {
				secondary = ip
			}
		default:
			return ip, ""
		}
	}
	switch {
	case secondary.IsValid():
		return secondary, ""
	case tentative.IsValid():
		return netip.Addr{}, fmt.Sprintf("IPv6 link-local address %s on %s is tentative", tentative, i.name)
	case v6:
		return netip.Addr{}, "no IPv6 link-local address on " + i.name
	}
	return netip.Addr{}, "no IPv4 address on " + i.name
}

// status says whether i can carry a router; found is false when there is no such interface.
func status(name string, i iface, found, v6 bool, exclude func(netip.Addr) bool) Status {
	switch {
	case !found:
		return Status{Reason: "interface " + name + " not found"}
	case !i.adminUp:
		return Status{Reason: "link " + name + " is down"}
	case !i.carrier:
		return Status{Reason: fmt.Sprintf("link %s has no carrier (%s)", name, i.oper)}
	}
	ip, reason := primaryAddress(i, v6, exclude)
	if !ip.IsValid() {
		return Status{Reason: reason}
	}
	return Status{Up: true, Address: ip}
}
