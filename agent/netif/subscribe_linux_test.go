package netif

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// attr is one route attribute as the kernel writes it: length, type, value, padding to 4 bytes.
func attr(typ uint16, value []byte) []byte {
	b := binary.NativeEndian.AppendUint16(nil, uint16(unix.SizeofRtAttr+len(value)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, value...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// ifaddrmsg is the head of an address message: family, prefix length, flags, scope, index.
func ifaddrmsg(family, bits, flags byte, index uint32, attrs ...[]byte) []byte {
	b := binary.NativeEndian.AppendUint32([]byte{family, bits, flags, 0}, index)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

func TestAddrNote(t *testing.T) {
	v4 := func(s string) []byte { a := netip.MustParseAddr(s).As4(); return a[:] }
	v6 := func(s string) []byte { a := netip.MustParseAddr(s).As16(); return a[:] }
	flags32 := binary.NativeEndian.AppendUint32(nil, unix.IFA_F_SECONDARY|unix.IFA_F_NOPREFIXROUTE)
	tests := map[string]struct {
		msg    []byte
		index  int
		prefix string
		flags  int
		ok     bool
	}{
		"an IPv4 address gives its local address and prefix length": {
			msg:   ifaddrmsg(unix.AF_INET, 24, 0, 7, attr(unix.IFA_ADDRESS, v4("198.51.100.1")), attr(unix.IFA_LOCAL, v4("198.51.100.1"))),
			index: 7, prefix: "198.51.100.1/24", ok: true,
		},
		"a point-to-point address is its local one, not the peer's": {
			msg:   ifaddrmsg(unix.AF_INET, 32, 0, 3, attr(unix.IFA_ADDRESS, v4("203.0.113.9")), attr(unix.IFA_LOCAL, v4("198.51.100.2"))),
			index: 3, prefix: "198.51.100.2/32", ok: true,
		},
		"an IPv6 address comes as IFA_ADDRESS alone": {
			msg:   ifaddrmsg(unix.AF_INET6, 64, unix.IFA_F_NODAD, 2, attr(unix.IFA_ADDRESS, v6("2001:db8::1"))),
			index: 2, prefix: "2001:db8::1/64", flags: unix.IFA_F_NODAD, ok: true,
		},
		"IFA_FLAGS replaces the header's 8 bits of flags": {
			msg:   ifaddrmsg(unix.AF_INET, 24, unix.IFA_F_PERMANENT, 7, attr(unix.IFA_LOCAL, v4("198.51.100.3")), attr(unix.IFA_FLAGS, flags32)),
			index: 7, prefix: "198.51.100.3/24", flags: unix.IFA_F_SECONDARY | unix.IFA_F_NOPREFIXROUTE, ok: true,
		},
		"a message without an address is not ok but keeps its index": {
			msg:   ifaddrmsg(unix.AF_INET, 24, 0, 5),
			index: 5, ok: false,
		},
		"an attribute longer than the message is not read": {
			msg:   append(ifaddrmsg(unix.AF_INET, 24, 0, 5), 0xff, 0x00, unix.IFA_LOCAL, 0, 198, 51),
			index: 5, ok: false,
		},
		"a message shorter than its header is not ok": {
			msg: []byte{unix.AF_INET, 24, 0},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			index, p, flags, ok := addrNote(tc.msg)
			want := netip.Prefix{}
			if tc.prefix != "" {
				want = netip.MustParsePrefix(tc.prefix)
			}
			if index != tc.index || p != want || flags != tc.flags || ok != tc.ok {
				t.Errorf("addrNote = %d, %s, %#x, %v; want %d, %s, %#x, %v", index, p, flags, ok, tc.index, want, tc.flags, tc.ok)
			}
		})
	}
}

func TestLinkNote(t *testing.T) {
	ifinfomsg := func(index int32, attrs ...[]byte) []byte {
		b := binary.NativeEndian.AppendUint32([]byte{unix.AF_UNSPEC, 0, 0, 0}, uint32(index))
		b = append(b, make([]byte, 8)...) // flags, change
		for _, a := range attrs {
			b = append(b, a...)
		}
		return b
	}
	nested := attr(unix.IFLA_IFNAME|unix.NLA_F_NESTED, []byte("eth1\x00"))
	byteOrder := attr(unix.IFLA_IFNAME|unix.NLA_F_NET_BYTEORDER, []byte("eth2\x00"))
	tests := map[string]struct {
		msg   []byte
		index int
		name  string
		ok    bool
	}{
		"the name comes without its NUL":                {msg: ifinfomsg(4, attr(unix.IFLA_MTU, []byte{0xdc, 5, 0, 0}), attr(unix.IFLA_IFNAME, []byte("eth0\x00"))), index: 4, name: "eth0", ok: true},
		"a type with NLA_F_NESTED is still read":        {msg: ifinfomsg(9, nested), index: 9, name: "eth1", ok: true},
		"a type with NLA_F_NET_BYTEORDER is still read": {msg: ifinfomsg(8, byteOrder), index: 8, name: "eth2", ok: true},
		"a message without a name has its index":        {msg: ifinfomsg(2), index: 2, ok: true},
		"a message shorter than its header":             {msg: []byte{0, 0, 0, 0, 1}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			index, got, ok := linkNote(tc.msg)
			if index != tc.index || got != tc.name || ok != tc.ok {
				t.Errorf("linkNote = %d, %q, %v; want %d, %q, %v", index, got, ok, tc.index, tc.name, tc.ok)
			}
		})
	}
}

func TestEachMessage(t *testing.T) {
	msg := func(typ uint16, body ...byte) []byte {
		b := binary.NativeEndian.AppendUint32(nil, uint32(unix.NLMSG_HDRLEN+len(body)))
		b = binary.NativeEndian.AppendUint16(b, typ)
		b = append(b, make([]byte, 10)...) // flags, seq, pid
		b = append(b, body...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	type seen struct {
		typ uint16
		n   int
	}
	tests := map[string]struct {
		datagram []byte
		want     []seen
	}{
		"two messages, the first padded, the last not": {datagram: append(msg(unix.RTM_NEWADDR, 1, 2, 3), msg(unix.RTM_DELLINK, 4)[:unix.NLMSG_HDRLEN+1]...),
			want: []seen{{unix.RTM_NEWADDR, 3}, {unix.RTM_DELLINK, 1}}},
		"a length past the datagram is type 0, and ends it": {datagram: append(append(msg(unix.RTM_NEWLINK), 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), msg(unix.RTM_NEWADDR)...),
			want: []seen{{unix.RTM_NEWLINK, 0}, {0, 0}}},
		"a length shorter than the header is type 0, and ends it": {datagram: append(make([]byte, unix.NLMSG_HDRLEN), msg(unix.RTM_NEWADDR)...),
			want: []seen{{0, 0}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got []seen
			eachMessage(tc.datagram, func(typ uint16, m []byte) { got = append(got, seen{typ, len(m)}) })
			if len(got) != len(tc.want) {
				t.Fatalf("messages %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("messages %v, want %v", got, tc.want)
				}
			}
		})
	}
}
