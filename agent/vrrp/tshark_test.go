package vrrp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// TestTsharkAgreesWithOurEncoder feeds the adverts our encoder writes to Wireshark's dissector
// (tshark from Debian) and requires every VRRP field and a correct checksum. For each golden
// packet the advert is the one we decoded from keepalived, so keepalived's bytes, our decoder,
// our encoder and tshark all agree field by field.
func TestTsharkAgreesWithOurEncoder(t *testing.T) {
	tshark := testenv.RequireTool(t, "tshark")
	type tc struct {
		name     string
		a        Advertisement
		src, dst netip.Addr
		mode     ChecksumMode
	}
	var tests []tc
	for _, g := range goldenCases {
		p := readGolden(t, g.file)
		a, err := Decode(p.payload, p.src, p.dst, p.ttl)
		if err != nil {
			t.Fatalf("%s: %v", g.file, err)
		}
		tests = append(tests, tc{name: "ours from " + g.name, a: a, src: p.src, dst: p.dst, mode: g.mode})
	}
	tests = append(tests,
		tc{
			name: "our VRRPv2 priority-0 advert without authentication",
			a:    Advertisement{Version: 2, VRID: 1, Priority: 0, Interval: 3 * time.Second, Addresses: addrs("198.51.100.10", "198.51.100.11")},
			src:  src4, dst: MulticastIPv4,
		},
		tc{
			name: "our VRRPv3 IPv6 address owner at 10 ms to a unicast peer",
			a:    Advertisement{Version: 3, VRID: 255, Priority: 255, Interval: 10 * time.Millisecond, Addresses: addrs("fe80::1", "2001:db8::1")},
			src:  src6, dst: peer6,
		},
		tc{
			name: "our VRRPv3 IPv4 advert without pseudo-header at the longest interval",
			a:    Advertisement{Version: 3, VRID: 7, Priority: 1, Interval: MaxIntervalV3, Addresses: addrs("203.0.113.1")},
			src:  src4, dst: peer4, mode: ChecksumNoPseudoHeader,
		},
	)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			payload, err := tc.a.AppendEncode(nil, tc.src, tc.dst, tc.mode)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "advert.pcap")
			if err := os.WriteFile(file, rawPcap(ipPacket(tc.src, tc.dst, payload)), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"-n", "-r", file, "-V"}
			if tc.src.Is4() && tc.a.Version == 3 && tc.mode == ChecksumNoPseudoHeader {
				// tshark's name for the RFC 9568 convention; its default is keepalived's.
				args = append(args, "-o", "vrrp.v3_checksum_as_in_v2:TRUE")
			}
			var stderr bytes.Buffer
			cmd := exec.Command(tshark, args...)
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("tshark: %v\n%s", err, stderr.String())
			}
			got, checksum := parseTsharkVRRP(t, string(out))
			if checksum != "Good" {
				t.Errorf("tshark checksum status %q, want Good\n%s", checksum, out)
			}
			if diff := cmp.Diff(tc.a, got, cmpOpts); diff != "" {
				t.Errorf("tshark's dissection differs (-want +got):\n%s\n%s", diff, out)
			}
		})
	}
}

var (
	tsharkField = regexp.MustCompile(`^\s*\[?([A-Za-z0-9 ]+?): (.*?)\]?$`)
	tsharkParen = regexp.MustCompile(`\((\d+)\)$`)
)

