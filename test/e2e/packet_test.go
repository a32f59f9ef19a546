package e2e

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// advert is a VRRP advertisement as the tests forge it. The encoder is the test's own, written
// from RFC 3768 §5.3 and RFC 9568 §5.2, so that the agent's codec is not checked against itself.
type advert struct {
	version  uint8
	typ      uint8 // 0: 1, ADVERTISEMENT
	vrid     uint8
	priority uint8
	count    int    // the address count field; -1: len(addrs)
	interval uint16 // VRRPv2 seconds, VRRPv3 centiseconds
	authType uint8  // VRRPv2: 0 none, 1 PASS
	password string
	addrs    []netip.Addr
}

// encode returns the advert's bytes with a correct checksum for src and dst: RFC 3768's over the
// message for version 2; for version 3 with the pseudo-header, as keepalived sends it over IPv4
// and RFC 9568 §5.2.8 requires over IPv6.
func (a advert) encode(src, dst netip.Addr) []byte {
	typ := a.typ
	if typ == 0 {
		typ = 1
	}
	count := a.count
	if count < 0 {
		count = len(a.addrs)
	}
	b := []byte{a.version<<4 | typ, a.vrid, a.priority, byte(count)}
	if a.version == 2 {
		b = append(b, a.authType, byte(a.interval), 0, 0)
	} else {
		b = append(b, byte(a.interval>>8)&0x0f, byte(a.interval), 0, 0)
	}
	for _, x := range a.addrs {
		b = append(b, x.AsSlice()...)
	}
	if a.version == 2 {
		var auth [8]byte
		copy(auth[:], a.password)
		b = append(b, auth[:]...)
	}
	var pseudo []byte
	if a.version == 3 {
		pseudo = append(append(pseudo, src.AsSlice()...), dst.AsSlice()...)
		if src.Is4() {
			pseudo = append(pseudo, 0, 112, byte(len(b)>>8), byte(len(b)))
		} else {
			pseudo = binary.BigEndian.AppendUint32(pseudo, uint32(len(b)))
			pseudo = append(pseudo, 0, 0, 0, 112)
		}
	}
	binary.BigEndian.PutUint16(b[6:8], ^onesSum(append(pseudo, b...)))
	return b
}

// onesSum is the 16-bit one's complement sum of RFC 1071.
func onesSum(b []byte) uint16 {
	var acc uint32
	for i := 0; i+1 < len(b); i += 2 {
		acc += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		acc += uint32(b[len(b)-1]) << 8
	}
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}

// sendVRRP sends payload as IP protocol 112 from src to dst with the given TTL or hop limit, out of
// n's interface. The socket is opened and used inside n's namespace.
func sendVRRP(n *node, src, dst netip.Addr, ttl int, payload []byte) error {
	return n.Do(func() error {
		ifi, err := net.InterfaceByName(n.Link)
		if err != nil {
			return fmt.Errorf("looking up %s: %w", n.Link, err)
		}
		to := &net.IPAddr{IP: dst.AsSlice()}
		if src.Is4() {
			c, err := net.ListenPacket("ip4:112", src.String())
			if err != nil {
				return fmt.Errorf("opening a raw socket on %s: %w", src, err)
			}
			defer c.Close()
			p := ipv4.NewPacketConn(c)
			if err := p.SetMulticastInterface(ifi); err != nil {
				return fmt.Errorf("setting the multicast interface: %w", err)
			}
			if err := p.SetMulticastTTL(ttl); err != nil {
				return fmt.Errorf("setting the multicast TTL: %w", err)
			}
			if err := p.SetTTL(ttl); err != nil {
				return fmt.Errorf("setting the TTL: %w", err)
			}
			_, err = p.WriteTo(payload, nil, to)
			return err
		}
		c, err := net.ListenPacket("ip6:112", src.WithZone(n.Link).String())
		if err != nil {
			return fmt.Errorf("opening a raw socket on %s: %w", src, err)
		}
		defer c.Close()
		p := ipv6.NewPacketConn(c)
		if err := p.SetMulticastInterface(ifi); err != nil {
			return fmt.Errorf("setting the multicast interface: %w", err)
		}
		if err := p.SetMulticastHopLimit(ttl); err != nil {
			return fmt.Errorf("setting the multicast hop limit: %w", err)
		}
		if err := p.SetHopLimit(ttl); err != nil {
			return fmt.Errorf("setting the hop limit: %w", err)
		}
		to.Zone = n.Link
		_, err = p.WriteTo(payload, nil, to)
		return err
	})
}

// linkLocal returns the node's IPv6 link-local address.
func (n *node) linkLocal() (netip.Addr, error) {
	var ll netip.Addr
	err := n.Do(func() error {
		ifi, err := net.InterfaceByName(n.Link)
		if err != nil {
			return err
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.IsLinkLocalUnicast() {
				ll, _ = netip.AddrFromSlice(ipn.IP)
				return nil
			}
		}
		return fmt.Errorf("no link-local address on %s", n.Link)
	})
	return ll, err
}
