package sockets

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeConn hands out the packets the test sends on in, copying each into the reader's buffer as
// a socket would, and fails with readErr once in is closed.
type fakeConn struct {
	in      chan Packet
	closed  chan struct{}
	readErr error
}

var _ Conn = (*fakeConn)(nil)

func newFakeConn() *fakeConn {
	return &fakeConn{in: make(chan Packet), closed: make(chan struct{})}
}

func (f *fakeConn) Receive(buf []byte) (Packet, error) {
	select {
	case p, ok := <-f.in:
		if !ok {
			return Packet{}, f.readErr
		}
		p.Payload = buf[:copy(buf, p.Payload)]
		return p, nil
	case <-f.closed:
		return Packet{}, net.ErrClosed
	}
}

func (f *fakeConn) Send([]byte, netip.Addr, netip.Addr) error { return nil }

func (f *fakeConn) Close() error {
	select {
	case <-f.closed:
		return net.ErrClosed
	default:
		close(f.closed)
		return nil
	}
}

// advert returns a VRRPv3 advertisement header for vrid followed by tag, enough for a Demux.
func advert(vrid uint8, tag string) Packet {
	return Packet{Payload: append([]byte{0x31, vrid}, tag...)}
}

func TestDemuxDeliversByVRIDAndReportsDrops(t *testing.T) {
	own := advert(1, "echo")
	own.Own = true
	tests := map[string]struct {
		routers   []uint8
		in        []Packet
		want      map[uint8][]string
		wantDrops map[string]int
	}{
		// Two packets for VRID 51 around another one also prove that each handler gets a payload
		// of its own: the fake, like a socket, reads every packet into the same buffer.
		"each packet reaches the router registered for its VRID": {
			routers: []uint8{1, 51},
			in:      []Packet{advert(51, "a"), advert(1, "b"), advert(51, "c")},
			want:    map[uint8][]string{1: {"b"}, 51: {"a", "c"}},
		},
		"a packet for a VRID without a router is dropped as unknown": {
			routers:   []uint8{1},
			in:        []Packet{advert(2, "x"), advert(1, "y")},
			want:      map[uint8][]string{1: {"y"}},
			wantDrops: map[string]int{ErrUnknownVRID.Error(): 1},
		},
		"an echo of our own packet is dropped even for a known VRID": {
			routers:   []uint8{1},
			in:        []Packet{own},
			wantDrops: map[string]int{ErrOwnPacket.Error(): 1},
		},
		"a payload without a VRID byte is dropped as too short": {
			routers:   []uint8{0x31},
			in:        []Packet{{Payload: []byte{0x31}}, {}},
			wantDrops: map[string]int{ErrTooShort.Error(): 2},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			conn := newFakeConn()
			got := map[uint8][]string{}
			drops := map[string]int{}
			d := NewDemux(conn, func(_ Packet, reason error) { drops[reason.Error()]++ })
			for _, vrid := range tt.routers {
				if err := d.Handle(vrid, func(p Packet) {
					got[vrid] = append(got[vrid], string(p.Payload[2:]))
				}); err != nil {
					t.Fatal(err)
				}
			}
			for _, p := range tt.in {
				conn.in <- p
			}
			// Close waits for the reader, which has taken every packet: got and drops are final.
			if err := d.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if tt.want == nil {
				tt.want = map[uint8][]string{}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("delivered payloads (-want +got):\n%s", diff)
			}
			if tt.wantDrops == nil {
				tt.wantDrops = map[string]int{}
			}
			if diff := cmp.Diff(tt.wantDrops, drops); diff != "" {
				t.Errorf("drops by reason (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDemuxRefusesASecondRouterForOneVRID(t *testing.T) {
	d := NewDemux(newFakeConn(), nil)
	defer d.Close()
	if err := d.Handle(51, func(Packet) {}); err != nil {
		t.Fatal(err)
	}
	if err := d.Handle(51, func(Packet) {}); !errors.Is(err, ErrVRIDInUse) {
		t.Fatalf("second Handle(51) = %v, want %v", err, ErrVRIDInUse)
	}
}

func TestDemuxStopsCallingARemovedRouter(t *testing.T) {
	conn := newFakeConn()
	var got, dropped int
	delivered := make(chan struct{}, 1)
	d := NewDemux(conn, func(Packet, error) { dropped++ })
	if err := d.Handle(7, func(Packet) { got++; delivered <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	conn.in <- advert(7, "")
	<-delivered
	d.Remove(7)
	conn.in <- advert(7, "")
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if got != 1 || dropped != 1 {
		t.Fatalf("handler calls = %d, drops = %d; want 1 and 1", got, dropped)
	}
}

func TestDemuxReportsTheReadErrorThatStoppedIt(t *testing.T) {
	conn := newFakeConn()
	conn.readErr = errors.New("interface gone")
	d := NewDemux(conn, nil)
	close(conn.in)
	select {
	case <-d.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed after a read error")
	}
	if err := d.Close(); !errors.Is(err, conn.readErr) {
		t.Fatalf("Close = %v, want %v", err, conn.readErr)
	}
}

func TestFromPeer(t *testing.T) {
	peers := []netip.Addr{netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("fe80::2")}
	tests := map[string]struct {
		src  netip.Addr
		want bool
	}{
		"a listed IPv4 peer is accepted":                   {netip.MustParseAddr("198.51.100.2"), true},
		"an IPv4-mapped form of a listed peer is accepted": {netip.MustParseAddr("::ffff:198.51.100.2"), true},
		"a listed link-local peer is accepted with a zone": {netip.MustParseAddr("fe80::2%eth0"), true},
		"an address not listed is refused":                 {netip.MustParseAddr("198.51.100.3"), false},
		"the zero address is refused":                      {netip.Addr{}, false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := FromPeer(tt.src, peers); got != tt.want {
				t.Errorf("FromPeer(%s) = %v, want %v", tt.src, got, tt.want)
			}
		})
	}
}