// parseTsharkVRRP reads the VRRP part of `tshark -V` (tshark 4.0) into an Advertisement and
// the checksum status ("Good", "Bad", ...).
func parseTsharkVRRP(t *testing.T, out string) (Advertisement, string) {
	t.Helper()
	var (
		a        Advertisement
		status   string
		in       bool
		count    = -1
		typ      = -1
		verdict  string
		interval int
	)
	num := func(s string) int {
		n, err := strconv.Atoi(strings.Fields(s)[0])
		if err != nil {
			t.Fatalf("tshark field %q: %v", s, err)
		}
		return n
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "Virtual Router Redundancy Protocol") {
			in = true
			continue
		}
		if !in || line == "" || !strings.HasPrefix(line, " ") {
			in = in && line != "" && strings.HasPrefix(line, " ")
			continue
		}
		if i := strings.Index(line, " = "); i >= 0 {
			line = line[i+len(" = "):] // a bit field: "0010 .... = VRRP protocol version: 2"
		}
		m := tsharkField.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		key, val := strings.TrimSpace(m[1]), m[2]
		switch key {
		case "VRRP protocol version":
			a.Version = uint8(num(val))
		case "VRRP packet type":
			if p := tsharkParen.FindStringSubmatch(val); p != nil {
				typ, _ = strconv.Atoi(p[1])
			}
		case "Virtual Rtr ID":
			a.VRID = uint8(num(val))
		case "Priority":
			a.Priority = uint8(num(val))
		case "Addr Count":
			count = num(val)
		case "Auth Type":
			if p := tsharkParen.FindStringSubmatch(val); p != nil {
				n, _ := strconv.Atoi(p[1])
				a.AuthType = uint8(n)
			}
		case "Adver Int":
			interval = num(val)
		case "Checksum":
			// "0xaf1b [correct]"
			if i := strings.Index(val, "["); i >= 0 {
				verdict = strings.TrimSuffix(val[i+1:], "]")
			} else {
				verdict = val
			}
		case "Checksum Status":
			status = val
		case "IP Address":
			a.Addresses = append(a.Addresses, netip.MustParseAddr(val))
		case "IPv6 Address":
			a.Addresses = append(a.Addresses, netip.MustParseAddr(val))
		case "Authentication String":
			copy(a.AuthData[:], val)
		}
	}
	if typ != typeAdvertisement {
		t.Errorf("tshark packet type %d, want 1 (Advertisement)", typ)
	}
	if count != len(a.Addresses) {
		t.Errorf("tshark Addr Count %d but %d addresses listed", count, len(a.Addresses))
	}
	if verdict != "correct" && status == "Good" {
		t.Errorf("tshark checksum verdict %q with status Good", verdict)
	}
	if a.Version == 2 {
		a.Interval = time.Duration(interval) * time.Second
	} else {
		a.Interval = time.Duration(interval) * centisecond
	}
	return a, status
}

// ipPacket wraps a VRRP message into an IPv4 or IPv6 header with TTL / hop limit 255.
func ipPacket(src, dst netip.Addr, payload []byte) []byte {
	if src.Is4() {
		h := make([]byte, 20)
		h[0], h[1] = 0x45, 0xc0 // version 4, 20 bytes; DSCP CS6 like keepalived
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
		h[8], h[9] = TTL, ProtocolNumber
		s, d := src.As4(), dst.As4()
		copy(h[12:], s[:])
		copy(h[16:], d[:])
		binary.BigEndian.PutUint16(h[10:], ^fold(sum(0, h)))
		return append(h, payload...)
	}
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	h[6], h[7] = ProtocolNumber, TTL
	s, d := src.As16(), dst.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return append(h, payload...)
}

// rawPcap is a classic pcap file holding one packet with LINKTYPE_RAW (101): the IP header
// first, its version telling IPv4 from IPv6.
func rawPcap(packet []byte) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = binary.LittleEndian.AppendUint32(b, 0) // thiszone
	b = binary.LittleEndian.AppendUint32(b, 0) // sigfigs
	b = binary.LittleEndian.AppendUint32(b, 65535)
	b = binary.LittleEndian.AppendUint32(b, 101)
	b = binary.LittleEndian.AppendUint32(b, uint32(t0.Unix()))
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(packet)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(packet)))
	return append(b, packet...)
}

// TestTsharkFlagsAChecksumInTheOtherConvention is the other polarity: the dissection parsed
// above does report bad checksums, so a pass there means something.
func TestTsharkFlagsAChecksumInTheOtherConvention(t *testing.T) {
	tshark := testenv.RequireTool(t, "tshark")
	a := Advertisement{Version: 3, VRID: 52, Priority: 150, Interval: time.Second, Addresses: addrs("198.51.100.253")}
	payload, err := a.AppendEncode(nil, src4, MulticastIPv4, ChecksumPseudoHeader)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "advert.pcap")
	if err := os.WriteFile(file, rawPcap(ipPacket(src4, MulticastIPv4, payload)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tshark, "-n", "-r", file, "-V", "-o", "vrrp.v3_checksum_as_in_v2:TRUE").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	if _, status := parseTsharkVRRP(t, string(out)); status != "Bad" {
		t.Errorf("tshark checksum status %q for a pseudo-header checksum read as RFC 9568's, want Bad\n%s", status, out)
	}
}
