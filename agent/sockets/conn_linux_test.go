package sockets

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// readTimeout bounds every read: packets between namespaces arrive in microseconds.
const readTimeout = 5 * time.Second

var (
	hostA4 = netip.MustParseAddr("198.51.100.1")
	hostB4 = netip.MustParseAddr("198.51.100.2")
	hostA6 = netip.MustParseAddr("2001:db8::1")
	hostB6 = netip.MustParseAddr("2001:db8::2")
)

// payload looks like a VRRPv3 advertisement for VRID 51 whose checksum field (bytes 6 and 7) is
// deliberately wrong: it must cross the wire untouched, neither fixed nor dropped by the kernel.
func payload(tag byte) []byte {
	return []byte{0x31, 51, 150, 1, 0x00, 0x64, 0xde, 0xad, 198, 51, 100, 10, tag}
}

// twoHosts makes hosts A (eth0) and B (ens3) on one bridge, with link-local addresses usable as
// sources (duplicate address detection finished).
func twoHosts(t *testing.T) (a, b *testenv.Host) {
	t.Helper()
	lab := testenv.NewLab(t)
	a = lab.Host("eth0", "198.51.100.1/24", "2001:db8::1/64")
	b = lab.Host("ens3", "198.51.100.2/24", "2001:db8::2/64")
	a.WaitLinkLocal(t, a.Link)
	b.WaitLinkLocal(t, b.Link)
	return a, b
}

// oneHost makes host A alone, for tests that need a namespace but no peer.
func oneHost(t *testing.T) *testenv.Host {
	t.Helper()
	return testenv.NewLab(t).Host("eth0", "198.51.100.1/24", "2001:db8::1/64")
}

// linkLocal returns the link-local address of link in h.
func linkLocal(t *testing.T, h *testenv.Host, link string) netip.Addr {
	t.Helper()
	for _, f := range strings.Fields(h.IP("-6", "-o", "addr", "show", "dev", link, "scope", "link")) {
		if p, err := netip.ParsePrefix(f); err == nil {
			return p.Addr()
		}
	}
	t.Fatalf("no link-local address on %s in %s", link, h.Name)
	return netip.Addr{}
}

