package sockets

import "net/netip"

// Protocol is the IP protocol number of VRRP (RFC 9568 §5.1.1.4, §5.1.2.4).
const Protocol = 112

// The VRRP multicast groups (RFC 9568 §5.1.1.2, §5.1.2.2).
var (
	GroupIPv4 = netip.MustParseAddr("224.0.0.18")
	GroupIPv6 = netip.MustParseAddr("ff02::12")
)

// Packet is one received VRRP message with the IP header fields the protocol checks.
type Packet struct {
	// Payload is the VRRP message, without IP header.
	Payload []byte
	// Src and Dst are the IP source and destination, without IPv6 zone (IfIndex tells the link).
	Src, Dst netip.Addr
	// TTL is the IPv4 TTL or IPv6 hop limit as received; RFC 9568 §7.1 accepts only 255.
	TTL int
	// IfIndex is the index of the interface the packet arrived on.
	IfIndex int
	// Own reports that Src is an address this socket has sent from in the last minute: the packet
	// is an echo of our own message (a looped-back multicast or a bridged loop), not a peer's.
	Own bool
}

// Conn sends and receives VRRP messages on one interface for one address family.
type Conn interface {
	// Receive reads the next packet into buf and returns it; Payload aliases buf.
	Receive(buf []byte) (Packet, error)
	// Send sends payload to dst (the group or a unicast peer) with src as IP source.
	Send(payload []byte, src, dst netip.Addr) error
	// Close releases the socket and unblocks Receive, which then returns net.ErrClosed.
	Close() error
}

// FromPeer reports whether src is one of peers, ignoring IPv6 zones and IPv4-mapped forms. A
// router in unicast mode accepts advertisements only from its configured peers (as keepalived's
// unicast_peer does) and counts the rest as dropped.
func FromPeer(src netip.Addr, peers []netip.Addr) bool {
	src = src.WithZone("").Unmap()
	for _, p := range peers {
		if p.WithZone("").Unmap() == src {
			return true
		}
	}
	return false
}
