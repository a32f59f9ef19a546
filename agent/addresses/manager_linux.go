package addresses

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Manager adds and removes VIPs and keeps the record of what it added. It is safe for concurrent
// use: the routers of one agent share a Manager.
type Manager struct {
	dir string
	log logr.Logger
	nl  *netlink.Handle
	rt  *rtnl // adds and refreshes

	mu sync.Mutex
	// index is the interface index of each name Add last looked up: a refresh, the Master's
	// every few seconds, needs no lookup by name. An index that is gone (ENODEV: the interface was
	// deleted, maybe created again under its name) is looked up again.
	index   map[string]int
	held    []Entry        // the record, as on disk
	foreign map[Entry]bool // addresses found already present; remembered only to log once
}

// NewManager loads the record in stateDir (creating the directory) and opens a netlink handle in
// the network namespace of the calling thread, which all later calls use whatever thread they run
// on. A corrupt record is moved aside with an error log rather than failing (see loadState).
func NewManager(stateDir string, log logr.Logger) (*Manager, error) {
	held, err := loadState(stateDir, log)
	if err != nil {
		return nil, fmt.Errorf("loading VIP record from %s: %w", stateDir, err)
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening netlink: %w", err)
	}
	rt, err := openRTNL()
	if err != nil {
		h.Close()
		return nil, err
	}
	return &Manager{dir: stateDir, log: log, nl: h, rt: rt, held: held, index: map[string]int{}, foreign: map[Entry]bool{}}, nil
}

// Close releases the netlink sockets. It removes no address.
func (m *Manager) Close() {
	m.nl.Close()
	m.rt.close()
}

// Port is the netlink port that adds and refreshes VIPs. The kernel's notification of each such
// change carries it (for IPv4 addresses; IPv6 ones carry 0), so that an interface watch can have
// them dropped: they are about addresses HoldsAddr reports, never the node's own.
func (m *Manager) Port() uint32 { return m.rt.port }

// Held returns the addresses the agent added and has not removed yet, in the order added.
func (m *Manager) Held() []Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.held)
}

// HoldsAddr reports whether a is an address the agent added, on any interface, and has not removed
// yet. Unlike Held it copies nothing: listing the interfaces asks it about every address of the
// node, and a copy of the record for each made a 250-VIP Master allocate 3 MiB a resync.
func (m *Manager) HoldsAddr(a netip.Addr) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.held {
		if e.Prefix.Addr() == a {
			return true
		}
	}
	return false
}

// Add puts p on ifname, or refreshes it: it is idempotent and the Master calls it again well within
// lifetime. A positive lifetime becomes the address's valid and preferred lifetime, rounded up to
// whole seconds as the kernel counts them; preferred equals valid so that a refreshed address is
// never deprecated. Zero means forever. IPv6 addresses skip duplicate address detection.
//
// The address is recorded before it is added, so a crash in between leaves a record of an address
// that is not there, which RemoveLeftovers ignores, rather than an address nobody knows about.
//
// An address already on ifname that the agent did not add is left alone: not recorded, not
// refreshed and never removed, since removing an address the admin configured could cut the node
// off. Its lifetime is not the agent's to set either. If the admin takes it away, the next Add adds
// the agent's own. The same applies, once, when the record was lost while the agent's address was
// still on: that address expires by its lifetime and the next Add after that owns it again.
func (m *Manager) Add(ifname string, p netip.Prefix, lifetime time.Duration) error {
	if err := check(p); err != nil {
		return fmt.Errorf("adding VIP %s to %s: %w", p, ifname, err)
	}
	e := Entry{Interface: ifname, Prefix: p}
	m.mu.Lock()
	defer m.mu.Unlock()
	held := slices.Contains(m.held, e)
	if i, ok := m.index[ifname]; ok && held {
		// A refresh: one request, no lookup.
		err := m.rt.replaceAddr(i, p, lifetime)
		if err == nil {
			return nil
		}
		delete(m.index, ifname)
		if !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("adding VIP %s to %s: %w", p, ifname, err)
		}
	}
	link, err := m.nl.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("adding VIP %s to %s: %w", p, ifname, err)
	}
	m.index[ifname] = link.Attrs().Index
	if !held {
		present, err := m.present(link, p.Addr())
		if err != nil {
			return fmt.Errorf("adding VIP %s to %s: %w", p, ifname, err)
		}
		if present {
			if !m.foreign[e] {
				m.foreign[e] = true
				m.log.Info("VIP is already on the interface and was not added by the agent: leaving it alone", "address", p, "interface", ifname)
			}
			return nil
		}
		delete(m.foreign, e)
		m.held = append(m.held, e)
		if err := saveState(m.dir, m.held); err != nil {
			m.held = m.held[:len(m.held)-1]
			return fmt.Errorf("adding VIP %s to %s: %w", p, ifname, err)
		}
		m.log.V(1).Info("Adding VIP", "address", p, "interface", ifname, "lifetime", lifetime)
	}
	if err := m.rt.replaceAddr(link.Attrs().Index, p, lifetime); err != nil {
		return fmt.Errorf("adding VIP %s to %s: %w", p, ifname, err)
	}
	return nil
}

