package speaker

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
)

// A Backup hears one advert per router and interval; taking it on the socket's reader spares a
// wake-up of the router's goroutine per advert. Whatever needs the goroutine (order behind packets
// waiting, a router that is busy or Master, actions beyond counting) still goes to it.

func backupRouter(t *testing.T) *router {
	t.Helper()
	d := seed(100)
	d.Config.Version, d.Config.Password, d.Config.AdvertInterval = 3, "", 100*time.Millisecond
	r := benchRouter(t, d, "198.51.100.2", &host{})
	if r.inst.State() != vrrp.StateBackup {
		t.Fatalf("state %s, want BACKUP", r.inst.State())
	}
	return r
}

func received(r *router) float64 {
	return testutil.ToFloat64(r.s.opts.Metrics.AdvertsReceived.WithLabelValues(r.name))
}

func TestAFreeBackupTakesAnAdvertOnTheReader(t *testing.T) {
	r := backupRouter(t)
	r.inst.Handle(vrrp.TimerExpired{}, time.Now()) // not due: changes nothing
	before, _ := r.inst.Deadline()
	r.packet(backupAdvert(t, r.cfg))
	if r.packets.waiting() {
		t.Fatal("the advert waits in the inbox of a router that was free")
	}
	if got := received(r); got != 1 {
		t.Errorf("%v adverts counted, want 1", got)
	}
	if after, _ := r.inst.Deadline(); !after.After(before) {
		t.Errorf("Master_Down_Timer still ends at %s, want it restarted by the advert", after.Format(time.StampNano))
	}
	if r.inst.State() != vrrp.StateBackup || r.deferred != nil {
		t.Errorf("state %s with %d actions left, want BACKUP with none", r.inst.State(), len(r.deferred))
	}
}

func TestABusyRouterGetsAdvertsThroughItsInboxInOrder(t *testing.T) {
	r := backupRouter(t)
	first, second := backupAdvert(t, r.cfg), backupAdvert(t, r.cfg)
	// The TTL tells them apart; the instance would drop the second.
	first.TTL, second.TTL = vrrp.TTL, vrrp.TTL-1
	r.mu.Lock() // the goroutine is handling something
	r.packet(first)
	r.mu.Unlock()
	r.packet(second) // free now, but behind a packet that waits
	for i, want := range []int{first.TTL, second.TTL} {
		p, ok := r.packets.take()
		if !ok || p.TTL != want {
			t.Fatalf("packet %d: TTL %d (%v), want %d", i, p.TTL, ok, want)
		}
	}
	if got := received(r); got != 0 {
		t.Errorf("%v adverts counted on the reader, want none", got)
	}
}

func TestAMasterLeavesAdvertsToItsGoroutine(t *testing.T) {
	d := seed(255)
	d.Config.Version, d.Config.Password, d.Config.AdvertInterval = 3, "", 100*time.Millisecond
	r := benchRouter(t, d, "198.51.100.2", &host{})
	if r.inst.State() != vrrp.StateMaster {
		t.Fatalf("state %s, want MASTER", r.inst.State())
	}
	r.packet(backupAdvert(t, r.cfg))
	if !r.packets.waiting() {
		t.Error("a Master's advert was handled on the reader")
	}
}

// Actions an advert left for the goroutine come first: the reader takes no advert before them,
// and the goroutine carries them out, and counts the advert, before its next event.
func TestActionsLeftToTheGoroutineRunFirst(t *testing.T) {
	r := backupRouter(t)
	sent := r.s.opts.Metrics.AdvertsSent.WithLabelValues(r.name)
	r.deferred = []vrrp.Action{vrrp.SendAdvert{Advert: vrrp.Advertisement{Version: 3, VRID: r.cfg.Config.VRID, Priority: 100,
		Interval: r.cfg.Config.AdvertInterval, Addresses: []netip.Addr{r.inst.Config().Addresses[0].Addr()}}}}
	r.deferredAt, r.received = time.Now(), true
	r.packet(backupAdvert(t, r.cfg))
	if !r.packets.waiting() {
		t.Fatal("the reader took an advert before the actions left for the goroutine")
	}
	r.catchUp()
	if got := testutil.ToFloat64(sent); got != 1 || r.deferred != nil {
		t.Fatalf("%v adverts sent with %d actions left, want the one left sent", got, len(r.deferred))
	}
	if got := received(r); got != 1 {
		t.Errorf("%v adverts counted, want the one whose actions ran", got)
	}
}

// An advert that comes once the Backup's Master_Down_Timer has run out waits for the goroutine,
// which the timer wakes: taken on the reader, it would restart the timer, and which of two
// simultaneous Backups becomes Master would depend on which goroutine ran first.
func TestABackupWhoseTimerIsDueLeavesTheAdvertToItsGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := backupRouter(t)
		deadline, _ := r.inst.Deadline()
		time.Sleep(time.Until(deadline))
		r.packet(backupAdvert(t, r.cfg))
		if !r.packets.waiting() {
			t.Fatal("the reader took an advert after the Master_Down_Timer ran out")
		}
		r.step(eventPacket)
		if got := testutil.ToFloat64(r.s.opts.Metrics.Transitions.WithLabelValues(r.name, "BACKUP", "MASTER")); got != 1 {
			t.Errorf("%v transitions to MASTER, want the timer's first, before the advert", got)
		}
	})
}
