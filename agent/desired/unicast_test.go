package desired

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// TestUnicastSourceAndPeers: adverts leave from an address the peers know and go to the address each
// peer published, so that IPv6 unicast and unicast on an interface other than the InternalIP's elect
// one Master (issue 9 item 1).
func TestUnicastSourceAndPeers(t *testing.T) {
	unicast := func(v *vrrpv1.VirtualIP) { v.Spec.Unicast = true }
	published := func(entries ...string) func(*vrrpv1.VirtualIP) {
		return func(v *vrrpv1.VirtualIP) {
			for i := 0; i+1 < len(entries); i += 2 {
				v.Status.Nodes = append(v.Status.Nodes, vrrpv1.NodeStatus{Node: entries[i], State: vrrpv1.StateBackup, Address: entries[i+1]})
			}
		}
	}
	tests := map[string]struct {
		self       corev1.Node
		others     []corev1.Node
		interfaces []Interface
		vip        vrrpv1.VirtualIP
		want       Router // only Interface, Source, Peers and PeerSources are compared
	}{
		"IPv6: the node sends from its global InternalIP on the interface, not its link-local address": {
			self:       node("n1", "198.51.100.2", "2001:db8:1::2"),
			others:     []corev1.Node{node("n2", "2001:db8:1::3")},
			interfaces: []Interface{{Name: "eth0", Up: true, Prefixes: prefixes("2001:db8:1::5/64", "2001:db8:1::2/64")}},
			vip:        vip("v6", 20, "2001:db8:1::10/64", unicast),
			want: Router{Interface: "eth0", Source: netip.MustParseAddr("2001:db8:1::2"),
				Peers: addrs("2001:db8:1::3"), PeerSources: addrs("2001:db8:1::3")},
		},
		"IPv6 with an IPv4 InternalIP: the node sends from its global address in the VIP's subnet": {
			self:       node("n1", "203.0.113.2"),
			others:     []corev1.Node{node("n2", "203.0.113.3")},
			interfaces: []Interface{{Name: "eth0", Up: true, Prefixes: prefixes("2001:db8:2::2/64", "2001:db8:1::2/64")}},
			vip:        vip("v6", 20, "2001:db8:1::10/64", unicast, published("n2", "2001:db8:1::3")),
			want: Router{Interface: "eth0", Source: netip.MustParseAddr("2001:db8:1::2"),
				Peers: addrs("2001:db8:1::3"), PeerSources: addrs("2001:db8:1::3")},
		},
		"IPv4 on an interface that is not the InternalIP's: the node sends from its address on it, to the peers' published ones": {
			self:   node("n1", "203.0.113.2"),
			others: []corev1.Node{node("n2", "203.0.113.3"), node("n3", "203.0.113.4")},
			interfaces: []Interface{
				{Name: "eth0", Up: true, Prefixes: prefixes("203.0.113.2/24")},
				{Name: "eth1", Up: true, Prefixes: prefixes("198.51.100.2/24")},
			},
			vip: vip("web", 10, "198.51.100.10/24", unicast, published("n1", "198.51.100.2", "n2", "198.51.100.3")),
			// n3 has published nothing yet: its InternalIP is all there is to send to.
			want: Router{Interface: "eth1", Source: netip.MustParseAddr("198.51.100.2"),
				Peers: addrs("198.51.100.3", "203.0.113.4"), PeerSources: addrs("198.51.100.3", "203.0.113.3", "203.0.113.4")},
		},
		"a published address that is of the other family, link-local or no IP is ignored": {
			self:       node("n1", "2001:db8:1::2"),
			others:     []corev1.Node{node("n2", "2001:db8:1::3"), node("n3", "2001:db8:1::4"), node("n4", "2001:db8:1::5")},
			interfaces: []Interface{{Name: "eth0", Up: true, Prefixes: prefixes("2001:db8:1::2/64")}},
			vip:        vip("v6", 20, "2001:db8:1::10/64", unicast, published("n2", "198.51.100.3", "n3", "fe80::4", "n4", "eth0")),
			want: Router{Interface: "eth0", Source: netip.MustParseAddr("2001:db8:1::2"),
				Peers: addrs("2001:db8:1::3", "2001:db8:1::4", "2001:db8:1::5"), PeerSources: addrs("2001:db8:1::3", "2001:db8:1::4", "2001:db8:1::5")},
		},
		"an interface without an address of the family has no source: the link's primary address stands in": {
			self:       node("n1", "198.51.100.2"),
			others:     []corev1.Node{node("n2", "198.51.100.3")},
			interfaces: []Interface{{Name: "eth0", Up: true, Prefixes: prefixes("198.51.100.2/24")}},
			vip:        vip("v6", 20, "2001:db8:1::10/64", unicast, func(v *vrrpv1.VirtualIP) { v.Spec.Interface = "eth0" }),
			want:       Router{Interface: "eth0"},
		},
		"a multicast router has neither source nor peers, whatever was published": {
			self:       node("n1", "198.51.100.2"),
			others:     []corev1.Node{node("n2", "198.51.100.3")},
			interfaces: []Interface{{Name: "eth0", Up: true, Prefixes: prefixes("198.51.100.2/24")}},
			vip:        vip("web", 10, "198.51.100.10/24", published("n2", "198.51.100.3")),
			want:       Router{Interface: "eth0"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res := Derive(Inputs{NodeName: tc.self.Name, Nodes: append([]corev1.Node{tc.self}, tc.others...),
				VirtualIPs: []vrrpv1.VirtualIP{tc.vip}, Interfaces: tc.interfaces})
			if len(res.Errors) != 0 || len(res.Routers) != 1 {
				t.Fatalf("Derive() = %+v, want one router", res)
			}
			r := res.Routers[0]
			got := Router{Interface: r.Interface, Source: r.Source, Peers: r.Peers, PeerSources: r.PeerSources}
			if diff := cmp.Diff(tc.want, got, equateNetip); diff != "" {
				t.Errorf("router (-want +got):\n%s", diff)
			}
		})
	}
}
