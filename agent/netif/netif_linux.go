package netif

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// InterfaceFor returns the interface whose subnet holds vip: the one that is up when there are
// several, a clear error wrapping ErrNoInterface or ErrAmbiguousInterface otherwise. exclude, if not
// nil, names addresses that do not count, normally the VIPs the agent holds.
//
// Like every function of this package it looks at the network namespace of the calling thread.
func InterfaceFor(vip netip.Addr, exclude func(netip.Addr) bool) (string, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return "", fmt.Errorf("choosing the interface for %s: opening netlink: %w", vip, err)
	}
	defer h.Close()
	ifaces, err := readAll(h)
	if err != nil {
		return "", fmt.Errorf("choosing the interface for %s: %w", vip, err)
	}
	return chooseInterface(vip.Unmap(), ifaces, exclude)
}

// Interfaces lists the node's interfaces with their subnets, leaving out loopback, host routes,
// link-local subnets and the addresses exclude names (the VIPs the agent holds).
func Interfaces(exclude func(netip.Addr) bool) ([]Interface, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: opening netlink: %w", err)
	}
	defer h.Close()
	ifaces, err := readAll(h)
	if err != nil {
		return nil, err
	}
	out := make([]Interface, 0, len(ifaces))
	for _, i := range ifaces {
		if !i.loopback {
			out = append(out, Interface{Name: i.name, Up: i.up(), Prefixes: subnets(i, exclude)})
		}
	}
	return out, nil
}

// PrimaryAddress returns the address adverts on ifname are sent from: for IPv4 the node's own
// address, not one that exclude names (the VIPs the agent holds); for IPv6 a link-local address
// that passed duplicate address detection. The error wraps ErrNoAddress when there is none.
func PrimaryAddress(ifname string, v6 bool, exclude func(netip.Addr) bool) (netip.Addr, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("finding the address of %s: opening netlink: %w", ifname, err)
	}
	defer h.Close()
	i, found, err := readOne(h, ifname)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("finding the address of %s: %w", ifname, err)
	}
	if !found {
		return netip.Addr{}, fmt.Errorf("finding the address of %s: interface not found", ifname)
	}
	ip, reason := primaryAddress(i, v6, exclude)
	if !ip.IsValid() {
		return netip.Addr{}, fmt.Errorf("finding the address of %s: %w: %s", ifname, ErrNoAddress, reason)
	}
	return ip, nil
}

// dumpRetries bounds retries of a netlink dump that the kernel interrupted because the table
// changed meanwhile: the next one is consistent unless the table keeps changing.
const dumpRetries = 5

func readAll(h *netlink.Handle) ([]iface, error) {
	var links []netlink.Link
	var addrs []netlink.Addr
	var err error
	for range dumpRetries {
		if links, err = h.LinkList(); err == nil {
			if addrs, err = h.AddrList(nil, netlink.FAMILY_ALL); err == nil {
				break
			}
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return nil, fmt.Errorf("listing interfaces: %w", err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	byIndex := map[int][]netlink.Addr{}
	for _, a := range addrs {
		byIndex[a.LinkIndex] = append(byIndex[a.LinkIndex], a)
	}
	ifaces := make([]iface, 0, len(links))
	for _, l := range links {
		ifaces = append(ifaces, ifaceOf(l, byIndex[l.Attrs().Index]))
	}
	return ifaces, nil
}

// readOne reads one interface by name; found is false when it does not exist.
func readOne(h *netlink.Handle, name string) (i iface, found bool, err error) {
	l, err := h.LinkByName(name)
	if errors.As(err, &netlink.LinkNotFoundError{}) {
		return iface{}, false, nil
	}
	if err != nil {
		return iface{}, false, fmt.Errorf("reading link %s: %w", name, err)
	}
	var addrs []netlink.Addr
	for range dumpRetries {
		if addrs, err = h.AddrList(l, netlink.FAMILY_ALL); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return iface{}, false, fmt.Errorf("listing addresses of %s: %w", name, err)
	}
	return ifaceOf(l, addrs), true, nil
}

func ifaceOf(l netlink.Link, addrs []netlink.Addr) iface {
	a := l.Attrs()
	i := iface{
		name:     a.Name,
		index:    a.Index,
		adminUp:  a.Flags&net.FlagUp != 0,
		carrier:  a.OperState == netlink.OperUp || a.OperState == netlink.OperUnknown,
		oper:     a.OperState.String(),
		loopback: a.Flags&net.FlagLoopback != 0,
	}
	for _, na := range addrs {
		ip, ok := netip.AddrFromSlice(na.IP)
		if !ok || na.IPNet == nil {
			continue
		}
		ip = ip.Unmap()
		bits, _ := na.Mask.Size()
		i.addrs = append(i.addrs, addrOf(netip.PrefixFrom(ip, bits), na.Flags))
	}
	return i
}

// addrOf is an address of an interface with the flags (IFA_F_*) that matter to the agent.
func addrOf(p netip.Prefix, flags int) ifaddr {
	return ifaddr{
		prefix: p,
		// IFA_F_SECONDARY is IFA_F_TEMPORARY for IPv6, where it means a privacy address.
		secondary: p.Addr().Is4() && flags&unix.IFA_F_SECONDARY != 0,
		tentative: flags&unix.IFA_F_TENTATIVE != 0,
		dadFailed: flags&unix.IFA_F_DADFAILED != 0,
	}
}
