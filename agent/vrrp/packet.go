package vrrp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Wire constants.
const (
	// ProtocolNumber is VRRP's IP protocol / next header number (RFC 9568 §5.1.1.4).
	ProtocolNumber = 112
	// TTL is the only TTL / hop limit a VRRP packet may be sent and received with
	// (RFC 9568 §5.1.1.3, §5.1.2.3).
	TTL = 255
	// AuthTypeNone and AuthTypeSimpleText are the VRRPv2 authentication types we speak
	// (RFC 2338 §5.3.6; RFC 3768 §5.3.6 keeps the field for compatibility).
	AuthTypeNone       = 0
	AuthTypeSimpleText = 1
	// MaxAddresses is the most addresses one advertisement can carry (an 8-bit count).
	MaxAddresses = 255
	// MaxIntervalV3 is the largest VRRPv3 interval: 4095 centiseconds in 12 bits (RFC 9568 §5.2.7).
	MaxIntervalV3 = 4095 * centisecond
	// MaxIntervalV2 is the largest VRRPv2 interval: 255 seconds in 8 bits (RFC 3768 §5.3.7).
	MaxIntervalV2 = 255 * time.Second

	centisecond       = 10 * time.Millisecond
	headerLen         = 8
	authDataLen       = 8
	typeAdvertisement = 1
)

// The multicast groups adverts are sent to (RFC 9568 §5.1.1.2, §5.1.2.2).
var (
	MulticastIPv4 = netip.AddrFrom4([4]byte{224, 0, 0, 18})
	MulticastIPv6 = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x12})
)

// Advertisement is a VRRP ADVERTISEMENT, the protocol's only message.
type Advertisement struct {
	Version  uint8 // 2 or 3
	VRID     uint8
	Priority uint8
	// Interval is the advertisement interval: VRRPv2 whole seconds (RFC 3768 §5.3.7),
	// VRRPv3 the Max Advertise Interval in centiseconds (RFC 9568 §5.2.7).
	Interval  time.Duration
	Addresses []netip.Addr
	AuthType  uint8   // VRRPv2 only: AuthTypeNone or AuthTypeSimpleText
	AuthData  [8]byte // VRRPv2 PASS, zero padded
}

// Decode parses and validates one VRRP message: the IP payload only, since the socket layer
// strips the IP header. src and dst are the IP source and destination, needed for the checksum
// pseudo-header and the family; ttl is the received TTL or hop limit. Errors wrap exactly one
// of the sentinel errors.
//
// Decode makes the checks of RFC 9568 §7.1 and RFC 3768 §7.1 that need nothing but the packet,
// in the RFC's order: TTL, version, type, length, checksum; then the errata: address count not
// zero (8299) and interval not zero (8301). The checks that need the router's configuration
// (VRID, v2 interval, authentication, family) are the Instance's and end in a Drop action.
//
// For VRRPv3 over IPv4 the checksum is accepted with or without the IPv4 pseudo-header (see
// ChecksumMode) and, when dst is not the multicast group, also with 224.0.0.18 as the
// pseudo-header's destination: keepalived before 1.3.6, and later ones with
// `old_unicast_checksum`, checksum unicast adverts so.
//
// Decode does not require an IPv6 advert's first address to be link-local (RFC 9568 §5.2.9,
// erratum 8300): keepalived does not send one (see testdata/v3-ipv6.txt) and we must
// interoperate with it.
func Decode(b []byte, src, dst netip.Addr, ttl int) (Advertisement, error) {
	return AppendDecode(nil, b, src, dst, ttl)
}

