package announce

import "net/netip"

// Announcer announces addresses on one interface.
type Announcer interface {
	// Announce sends one gratuitous ARP or unsolicited NA for each address, IPv4 or IPv6.
	Announce(addrs []netip.Addr) error
	Close() error
}
