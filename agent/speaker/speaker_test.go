package speaker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/hooks"
	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
)

const vip = "198.51.100.252/24"

// seed is the seed's VI_1 as one node runs it: v2, VRID 51, 1 s adverts, PASS, notify and stop hooks.
func seed(priority uint8) desired.Router {
	return desired.Router{
		Name:      "services",
		Interface: "eth0",
		Config: vrrp.Config{Name: "services", VRID: 51, Version: 2, Priority: priority,
			AdvertInterval: time.Second, Preempt: true, Password: "secret12",
			Addresses: []netip.Prefix{netip.MustParsePrefix(vip)}},
		Hooks: desired.Hooks{Notify: []string{"keepalived.sh"}, Stop: []string{"keepalived.sh", "0", "VI_1", "STOP"}},
		GARP:  desired.GARP{Count: 3, Interval: 1100 * time.Millisecond},
	}
}

// cluster is two or more speakers on one fake LAN, with every status change recorded.
type cluster struct {
	t        *testing.T
	lan      *lan
	nodes    map[string]*node
	speakers map[string]*Speaker
	metrics  map[string]*metrics.Metrics

	mu      sync.Mutex
	changes map[string][]Status // node -> statuses in order
}

func newCluster(t *testing.T, addrs map[string]string) *cluster {
	c := &cluster{t: t, lan: newLAN(), nodes: map[string]*node{}, speakers: map[string]*Speaker{},
		metrics: map[string]*metrics.Metrics{}, changes: map[string][]Status{}}
	for name, addr := range addrs {
		n := newNode(c.lan, addr)
		m := metrics.New(nil)
		c.nodes[name], c.metrics[name] = n, m
		c.speakers[name] = New(Options{Node: name, Addresses: n, Announcer: n, Hooks: n, Network: n,
			Metrics: m, AddressLifetime: 6 * time.Second,
			OnStatus: func(st Status) {
				c.mu.Lock()
				c.changes[name] = append(c.changes[name], st)
				c.mu.Unlock()
			}})
	}
	t.Cleanup(func() {
		for _, s := range c.speakers {
			_ = s.Shutdown(context.Background())
		}
	})
	return c
}

func (c *cluster) state(node string) vrrp.State {
	c.t.Helper()
	sts := c.speakers[node].Statuses()
	if len(sts) != 1 {
		c.t.Fatalf("%s runs %d routers, want 1", node, len(sts))
	}
	return sts[0].State
}

// masters lists the nodes in MASTER and checks that exactly they hold the VIP.
func (c *cluster) masters() []string {
	c.t.Helper()
	var out []string
	for _, name := range []string{"primary", "secondary", "third"} {
		n, ok := c.nodes[name]
		if !ok {
			continue
		}
		master := c.state(name) == vrrp.StateMaster
		if master != n.holds(vip) {
			c.t.Fatalf("%s: MASTER=%v but holds VIP=%v", name, master, n.holds(vip))
		}
		if master {
			out = append(out, name)
		}
	}
	return out
}

// becameMasterAt returns when node last reported MASTER.
func (c *cluster) becameMasterAt(node string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var at time.Time
	for _, st := range c.changes[node] {
		if st.State == vrrp.StateMaster {
			at = st.Since
		}
	}
	return at
}

