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
	return r
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
	master, group := netip.MustParseAddr("198.51.100.1"), vrrp.MulticastIPv4
	adv := vrrp.Advertisement{Version: 3, VRID: d.Config.VRID, Priority: 150, Interval: d.Config.AdvertInterval,
		Addresses: []netip.Addr{netip.MustParsePrefix(vip).Addr()}}
	payload, err := adv.AppendEncode(nil, master, group, d.Config.Checksum)
	if err != nil {
		b.Fatal(err)
	}
	p := sockets.Packet{Payload: payload, Src: master, Dst: group, TTL: vrrp.TTL, IfIndex: 2}
	b.ReportAllocs()
	for b.Loop() {
		r.packet(p) // as the Demux hands it over
		<-r.packets.ready
		q, _ := r.packets.take()
		r.receive(q)
		r.recycle(q.Payload)
	}
	if r.inst.State() != vrrp.StateBackup {
		b.Fatalf("state %s after the adverts, want BACKUP", r.inst.State())
	}
}

// A Master refreshes the lifetime of its VIPs (every third of it) together with an advert rather
// than at a wake-up of its own, which 250 routers would pay 125 times a second with the default
// 6 s; the refreshes stay a third of the lifetime apart and are never late by more than half an
// advert interval.
func TestAMastersRefreshesGoWithItsAdverts(t *testing.T) {
	for _, interval := range []time.Duration{time.Second, 100 * time.Millisecond, 30 * time.Millisecond} {
		t.Run(interval.String(), func(t *testing.T) {
			d := seed(255)
			d.Config.Version, d.Config.Password, d.Config.AdvertInterval = 3, "", interval
			d.GARP = desired.GARP{} // one announcement, at once
			now := time.Now()
			h := &host{now: &now}
			r := benchRouter(t, d, "198.51.100.1", h)
			if r.inst.State() != vrrp.StateMaster || len(h.adds) != 1 {
				t.Fatalf("state %s with %d adds, want MASTER with its VIP", r.inst.State(), len(h.adds))
			}
			h.adds = nil
			end := now.Add(time.Minute)
			for now.Before(end) {
				next, _ := r.nextWake()
				if adv, _ := r.inst.Deadline(); !next.Equal(adv) {
					t.Fatalf("at %s the next wake-up is %s, not the advert due at %s", now.Sub(end), next.Sub(adv), adv.Sub(end))
				}
				now = next
				r.tickAt(now)
			}
			if len(h.adds) < 29 || len(h.adds) > 30 {
				t.Errorf("%d refreshes in a minute, want one every 2s", len(h.adds))
			}
			for i := 1; i < len(h.adds); i++ {
				if gap := h.adds[i].Sub(h.adds[i-1]); gap < 2*time.Second-interval/2 || gap > 2*time.Second+interval/2 {
					t.Errorf("refresh %d came %s after the one before, want 2s ± %s", i, gap, interval/2)
				}
			}
		})
	}
}