// Check reports whether Add(ifname, p) could succeed now, without touching the interface or the
// record: the interface exists and, for an address not recorded yet, the record with p in it can
// be written. A router that could not hold its VIP uses it to know when to try again, rather than
// add an address it is not Master for.
func (m *Manager) Check(ifname string, p netip.Prefix) error {
	if err := check(p); err != nil {
		return fmt.Errorf("checking VIP %s on %s: %w", p, ifname, err)
	}
	e := Entry{Interface: ifname, Prefix: p}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.nl.LinkByName(ifname); err != nil {
		return fmt.Errorf("checking VIP %s on %s: %w", p, ifname, err)
	}
	if slices.Contains(m.held, e) {
		return nil
	}
	if err := probeState(m.dir, append(slices.Clone(m.held), e)); err != nil {
		return fmt.Errorf("checking VIP %s on %s: %w", p, ifname, err)
	}
	return nil
}

// Remove takes p off ifname if the agent added it, and then drops it from the record. An address
// that is already gone, on an interface that may be gone too, is not an error; one the agent did not
// add is left in place.
//
// The first IPv4 address of a subnet on an interface is its primary, and the kernel removes the
// others of the subnet with it unless the interface's promote_secondaries is on (keepalived's
// option of that name sets it; Debian's systemd does for every interface, a new network namespace
// does not). Another router's VIP of the subnet would be gone until its next refresh: Remove adds
// the agent's addresses that went with p back at once, and logs any other address that went.
func (m *Manager) Remove(ifname string, p netip.Prefix) error {
	e := Entry{Interface: ifname, Prefix: p}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !slices.Contains(m.held, e) {
		return nil
	}
	subnet := m.secondaries(e)
	if _, err := m.del(e); err != nil {
		return err
	}
	m.held = slices.DeleteFunc(m.held, func(x Entry) bool { return x == e })
	if len(subnet) > 0 {
		m.restore(e, subnet)
	}
	if err := saveState(m.dir, m.held); err != nil {
		return fmt.Errorf("removing VIP %s from %s: %w", p, ifname, err)
	}
	return nil
}

// secondary is an address that removing its primary takes away, with what is left of its
// lifetime (0: forever).
type secondary struct {
	prefix netip.Prefix
	left   time.Duration
}

// secondaries returns the other addresses of e's subnet on its interface when e is their primary:
// those that removing e takes away unless promote_secondaries is on. A lookup that fails returns
// none; the next refresh of each router puts its own back all the same.
func (m *Manager) secondaries(e Entry) []secondary {
	if !e.Prefix.Addr().Is4() || e.Prefix.Bits() == 32 {
		return nil
	}
	link, err := m.nl.LinkByName(e.Interface)
	if err != nil {
		return nil
	}
	list, err := m.nl.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		m.log.Error(err, "listing the addresses a VIP's removal may take with it", "address", e.Prefix, "interface", e.Interface)
		return nil
	}
	var others []secondary
	for _, a := range list {
		p, ok := prefixOf(a)
		if !ok || p.Bits() != e.Prefix.Bits() || p.Masked() != e.Prefix.Masked() {
			continue
		}
		if p.Addr() == e.Prefix.Addr() {
			if a.Flags&unix.IFA_F_SECONDARY != 0 {
				return nil // the primary stays
			}
			continue
		}
		if left, ok := lifetimeLeft(uint32(a.ValidLft)); ok {
			others = append(others, secondary{prefix: p, left: left})
		}
	}
	return others
}

