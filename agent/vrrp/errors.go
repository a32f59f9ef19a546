package vrrp

import "errors"

// Reasons to drop a received advertisement. Every error that Decode returns, and the error of
// every Drop action, wraps exactly one of them, so that callers count drops by DropReason.
var (
	// ErrTTL: the TTL or hop limit is not 255; the packet may come from off-link
	// (RFC 9568 §5.1.1.3, §5.1.2.3, RFC 5082; RFC 3768 §7.1).
	ErrTTL = errors.New("ttl or hop limit is not 255")
	// ErrVersion: the version is neither 2 nor 3, or not the one this router runs (RFC 9568 §7.1).
	ErrVersion = errors.New("unsupported vrrp version")
	// ErrType: the type is not 1, ADVERTISEMENT (RFC 9568 §5.2.2).
	ErrType = errors.New("unknown vrrp packet type")
	// ErrVRID: the virtual router ID is not this router's (RFC 9568 §7.1, erratum 8298).
	ErrVRID = errors.New("virtual router id not configured here")
	// ErrLength: the message is shorter than its fixed fields, or its address part is not a
	// whole number of addresses (RFC 9568 §7.1: the complete packet must be present).
	ErrLength = errors.New("malformed vrrp message length")
	// ErrAddressCount: the address count is 0 (RFC 9568 §5.2.5, erratum 8299) or does not
	// match the number of addresses the message holds.
	ErrAddressCount = errors.New("bad address count")
	// ErrChecksum: the checksum is wrong in every convention we accept (RFC 9568 §5.2.8).
	ErrChecksum = errors.New("bad checksum")
	// ErrInterval: the advertisement interval is 0 (RFC 9568 erratum 8301) or, when encoding
	// or validating a Config, not representable on the wire.
	ErrInterval = errors.New("invalid advertisement interval")
	// ErrIntervalMismatch: a VRRPv2 advertisement whose interval differs from ours
	// (RFC 3768 §7.1: MUST discard).
	ErrIntervalMismatch = errors.New("advertisement interval differs from the configured one")
	// ErrAuth: an authentication type or password that does not match ours (RFC 3768 §7.1,
	// RFC 2338 §5.3.6), or authentication with VRRPv3, which has none (RFC 9568 §9).
	ErrAuth = errors.New("authentication mismatch")
	// ErrFamily: IPv4 and IPv6 mixed up: in the IP header, the address list or against the
	// router's family (RFC 9568 §5.2.9), or VRRPv2 over IPv6.
	ErrFamily = errors.New("address family mismatch")
	// ErrAddressList: the address list holds an address no router can serve (unspecified,
	// loopback or multicast), or a Config lists an address twice.
	ErrAddressList = errors.New("invalid address list")
	// ErrOwnAdvert: the advertisement carries this router's own primary address as its source,
	// i.e. it looped back. Answering it would make a Master advertise in a loop (RFC 9568 §6.4.3).
	ErrOwnAdvert = errors.New("advertisement sent by this router")
	// ErrAddressMismatch: a non-owner's advertisement whose address list shares no address with
	// ours: another virtual router, or a misconfigured one, on our VRID (RFC 9568 §7.1, RFC 3768
	// §7.1: MUST drop unless the priority is 255; a list that overlaps ours is processed, see
	// AddressesDiffer).
	ErrAddressMismatch = errors.New("advertised addresses differ from ours")
)

// dropReasons is ordered: DropReason returns the first sentinel that matches.
var dropReasons = []struct {
	err    error
	reason string
}{
	{ErrTTL, "ttl"},
	{ErrVersion, "version"},
	{ErrType, "type"},
	{ErrVRID, "vrid"},
	{ErrLength, "length"},
	{ErrAddressCount, "address_count"},
	{ErrChecksum, "checksum"},
	{ErrInterval, "interval"},
	{ErrIntervalMismatch, "interval_mismatch"},
	{ErrAuth, "auth"},
	{ErrFamily, "family"},
	{ErrAddressList, "address_list"},
	{ErrOwnAdvert, "own_advert"},
	{ErrAddressMismatch, "address_mismatch"},
}

// DropReason returns a stable snake_case label for err, for metrics: "ttl", "version", "type",
// "vrid", "length", "address_count", "checksum", "interval", "interval_mismatch", "auth",
// "family", "address_list", "own_advert", "address_mismatch", and "other" for anything else
// (including nil).
func DropReason(err error) string {
	if err == nil {
		return "other"
	}
	for _, r := range dropReasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "other"
}