func TestSpeakers(t *testing.T) {
	tests := map[string]func(t *testing.T, c *cluster){
		"the higher priority node becomes the only master and holds the VIP": func(t *testing.T, c *cluster) {
			if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
				t.Errorf("masters (-want +got):\n%s", diff)
			}
			if c.state("secondary") != vrrp.StateBackup {
				t.Errorf("secondary is %s, want BACKUP", c.state("secondary"))
			}
			if c.nodes["primary"].announced != 3 {
				t.Errorf("primary announced the VIP %d times, want the burst of 3", c.nodes["primary"].announced)
			}
		},
		"the master's graceful shutdown hands over within skew time and runs the stop hook": func(t *testing.T, c *cluster) {
			start := time.Now()
			if err := c.speakers["primary"].Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Second)
			synctest.Wait()
			if !c.nodes["secondary"].holds(vip) || c.nodes["primary"].holds(vip) {
				t.Fatalf("after shutdown: primary holds %v, secondary holds %v", c.nodes["primary"].holds(vip), c.nodes["secondary"].holds(vip))
			}
			took := c.becameMasterAt("secondary").Sub(start)
			if skew := vrrp.SkewTime(2, 100, time.Second); took > skew+10*time.Millisecond {
				t.Errorf("takeover took %v, want Skew_Time %v", took, skew)
			}
			want := [][]string{
				{"keepalived.sh", "INSTANCE", "services", "BACKUP", "150"},
				{"keepalived.sh", "INSTANCE", "services", "MASTER", "150"},
				{"keepalived.sh", "INSTANCE", "services", "STOP", "150"},
				{"keepalived.sh", "0", "VI_1", "STOP"},
			}
			if diff := cmp.Diff(want, c.nodes["primary"].hookCalls()); diff != "" {
				t.Errorf("primary's hooks (-want +got):\n%s", diff)
			}
		},
		"cordon demotes the master at once and uncordon takes the VIP back": func(t *testing.T, c *cluster) {
			cordoned := seed(1)
			cordoned.Resign, cordoned.Reason = true, "Cordoned"
			start := time.Now()
			c.speakers["primary"].Apply([]desired.Router{cordoned})
			time.Sleep(5 * time.Second)
			synctest.Wait()
			if diff := cmp.Diff([]string{"secondary"}, c.masters()); diff != "" {
				t.Fatalf("masters after cordon (-want +got):\n%s", diff)
			}
			if took, skew := c.becameMasterAt("secondary").Sub(start), vrrp.SkewTime(2, 100, time.Second); took > skew+10*time.Millisecond {
				t.Errorf("cordon takeover took %v, want Skew_Time %v", took, skew)
			}
			st := c.speakers["primary"].Statuses()[0]
			if st.Priority != 1 || st.Reason != "Cordoned" {
				t.Errorf("cordoned primary reports priority %d reason %q, want 1 Cordoned", st.Priority, st.Reason)
			}
			c.speakers["primary"].Apply([]desired.Router{seed(150)})
			time.Sleep(5 * time.Second)
			synctest.Wait()
			if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
				t.Errorf("masters after uncordon (-want +got):\n%s", diff)
			}
		},
		"a released node leaves, and comes back when released no more": func(t *testing.T, c *cluster) {
			released := seed(150)
			released.Released, released.Reason = true, "Maintenance"
			c.speakers["primary"].Apply([]desired.Router{released})
			time.Sleep(2 * time.Second)
			synctest.Wait()
			if diff := cmp.Diff([]string{"secondary"}, c.masters()); diff != "" {
				t.Fatalf("masters in maintenance (-want +got):\n%s", diff)
			}
			if st := c.speakers["primary"].Statuses()[0]; st.State != vrrp.StateStopped || st.Reason != "Maintenance" {
				t.Errorf("primary reports %s %q, want STOPPED Maintenance", st.State, st.Reason)
			}
			c.speakers["primary"].Apply([]desired.Router{seed(150)})
			time.Sleep(6 * time.Second)
			synctest.Wait()
			if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
				t.Errorf("masters after maintenance (-want +got):\n%s", diff)
			}
		},
		"link down on the master is a fault, and the node preempts back when the link returns": func(t *testing.T, c *cluster) {
			c.nodes["primary"].setLink(false)
			time.Sleep(5 * time.Second)
			synctest.Wait()
			if got := c.state("primary"); got != vrrp.StateFault {
				t.Fatalf("primary is %s with its link down, want FAULT", got)
			}
			// A configuration sync while the link is down keeps the reason of the fault.
			c.speakers["primary"].Apply([]desired.Router{seed(150)})
			synctest.Wait()
			if st := c.speakers["primary"].Statuses()[0]; st.Reason != "InterfaceDown" || st.Message == "" {
				t.Errorf("primary reports reason %q message %q after a sync while faulted, want InterfaceDown and why", st.Reason, st.Message)
			}
			if diff := cmp.Diff([]string{"secondary"}, c.masters()); diff != "" {
				t.Fatalf("masters with primary's link down (-want +got):\n%s", diff)
			}
			c.nodes["primary"].setLink(true)
			time.Sleep(6 * time.Second)
			synctest.Wait()
			if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
				t.Errorf("masters after the link returned (-want +got):\n%s", diff)
			}
		},
		"a new version of the router replaces the old one on both nodes and one master remains": func(t *testing.T, c *cluster) {
			for name, prio := range map[string]uint8{"primary": 150, "secondary": 100} {
				d := seed(prio)
				d.Config.Version, d.Config.Password = 3, ""
				c.speakers[name].Apply([]desired.Router{d})
			}
			time.Sleep(10 * time.Second)
			synctest.Wait()
			if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
				t.Errorf("masters after VRRPv2 -> v3 (-want +got):\n%s", diff)
			}
			if st := c.speakers["secondary"].Statuses(); len(st) != 1 || st[0].State != vrrp.StateBackup {
				t.Errorf("secondary reports %+v after the replacement, want one BACKUP", st)
			}
		},
		"a router renamed with the same VRID keeps one master": func(t *testing.T, c *cluster) {
			for name, prio := range map[string]uint8{"primary": 150, "secondary": 100} {
				d := seed(prio)
				d.Name, d.Config.Name = "renamed", "renamed"
				c.speakers[name].Apply([]desired.Router{d})
			}
			time.Sleep(10 * time.Second)
			synctest.Wait()
			if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
				t.Errorf("masters after the rename (-want +got):\n%s", diff)
			}
		},
		"a released node whose link flapped meanwhile comes back as master": func(t *testing.T, c *cluster) {
			released := seed(150)
			released.Released, released.Reason = true, "Maintenance"
			c.speakers["primary"].Apply([]desired.Router{released})
			time.Sleep(2 * time.Second)
			c.nodes["primary"].setLink(false)
			time.Sleep(2 * time.Second)
			c.nodes["primary"].setLink(true)
			time.Sleep(2 * time.Second)
			c.speakers["primary"].Apply([]desired.Router{seed(150)})
			time.Sleep(10 * time.Second)
			synctest.Wait()
			if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
				t.Errorf("masters after maintenance with a link flap (-want +got):\n%s", diff)
			}
		},
		"a priority change shows in status without a transition": func(t *testing.T, c *cluster) {
			c.speakers["secondary"].Apply([]desired.Router{seed(120)})
			time.Sleep(time.Second)
			synctest.Wait()
			if st := c.speakers["secondary"].Statuses()[0]; st.Priority != 120 || st.State != vrrp.StateBackup {
				t.Errorf("secondary reports %s at %d, want BACKUP at 120", st.State, st.Priority)
			}
		},
		"configuration churn while packets arrive is race free": func(t *testing.T, c *cluster) {
			hostile := &fakeConn{lan: c.lan, node: newNode(c.lan, "198.51.100.66"), closed: make(chan struct{})}
			for i := range 100 {
				_ = hostile.Send([]byte{0x21, 51, 255}, netip.MustParseAddr("198.51.100.66"), vrrp.MulticastIPv4)
				d := seed(100)
				d.GARP.Count = i + 1
				c.speakers["secondary"].Apply([]desired.Router{d})
			}
			synctest.Wait()
			if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
				t.Errorf("masters after the churn (-want +got):\n%s", diff)
			}
		},
		"a socket that fails to open on an up link is retried until the router hears the master": func(t *testing.T, c *cluster) {
			c.speakers["secondary"].Apply(nil)
			synctest.Wait()
			c.nodes["secondary"].mu.Lock()
			c.nodes["secondary"].listenFail = 3
			c.nodes["secondary"].mu.Unlock()
			c.speakers["secondary"].Apply([]desired.Router{seed(100)})
			time.Sleep(10 * time.Second)
			synctest.Wait()
			if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
				t.Errorf("masters after the socket opened late (-want +got):\n%s", diff)
			}
		},
		"a link whose last router left opens no socket when it comes up": func(t *testing.T, c *cluster) {
			c.speakers["secondary"].Apply(nil)
			synctest.Wait()
			c.nodes["secondary"].setLink(false)
			c.nodes["secondary"].setLink(true)
			synctest.Wait()
			c.lan.mu.Lock()
			defer c.lan.mu.Unlock()
			for conn := range c.lan.conns {
				if conn.node == c.nodes["secondary"] {
					t.Error("secondary still has a VRRP socket open after its only router left")
				}
			}
		},
		"hostile packets are counted by reason and change nothing": func(t *testing.T, c *cluster) {
			hostile := &fakeConn{lan: c.lan, node: newNode(c.lan, "198.51.100.66"), closed: make(chan struct{})}
			received := c.metrics["secondary"].AdvertsReceived.WithLabelValues("services")
			accepted := testutil.ToFloat64(received)
			src, dst := netip.MustParseAddr("198.51.100.66"), vrrp.MulticastIPv4
			// A well-formed advert with the right password and priority 254, but a broken checksum.
			good := vrrp.Advertisement{Version: 2, VRID: 51, Priority: 254, Interval: time.Second, AuthType: 1,
				Addresses: []netip.Addr{netip.MustParseAddr("198.51.100.252")}}
			copy(good.AuthData[:], "secret12")
			broken, err := good.AppendEncode(nil, src, dst, vrrp.ChecksumPseudoHeader)
			if err != nil {
				t.Fatal(err)
			}
			broken[6] ^= 0xff
			bad := [][]byte{
				{0x21, 51, 255}, // truncated
				broken,
				{0x41, 51, 255, 1, 0, 1, 0, 0, 0, 0, 0, 0}, // version 4
			}
			for range 50 {
				for _, b := range bad {
					_ = hostile.Send(b, src, dst)
				}
				synctest.Wait() // let the routers drain their queues, as a real sender's pace would
			}
			// A well-formed advert with the wrong password, priority 254: it must not win.
			adv := vrrp.Advertisement{Version: 2, VRID: 51, Priority: 254, Interval: time.Second, AuthType: 1,
				Addresses: []netip.Addr{netip.MustParseAddr("198.51.100.252")}}
			copy(adv.AuthData[:], "wrong")
			b, err := adv.AppendEncode(nil, src, dst, vrrp.ChecksumPseudoHeader)
			if err != nil {
				t.Fatal(err)
			}
			for range 10 {
				_ = hostile.Send(b, src, dst)
				synctest.Wait()
			}
			// No time passed, so the primary sent nothing: every packet above was refused.
			if got := testutil.ToFloat64(received); got != accepted {
				t.Errorf("secondary counted %v hostile packets as accepted adverts", got-accepted)
			}
			time.Sleep(5 * time.Second)
			synctest.Wait()
			if diff := cmp.Diff([]string{"primary"}, c.masters()); diff != "" {
				t.Errorf("masters after the hostile packets (-want +got):\n%s", diff)
			}
			m := c.metrics["secondary"].Dropped
			for reason, want := range map[string]float64{"length": 50, "checksum": 50, "version": 50, "auth": 10} {
				if got := testutil.ToFloat64(m.WithLabelValues("eth0", "services", reason)); got != want {
					t.Errorf("secondary counted %v drops for %s, want %v", got, reason, want)
				}
			}
		},
	}
	for name, test := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newCluster(t, map[string]string{"primary": "198.51.100.253", "secondary": "198.51.100.254"})
				c.speakers["primary"].Apply([]desired.Router{seed(150)})
				c.speakers["secondary"].Apply([]desired.Router{seed(100)})
				time.Sleep(10 * time.Second)
				synctest.Wait()
				test(t, c)
			})
		})
	}
}

