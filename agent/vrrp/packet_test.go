package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Checksum conventions for building test packets by hand.
const (
	sumPlain       = iota // over the message only: v2, RFC 9568 v3 IPv4
	sumPseudo             // with the pseudo-header: v3 IPv6, keepalived v3 IPv4
	sumPseudoMcast        // with 224.0.0.18 in the pseudo-header: old keepalived unicast
	sumWrong              // a checksum off by one
)

var (
	src4  = netip.MustParseAddr("198.51.100.1")
	peer4 = netip.MustParseAddr("198.51.100.2")
	src6  = netip.MustParseAddr("fe80::1")
	peer6 = netip.MustParseAddr("fe80::2")
)

// msg decodes hex and fills in its checksum by the given convention.
func msg(t testing.TB, h string, conv int, src, dst netip.Addr) []byte {
	t.Helper()
	b := mustHex(t, h)
	if len(b) < 8 {
		return b
	}
	b[6], b[7] = 0, 0
	acc := sum(0, b)
	switch conv {
	case sumPseudo:
		acc += pseudoHeaderSum(src, dst, len(b))
	case sumPseudoMcast:
		acc += pseudoHeaderSum(src, MulticastIPv4, len(b))
	}
	c := ^fold(acc)
	if conv == sumWrong {
		c++
	}
	binary.BigEndian.PutUint16(b[6:], c)
	return b
}

func TestDecodeAcceptsTheChecksumConventionsInTheWild(t *testing.T) {
	const v3 = "31340101" + "00640000" + "c63364fd"
	tests := map[string]struct {
		conv     int
		dst      netip.Addr
		accepted bool
	}{
		"v3 IPv4 without pseudo-header (RFC 9568 §5.2.8) is accepted":                       {conv: sumPlain, dst: MulticastIPv4, accepted: true},
		"v3 IPv4 with the pseudo-header (keepalived's default) is accepted":                 {conv: sumPseudo, dst: MulticastIPv4, accepted: true},
		"v3 IPv4 unicast with the pseudo-header of its real destination is accepted":        {conv: sumPseudo, dst: peer4, accepted: true},
		"v3 IPv4 unicast with 224.0.0.18 in the pseudo-header (old keepalived) is accepted": {conv: sumPseudoMcast, dst: peer4, accepted: true},
		"v3 IPv4 with a checksum wrong in every convention is rejected":                     {conv: sumWrong, dst: MulticastIPv4},
		"v3 IPv4 unicast with a checksum wrong in every convention is rejected":             {conv: sumWrong, dst: peer4},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(msg(t, v3, tc.conv, src4, tc.dst), src4, tc.dst, TTL)
			if tc.accepted && err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !tc.accepted && !errors.Is(err, ErrChecksum) {
				t.Fatalf("Decode error = %v, want ErrChecksum", err)
			}
		})
	}
}

