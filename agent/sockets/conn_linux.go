package sockets

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// ttl is the only TTL and hop limit VRRP sends with and accepts (RFC 9568 §5.1.1.3, §5.1.2.3).
const ttl = 255

// ErrFamily is returned by Send for an address of the other family than the socket's.
var ErrFamily = errors.New("address family does not match the socket")

// ownEchoMemory is how long a source Send used marks received packets as our own echo.
const ownEchoMemory = time.Minute

// RawConn is a raw IP protocol 112 socket bound to one interface, for IPv4 or IPv6.
type RawConn struct {
	ifi *net.Interface
	pc  net.PacketConn
	p4  *ipv4.PacketConn // exactly one of p4 and p6 is set
	p6  *ipv6.PacketConn

	mu   sync.Mutex
	sent map[netip.Addr]time.Time // sources Send used, and when last: to recognise our own echo
	now  func() time.Time

	// Receive and Send make their system calls themselves, on messages kept from call to call:
	// a Backup of 250 routers at 100 ms hears 2,500 adverts a second, and ipv4.PacketConn's
	// ReadFrom costs a getsockopt (SO_PROTOCOL, to tell the source address's kind) and five
	// allocations per packet, its WriteTo as many per advert sent.
	rc   syscall.RawConn
	rmu  sync.Mutex // one Receive at a time owns rmsg
	rmsg msg
	wmu  sync.Mutex // one Send at a time owns wmsg
	wmsg msg
}

// msg is one recvmsg or sendmsg call, ready to make: fn is made once so that handing it to the
// RawConn allocates nothing.
type msg struct {
	hdr   unix.Msghdr
	iov   unix.Iovec
	name  unix.RawSockaddrAny
	oob   [128]byte
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

// call makes the system call trap on fd with m.hdr. A call that would block reports false, for
// the RawConn to wait until the socket is ready.
//
// The call never waits (MSG_DONTWAIT, whatever the descriptor's flags), so it is made raw, without
// telling the scheduler. Through unix.Syscall, the scheduler woke its monitor thread (sysmon) from
// its deep sleep for every advert an idle agent sent or received, and the monitor spun before it
// slept again: 29 % of a Backup's CPU with 250 routers (issue 12). The price: while the kernel
// works on the call (a send runs the receive path of the local bridge, microseconds), the
// goroutine's P is not handed off and a stop of the world waits for it.
func (m *msg) call(trap uintptr, fd uintptr) bool {
	for {
		n, _, errno := unix.RawSyscall(trap, fd, uintptr(unsafe.Pointer(&m.hdr)), unix.MSG_DONTWAIT)
		if errno == unix.EINTR {
			continue
		}
		if errno == unix.EAGAIN {
			return false
		}
		m.n, m.errno = int(n), errno
		return true
	}
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
			setReceiveBuffer(int(fd))
		})
		return errors.Join(err, serr)
	}}
	pc, err := lc.ListenPacket(context.Background(), network, laddr)
	if err != nil {
		return nil, fmt.Errorf("opening VRRP socket on %s: %w", ifname, err)
	}
	c := &RawConn{ifi: ifi, pc: pc, sent: make(map[netip.Addr]time.Time), now: time.Now}
	sc, ok := pc.(syscall.Conn)
	if !ok {
		_ = pc.Close()
		return nil, fmt.Errorf("opening VRRP socket on %s: %T has no file descriptor", ifname, pc)
	}
	if c.rc, err = sc.SyscallConn(); err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("opening VRRP socket on %s: %w", ifname, err)
	}
	c.rmsg.fn = func(fd uintptr) bool { return c.rmsg.call(unix.SYS_RECVMSG, fd) }
	c.wmsg.fn = func(fd uintptr) bool { return c.wmsg.call(unix.SYS_SENDMSG, fd) }
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