func TestANodeReleasedFromTheStartStopsOnceWithItsStopHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, map[string]string{"primary": "198.51.100.253"})
		released := seed(150)
		released.Released, released.Reason = true, "Maintenance"
		c.speakers["primary"].Apply([]desired.Router{released})
		time.Sleep(5 * time.Second)
		synctest.Wait()
		st := c.speakers["primary"].Statuses()[0]
		if st.State != vrrp.StateStopped || st.Reason != "Maintenance" || st.Since.IsZero() {
			t.Errorf("primary reports %s %q since %v, want STOPPED Maintenance with a time", st.State, st.Reason, st.Since)
		}
		if err := c.speakers["primary"].Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := [][]string{
			{"keepalived.sh", "INSTANCE", "services", "STOP", "150"},
			{"keepalived.sh", "0", "VI_1", "STOP"},
		}
		if diff := cmp.Diff(want, c.nodes["primary"].hookCalls()); diff != "" {
			t.Errorf("hooks of a node in maintenance from start to exit (-want +got):\n%s", diff)
		}
	})
}

// Review of issue 12: a node that outranked every other when its router started (StartAsMaster)
// and no longer does must not start as Master when maintenance ends: it would take the VIP, run
// its MASTER hooks and announce beside the Master that outranks it, then step down.
func TestAStaleStartAsMasterIsNotUsedWhenARouterStartsAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, map[string]string{"primary": "198.51.100.253", "secondary": "198.51.100.254"})
		primary := seed(150)
		primary.Config.StartAsMaster = true
		c.speakers["primary"].Apply([]desired.Router{primary})
		c.speakers["secondary"].Apply([]desired.Router{seed(100)})
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := c.masters(); !slices.Equal(got, []string{"primary"}) {
			t.Fatalf("Masters %v, want primary", got)
		}

		// secondary is preferred now: primary no longer outranks every node.
		primary.Config.StartAsMaster = false
		c.speakers["secondary"].Apply([]desired.Router{seed(254)})
		c.speakers["primary"].Apply([]desired.Router{primary})
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := c.masters(); !slices.Equal(got, []string{"secondary"}) {
			t.Fatalf("Masters %v, want secondary", got)
		}
		before := c.becameMasterAt("primary")

		released := primary
		released.Released, released.Reason = true, "Maintenance"
		c.speakers["primary"].Apply([]desired.Router{released})
		time.Sleep(2 * time.Second)
		synctest.Wait()
		c.speakers["primary"].Apply([]desired.Router{primary})
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if at := c.becameMasterAt("primary"); !at.Equal(before) {
			t.Errorf("primary became MASTER again at %v when its maintenance ended, though secondary outranks it", at)
		}
		if got := c.masters(); !slices.Equal(got, []string{"secondary"}) {
			t.Errorf("Masters %v, want secondary", got)
		}
	})
}

