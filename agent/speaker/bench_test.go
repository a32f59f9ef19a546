package speaker

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/sockets"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
)

// The speaker's per-advert paths, from the Demux's handler to the instance and from the
// instance's timer to the socket, with -benchmem: a Master of 250 routers at 100 ms sends 2,500
// adverts a second and its Backup receives as many, so neither may allocate in steady state. The
// sockets package proves the same of the real socket (TestSendAndReceiveAllocateNothing).

// discard is a Conn that sends nowhere.
type discard struct{}

func (discard) Receive([]byte) (sockets.Packet, error)    { select {} }
func (discard) Send([]byte, netip.Addr, netip.Addr) error { return nil }
func (discard) Close() error                              { return nil }

// host is an AddressHolder and Announcer that does nothing but count the adds (refreshes).
type host struct {
	adds []time.Time
	now  *time.Time
}

func (h *host) Add(string, netip.Prefix, time.Duration) error {
	if h.now != nil {
		h.adds = append(h.adds, *h.now)
	}
	return nil
}
func (*host) Remove(string, netip.Prefix) error   { return nil }
func (*host) Check(string, netip.Prefix) error    { return nil }
func (*host) Announce(string, []netip.Addr) error { return nil }

// benchRouter is a router of d on a link whose socket discards what it sends, started with the
// link up, without its goroutine: the caller drives it.
func benchRouter(tb testing.TB, d desired.Router, primary string, h *host) *router {
	tb.Helper()
	n := newNode(newLAN(), primary)
	s := New(Options{Node: "bench", Addresses: h, Announcer: h, Network: n, AddressLifetime: 6 * time.Second})
	r, err := s.newRouter(d)
	if err != nil {
		tb.Fatal(err)
	}
	r.link = &link{s: s, conn: discard{}}
	r.linkChanged(LinkStatus{Up: true, Primary: netip.MustParseAddr(primary)})
	r.timer = time.NewTimer(time.Hour) // as run sets it: the reader may take adverts now
	tb.Cleanup(func() { r.timer.Stop() })
	return r
}

// backupAdvert is the advert of the Master of d, priority 150, from 198.51.100.1, as the Demux
// hands it over.
func backupAdvert(tb testing.TB, d desired.Router) sockets.Packet {
	tb.Helper()
	master, group := netip.MustParseAddr("198.51.100.1"), vrrp.MulticastIPv4
	adv := vrrp.Advertisement{Version: d.Config.Version, VRID: d.Config.VRID, Priority: 150, Interval: d.Config.AdvertInterval,
		Addresses: []netip.Addr{netip.MustParsePrefix(vip).Addr()}}
	payload, err := adv.AppendEncode(nil, master, group, d.Config.Checksum)
	if err != nil {
		tb.Fatal(err)
	}
	return sockets.Packet{Payload: payload, Src: master, Dst: group, TTL: vrrp.TTL, IfIndex: 2}
}

func BenchmarkMasterSendsAdverts(b *testing.B) {
	d := seed(255) // the owner starts as Master
	d.Config.Version, d.Config.Password, d.Config.AdvertInterval = 3, "", 100*time.Millisecond
	r := benchRouter(b, d, "198.51.100.1", &host{})
	if r.inst.State() != vrrp.StateMaster {
		b.Fatalf("state %s, want MASTER", r.inst.State())
	}
	// Past the announcements of becoming Master, as in steady state.
	now := time.Now().Add(time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		if next, _ := r.nextWake(); next.After(now) {
			now = next
		}
		r.tickAt(now)
	}
}

func BenchmarkBackupReceivesAdverts(b *testing.B) {
	d := seed(100)
	d.Config.Version, d.Config.Password, d.Config.AdvertInterval = 3, "", 100*time.Millisecond
	r := benchRouter(b, d, "198.51.100.2", &host{})
	if r.inst.State() != vrrp.StateBackup {
		b.Fatalf("state %s, want BACKUP", r.inst.State())
	}
	p := backupAdvert(b, d)
	b.Run("path=reader", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.packet(p) // as the Demux hands it over: taken at once
		}
	})
	b.Run("path=inbox", func(b *testing.B) {
		// A router busy when the advert comes: the inbox copies it for the router's goroutine.
		b.ReportAllocs()
		for b.Loop() {
			r.mu.Lock()
			r.packet(p)
			<-r.packets.ready
			q, _ := r.packets.take()
			r.receive(q)
			r.recycle(q.Payload)
			r.mu.Unlock()
		}
	})
	if r.inst.State() != vrrp.StateBackup {
		b.Fatalf("state %s after the adverts, want BACKUP", r.inst.State())
	}
}
