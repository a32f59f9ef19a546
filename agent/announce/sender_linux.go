package announce

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// ErrClosed is returned by Announce after Close.
var ErrClosed = errors.New("announcer closed")

// Sender announces addresses on one Ethernet interface.
type Sender struct {
	ifi        *net.Interface
	link       *netlink.Handle // in the interface's namespace: reads its MAC at each announcement
	arp        *packet.Conn
	icmp       *ipv6.PacketConn
	forwarding *os.File // the interface's IPv6 forwarding sysctl, or nil without IPv6

	mu     sync.Mutex
	closed bool
}

var _ Announcer = (*Sender)(nil)

// New opens the sockets to announce addresses on interface ifname. It opens everything it needs
// now, in the network namespace of the calling thread, so that Announce may run anywhere. Announce
// reads the interface's MAC address each time: a bond that fails over with fail_over_mac, or an
// administrator, may change it in place, and announcing the old one would send clients to it.
func New(ifname string) (*Sender, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("looking up interface %s: %w", ifname, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("announcing on %s: not an Ethernet interface (hardware address %q)", ifname, ifi.HardwareAddr)
	}
	s := &Sender{ifi: ifi}
	if s.link, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
		return nil, fmt.Errorf("opening netlink for %s: %w", ifname, err)
	}
	// The sockets only send. Filters that let nothing in keep the link's ARP and ICMPv6 traffic
	// from queueing up in them.
	drop, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	if err != nil {
		return nil, fmt.Errorf("assembling ARP filter: %w", err)
	}
	if s.arp, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, &packet.Config{Filter: drop}); err != nil {
		s.link.Close()
		return nil, fmt.Errorf("opening ARP socket on %s: %w", ifname, err)
	}
	// The NA is built by ndp but sent on a socket of our own: ndp.Conn names the interface by
	// its name as IPv6 zone, which the process resolves in whatever namespace the sending thread
	// is in, and it binds to the link-local address, which may still be tentative. Unbound, the
	// socket lets the kernel pick the link-local source for each message, as RFC 4861 §7.2.6
	// allows any address of the interface; the kernel computes ICMPv6 checksums itself.
	c, err := net.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		_ = s.arp.Close()
		s.link.Close()
		return nil, fmt.Errorf("opening ICMPv6 socket on %s: %w", ifname, err)
	}
	s.icmp = ipv6.NewPacketConn(c)
	var none ipv6.ICMPFilter
	none.SetAll(true)
	if err := errors.Join(
		s.icmp.SetICMPFilter(&none),
		// Our own stack has nothing to learn from our advertisements.
		s.icmp.SetMulticastLoopback(false),
	); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("setting up ICMPv6 socket on %s: %w", ifname, err)
	}
	// Opened now for the namespace; read at each announcement, as forwarding can be switched on
	// at any time. Absent when IPv6 is off on the interface.
	s.forwarding, _ = os.Open("/proc/sys/net/ipv6/conf/" + ifname + "/forwarding")
	return s, nil
}

// Announce sends one gratuitous ARP request per IPv4 address and one unsolicited Neighbor
// Advertisement per IPv6 address. It announces every address it can and reports those it
// could not.
func (s *Sender) Announce(addrs []netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("announcing on %s: %w", s.ifi.Name, ErrClosed)
	}
	// The MAC as it is now; if it cannot be read, the one read last (an interface that is gone
	// fails the sends below, and the caller opens a new Sender).
	if l, err := s.link.LinkByIndex(s.ifi.Index); err == nil && len(l.Attrs().HardwareAddr) == 6 {
		s.ifi.HardwareAddr = l.Attrs().HardwareAddr
	}
	var errs []error
	for _, a := range addrs {
		var err error
		switch a = a.Unmap().WithZone(""); {
		case a.Is4():
			err = s.garp(a)
		case a.Is6():
			err = s.na(a)
		default:
			err = errors.New("not an IP address")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("announcing %s on %s: %w", a, s.ifi.Name, err))
		}
	}
	return errors.Join(errs...)
}

// garp sends the ARP Announcement of RFC 5227 §2.3 for ip.
func (s *Sender) garp(ip netip.Addr) error {
	zero := make(net.HardwareAddr, 6)
	p, err := arp.NewPacket(arp.OperationRequest, s.ifi.HardwareAddr, ip, zero, ip)
	if err != nil {
		return err
	}
	pb, err := p.MarshalBinary()
	if err != nil {
		return err
	}
	f := &ethernet.Frame{
		Destination: ethernet.Broadcast,
		Source:      s.ifi.HardwareAddr,
		EtherType:   ethernet.EtherTypeARP,
		Payload:     pb,
	}
	fb, err := f.MarshalBinary()
	if err != nil {
		return err
	}
	_, err = s.arp.WriteTo(fb, &packet.Addr{HardwareAddr: ethernet.Broadcast})
	return err
}

// na sends the unsolicited Neighbor Advertisement of RFC 4861 §7.2.6 for ip.
func (s *Sender) na(ip netip.Addr) error {
	m := &ndp.NeighborAdvertisement{
		Router:        s.routes(),
		Override:      true,
		TargetAddress: ip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: s.ifi.HardwareAddr}},
	}
	b, err := ndp.MarshalMessage(m)
	if err != nil {
		return err
	}
	// No source: the kernel takes the interface's link-local address. Hop limit 255, or
	// receivers drop the message (RFC 4861 §7.1.2).
	cm := &ipv6.ControlMessage{HopLimit: ndp.HopLimit, IfIndex: s.ifi.Index}
	_, err = s.icmp.WriteTo(b, cm, &net.IPAddr{IP: net.IPv6linklocalallnodes})
	return err
}

// routes reports whether the interface forwards IPv6, which makes the node a router that sets
// the Router flag (RFC 4861 §4.4).
func (s *Sender) routes() bool {
	if s.forwarding == nil {
		return false
	}
	b := make([]byte, 8)
	n, _ := s.forwarding.ReadAt(b, 0)
	return bytes.Equal(bytes.TrimSpace(b[:n]), []byte("1"))
}

// Close closes the sockets; Announce fails afterwards.
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.link.Close()
	errs := []error{s.arp.Close(), s.icmp.Close()}
	if s.forwarding != nil {
		errs = append(errs, s.forwarding.Close())
	}
	return errors.Join(errs...)
}