func TestDecodeRejectsEachClassWithItsSentinel(t *testing.T) {
	const (
		v3ok   = "31340101" + "00640000" + "c63364fd"
		v2ok   = "21330101" + "01010000" + "c63364fc" + "7365637265743132"
		v2none = "21330101" + "00010000" + "c63364fc" + "0000000000000000"
		v6addr = "20010db8000000000000000000000100"
	)
	m4 := MulticastIPv4
	tests := map[string]struct {
		b        func(t *testing.T) []byte
		src, dst netip.Addr
		ttl      int
		want     error // nil: accepted
	}{
		"a valid v3 IPv4 advert is accepted": {
			b: func(t *testing.T) []byte { return msg(t, v3ok, sumPseudo, src4, m4) }, src: src4, dst: m4, ttl: 255,
		},
		"a TTL of 254 means off-link and is dropped (RFC 9568 §5.1.1.3)": {
			b: func(t *testing.T) []byte { return msg(t, v3ok, sumPseudo, src4, m4) }, src: src4, dst: m4, ttl: 254, want: ErrTTL,
		},
		"a hop limit of 1 is dropped (RFC 9568 §5.1.2.3)": {
			b: func(t *testing.T) []byte { return msg(t, "31340101"+"00640000"+v6addr, sumPseudo, src6, MulticastIPv6) }, src: src6, dst: MulticastIPv6, ttl: 1, want: ErrTTL,
		},
		"a message shorter than the 8-byte header is dropped": {
			b: func(t *testing.T) []byte { return mustHex(t, "31340101006400") }, src: src4, dst: m4, ttl: 255, want: ErrLength,
		},
		"version 1 is dropped": {
			b: func(t *testing.T) []byte { return msg(t, "11340101"+"00640000"+"c63364fd", sumPseudo, src4, m4) }, src: src4, dst: m4, ttl: 255, want: ErrVersion,
		},
		"version 4 is dropped": {
			b: func(t *testing.T) []byte { return msg(t, "41340101"+"00640000"+"c63364fd", sumPseudo, src4, m4) }, src: src4, dst: m4, ttl: 255, want: ErrVersion,
		},
		"VRID 0, which no router can have, is dropped (RFC 9568 §5.2.3)": {
			b: func(t *testing.T) []byte { return msg(t, "31000101"+"00640000"+"c63364fd", sumPseudo, src4, m4) }, src: src4, dst: m4, ttl: 255, want: ErrVRID,
		},
		"type 2 is dropped (RFC 9568 §5.2.2)": {
			b: func(t *testing.T) []byte { return msg(t, "32340101"+"00640000"+"c63364fd", sumPseudo, src4, m4) }, src: src4, dst: m4, ttl: 255, want: ErrType,
		},
		"an IPv4 source with an IPv6 destination is dropped": {
			b: func(t *testing.T) []byte { return msg(t, v3ok, sumPlain, src4, m4) }, src: src4, dst: MulticastIPv6, ttl: 255, want: ErrFamily,
		},
		"a missing source is dropped": {
			b: func(t *testing.T) []byte { return msg(t, v3ok, sumPlain, src4, m4) }, dst: m4, ttl: 255, want: ErrFamily,
		},
		"VRRPv2 over IPv6 is dropped (RFC 3768 is IPv4 only)": {
			b: func(t *testing.T) []byte {
				return msg(t, "21330101"+"01010000"+v6addr+"7365637265743132", sumPlain, src6, MulticastIPv6)
			}, src: src6, dst: MulticastIPv6, ttl: 255, want: ErrFamily,
		},
		"a v3 IPv4 message with half an address is dropped": {
			b: func(t *testing.T) []byte { return msg(t, v3ok+"c633", sumPseudo, src4, m4) }, src: src4, dst: m4, ttl: 255, want: ErrLength,
		},
		"a v2 message without its 8-byte authentication trailer is dropped": {
			b: func(t *testing.T) []byte { return msg(t, "21330101"+"01010000"+"c63364fc", sumPlain, src4, m4) }, src: src4, dst: m4, ttl: 255, want: ErrLength,
		},
		"a v3 IPv6 message with a 4-byte address is dropped": {
			b: func(t *testing.T) []byte { return msg(t, v3ok, sumPseudo, src6, MulticastIPv6) }, src: src6, dst: MulticastIPv6, ttl: 255, want: ErrLength,
		},
		"an address count of 0 is ignored (RFC 9568 §5.2.5, erratum 8299)": {
			b: func(t *testing.T) []byte { return msg(t, "31340100"+"00640000", sumPseudo, src4, m4) }, src: src4, dst: m4, ttl: 255, want: ErrAddressCount,
		},
		"an address count of 2 with one address is dropped": {
			b: func(t *testing.T) []byte { return msg(t, "31340102"+"00640000"+"c63364fd", sumPseudo, src4, m4) }, src: src4, dst: m4, ttl: 255, want: ErrAddressCount,
		},
		"an address count of 1 with two addresses is dropped": {
			b: func(t *testing.T) []byte { return msg(t, v3ok+"c63364fe", sumPseudo, src4, m4) }, src: src4, dst: m4, ttl: 255, want: ErrAddressCount,
		},
		"a bad checksum is dropped": {
			b: func(t *testing.T) []byte { return msg(t, v3ok, sumWrong, src4, m4) }, src: src4, dst: m4, ttl: 255, want: ErrChecksum,
		},
		"a v3 IPv6 checksum without the pseudo-header is dropped (RFC 9568 §5.2.8)": {
			b: func(t *testing.T) []byte { return msg(t, "31340101"+"00640000"+v6addr, sumPlain, src6, MulticastIPv6) }, src: src6, dst: MulticastIPv6, ttl: 255, want: ErrChecksum,
		},
		"a v2 checksum over a pseudo-header is dropped (RFC 3768 §5.3.8)": {
			b: func(t *testing.T) []byte { return msg(t, v2ok, sumPseudo, src4, m4) }, src: src4, dst: m4, ttl: 255, want: ErrChecksum,
		},
		"a v3 interval of 0 is dropped, unlike keepalived (erratum 8301)": {
			b: func(t *testing.T) []byte { return msg(t, "31340101"+"00000000"+"c63364fd", sumPseudo, src4, m4) }, src: src4, dst: m4, ttl: 255, want: ErrInterval,
		},
		"a v3 interval of 0 with reserved bits set is dropped": {
			b: func(t *testing.T) []byte { return msg(t, "31340101"+"f0000000"+"c63364fd", sumPseudo, src4, m4) }, src: src4, dst: m4, ttl: 255, want: ErrInterval,
		},
		"a v2 interval of 0 is dropped": {
			b: func(t *testing.T) []byte {
				return msg(t, "21330101"+"00000000"+"c63364fc"+"0000000000000000", sumPlain, src4, m4)
			}, src: src4, dst: m4, ttl: 255, want: ErrInterval,
		},
		"v2 auth type 2, IP Authentication Header, is dropped": {
			b: func(t *testing.T) []byte {
				return msg(t, "21330101"+"02010000"+"c63364fc"+"0000000000000000", sumPlain, src4, m4)
			}, src: src4, dst: m4, ttl: 255, want: ErrAuth,
		},
		"a valid v2 advert without authentication is accepted": {
			b: func(t *testing.T) []byte { return msg(t, v2none, sumPlain, src4, m4) }, src: src4, dst: m4, ttl: 255,
		},
		"an unspecified virtual address is dropped": {
			b: func(t *testing.T) []byte { return msg(t, "31340101"+"00640000"+"00000000", sumPseudo, src4, m4) }, src: src4, dst: m4, ttl: 255, want: ErrAddressList,
		},
		"a multicast virtual address is dropped": {
			b: func(t *testing.T) []byte { return msg(t, "31340101"+"00640000"+"e0000012", sumPseudo, src4, m4) }, src: src4, dst: m4, ttl: 255, want: ErrAddressList,
		},
		"a loopback virtual address is dropped": {
			b: func(t *testing.T) []byte { return msg(t, "31340101"+"00640000"+"7f000001", sumPseudo, src4, m4) }, src: src4, dst: m4, ttl: 255, want: ErrAddressList,
		},
		"an IPv4-mapped address in an IPv6 advert is dropped": {
			b: func(t *testing.T) []byte {
				return msg(t, "31340101"+"00640000"+"00000000000000000000ffffc63364fd", sumPseudo, src6, MulticastIPv6)
			},
			src: src6, dst: MulticastIPv6, ttl: 255, want: ErrAddressList,
		},
		"an IPv6 advert whose first address is not link-local is accepted, as keepalived sends it": {
			b: func(t *testing.T) []byte { return msg(t, "31340101"+"00640000"+v6addr, sumPseudo, src6, MulticastIPv6) }, src: src6, dst: MulticastIPv6, ttl: 255,
		},
		"IPv4-mapped source and destination count as IPv4": {
			b:   func(t *testing.T) []byte { return msg(t, v3ok, sumPseudo, src4, m4) },
			src: netip.AddrFrom16(src4.As16()), dst: netip.AddrFrom16(m4.As16()), ttl: 255,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(tc.b(t), tc.src, tc.dst, tc.ttl)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Decode error = %v, want %v", err, tc.want)
			}
			if err != nil {
				matched := 0
				for _, r := range dropReasons {
					if errors.Is(err, r.err) {
						matched++
					}
				}
				if matched != 1 {
					t.Errorf("error %q wraps %d sentinels, want exactly 1", err, matched)
				}
			}
		})
	}
}