// AppendDecode is Decode with the addresses appended to addrs[:0], so that a receiver that keeps
// addrs from one packet to the next (the advert's Addresses alias it) allocates nothing.
func AppendDecode(addrs []netip.Addr, b []byte, src, dst netip.Addr, ttl int) (Advertisement, error) {
	src, dst = src.Unmap(), dst.Unmap()
	if ttl != TTL {
		return Advertisement{}, fmt.Errorf("received with ttl %d: %w", ttl, ErrTTL)
	}
	if len(b) < headerLen {
		return Advertisement{}, fmt.Errorf("message of %d bytes is shorter than the %d-byte header: %w", len(b), headerLen, ErrLength)
	}
	a := Advertisement{Version: b[0] >> 4, VRID: b[1], Priority: b[2]}
	if a.Version != 2 && a.Version != 3 {
		return Advertisement{}, fmt.Errorf("version %d: %w", a.Version, ErrVersion)
	}
	if t := b[0] & 0x0f; t != typeAdvertisement {
		return Advertisement{}, fmt.Errorf("type %d: %w", t, ErrType)
	}
	if a.VRID == 0 {
		// No router can be configured with VRID 0 (RFC 9568 §5.2.3: 1-255).
		return Advertisement{}, fmt.Errorf("vrid 0: %w", ErrVRID)
	}
	if err := checkFamily(src, dst); err != nil {
		return Advertisement{}, err
	}
	if a.Version == 2 && !src.Is4() {
		return Advertisement{}, fmt.Errorf("vrrpv2 over ipv6: %w", ErrFamily)
	}
	addrLen := 16
	if src.Is4() {
		addrLen = 4
	}
	fixed := headerLen
	if a.Version == 2 {
		fixed += authDataLen
	}
	if len(b) < fixed || (len(b)-fixed)%addrLen != 0 {
		return Advertisement{}, fmt.Errorf("message of %d bytes is not %d bytes plus %d-byte addresses: %w", len(b), fixed, addrLen, ErrLength)
	}
	count := int(b[3])
	if count == 0 {
		// RFC 9568 §5.2.5 and erratum 8299: an advert without addresses MUST be ignored.
		return Advertisement{}, fmt.Errorf("address count 0: %w", ErrAddressCount)
	}
	if held := (len(b) - fixed) / addrLen; held != count {
		return Advertisement{}, fmt.Errorf("address count %d but the message holds %d: %w", count, held, ErrAddressCount)
	}
	if !checksumOK(b, a.Version, src, dst) {
		return Advertisement{}, fmt.Errorf("checksum 0x%04x: %w", binary.BigEndian.Uint16(b[6:8]), ErrChecksum)
	}
	if a.Version == 2 {
		a.AuthType = b[4]
		a.Interval = time.Duration(b[5]) * time.Second
		if a.AuthType != AuthTypeNone && a.AuthType != AuthTypeSimpleText {
			// Type 2 was IP Authentication Header (RFC 2338), which RFC 3768 removed and which
			// would not arrive as a plain VRRP payload anyway.
			return Advertisement{}, fmt.Errorf("auth type %d: %w", a.AuthType, ErrAuth)
		}
		if a.AuthType == AuthTypeSimpleText {
			// Without authentication the data is ignored on reception (RFC 3768 §5.3.10).
			copy(a.AuthData[:], b[len(b)-authDataLen:])
		}
	} else {
		// The top four bits are Reserve, ignored on reception (RFC 9568 §5.2.6).
		a.Interval = time.Duration(binary.BigEndian.Uint16(b[4:6])&0x0fff) * centisecond
	}
	if a.Interval == 0 {
		// Erratum 8301: a zero interval makes Backups time out at once and flap; keepalived
		// accepts it, we must not.
		return Advertisement{}, fmt.Errorf("interval 0: %w", ErrInterval)
	}
	a.Addresses = slices.Grow(addrs[:0], count)[:count]
	for k := range count {
		off := headerLen + k*addrLen
		if addrLen == 4 {
			a.Addresses[k] = netip.AddrFrom4([4]byte(b[off : off+4]))
		} else {
			a.Addresses[k] = netip.AddrFrom16([16]byte(b[off : off+16]))
		}
		if err := checkVirtualAddress(a.Addresses[k]); err != nil {
			return Advertisement{}, err
		}
	}
	return a, nil
}

// checksumOK verifies the checksum of message b: a correct one makes the one's complement
// sum over it (and the pseudo-header, if any) 0xffff.
func checksumOK(b []byte, version uint8, src, dst netip.Addr) bool {
	msg := sum(0, b)
	switch {
	case version == 2:
		// RFC 3768 §5.3.8: the VRRP message only.
		return fold(msg) == 0xffff
	case src.Is6():
		// RFC 9568 §5.2.8: the IPv6 pseudo-header of RFC 8200 §8.1.
		return fold(msg+pseudoHeaderSum(src, dst, len(b))) == 0xffff
	}
	return fold(msg) == 0xffff ||
		fold(msg+pseudoHeaderSum(src, dst, len(b))) == 0xffff ||
		(dst != MulticastIPv4 && fold(msg+pseudoHeaderSum(src, MulticastIPv4, len(b))) == 0xffff)
}