// ReceiveBuffer is the receive buffer the VRRP socket asks for. A node's Masters advertise in
// bursts (vrrp's Adver_Timer slots), so a Backup may get an advert of each of the 255 VRIDs at
// once while its reader waits for a CPU. The default (net.core.rmem_default, 208 KiB) held 167
// IPv6 adverts of 16 addresses on a veth, 1.3 KB each; a NIC's driver may charge a page or more
// per packet. The kernel doubles the size asked for, for its bookkeeping.
const ReceiveBuffer = 2 << 20

// setReceiveBuffer asks for ReceiveBuffer past net.core.rmem_max with SO_RCVBUFFORCE, as the
// agent has CAP_NET_ADMIN, and within it with SO_RCVBUF otherwise. It is best effort: the socket
// works with any buffer, and the caller reads what it got (RawConn.ReceiveBuffer).
func setReceiveBuffer(fd int) {
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, ReceiveBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, ReceiveBuffer)
	}
}

// ReceiveBuffer reports the socket's receive buffer in bytes, as the kernel accounts it (twice
// what was asked for), or 0 when it cannot be read.
func (c *RawConn) ReceiveBuffer() int {
	n := 0
	_ = c.rc.Control(func(fd uintptr) {
		n, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	})
	return n
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
		if at, ok := c.sent[p.Src]; ok {
			// An echo comes back within milliseconds. A source not sent from for ownEchoMemory is
			// ours no longer: the node was renumbered, and a peer may hold that address now.
			if p.Own = c.now().Sub(at) < ownEchoMemory; !p.Own {
				delete(c.sent, p.Src)
			}
		}
		c.mu.Unlock()
		return p, nil
	}
}

// read receives one packet with recvmsg on c.rmsg: the source from the socket address, the
// destination and interface from IP_PKTINFO or IPV6_PKTINFO, the TTL from IP_TTL or
// IPV6_HOPLIMIT, as setup4 and setup6 asked for them.
func (c *RawConn) read(buf []byte) (Packet, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	m := &c.rmsg
	m.name = unix.RawSockaddrAny{}
	m.hdr.Name, m.hdr.Namelen = (*byte)(unsafe.Pointer(&m.name)), unix.SizeofSockaddrAny
	m.hdr.Control = &m.oob[0]
	m.hdr.SetControllen(len(m.oob))
	m.hdr.Flags = 0
	m.iov.Base = unsafe.SliceData(buf)
	m.iov.SetLen(len(buf))
	m.hdr.Iov = &m.iov
	m.hdr.Iovlen = 1
	if err := c.rc.Read(m.fn); err != nil {
		return Packet{}, err
	}
	m.iov.Base = nil // buf is the caller's again
	if m.errno != 0 {
		return Packet{}, os.NewSyscallError("recvmsg", m.errno)
	}
	p := Packet{Payload: buf[:min(m.n, len(buf))]}
	if c.p4 != nil {
		// A raw IPv4 socket reads the IP header too. The kernel never delivers less; were it to,
		// the packet would go with the foreign ones (IfIndex 0).
		if len(p.Payload) < ipv4.HeaderLen || len(p.Payload) < int(p.Payload[0]&0x0f)<<2 {
			return Packet{}, nil
		}
		p.Payload = p.Payload[int(p.Payload[0]&0x0f)<<2:]
	}
	switch m.name.Addr.Family {
	case unix.AF_INET:
		p.Src = netip.AddrFrom4((*unix.RawSockaddrInet4)(unsafe.Pointer(&m.name)).Addr)
	case unix.AF_INET6:
		p.Src = netip.AddrFrom16((*unix.RawSockaddrInet6)(unsafe.Pointer(&m.name)).Addr).Unmap()
	}
	oob := m.oob[:m.hdr.Controllen]
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		if h.Len < unix.SizeofCmsghdr || int(h.Len) > len(oob) {
			break
		}
		data := oob[unix.CmsgLen(0):h.Len]
		switch {
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_TTL && len(data) >= 4,
			h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_HOPLIMIT && len(data) >= 4:
			p.TTL = int(*(*int32)(unsafe.Pointer(&data[0])))
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
			p.IfIndex, p.Dst = int(pi.Ifindex), netip.AddrFrom4(pi.Addr)
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			p.IfIndex, p.Dst = int(pi.Ifindex), netip.AddrFrom16(pi.Addr).Unmap()
		}
		oob = oob[min(unix.CmsgSpace(int(h.Len)-unix.CmsgLen(0)), len(oob)):]
	}
	return p, nil
}