func TestDecodeIgnoresTheReservedBitsAndReadsTwelveBitIntervals(t *testing.T) {
	b := msg(t, "31340101"+"ffff0000"+"c63364fd", sumPseudo, src4, MulticastIPv4)
	got, err := Decode(b, src4, MulticastIPv4, TTL)
	if err != nil {
		t.Fatal(err)
	}
	if want := 4095 * 10 * time.Millisecond; got.Interval != want {
		t.Errorf("Interval = %s, want %s", got.Interval, want)
	}
}

func TestEncodeDecodeRoundTrips(t *testing.T) {
	many := make([]netip.Addr, MaxAddresses)
	for k := range many {
		many[k] = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(k >> 8), 15: byte(k) + 1})
	}
	tests := map[string]struct {
		a        Advertisement
		src, dst netip.Addr
		mode     ChecksumMode
	}{
		"v2 without authentication": {
			a:   Advertisement{Version: 2, VRID: 1, Priority: 100, Interval: time.Second, Addresses: addrs("198.51.100.10")},
			src: src4, dst: MulticastIPv4,
		},
		"v2 with PASS and the longest interval": {
			a: Advertisement{Version: 2, VRID: 255, Priority: 254, Interval: 255 * time.Second, Addresses: addrs("198.51.100.10", "203.0.113.1"),
				AuthType: AuthTypeSimpleText, AuthData: [8]byte{'p', 'w'}},
			src: src4, dst: MulticastIPv4,
		},
		"v2 priority 0 to a unicast peer": {
			a:   Advertisement{Version: 2, VRID: 7, Priority: 0, Interval: 3 * time.Second, Addresses: addrs("198.51.100.10")},
			src: src4, dst: peer4,
		},
		"v3 IPv4 with the pseudo-header at the shortest interval": {
			a:   Advertisement{Version: 3, VRID: 9, Priority: 255, Interval: 10 * time.Millisecond, Addresses: addrs("198.51.100.10")},
			src: src4, dst: MulticastIPv4, mode: ChecksumPseudoHeader,
		},
		"v3 IPv4 without pseudo-header at the longest interval": {
			a:   Advertisement{Version: 3, VRID: 9, Priority: 1, Interval: MaxIntervalV3, Addresses: addrs("198.51.100.10")},
			src: src4, dst: peer4, mode: ChecksumNoPseudoHeader,
		},
		"v3 IPv6 with 255 addresses": {
			a:   Advertisement{Version: 3, VRID: 200, Priority: 100, Interval: 250 * time.Millisecond, Addresses: many},
			src: src6, dst: MulticastIPv6,
		},
		"v3 IPv6 unicast ignores the checksum mode": {
			a:   Advertisement{Version: 3, VRID: 200, Priority: 100, Interval: time.Second, Addresses: addrs("fe80::100", "2001:db8::100")},
			src: src6, dst: peer6, mode: ChecksumNoPseudoHeader,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			prefix := []byte("prefix")
			b, err := tc.a.AppendEncode(prefix, tc.src, tc.dst, tc.mode)
			if err != nil {
				t.Fatalf("AppendEncode: %v", err)
			}
			if string(b[:len(prefix)]) != "prefix" {
				t.Fatalf("AppendEncode overwrote the buffer's start: %q", b[:len(prefix)])
			}
			got, err := Decode(b[len(prefix):], tc.src, tc.dst, TTL)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(tc.a, got, cmpOpts); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEncodeZeroesAuthDataWithoutAuthentication(t *testing.T) {
	a := Advertisement{Version: 2, VRID: 1, Priority: 100, Interval: time.Second, Addresses: addrs("198.51.100.10"), AuthData: [8]byte{1, 2, 3}}
	b, err := a.AppendEncode(nil, src4, MulticastIPv4, ChecksumPseudoHeader)
	if err != nil {
		t.Fatal(err)
	}
	if got := b[len(b)-8:]; string(got) != string(make([]byte, 8)) {
		t.Errorf("auth data = %x, want zeroes (RFC 3768 §5.3.10)", got)
	}
}

func TestEncodeRefusesWhatTheWireCannotCarry(t *testing.T) {
	v3 := func(mod func(*Advertisement)) Advertisement {
		a := Advertisement{Version: 3, VRID: 1, Priority: 100, Interval: time.Second, Addresses: addrs("198.51.100.10")}
		mod(&a)
		return a
	}
	v2 := func(mod func(*Advertisement)) Advertisement {
		a := Advertisement{Version: 2, VRID: 1, Priority: 100, Interval: time.Second, Addresses: addrs("198.51.100.10")}
		mod(&a)
		return a
	}
	tooMany := make([]netip.Addr, MaxAddresses+1)
	for k := range tooMany {
		tooMany[k] = netip.AddrFrom4([4]byte{198, 51, byte(k >> 8), byte(k) + 1})
	}
	tests := map[string]struct {
		a        Advertisement
		src, dst netip.Addr
		mode     ChecksumMode
		want     error
	}{
		"version 4 is refused":                     {a: v3(func(a *Advertisement) { a.Version = 4 }), want: ErrVersion},
		"VRID 0 is refused":                        {a: v3(func(a *Advertisement) { a.VRID = 0 }), want: ErrVRID},
		"no addresses are refused":                 {a: v3(func(a *Advertisement) { a.Addresses = nil }), want: ErrAddressCount},
		"256 addresses are refused":                {a: v3(func(a *Advertisement) { a.Addresses = tooMany }), want: ErrAddressCount},
		"an IPv6 address from IPv4 is refused":     {a: v3(func(a *Advertisement) { a.Addresses = addrs("2001:db8::1") }), want: ErrFamily},
		"an IPv6 destination from IPv4 is refused": {a: v3(func(*Advertisement) {}), dst: MulticastIPv6, want: ErrFamily},
		"VRRPv2 over IPv6 is refused": {
			a: v2(func(a *Advertisement) { a.Addresses = addrs("2001:db8::1") }), src: src6, dst: MulticastIPv6, want: ErrFamily,
		},
		"a multicast virtual address is refused": {a: v3(func(a *Advertisement) { a.Addresses = addrs("224.0.0.18") }), want: ErrAddressList},
		"a v3 interval of 0 is refused":          {a: v3(func(a *Advertisement) { a.Interval = 0 }), want: ErrInterval},
		"a v3 interval of 15 ms is refused":      {a: v3(func(a *Advertisement) { a.Interval = 15 * time.Millisecond }), want: ErrInterval},
		"a v3 interval of 41 s is refused":       {a: v3(func(a *Advertisement) { a.Interval = 41 * time.Second }), want: ErrInterval},
		"a v2 interval of 1.5 s is refused":      {a: v2(func(a *Advertisement) { a.Interval = 1500 * time.Millisecond }), want: ErrInterval},
		"a v2 interval of 256 s is refused":      {a: v2(func(a *Advertisement) { a.Interval = 256 * time.Second }), want: ErrInterval},
		"v2 auth type 2 is refused":              {a: v2(func(a *Advertisement) { a.AuthType = 2 }), want: ErrAuth},
		"v3 with a password is refused":          {a: v3(func(a *Advertisement) { a.AuthData[0] = 'x' }), want: ErrAuth},
		"v3 with auth type 1 is refused":         {a: v3(func(a *Advertisement) { a.AuthType = 1 }), want: ErrAuth},
		"an unknown checksum mode is refused":    {a: v3(func(*Advertisement) {}), mode: 7, want: ErrChecksum},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			src, dst := cmpOr(tc.src, src4), cmpOr(tc.dst, MulticastIPv4)
			buf := []byte{1, 2, 3}
			got, err := tc.a.AppendEncode(buf, src, dst, tc.mode)
			if !errors.Is(err, tc.want) {
				t.Fatalf("AppendEncode error = %v, want %v", err, tc.want)
			}
			if diff := cmp.Diff(buf, got); diff != "" {
				t.Errorf("AppendEncode changed the buffer on error (-want +got):\n%s", diff)
			}
		})
	}
}

