package sockets

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// ttl is the only TTL and hop limit VRRP sends with and accepts (RFC 9568 §5.1.1.3, §5.1.2.3).
const ttl = 255

// ErrFamily is returned by Send for an address of the other family than the socket's.
var ErrFamily = errors.New("address family does not match the socket")

// RawConn is a raw IP protocol 112 socket bound to one interface, for IPv4 or IPv6.
type RawConn struct {
	ifi *net.Interface
	pc  net.PacketConn
	p4  *ipv4.PacketConn // exactly one of p4 and p6 is set
	p6  *ipv6.PacketConn

	mu   sync.Mutex
	sent map[netip.Addr]struct{} // sources Send used, to recognise our own echo
}

var _ Conn = (*RawConn)(nil)

// Listen opens the VRRP socket of interface ifname for IPv6 if v6, else for IPv4, in the network
// namespace of the calling thread. The RawConn names its interface by index only, so it may be
// used from any goroutine afterwards.
func Listen(ifname string, v6 bool) (*RawConn, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("looking up interface %s: %w", ifname, err)
	}
	network, laddr := "ip4:112", "0.0.0.0"
	if v6 {
		network, laddr = "ip6:112", "::"
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			// Bound to the device, the socket hears nothing from other interfaces: without this a
			// socket that joined the group on one interface also receives the group's packets from
			// every other interface where anyone joined it (IP_MULTICAST_ALL defaults to on).
			serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname)
		})
		return errors.Join(err, serr)
	}}
	pc, err := lc.ListenPacket(context.Background(), network, laddr)
	if err != nil {
		return nil, fmt.Errorf("opening VRRP socket on %s: %w", ifname, err)
	}
	c := &RawConn{ifi: ifi, pc: pc, sent: make(map[netip.Addr]struct{})}
	if v6 {
		err = c.setup6()
	} else {
		err = c.setup4()
	}
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("setting up VRRP socket on %s: %w", ifname, err)
	}
	return c, nil
}

func (c *RawConn) setup4() error {
	p := ipv4.NewPacketConn(c.pc)
	c.p4 = p
	// RFC 9568 §5.1.1.3: TTL 255 for multicast and, in unicast mode, for unicast too.
	if err := p.SetTTL(ttl); err != nil {
		return fmt.Errorf("setting TTL: %w", err)
	}
	if err := p.SetMulticastTTL(ttl); err != nil {
		return fmt.Errorf("setting multicast TTL: %w", err)
	}
	if err := p.SetMulticastInterface(c.ifi); err != nil {
		return fmt.Errorf("setting multicast interface: %w", err)
	}
	// Our own advertisements must not come back to us as if a peer had sent them.
	if err := p.SetMulticastLoopback(false); err != nil {
		return fmt.Errorf("turning multicast loopback off: %w", err)
	}
	if err := p.JoinGroup(c.ifi, &net.IPAddr{IP: GroupIPv4.AsSlice()}); err != nil {
		return fmt.Errorf("joining %s: %w", GroupIPv4, err)
	}
	// TTL for RFC 9568 §7.1; destination and interface from IP_PKTINFO.
	if err := p.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true); err != nil {
		return fmt.Errorf("asking for control messages: %w", err)
	}
	return nil
}

func (c *RawConn) setup6() error {
	p := ipv6.NewPacketConn(c.pc)
	c.p6 = p
	// Off is Linux's default for raw sockets other than ICMPv6; make sure. Were it on with the VRRP
	// checksum offset (6), the kernel would drop packets with a bad checksum before the codec
	// could count them (RFC 9568 §5.2.8 is the codec's job).
	if err := p.SetChecksum(false, 0); err != nil {
		return fmt.Errorf("turning kernel checksums off: %w", err)
	}
	off, err := checksumOffset(c.pc)
	if err != nil {
		return fmt.Errorf("reading kernel checksum offset: %w", err)
	}
	if off != -1 {
		return fmt.Errorf("kernel checksum offset is %d after turning it off", off)
	}
	// RFC 9568 §5.1.2.3: hop limit 255 for multicast and, in unicast mode, for unicast too.
	if err := p.SetHopLimit(ttl); err != nil {
		return fmt.Errorf("setting hop limit: %w", err)
	}
	if err := p.SetMulticastHopLimit(ttl); err != nil {
		return fmt.Errorf("setting multicast hop limit: %w", err)
	}
	if err := p.SetMulticastInterface(c.ifi); err != nil {
		return fmt.Errorf("setting multicast interface: %w", err)
	}
	if err := p.SetMulticastLoopback(false); err != nil {
		return fmt.Errorf("turning multicast loopback off: %w", err)
	}
	if err := p.JoinGroup(c.ifi, &net.IPAddr{IP: GroupIPv6.AsSlice()}); err != nil {
		return fmt.Errorf("joining %s: %w", GroupIPv6, err)
	}
	if err := p.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true); err != nil {
		return fmt.Errorf("asking for control messages: %w", err)
	}
	return nil
}

