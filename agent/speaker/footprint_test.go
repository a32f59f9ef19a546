package speaker

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-logr/logr"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
)

// Issue 12: what one router costs a standalone agent, measured in the process: the live heap and
// the goroutine stacks that 250 routers add to a node, as Backups of a Master (one goroutine that
// sends the Master's adverts, so that only the node's own stacks count) and as Masters (alone, so
// that they become Master after Master_Down_Interval), with the
// standalone agent's logger (agent/standalone: slog's text handler through logr). The routers are
// test/footprint's: VRRPv3, 1 s adverts, one VIP each. Run with -v to read the numbers; the test
// checks only that the routers settled in their roles.
const footprintRouters = 250

// footprintRouter is router i (1 to footprintRouters) of test/footprint at priority.
func footprintRouter(i int, priority uint8) desired.Router {
	name := fmt.Sprintf("vip-%03d", i)
	return desired.Router{
		Name:      name,
		Interface: "eth0",
		Config: vrrp.Config{Name: name, VRID: uint8(i), Version: 3, Priority: priority, AdvertInterval: time.Second,
			Preempt: true, Addresses: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 2)}), 24)}},
		GARP: desired.GARP{Count: desired.DefaultGARPCount, Interval: desired.DefaultGARPInterval},
	}
}

// footprintNode starts the footprint's routers at priority on a new node of lan, and returns the
// speaker and its node.
func footprintNode(t *testing.T, lan *lan, addr string, priority uint8) (*Speaker, *node) {
	n := newNode(lan, addr)
	log := logr.FromSlogHandler(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s := New(Options{Node: addr, Addresses: n, Announcer: n, Network: n, Metrics: metrics.New(nil),
		AddressLifetime: 6 * time.Second, Log: log})
	t.Cleanup(func() { _ = s.Shutdown(t.Context()) })
	want := make([]desired.Router, footprintRouters)
	for i := range want {
		want[i] = footprintRouter(i+1, priority)
	}
	s.Apply(want)
	return s, n
}

// advertise sends the adverts of a Master of the footprint's routers at priority every second
// from c until the test ends.
func advertise(t *testing.T, c *fakeConn, priority uint8) {
	src := netip.MustParseAddr("198.51.100.253")
	var payloads [][]byte
	for i := 1; i <= footprintRouters; i++ {
		cfg := footprintRouter(i, priority).Config
		adv := vrrp.Advertisement{Version: cfg.Version, VRID: cfg.VRID, Priority: priority, Interval: cfg.AdvertInterval,
			Addresses: []netip.Addr{cfg.Addresses[0].Addr()}}
		p, err := adv.AppendEncode(nil, src, vrrp.MulticastIPv4, cfg.Checksum)
		if err != nil {
			t.Error(err)
			return
		}
		payloads = append(payloads, p)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		for _, p := range payloads {
			_ = c.Send(p, src, vrrp.MulticastIPv4)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			return
		}
	}
}

// footprint is what a node's routers hold, per router.
type footprint struct {
	heap, stack, grownStack float64
}

// memStats returns the stacks in use as they are, then the live heap and the stacks after a
// collection, which shrinks the stacks of goroutines that use less than a quarter of theirs.
func memStats() (grownStack, heap, stack uint64) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	grownStack = m.StackInuse
	runtime.GC()
	runtime.ReadMemStats(&m)
	return grownStack, m.HeapAlloc, m.StackInuse
}

// measureFootprint runs the footprint's routers on a node in role (StateBackup or StateMaster)
// and returns what they hold.
func measureFootprint(t *testing.T, role vrrp.State) footprint {
	var fp footprint
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		priority := uint8(150)
		if role == vrrp.StateBackup {
			go advertise(t, lan.tap(), 150)
			priority = 100
		}
		grown0, heap0, stack0 := memStats()
		s, _ := footprintNode(t, lan, "198.51.100.254", priority)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		grown1, heap1, stack1 := memStats()
		sts := s.Statuses()
		if len(sts) != footprintRouters {
			t.Fatalf("the node runs %d routers, want %d", len(sts), footprintRouters)
		}
		for _, st := range sts {
			if st.State != role {
				t.Fatalf("%s is %s, want %s", st.Router, st.State, role)
			}
		}
		n := float64(footprintRouters)
		fp = footprint{heap: (float64(heap1) - float64(heap0)) / n, stack: (float64(stack1) - float64(stack0)) / n,
			grownStack: (float64(grown1) - float64(grown0)) / n}
	})
	return fp
}

func TestRouterFootprint(t *testing.T) {
	for _, role := range []vrrp.State{vrrp.StateBackup, vrrp.StateMaster} {
		t.Run("role="+role.String(), func(t *testing.T) {
			fp := measureFootprint(t, role)
			t.Logf("per router: heap %.0f B, stack %.0f B (%.0f B before the collection)", fp.heap, fp.stack, fp.grownStack)
		})
	}
}