// listen opens a RawConn on link inside h and closes it when the test ends.
func listen(t *testing.T, h *testenv.Host, link string, v6 bool) *RawConn {
	t.Helper()
	var c *RawConn
	if err := h.Do(func() (err error) {
		c, err = Listen(link, v6)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// receive returns the next packet on c, failing the test if none comes in time.
func receive(t *testing.T, c *RawConn) Packet {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(readTimeout)); err != nil {
		t.Fatal(err)
	}
	p, err := c.Receive(make([]byte, 1500))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPeersExchangeAdvertisementsWithTTL255(t *testing.T) {
	t.Parallel()
	a, b := twoHosts(t)
	a4, b4 := listen(t, a, "eth0", false), listen(t, b, "ens3", false)
	a6, b6 := listen(t, a, "eth0", true), listen(t, b, "ens3", true)
	if off, err := checksumOffset(b6.pc); err != nil || off != -1 {
		t.Fatalf("IPV6_CHECKSUM = %d (%v), want -1: the codec checks VRRP checksums", off, err)
	}
	aLL, bLL := linkLocal(t, a, "eth0"), linkLocal(t, b, "ens3")

	tests := map[string]struct {
		from, to *RawConn
		src, dst netip.Addr
		replySrc netip.Addr
		replyDst netip.Addr
	}{
		"IPv4 multicast to 224.0.0.18 from the primary address": {
			from: a4, to: b4, src: hostA4, dst: GroupIPv4, replySrc: hostB4, replyDst: GroupIPv4,
		},
		"IPv6 multicast to ff02::12 from the link-local address": {
			from: a6, to: b6, src: aLL, dst: GroupIPv6, replySrc: bLL, replyDst: GroupIPv6,
		},
		"IPv4 unicast to a peer": {
			from: a4, to: b4, src: hostA4, dst: hostB4, replySrc: hostB4, replyDst: hostA4,
		},
		"IPv6 unicast to a peer": {
			from: a6, to: b6, src: hostA6, dst: hostB6, replySrc: hostB6, replyDst: hostA6,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			if err := tt.from.Send(payload(1), tt.src, tt.dst); err != nil {
				t.Fatal(err)
			}
			got := receive(t, tt.to)
			t.Logf("delivered in %v", time.Since(start))
			want := Packet{Payload: payload(1), Src: tt.src, Dst: tt.dst, TTL: 255, IfIndex: tt.to.Interface().Index}
			if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Fatalf("packet received by the peer (-want +got):\n%s", diff)
			}

			// Were the sender to hear its own packet, that echo would be queued before the
			// peer's reply, which leaves only after the peer has received the original.
			if err := tt.to.Send(payload(2), tt.replySrc, tt.replyDst); err != nil {
				t.Fatal(err)
			}
			got = receive(t, tt.from)
			want = Packet{Payload: payload(2), Src: tt.replySrc, Dst: tt.replyDst, TTL: 255, IfIndex: tt.from.Interface().Index}
			if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Fatalf("first packet back at the sender (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReceiveReportsTheTTLAPacketArrivedWith(t *testing.T) {
	t.Parallel()
	a, b := twoHosts(t)
	tests := map[string]struct {
		v6   bool
		send func(ifi *net.Interface) error // sends payload(1) from a plain socket with TTL 1
	}{
		"IPv4 multicast sent with TTL 1": {
			send: func(ifi *net.Interface) error {
				c, err := net.ListenPacket("ip4:112", "0.0.0.0")
				if err != nil {
					return err
				}
				defer c.Close()
				p := ipv4.NewPacketConn(c)
				if err := errors.Join(p.SetMulticastInterface(ifi), p.SetMulticastTTL(1)); err != nil {
					return err
				}
				_, err = p.WriteTo(payload(1), nil, &net.IPAddr{IP: GroupIPv4.AsSlice()})
				return err
			},
		},
		"IPv6 multicast sent with hop limit 1": {
			v6: true,
			send: func(ifi *net.Interface) error {
				c, err := net.ListenPacket("ip6:112", "::")
				if err != nil {
					return err
				}
				defer c.Close()
				p := ipv6.NewPacketConn(c)
				if err := errors.Join(p.SetMulticastInterface(ifi), p.SetMulticastHopLimit(1)); err != nil {
					return err
				}
				_, err = p.WriteTo(payload(1), nil, &net.IPAddr{IP: GroupIPv6.AsSlice()})
				return err
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			c := listen(t, b, "ens3", tt.v6)
			if err := a.Do(func() error {
				ifi, err := net.InterfaceByName("eth0")
				if err != nil {
					return err
				}
				return tt.send(ifi)
			}); err != nil {
				t.Fatal(err)
			}
			if got := receive(t, c); got.TTL != 1 {
				t.Fatalf("received TTL %d, want 1 (packet %+v)", got.TTL, got)
			}
		})
	}
}

func TestSocketHearsOnlyItsOwnInterface(t *testing.T) {
	t.Parallel()
	a, b := twoHosts(t)
	// A second link between the same two hosts, beside the bridge: A's vx1 to B's vx0.
	a.IP("link", "add", "vx1", "type", "veth", "peer", "name", "vx0", "netns", b.Name)
	for _, side := range []struct {
		h          *testenv.Host
		link, addr string
	}{{a, "vx1", "203.0.113.1/24"}, {b, "vx0", "203.0.113.2/24"}} {
		// DAD off: the link-local address must be usable at once.
		side.h.Sysctl(t, "net/ipv6/conf/"+side.link+"/accept_dad", "0")
		side.h.IP("addr", "add", side.addr, "dev", side.link)
		side.h.IP("link", "set", side.link, "up")
	}
	a.WaitLinkLocal(t, "vx1")
	b.WaitLinkLocal(t, "vx0")

	tests := map[string]struct {
		v6             bool
		onVX, onBridge netip.Addr // sources on the second link and on the bridge
		group          netip.Addr
	}{
		"IPv4": {onVX: netip.MustParseAddr("203.0.113.1"), onBridge: hostA4, group: GroupIPv4},
		"IPv6": {v6: true, onVX: linkLocal(t, a, "vx1"), onBridge: linkLocal(t, a, "eth0"), group: GroupIPv6},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			bridged, second := listen(t, b, "ens3", tt.v6), listen(t, b, "vx0", tt.v6)
			if err := listen(t, a, "vx1", tt.v6).Send(payload(1), tt.onVX, tt.group); err != nil {
				t.Fatal(err)
			}
			if got := receive(t, second); got.Src != tt.onVX {
				t.Fatalf("socket on vx0 received a packet from %s, want %s", got.Src, tt.onVX)
			}
			// The bridged socket would have queued the packet from vx0 before this one.
			if err := listen(t, a, "eth0", tt.v6).Send(payload(2), tt.onBridge, tt.group); err != nil {
				t.Fatal(err)
			}
			if got := receive(t, bridged); got.Src != tt.onBridge {
				t.Fatalf("socket on ens3 first received a packet from %s, want the one from %s", got.Src, tt.onBridge)
			}
		})
	}
}

// An echo of our own packet is marked Own. A source this socket has not sent from for a minute is
// ours no longer (the node was renumbered): a peer that holds that address now is heard, not
// dropped as our echo (review of issue 12).
func TestOwnEchoIsMarked(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		later time.Duration // how long after the send the packet is read
		own   bool
	}{
		"an echo at once is ours": {later: 0, own: true},
		"a packet from a source not sent from for a minute is a peer's": {later: ownEchoMemory, own: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := oneHost(t)
			c := listen(t, a, "eth0", false)
			// Loopback is off in production; switching it on here stands for any path that brings
			// our own packet back, such as a bridging loop.
			if err := c.p4.SetMulticastLoopback(true); err != nil {
				t.Fatal(err)
			}
			if err := c.Send(payload(1), hostA4, GroupIPv4); err != nil {
				t.Fatal(err)
			}
			c.mu.Lock()
			c.now = func() time.Time { return time.Now().Add(tc.later) }
			c.mu.Unlock()
			if got := receive(t, c); got.Own != tc.own || got.Src != hostA4 {
				t.Fatalf("received from %s with Own = %v, want %v from %s", got.Src, got.Own, tc.own, hostA4)
			}
		})
	}
}

func TestCloseUnblocksReceive(t *testing.T) {
	t.Parallel()
	a := oneHost(t)
	for _, v6 := range []bool{false, true} {
		c := listen(t, a, "eth0", v6)
		errc := make(chan error, 1)
		go func() {
			_, err := c.Receive(make([]byte, 1500))
			errc <- err
		}()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Receive after Close (IPv6 %v) = %v, want net.ErrClosed", v6, err)
			}
		case <-time.After(readTimeout):
			t.Fatalf("Receive still blocked %v after Close (IPv6 %v)", readTimeout, v6)
		}
	}
}

