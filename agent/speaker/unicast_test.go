package speaker

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/agent/sockets"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
)

// linkLocalNode is a node whose link reports an IPv6 link-local primary address, as netif does:
// unicast peers know the node by its global address (node.addr), where the fake LAN delivers.
// Packets arrive with hopLimit, as keepalived's IPv6 unicast adverts do with 64.
type linkLocalNode struct {
	*node
	linkLocal netip.Addr
	hopLimit  int
}

func (n linkLocalNode) Watch(ctx context.Context, _ string, _ bool, onChange func(LinkStatus)) {
	onChange(LinkStatus{Up: true, Primary: n.linkLocal})
	<-ctx.Done()
}

func (n linkLocalNode) Listen(ifname string, v6 bool) (sockets.Conn, error) {
	c, err := n.node.Listen(ifname, v6)
	if err != nil {
		return nil, err
	}
	return hopConn{Conn: c, hopLimit: n.hopLimit}, nil
}

type hopConn struct {
	sockets.Conn
	hopLimit int
}

func (c hopConn) Receive(buf []byte) (sockets.Packet, error) {
	p, err := c.Conn.Receive(buf)
	p.TTL = c.hopLimit
	return p, err
}

// TestIPv6UnicastElectsOneMaster: adverts leave from the address the peers know, not the link-local
// one, so that each node hears the other and exactly one is Master; ties go to the higher of those
// addresses on both nodes alike (issue 9 item 1).
func TestIPv6UnicastElectsOneMaster(t *testing.T) {
	const v6VIP = "2001:db8::252/64"
	// The link-local addresses order the nodes the other way round from their global ones, so that
	// a tie broken on a link-local address on either side would show.
	nodes := map[string]struct{ global, linkLocal string }{
		"primary":   {global: "2001:db8::253", linkLocal: "fe80::1"},
		"secondary": {global: "2001:db8::254", linkLocal: "fe80::9"},
	}
	tests := map[string]struct {
		priorities map[string]uint8
		hopLimit   int
		want       string
	}{
		"the higher priority is the only Master":                                 {priorities: map[string]uint8{"primary": 150, "secondary": 100}, hopLimit: 255, want: "primary"},
		"Masters of one priority that meet keep the higher unicast source":       {priorities: map[string]uint8{"primary": 100, "secondary": 100}, hopLimit: 255, want: "secondary"},
		"a peer's adverts count whatever their hop limit, as keepalived's 64 do": {priorities: map[string]uint8{"primary": 100, "secondary": 150}, hopLimit: 64, want: "secondary"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lan := newLAN()
				fakes, speakers, ms := map[string]*node{}, map[string]*Speaker{}, map[string]*metrics.Metrics{}
				for n, a := range nodes {
					fakes[n] = newNode(lan, a.global)
					ll := linkLocalNode{node: fakes[n], linkLocal: netip.MustParseAddr(a.linkLocal), hopLimit: tc.hopLimit}
					ms[n] = metrics.New(nil)
					speakers[n] = New(Options{Node: n, Addresses: ll, Announcer: ll, Hooks: ll, Network: ll,
						Metrics: ms[n], AddressLifetime: 6 * time.Second})
				}
				t.Cleanup(func() {
					for _, s := range speakers {
						_ = s.Shutdown(context.Background())
					}
				})
				for n, a := range nodes {
					peer := netip.MustParseAddr(nodes[other(n)].global)
					speakers[n].Apply([]desired.Router{{
						Name: "services", Interface: "eth0", Unicast: true,
						Source: netip.MustParseAddr(a.global), Peers: []netip.Addr{peer}, PeerSources: []netip.Addr{peer},
						Config: vrrp.Config{Name: "services", VRID: 51, Version: 3, Priority: tc.priorities[n],
							AdvertInterval: time.Second, Preempt: true, Addresses: []netip.Prefix{netip.MustParsePrefix(v6VIP)}},
						GARP: desired.GARP{Count: 1, Interval: time.Second},
					}})
				}
				time.Sleep(10 * time.Second)
				synctest.Wait()
				var masters []string
				for _, n := range []string{"primary", "secondary"} {
					st := speakers[n].Statuses()[0].State
					if (st == vrrp.StateMaster) != fakes[n].holds(v6VIP) {
						t.Errorf("%s is %s but holds the VIP: %v", n, st, fakes[n].holds(v6VIP))
					}
					if st == vrrp.StateMaster {
						masters = append(masters, n)
					}
					for _, reason := range []string{"not_peer", "ttl"} {
						if dropped := testutil.ToFloat64(ms[n].Dropped.WithLabelValues("eth0", "services", reason)); dropped != 0 {
							t.Errorf("%s dropped %v adverts of its peer as %s", n, dropped, reason)
						}
					}
				}
				if diff := cmp.Diff([]string{tc.want}, masters); diff != "" {
					t.Errorf("masters (-want +got):\n%s", diff)
				}
			})
		})
	}
}

func other(n string) string {
	if n == "primary" {
		return "secondary"
	}
	return "primary"
}
