package vrrp

import (
	"fmt"
	"net/netip"
)

// ChecksumMode says how VRRPv3 over IPv4 is checksummed; VRRPv2 and VRRPv3 over IPv6 have
// only one way each.
//
// RFC 5798 §5.2.8 said the checksum includes "a pseudo-header as defined in RFC 2460", which
// only defines one for IPv6; keepalived (since 1.2.x, still the default in 2.2.7) prepends the
// IPv4 pseudo-header of RFC 768 as well, Cisco and RFC 9568 §5.2.8 do not. Decode accepts both;
// encode uses the mode configured.
type ChecksumMode uint8

const (
	// ChecksumPseudoHeader includes the IPv4 pseudo-header (source, destination, zero,
	// protocol 112, VRRP length), as keepalived does by default. It is the zero value.
	ChecksumPseudoHeader ChecksumMode = iota
	// ChecksumNoPseudoHeader covers the VRRP message only, as RFC 9568 §5.2.8 clarifies and
	// keepalived's later `v3_checksum_as_v2` option does.
	ChecksumNoPseudoHeader
)

// String returns "pseudoHeader" or "noPseudoHeader".
func (m ChecksumMode) String() string {
	switch m {
	case ChecksumPseudoHeader:
		return "pseudoHeader"
	case ChecksumNoPseudoHeader:
		return "noPseudoHeader"
	default:
		return fmt.Sprintf("ChecksumMode(%d)", uint8(m))
	}
}

// sum adds b to acc as big-endian 16-bit words (RFC 1071), padding an odd tail with zero.
// acc stays far below 2^32 for any message that fits a VRRP packet (at most 4104 bytes).
func sum(acc uint32, b []byte) uint32 {
	for len(b) >= 8 {
		acc += uint32(b[0])<<8 | uint32(b[1])
		acc += uint32(b[2])<<8 | uint32(b[3])
		acc += uint32(b[4])<<8 | uint32(b[5])
		acc += uint32(b[6])<<8 | uint32(b[7])
		b = b[8:]
	}
	for len(b) >= 2 {
		acc += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint32(b[0]) << 8
	}
	return acc
}

// fold reduces acc to 16 bits with end-around carry.
func fold(acc uint32) uint16 {
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}

// pseudoHeaderSum is the sum of the pseudo-header for a VRRP message of length n from src to
// dst: RFC 768's layout for IPv4 (keepalived's convention) and RFC 8200 §8.1 for IPv6
// (RFC 9568 §5.2.8). The two layouts sum alike: the length's width does not change the sum.
func pseudoHeaderSum(src, dst netip.Addr, n int) uint32 {
	var acc uint32
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		acc = sum(acc, s[:])
		acc = sum(acc, d[:])
	} else {
		s, d := src.As16(), dst.As16()
		acc = sum(acc, s[:])
		acc = sum(acc, d[:])
	}
	acc += ProtocolNumber
	acc += uint32(n>>16) + uint32(n&0xffff)
	return acc
}