func TestSendRefusesTheOtherFamily(t *testing.T) {
	t.Parallel()
	a := oneHost(t)
	c := listen(t, a, "eth0", false)
	if err := c.Send(payload(1), hostA6, GroupIPv6); !errors.Is(err, ErrFamily) {
		t.Fatalf("IPv6 Send on an IPv4 socket = %v, want %v", err, ErrFamily)
	}
}

func TestListenFailsForAMissingInterface(t *testing.T) {
	_, err := Listen("vrrp-missing0", false)
	if err == nil || !strings.Contains(err.Error(), "vrrp-missing0") {
		t.Fatalf("Listen on a missing interface = %v, want an error naming it", err)
	}
}

// A Master of 250 routers at 100 ms sends 2,500 adverts a second and its Backup receives as many:
// neither side allocates per packet.
func TestSendAndReceiveAllocateNothing(t *testing.T) {
	a, b := twoHosts(t)
	for _, v6 := range []bool{false, true} {
		from, to := listen(t, a, "eth0", v6), listen(t, b, "ens3", v6)
		src, group := hostA4, GroupIPv4
		if v6 {
			src, group = linkLocal(t, a, "eth0"), GroupIPv6
		}
		msg, buf := payload(1), make([]byte, 1500)
		var err error
		allocs := testing.AllocsPerRun(50, func() {
			if e := from.Send(msg, src, group); e != nil {
				err = e
				return
			}
			if e := to.SetReadDeadline(time.Now().Add(readTimeout)); e != nil {
				err = e
				return
			}
			p, e := to.Receive(buf)
			if e == nil && (p.Src.WithZone("") != src.WithZone("") || p.Dst != group || p.TTL != 255 || len(p.Payload) != len(msg)) {
				e = fmt.Errorf("received %+v", p)
			}
			if e != nil {
				err = e
			}
		})
		if err != nil {
			t.Fatalf("IPv6 %v: %v", v6, err)
		}
		if allocs != 0 {
			t.Errorf("IPv6 %v: a send and a receive allocate %v times, want 0", v6, allocs)
		}
	}
}

func TestABurstOfEveryVRIDWaitsForAReaderThatIsLate(t *testing.T) {
	t.Parallel()
	// A node's Masters advertise in bursts (vrrp's Adver_Timer slots): a Backup's socket may get
	// an advert of each of the 255 VRIDs at once, while its reader is descheduled. Adverts of
	// the largest kind a VirtualIP makes (16 addresses) stand for the worst case.
	a, b := twoHosts(t)
	for _, v6 := range []bool{false, true} {
		rx := listen(t, a, a.Link, v6)
		if got := rx.ReceiveBuffer(); got < 2*ReceiveBuffer {
			t.Fatalf("receive buffer %d bytes, want %d (twice ReceiveBuffer)", got, 2*ReceiveBuffer)
		}
		tx := listen(t, b, b.Link, v6)
		src, dst, addr := hostB4, GroupIPv4, hostA4.AsSlice()
		if v6 {
			src, dst, addr = linkLocal(t, b, b.Link), GroupIPv6, hostA6.AsSlice()
		}
		advert := []byte{0x31, 0, 100, 16, 0x00, 0x64, 0, 0}
		for range 16 {
			advert = append(advert, addr...)
		}
		const burst = 255
		for vrid := 1; vrid <= burst; vrid++ {
			advert[1] = byte(vrid)
			if err := tx.Send(advert, src, dst); err != nil {
				t.Fatal(err)
			}
		}
		buf := make([]byte, 1500)
		for got := range burst {
			if err := rx.SetReadDeadline(time.Now().Add(readTimeout)); err != nil {
				t.Fatal(err)
			}
			p, err := rx.Receive(buf)
			if err != nil {
				t.Fatalf("IPv6 %v: after %d of %d adverts: %v", v6, got, burst, err)
			}
			if p.Payload[1] != byte(got+1) {
				t.Fatalf("IPv6 %v: advert %d is of VRID %d, want %d: the socket dropped some", v6, got+1, p.Payload[1], got+1)
			}
		}
	}
}