// AppendEncode appends the wire form of a, checksum included, to b and returns the extended
// buffer; it allocates only when b lacks capacity. src and dst are the IP source and
// destination the message will be sent with. mode only matters for VRRPv3 over IPv4.
// Errors wrap one of the sentinel errors and leave b as it was.
func (a Advertisement) AppendEncode(b []byte, src, dst netip.Addr, mode ChecksumMode) ([]byte, error) {
	src, dst = src.Unmap(), dst.Unmap()
	if err := a.check(src, dst, mode); err != nil {
		return b, fmt.Errorf("encoding vrrp advertisement: %w", err)
	}
	start := len(b)
	b = append(b, a.Version<<4|typeAdvertisement, a.VRID, a.Priority, byte(len(a.Addresses)))
	if a.Version == 2 {
		b = append(b, a.AuthType, byte(a.Interval/time.Second), 0, 0)
	} else {
		// Reserve is zero on transmission (RFC 9568 §5.2.6).
		cs := uint16(a.Interval / centisecond)
		b = append(b, byte(cs>>8), byte(cs), 0, 0)
	}
	for _, addr := range a.Addresses {
		if addr.Is4() {
			a4 := addr.As4()
			b = append(b, a4[:]...)
		} else {
			a16 := addr.As16()
			b = append(b, a16[:]...)
		}
	}
	if a.Version == 2 {
		auth := a.AuthData
		if a.AuthType == AuthTypeNone {
			auth = [8]byte{} // RFC 3768 §5.3.10: zero on transmission.
		}
		b = append(b, auth[:]...)
	}
	msg := b[start:]
	acc := sum(0, msg)
	if a.Version == 3 && (src.Is6() || mode == ChecksumPseudoHeader) {
		acc += pseudoHeaderSum(src, dst, len(msg))
	}
	binary.BigEndian.PutUint16(msg[6:8], ^fold(acc))
	return b, nil
}

// check reports why a cannot be encoded.
func (a Advertisement) check(src, dst netip.Addr, mode ChecksumMode) error {
	if a.Version != 2 && a.Version != 3 {
		return fmt.Errorf("version %d: %w", a.Version, ErrVersion)
	}
	if a.VRID == 0 {
		return fmt.Errorf("vrid 0: %w", ErrVRID)
	}
	if err := checkFamily(src, dst); err != nil {
		return err
	}
	if a.Version == 2 && !src.Is4() {
		return fmt.Errorf("vrrpv2 over ipv6: %w", ErrFamily)
	}
	if n := len(a.Addresses); n == 0 || n > MaxAddresses {
		return fmt.Errorf("%d addresses: %w", n, ErrAddressCount)
	}
	for _, addr := range a.Addresses {
		if addr.Is4() != src.Is4() {
			return fmt.Errorf("address %s in an advert from %s: %w", addr, src, ErrFamily)
		}
		if err := checkVirtualAddress(addr); err != nil {
			return err
		}
	}
	if err := checkInterval(a.Version, a.Interval); err != nil {
		return err
	}
	if a.Version == 2 && a.AuthType != AuthTypeNone && a.AuthType != AuthTypeSimpleText {
		return fmt.Errorf("auth type %d: %w", a.AuthType, ErrAuth)
	}
	if a.Version == 3 && (a.AuthType != AuthTypeNone || a.AuthData != [8]byte{}) {
		return fmt.Errorf("authentication with vrrpv3: %w", ErrAuth)
	}
	if mode != ChecksumPseudoHeader && mode != ChecksumNoPseudoHeader {
		return fmt.Errorf("checksum mode %s: %w", mode, ErrChecksum)
	}
	return nil
}

// checkFamily requires src and dst to be addresses of one family.
func checkFamily(src, dst netip.Addr) error {
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return fmt.Errorf("source %s, destination %s: %w", src, dst, ErrFamily)
	}
	return nil
}

// checkVirtualAddress rejects addresses no virtual router can hold.
func checkVirtualAddress(a netip.Addr) error {
	if a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.Is4In6() {
		return fmt.Errorf("address %s: %w", a, ErrAddressList)
	}
	return nil
}

// checkInterval requires an interval the version can carry exactly: VRRPv2 whole seconds
// 1-255 (RFC 3768 §5.3.7), VRRPv3 centiseconds 1-4095 (RFC 9568 §5.2.7, erratum 8301).
func checkInterval(version uint8, d time.Duration) error {
	unit, limit := centisecond, MaxIntervalV3
	if version == 2 {
		unit, limit = time.Second, MaxIntervalV2
	}
	if d < unit || d > limit || d%unit != 0 {
		return fmt.Errorf("interval %s is not a multiple of %s between %s and %s: %w", d, unit, unit, limit, ErrInterval)
	}
	return nil
}