// lifetimeLeft is the lifetime to add an address back with, from the seconds of it the kernel
// reports left; false for one in its last second, or expired and not purged yet: added back with a
// lifetime of 0 it would stay for ever, beside the new Master if its agent is gone.
func lifetimeLeft(validLft uint32) (time.Duration, bool) {
	switch validLft {
	case 0:
		return 0, false
	case forever:
		return 0, true
	}
	return time.Duration(validLft) * time.Second, true
}

// forever is the lifetime the kernel reports for an address without one.
const forever = 1<<32 - 1

// restore adds back the agent's addresses of subnet, e's secondaries before its removal, that are
// gone now, with the lifetime they had left, so that a VIP being released too is not held longer
// by it; it logs the others that are gone.
func (m *Manager) restore(e Entry, subnet []secondary) {
	link, err := m.nl.LinkByName(e.Interface)
	if err != nil {
		return
	}
	list, err := m.nl.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		m.log.Error(err, "listing the addresses a VIP's removal took with it; their routers' next refresh adds them back", "address", e.Prefix, "interface", e.Interface)
		return
	}
	present := map[netip.Addr]bool{}
	for _, a := range list {
		if p, ok := prefixOf(a); ok {
			present[p.Addr()] = true
		}
	}
	for _, s := range subnet {
		if present[s.prefix.Addr()] {
			continue
		}
		if !slices.Contains(m.held, Entry{Interface: e.Interface, Prefix: s.prefix}) {
			m.log.Error(nil, "Removing a VIP removed another address of its subnet, not the agent's: turn promote_secondaries on for the interface",
				"address", e.Prefix, "interface", e.Interface, "removed", s.prefix, "sysctl", "net.ipv4.conf."+e.Interface+".promote_secondaries=1")
			continue
		}
		if err := m.rt.replaceAddr(link.Attrs().Index, s.prefix, s.left); err != nil {
			m.log.Error(err, "adding back a VIP that the removal of another took away; its next refresh tries again", "address", s.prefix, "interface", e.Interface, "removed", e.Prefix)
			continue
		}
		m.log.Info("Added back a VIP that the removal of another took away (promote_secondaries is off)", "address", s.prefix, "interface", e.Interface, "removed", e.Prefix)
	}
}

// prefixOf is a's address with its prefix length.
func prefixOf(a netlink.Addr) (netip.Prefix, bool) {
	if a.IPNet == nil {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(a.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := a.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), bits), true
}

// RemoveLeftovers removes every recorded address, as a restarted agent must before it joins, and
// returns those that were still there. Entries it fails to remove stay recorded.
func (m *Manager) RemoveLeftovers() ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var removed, kept []Entry
	var errs []error
	for _, e := range m.held {
		found, err := m.del(e)
		if err != nil {
			errs = append(errs, err)
			kept = append(kept, e)
			continue
		}
		if found {
			removed = append(removed, e)
			m.log.Info("Removed VIP left over by a previous run", "address", e.Prefix, "interface", e.Interface)
		}
	}
	m.held = kept
	if err := saveState(m.dir, m.held); err != nil {
		errs = append(errs, fmt.Errorf("removing leftover VIPs: %w", err))
	}
	return removed, errors.Join(errs...)
}

// del deletes e from the kernel and reports whether it was there.
func (m *Manager) del(e Entry) (bool, error) {
	link, err := m.nl.LinkByName(e.Interface)
	if errors.As(err, &netlink.LinkNotFoundError{}) {
		return false, nil // the address went with its interface
	}
	if err != nil {
		return false, fmt.Errorf("removing VIP %s from %s: %w", e.Prefix, e.Interface, err)
	}
	err = m.nl.AddrDel(link, nlAddr(e.Prefix))
	if errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("removing VIP %s from %s: %w", e.Prefix, e.Interface, err)
	}
	return true, nil
}

// present reports whether ip is on link with any prefix length.
func (m *Manager) present(link netlink.Link, ip netip.Addr) (bool, error) {
	found, err := m.rt.hasAddr(link.Attrs().Index, ip)
	if err != nil {
		return false, fmt.Errorf("listing addresses: %w", err)
	}
	return found, nil
}

func check(p netip.Prefix) error {
	if !p.IsValid() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		return fmt.Errorf("invalid prefix %q", p)
	}
	return nil
}

// nlAddr is p as netlink.Handle.AddrDel wants it.
func nlAddr(p netip.Prefix) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
}