func TestTheFirstRouterOfALinkIsRegisteredOnceWithoutError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newLAN()
		n := newNode(lan, "198.51.100.253")
		var mu sync.Mutex
		var errs []string
		log := funcr.New(func(prefix, args string) {
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, prefix+" "+args)
		}, funcr.Options{})
		s := New(Options{Node: "primary", Addresses: n, Announcer: n, Hooks: n, Network: n,
			Metrics: metrics.New(nil), AddressLifetime: 6 * time.Second, Log: log})
		t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
		s.Apply([]desired.Router{seed(150)})
		time.Sleep(5 * time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, e := range errs {
			if strings.Contains(e, "registering router") {
				t.Errorf("the first router of a link logged: %s", e)
			}
		}
		if st := s.Statuses()[0].State; st != vrrp.StateMaster {
			t.Errorf("the only router is %s, want MASTER: it must hear and send on its socket", st)
		}
	})
}

// Review of issue 9: an agent sync still running when shutdown begins must not start routers after
// Shutdown, which nothing would stop: they would keep the VIP and advertise after the agent left.
func TestApplyAfterShutdownStartsNothing(t *testing.T) {
	// running returns how many routers primary runs and whether it holds the VIP.
	running := func(c *cluster) (int, bool) {
		s := c.speakers["primary"]
		s.mu.Lock()
		n := len(s.routers)
		s.mu.Unlock()
		return n, c.nodes["primary"].holds(vip)
	}
	tests := map[string]func(t *testing.T, c *cluster){
		"an apply that comes after shutdown": func(t *testing.T, c *cluster) {
			if err := c.speakers["primary"].Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			c.speakers["primary"].Apply([]desired.Router{seed(150)})
		},
		"an apply waiting for a replaced router to stop when shutdown begins": func(t *testing.T, c *cluster) {
			hang := make(chan struct{})
			c.nodes["primary"].set(func(n *node) { n.removeHang = hang })
			moved := seed(150)
			moved.Config.VRID = 52 // a new wire identity: the old router stops, a new one starts
			applied := make(chan struct{})
			go func() {
				c.speakers["primary"].Apply([]desired.Router{moved})
				close(applied)
			}()
			synctest.Wait() // the old router hangs removing its VIP
			if err := c.speakers["primary"].Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			c.nodes["primary"].set(func(n *node) { n.removeHang = nil })
			close(hang)
			<-applied
		},
	}
	for name, test := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newCluster(t, map[string]string{"primary": "198.51.100.253"})
				c.speakers["primary"].Apply([]desired.Router{seed(150)})
				time.Sleep(10 * time.Second)
				synctest.Wait()
				if n, held := running(c); n != 1 || !held {
					t.Fatalf("before: primary runs %d routers holding the VIP %v, want 1 holding it", n, held)
				}
				test(t, c)
				time.Sleep(10 * time.Second)
				synctest.Wait()
				if n, held := running(c); n != 0 || held {
					t.Errorf("after shutdown: primary runs %d routers holding the VIP %v, want none and no VIP", n, held)
				}
			})
		})
	}
}