// Send sends payload to dst with src as IP source. An invalid src lets the kernel choose, which
// VRRP never wants for IPv4 (the checksum covers the source) and gets right for IPv6 multicast.
// The source goes in IP_PKTINFO's ipi_spec_dst (it becomes the IP source of a raw IPv4 packet)
// or IPV6_PKTINFO, with the interface; IPv6 also sets IPV6_HOPLIMIT to 255.
func (c *RawConn) Send(payload []byte, src, dst netip.Addr) error {
	src, dst = src.Unmap(), dst.Unmap()
	if dst.Is6() != (c.p6 != nil) || src.IsValid() && src.Is6() != dst.Is6() {
		return fmt.Errorf("sending VRRP from %s to %s on %s: %w", src, dst, c.ifi.Name, ErrFamily)
	}
	if src.IsValid() {
		c.mu.Lock()
		c.sent[src.WithZone("")] = c.now()
		c.mu.Unlock()
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	m := &c.wmsg
	m.name = unix.RawSockaddrAny{}
	var oob []byte
	if c.p4 != nil {
		to := (*unix.RawSockaddrInet4)(unsafe.Pointer(&m.name))
		to.Family, to.Addr = unix.AF_INET, dst.As4()
		m.hdr.Namelen = unix.SizeofSockaddrInet4
		pi := unix.Inet4Pktinfo{Ifindex: int32(c.ifi.Index)}
		if src.IsValid() {
			pi.Spec_dst = src.As4()
		}
		oob = appendCmsg(m.oob[:0], unix.IPPROTO_IP, unix.IP_PKTINFO, unsafe.Slice((*byte)(unsafe.Pointer(&pi)), unix.SizeofInet4Pktinfo))
	} else {
		to := (*unix.RawSockaddrInet6)(unsafe.Pointer(&m.name))
		to.Family, to.Addr = unix.AF_INET6, dst.As16()
		m.hdr.Namelen = unix.SizeofSockaddrInet6
		hops := int32(ttl)
		oob = appendCmsg(m.oob[:0], unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT, unsafe.Slice((*byte)(unsafe.Pointer(&hops)), 4))
		pi := unix.Inet6Pktinfo{Ifindex: uint32(c.ifi.Index)}
		if src.IsValid() {
			pi.Addr = src.As16()
		}
		oob = appendCmsg(oob, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, unsafe.Slice((*byte)(unsafe.Pointer(&pi)), unix.SizeofInet6Pktinfo))
	}
	m.hdr.Name = (*byte)(unsafe.Pointer(&m.name))
	m.hdr.Control = &m.oob[0]
	m.hdr.SetControllen(len(oob))
	m.hdr.Flags = 0
	m.iov.Base = unsafe.SliceData(payload)
	m.iov.SetLen(len(payload))
	m.hdr.Iov = &m.iov
	m.hdr.Iovlen = 1
	err := c.rc.Write(m.fn)
	m.iov.Base = nil // payload is the caller's again
	if err == nil && m.errno != 0 {
		err = os.NewSyscallError("sendmsg", m.errno)
	}
	if err != nil {
		return fmt.Errorf("sending VRRP from %s to %s on %s: %w", src, dst, c.ifi.Name, err)
	}
	return nil
}

// appendCmsg appends one control message to b, which has room for it (msg.oob).
func appendCmsg(b []byte, level, typ int32, data []byte) []byte {
	start := len(b)
	b = b[:start+unix.CmsgSpace(len(data))]
	clear(b[start:])
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[start]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[start+unix.CmsgLen(0):], data)
	return b
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