func cmpOr(a, b netip.Addr) netip.Addr {
	if a.IsValid() {
		return a
	}
	return b
}

func TestDropReasonNamesEverySentinel(t *testing.T) {
	tests := map[string]struct {
		err  error
		want string
	}{
		"a wrapped TTL error is ttl":                {fmt.Errorf("x: %w", ErrTTL), "ttl"},
		"a version error is version":                {ErrVersion, "version"},
		"a type error is type":                      {ErrType, "type"},
		"a VRID error is vrid":                      {ErrVRID, "vrid"},
		"a length error is length":                  {ErrLength, "length"},
		"an address count error is address_count":   {ErrAddressCount, "address_count"},
		"a checksum error is checksum":              {ErrChecksum, "checksum"},
		"an interval error is interval":             {ErrInterval, "interval"},
		"an interval mismatch is interval_mismatch": {ErrIntervalMismatch, "interval_mismatch"},
		"an auth error is auth":                     {ErrAuth, "auth"},
		"a family error is family":                  {ErrFamily, "family"},
		"an address list error is address_list":     {ErrAddressList, "address_list"},
		"our own advert is own_advert":              {ErrOwnAdvert, "own_advert"},
		"an address mismatch is address_mismatch":   {ErrAddressMismatch, "address_mismatch"},
		"a joined error is found":                   {errors.Join(errors.New("a"), ErrChecksum), "checksum"},
		"an unknown error is other":                 {errors.New("boom"), "other"},
		"no error is other":                         {nil, "other"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := DropReason(tc.err); got != tc.want {
				t.Errorf("DropReason(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

func TestNamesOfStatesAndChecksumModes(t *testing.T) {
	got := []string{
		StateInit.String(), StateBackup.String(), StateMaster.String(), StateFault.String(), StateStopped.String(), State(9).String(),
		ChecksumPseudoHeader.String(), ChecksumNoPseudoHeader.String(), ChecksumMode(9).String(),
	}
	want := []string{"INIT", "BACKUP", "MASTER", "FAULT", "STOPPED", "State(9)", "pseudoHeader", "noPseudoHeader", "ChecksumMode(9)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("names mismatch (-want +got):\n%s", diff)
	}
}