// Review of the hooks: a hook's result and a router's transition are published from different
// goroutines. A Master's notify hook that ends as the router steps down must not reach OnStatus
// after the step down, or the reporter keeps MASTER (the master label, two Masters in status)
// until the router changes again.
func TestAHookResultIsNotPublishedAfterANewerTransition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNode(newLAN(), "198.51.100.253")
		var mu sync.Mutex
		var published []Status
		first, entered, release := make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
		first <- struct{}{}
		s := New(Options{Node: "primary", Addresses: n, Announcer: n, Hooks: n, Network: n,
			Metrics: metrics.New(nil), AddressLifetime: 6 * time.Second,
			OnStatus: func(st Status) {
				if st.State == vrrp.StateMaster && st.LastHook != nil {
					select {
					case <-first: // the hook's result, stored as MASTER, waits here to be published
						close(entered)
						<-release
					default:
					}
				}
				mu.Lock()
				published = append(published, st)
				mu.Unlock()
			}})
		t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
		s.Apply([]desired.Router{seed(150)})
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if st := s.Statuses()[0].State; st != vrrp.StateMaster {
			t.Fatalf("primary is %s, want MASTER", st)
		}

		go s.HookDone(hooks.Result{Job: hooks.Job{Router: "services", Kind: hooks.KindMaster}})
		<-entered
		released := seed(150)
		released.Released, released.Reason = true, "Maintenance"
		s.Apply([]desired.Router{released}) // the router steps down meanwhile
		synctest.Wait()
		close(release)
		time.Sleep(time.Second)
		synctest.Wait()

		latest := s.Statuses()[0]
		mu.Lock()
		last := published[len(published)-1]
		mu.Unlock()
		if latest.State == vrrp.StateMaster {
			t.Fatalf("primary is still MASTER after its release")
		}
		if last.State != latest.State || last.Reason != latest.Reason {
			t.Errorf("the last status published is %s %q, want the router's latest, %s %q", last.State, last.Reason, latest.State, latest.Reason)
		}
		if latest.LastHook == nil || latest.LastHook.Job.Kind != hooks.KindMaster || last.LastHook == nil {
			t.Errorf("the hook's result is not in the latest status: %+v, published %+v", latest.LastHook, last.LastHook)
		}
	})
}

