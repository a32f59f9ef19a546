package vrrp

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fuzzSrc6 is the link-local source of the golden IPv6 packet, so that its seed decodes.
var fuzzSrc6 = netip.MustParseAddr("fe80::5eff:fe10:1")

// FuzzDecode feeds arbitrary payloads to Decode, over IPv4 or IPv6, multicast or unicast.
// Decode must never panic, every error must carry a drop reason, and whatever it accepts must
// encode back to the same bytes (but for the checksum convention, the ignored reserved bits
// and ignored authentication data) and decode to the same advert.
// Named seeds live in testdata/fuzz/FuzzDecode (see testdata/README.md).
func FuzzDecode(f *testing.F) {
	for _, g := range goldenCases {
		p := readGolden(f, g.file)
		f.Add(p.payload, p.src.Is6(), !p.dst.IsMulticast())
	}
	f.Fuzz(func(t *testing.T, b []byte, ipv6, unicast bool) {
		src, dst := src4, MulticastIPv4
		switch {
		case ipv6 && unicast:
			src, dst = fuzzSrc6, peer6
		case ipv6:
			src, dst = fuzzSrc6, MulticastIPv6
		case unicast:
			dst = peer4
		}
		a, err := Decode(b, src, dst, TTL)
		if err != nil {
			if DropReason(err) == "other" {
				t.Fatalf("error %q wraps no sentinel", err)
			}
			return
		}
		if n := len(a.Addresses); n == 0 || n > MaxAddresses || a.Interval <= 0 || (a.Version != 2 && a.Version != 3) {
			t.Fatalf("Decode accepted an impossible advert %+v", a)
		}
		out, err := a.AppendEncode(nil, src, dst, ChecksumPseudoHeader)
		if err != nil {
			t.Fatalf("AppendEncode of a decoded advert: %v", err)
		}
		want := bytes.Clone(b)
		want[6], want[7] = out[6], out[7]
		if a.Version == 3 {
			want[4] &= 0x0f // Reserve, ignored on reception (RFC 9568 §5.2.6)
		} else if a.AuthType == AuthTypeNone {
			clear(want[len(want)-authDataLen:])
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("re-encoded %x, want %x", out, want)
		}
		again, err := Decode(out, src, dst, TTL)
		if err != nil {
			t.Fatalf("Decode of our own encoding: %v", err)
		}
		if diff := cmp.Diff(a, again, cmpOpts); diff != "" {
			t.Fatalf("round trip mismatch (-want +got):\n%s", diff)
		}
	})
}