// Interface returns the interface the socket is bound to.
func (c *RawConn) Interface() *net.Interface { return c.ifi }

// Receive reads the next VRRP message into buf. A message longer than buf is cut to its length.
func (c *RawConn) Receive(buf []byte) (Packet, error) {
	for {
		p, err := c.read(buf)
		if err != nil {
			return Packet{}, fmt.Errorf("receiving VRRP on %s: %w", c.ifi.Name, err)
		}
		// Only packets that arrived between socket(2) and SO_BINDTODEVICE can come from another
		// interface; drop them rather than hand a router a foreign packet.
		if p.IfIndex != c.ifi.Index {
			continue
		}
		c.mu.Lock()
		_, p.Own = c.sent[p.Src]
		c.mu.Unlock()
		return p, nil
	}
}

func (c *RawConn) read(buf []byte) (Packet, error) {
	var (
		p   Packet
		n   int
		src net.Addr
		err error
	)
	if c.p4 != nil {
		var cm *ipv4.ControlMessage
		n, cm, src, err = c.p4.ReadFrom(buf)
		if err != nil {
			return p, err
		}
		if cm != nil {
			p.TTL, p.IfIndex, p.Dst = cm.TTL, cm.IfIndex, addr(cm.Dst)
		}
	} else {
		var cm *ipv6.ControlMessage
		n, cm, src, err = c.p6.ReadFrom(buf)
		if err != nil {
			return p, err
		}
		if cm != nil {
			p.TTL, p.IfIndex, p.Dst = cm.HopLimit, cm.IfIndex, addr(cm.Dst)
		}
	}
	if ia, ok := src.(*net.IPAddr); ok {
		p.Src = addr(ia.IP)
	}
	p.Payload = buf[:n]
	return p, nil
}

// Send sends payload to dst with src as IP source. An invalid src lets the kernel choose, which
// VRRP never wants for IPv4 (the checksum covers the source) and gets right for IPv6 multicast.
func (c *RawConn) Send(payload []byte, src, dst netip.Addr) error {
	src, dst = src.Unmap(), dst.Unmap()
	if dst.Is6() != (c.p6 != nil) || src.IsValid() && src.Is6() != dst.Is6() {
		return fmt.Errorf("sending VRRP from %s to %s on %s: %w", src, dst, c.ifi.Name, ErrFamily)
	}
	if src.IsValid() {
		c.mu.Lock()
		c.sent[src.WithZone("")] = struct{}{}
		c.mu.Unlock()
	}
	to := &net.IPAddr{IP: dst.AsSlice()}
	var err error
	if c.p4 != nil {
		// IP_PKTINFO: ipi_spec_dst becomes the IP source of a raw IPv4 packet.
		cm := &ipv4.ControlMessage{IfIndex: c.ifi.Index}
		if src.IsValid() {
			cm.Src = src.AsSlice()
		}
		_, err = c.p4.WriteTo(payload, cm, to)
	} else {
		cm := &ipv6.ControlMessage{HopLimit: ttl, IfIndex: c.ifi.Index}
		if src.IsValid() {
			cm.Src = src.AsSlice()
		}
		_, err = c.p6.WriteTo(payload, cm, to)
	}
	if err != nil {
		return fmt.Errorf("sending VRRP from %s to %s on %s: %w", src, dst, c.ifi.Name, err)
	}
	return nil
}

// SetReadDeadline makes Receive fail with os.ErrDeadlineExceeded after t; zero means never.
func (c *RawConn) SetReadDeadline(t time.Time) error { return c.pc.SetReadDeadline(t) }

// Close closes the socket; a blocked Receive returns an error wrapping net.ErrClosed.
func (c *RawConn) Close() error { return c.pc.Close() }

// checksumOffset reads IPV6_CHECKSUM: -1 when the kernel leaves checksums alone. It reads the
// option itself because ipv6.PacketConn.Checksum misreads -1 as an offset of 4294967295.
func checksumOffset(pc net.PacketConn) (int, error) {
	sc, ok := pc.(syscall.Conn)
	if !ok {
		return 0, fmt.Errorf("%T has no file descriptor", pc)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var (
		off  int
		gerr error
	)
	if err := rc.Control(func(fd uintptr) {
		off, gerr = unix.GetsockoptInt(int(fd), unix.SOL_RAW, unix.IPV6_CHECKSUM)
	}); err != nil {
		return 0, err
	}
	return off, gerr
}

// addr converts a net.IP to a netip.Addr with IPv4 in its 4-byte form; nil becomes the zero Addr.
func addr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}