// Each hook result is counted under what became of it, a hook cut short at shutdown as such
// rather than as a failure or a refusal, so that alerts on failing hooks stay quiet then.
func TestHookResultsAreCountedByWhatBecameOfThem(t *testing.T) {
	m := metrics.New(nil)
	s := New(Options{Node: "primary", Metrics: m})
	job := hooks.Job{Router: "services", Kind: hooks.KindMaster}
	for _, c := range []struct {
		res  hooks.Result
		want string
	}{
		{hooks.Result{Job: job, Path: "/hooks/a.sh"}, "success"},
		{hooks.Result{Job: job, Path: "/hooks/a.sh", ExitCode: 1, Err: errors.New("exit status 1")}, "failure"},
		{hooks.Result{Job: job, Path: "/hooks/a.sh", TimedOut: true, Err: hooks.ErrTimeout}, "timeout"},
		{hooks.Result{Job: job, Err: errors.New("not in the hook directory")}, "refused"},
		{hooks.Result{Job: job, Err: hooks.ErrDropped}, "dropped"},
		{hooks.Result{Job: job, Err: fmt.Errorf("master hook of services not run: %w", hooks.ErrCut)}, "cut"},
		{hooks.Result{Job: job, Path: "/hooks/a.sh", Err: fmt.Errorf("running: %w", hooks.ErrCut)}, "cut"},
	} {
		before := testutil.ToFloat64(m.HookRuns.WithLabelValues("services", hooks.KindMaster, c.want))
		s.HookDone(c.res)
		if got := testutil.ToFloat64(m.HookRuns.WithLabelValues("services", hooks.KindMaster, c.want)) - before; got != 1 {
			t.Errorf("%v: counted %v times as %s, want once", c.res.Err, got, c.want)
		}
	}
}
