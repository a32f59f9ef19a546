package vrrp

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// goldenCases are the packets of testdata (see testdata/README.md) with what they must decode
// to, and the checksum mode and destination that make our encoder write the same bytes.
var goldenCases = []struct {
	name      string
	file      string
	want      Advertisement
	mode      ChecksumMode
	encodeDst string // the destination our encoder must put in the pseudo-header; "" = the file's
}{
	{
		name: "keepalived's VRRPv2 advert with PASS authentication",
		file: "v2-pass.txt",
		want: Advertisement{
			Version: 2, VRID: 51, Priority: 150, Interval: time.Second,
			Addresses: addrs("198.51.100.252"),
			AuthType:  AuthTypeSimpleText, AuthData: [8]byte([]byte("secret12")),
		},
	},
	{
		name: "keepalived's VRRPv3 IPv4 advert checksummed with the pseudo-header",
		file: "v3-ipv4.txt",
		want: Advertisement{
			Version: 3, VRID: 52, Priority: 150, Interval: time.Second,
			Addresses: addrs("198.51.100.253", "203.0.113.10"),
		},
		mode: ChecksumPseudoHeader,
	},
	{
		name: "an RFC 9568 VRRPv3 IPv4 advert checksummed without pseudo-header",
		file: "v3-ipv4-no-pseudo-header.txt",
		want: Advertisement{
			Version: 3, VRID: 52, Priority: 150, Interval: time.Second,
			Addresses: addrs("198.51.100.253", "203.0.113.10"),
		},
		mode: ChecksumNoPseudoHeader,
	},
	{
		name: "keepalived's VRRPv3 IPv6 advert at 50 centiseconds",
		file: "v3-ipv6.txt",
		want: Advertisement{
			Version: 3, VRID: 53, Priority: 200, Interval: 500 * time.Millisecond,
			Addresses: addrs("2001:db8::100", "2001:db8::101"),
		},
	},
	{
		name: "keepalived's unicast VRRPv3 advert with the old checksum",
		file: "v3-ipv4-unicast-old.txt",
		want: Advertisement{
			Version: 3, VRID: 54, Priority: 100, Interval: time.Second,
			Addresses: addrs("198.51.100.254"),
		},
		encodeDst: "224.0.0.18",
	},
}

func TestGoldenPacketsDecode(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			g := readGolden(t, tc.file)
			got, err := Decode(g.payload, g.src, g.dst, g.ttl)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, cmpOpts); diff != "" {
				t.Errorf("Decode mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGoldenPacketsEncodeToTheSameBytes(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			g := readGolden(t, tc.file)
			dst := g.dst
			if tc.encodeDst != "" {
				dst = addrs(tc.encodeDst)[0]
			}
			got, err := tc.want.AppendEncode(nil, g.src, dst, tc.mode)
			if err != nil {
				t.Fatalf("AppendEncode: %v", err)
			}
			if !bytes.Equal(got, g.payload) {
				t.Errorf("AppendEncode = %x, want keepalived's %x", got, g.payload)
			}
		})
	}
}

func TestGoldenPacketsWithAFlippedBitAreRejected(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			g := readGolden(t, tc.file)
			for bit := range len(g.payload) * 8 {
				b := bytes.Clone(g.payload)
				b[bit/8] ^= 1 << (bit % 8)
				if a, err := Decode(b, g.src, g.dst, g.ttl); err == nil {
					// Every bit, the reserved nibble too, is under the checksum.
					t.Errorf("bit %d flipped: Decode accepted %+v", bit, a)
				}
			}
		})
	}
}
