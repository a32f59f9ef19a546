package netif

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var equate = cmpopts.EquateComparable(netip.Addr{})

func addr(s string) ifaddr { return ifaddr{prefix: netip.MustParsePrefix(s)} }

func up(name string, addrs ...ifaddr) iface {
	return iface{name: name, adminUp: true, carrier: true, oper: "up", addrs: addrs}
}

func down(name string, addrs ...ifaddr) iface {
	i := up(name, addrs...)
	i.adminUp, i.carrier, i.oper = false, false, "down"
	return i
}

func is(ips ...string) func(netip.Addr) bool {
	return func(a netip.Addr) bool {
		for _, s := range ips {
			if a == netip.MustParseAddr(s) {
				return true
			}
		}
		return false
	}
}

func TestChooseInterface(t *testing.T) {
	lo := up("lo", addr("127.0.0.1/8"), addr("::1/128"))
	lo.loopback = true
	tests := map[string]struct {
		vip     string
		ifaces  []iface
		exclude func(netip.Addr) bool
		want    string
		wantErr error
	}{
		"the seed's primary names it ens3": {
			vip: "198.51.100.252", ifaces: []iface{lo, up("ens3", addr("198.51.100.253/24"))}, want: "ens3",
		},
		"the seed's secondary names it eth0": {
			vip: "198.51.100.252", ifaces: []iface{lo, up("eth0", addr("198.51.100.254/24"))}, want: "eth0",
		},
		"the interface whose subnet holds the VIP wins over others": {
			vip:    "198.51.100.252",
			ifaces: []iface{up("eth0", addr("203.0.113.1/24")), up("eth1", addr("198.51.100.1/24"))},
			want:   "eth1",
		},
		"an IPv6 VIP goes where its /64 is, not where every link-local is": {
			vip:    "2001:db8:1::252",
			ifaces: []iface{up("eth0", addr("fe80::1/64"), addr("2001:db8::1/64")), up("eth1", addr("fe80::2/64"), addr("2001:db8:1::1/64"))},
			want:   "eth1",
		},
		"a VIP already held on an interface does not claim it": {
			vip:     "203.0.113.252",
			ifaces:  []iface{up("eth0", addr("198.51.100.1/24"), addr("203.0.113.252/24"))},
			wantErr: ErrNoInterface,
		},
		"another VIP the agent holds does not claim an interface for this one": {
			vip:     "203.0.113.253",
			ifaces:  []iface{up("eth0", addr("198.51.100.1/24"), addr("203.0.113.252/24"))},
			exclude: is("203.0.113.252"),
			wantErr: ErrNoInterface,
		},
		"host routes say nothing about a subnet": {
			vip:     "198.51.100.252",
			ifaces:  []iface{up("eth0", addr("198.51.100.1/32"))},
			wantErr: ErrNoInterface,
		},
		"loopback never holds a VIP": {
			vip:     "127.0.0.2",
			ifaces:  []iface{lo},
			wantErr: ErrNoInterface,
		},
		"the up interface wins over a down one in the same subnet": {
			vip:    "198.51.100.252",
			ifaces: []iface{down("eth0", addr("198.51.100.1/24")), up("eth1", addr("198.51.100.2/24"))},
			want:   "eth1",
		},
		"the only candidate is chosen while down, to start in FAULT and recover": {
			vip:    "198.51.100.252",
			ifaces: []iface{down("eth0", addr("198.51.100.1/24"))},
			want:   "eth0",
		},
		"two up interfaces in the subnet are ambiguous": {
			vip:     "198.51.100.252",
			ifaces:  []iface{up("eth0", addr("198.51.100.1/24")), up("eth1", addr("198.51.100.0/23"))},
			wantErr: ErrAmbiguousInterface,
		},
		"two down interfaces in the subnet are ambiguous": {
			vip:     "198.51.100.252",
			ifaces:  []iface{down("eth0", addr("198.51.100.1/24")), down("eth1", addr("198.51.100.2/24"))},
			wantErr: ErrAmbiguousInterface,
		},
		"two addresses of one interface in the subnet are not ambiguous": {
			vip:    "198.51.100.252",
			ifaces: []iface{up("eth0", addr("198.51.100.1/24"), addr("198.51.100.2/24"))},
			want:   "eth0",
		},
		"no interface at all": {vip: "198.51.100.252", wantErr: ErrNoInterface},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := chooseInterface(netip.MustParseAddr(tc.vip), tc.ifaces, tc.exclude)
			if got != tc.want || !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Errorf("chooseInterface(%s) = %q, %v; want %q, %v", tc.vip, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	secondary := addr("198.51.100.252/24")
	secondary.secondary = true
	tentative := addr("fe80::1/64")
	tentative.tentative = true
	failed := addr("fe80::2/64")
	failed.dadFailed = true
	noCarrier := up("eth0", addr("198.51.100.1/24"))
	noCarrier.carrier, noCarrier.oper = false, "lower-layer-down"

	tests := map[string]struct {
		iface   iface
		missing bool
		v6      bool
		exclude func(netip.Addr) bool
		want    Status
	}{
		"an up interface with its address is up, sending from it": {
			iface: up("eth0", addr("198.51.100.1/24")),
			want:  Status{Up: true, Address: netip.MustParseAddr("198.51.100.1")},
		},
		"the primary address is preferred over a secondary listed first": {
			iface: up("eth0", secondary, addr("198.51.100.1/24")),
			want:  Status{Up: true, Address: netip.MustParseAddr("198.51.100.1")},
		},
		"a VIP the agent holds is not the node's address": {
			iface:   up("eth0", addr("203.0.113.252/24"), addr("198.51.100.1/24")),
			exclude: is("203.0.113.252"),
			want:    Status{Up: true, Address: netip.MustParseAddr("198.51.100.1")},
		},
		"a secondary address serves when it is the only one left": {
			iface: up("eth0", secondary),
			want:  Status{Up: true, Address: netip.MustParseAddr("198.51.100.252")},
		},
		"only the agent's VIP left is no address": {
			iface:   up("eth0", addr("203.0.113.252/24")),
			exclude: is("203.0.113.252"),
			want:    Status{Reason: "no IPv4 address on eth0"},
		},
		"IPv6 sends from the link-local address": {
			iface: up("eth0", addr("2001:db8::1/64"), addr("fe80::1/64")),
			v6:    true,
			want:  Status{Up: true, Address: netip.MustParseAddr("fe80::1")},
		},
		"a tentative link-local address is not usable yet": {
			iface: up("eth0", addr("2001:db8::1/64"), tentative),
			v6:    true,
			want:  Status{Reason: "IPv6 link-local address fe80::1 on eth0 is tentative"},
		},
		"a link-local address that failed DAD is no address": {
			iface: up("eth0", failed),
			v6:    true,
			want:  Status{Reason: "no IPv6 link-local address on eth0"},
		},
		"IPv4 addresses do not make an IPv6 router up": {
			iface: up("eth0", addr("198.51.100.1/24")),
			v6:    true,
			want:  Status{Reason: "no IPv6 link-local address on eth0"},
		},
		"an administratively down link is down": {
			iface: down("eth0", addr("198.51.100.1/24")),
			want:  Status{Reason: "link eth0 is down"},
		},
		"a link without carrier is down": {
			iface: noCarrier,
			want:  Status{Reason: "link eth0 has no carrier (lower-layer-down)"},
		},
		"a missing interface is down": {
			missing: true,
			want:    Status{Reason: "interface eth0 not found"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := status("eth0", tc.iface, !tc.missing, tc.v6, tc.exclude)
			if diff := cmp.Diff(tc.want, got, equate); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}
