package desired

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// netip values have unexported fields; they are comparable, which is what equality means for them.
var equateNetip = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

// seedVIP is config/samples/vrrp_v1alpha1_virtualip.yaml as the API server stores it, defaults
// filled in.
func seedVIP() vrrpv1.VirtualIP {
	return vrrpv1.VirtualIP{
		ObjectMeta: metav1.ObjectMeta{Name: "services"},
		Spec: vrrpv1.VirtualIPSpec{
			VirtualRouterID: 51,
			Version:         vrrpv1.VRRPv2,
			Addresses:       []string{"198.51.100.252/24"},
			AdvertInterval:  &metav1.Duration{Duration: time.Second},
			Priority:        100,
			NodePriorities:  []vrrpv1.NodePriority{{Node: "primary", Priority: 150}},
			Preempt:         ptr(true),
			Authentication: &vrrpv1.Authentication{
				Type:      vrrpv1.AuthenticationPass,
				SecretRef: vrrpv1.SecretKeyReference{Name: "vrrp-auth", Namespace: "vrrp-system", Key: "password"},
			},
			V3IPv4Checksum: vrrpv1.ChecksumPseudoHeader,
			Failover:       &vrrpv1.Failover{OnCordon: vrrpv1.CordonDemote},
			Hooks: &vrrpv1.Hooks{
				Notify:  &vrrpv1.Hook{Command: []string{"keepalived.sh"}},
				Stop:    &vrrpv1.Hook{Command: []string{"keepalived.sh", "0", "VI_1", "STOP"}},
				Timeout: &metav1.Duration{Duration: 30 * time.Second},
			},
		},
	}
}

func seedSecret() corev1.Secret {
	return corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "vrrp-auth", Namespace: "vrrp-system"},
		Data:       map[string][]byte{"password": []byte("secret12")},
	}
}

// seedRouter is the seed's router on the secondary, the node without a nodePriorities entry.
func seedRouter(mutate ...func(*Router)) Router {
	r := Router{
		Name: "services",
		Config: vrrp.Config{
			Name:           "services",
			VRID:           51,
			Version:        2,
			Priority:       100,
			AdvertInterval: time.Second,
			Preempt:        true,
			AcceptMode:     true,
			Addresses:      []netip.Prefix{netip.MustParsePrefix("198.51.100.252/24")},
			Password:       "secret12",
		},
		Interface: "eth0",
		Hooks: Hooks{
			Notify:  []string{"keepalived.sh"},
			Stop:    []string{"keepalived.sh", "0", "VI_1", "STOP"},
			Timeout: 30 * time.Second,
		},
		GARP: GARP{Count: 3, Interval: 1100 * time.Millisecond},
	}
	for _, m := range mutate {
		m(&r)
	}
	return r
}

// vip is a VirtualIP with nothing but the required fields set, changed by mutate.
func vip(name string, vrid int32, addr string, mutate ...func(*vrrpv1.VirtualIP)) vrrpv1.VirtualIP {
	v := vrrpv1.VirtualIP{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       vrrpv1.VirtualIPSpec{VirtualRouterID: vrid, Addresses: []string{addr}},
	}
	for _, m := range mutate {
		m(&v)
	}
	return v
}

// router is what vip gives on node n1 with the standard interfaces: every default.
func router(name string, vrid uint8, addr string, mutate ...func(*Router)) Router {
	p := netip.MustParsePrefix(addr)
	r := Router{
		Name: name,
		Config: vrrp.Config{
			Name:           name,
			VRID:           vrid,
			Version:        3,
			Priority:       100,
			AdvertInterval: time.Second,
			Preempt:        true,
			AcceptMode:     true,
			Addresses:      []netip.Prefix{p},
		},
		Interface: "eth0",
		Hooks:     Hooks{Timeout: 30 * time.Second},
		GARP:      GARP{Count: 3, Interval: 1100 * time.Millisecond},
	}
	if p.Addr().Is6() {
		r.Interface = "eth1"
	}
	for _, m := range mutate {
		m(&r)
	}
	return r
}

// node is a Node with InternalIPs (and any other addresses given as "ExternalIP=...").
func node(name string, addrs ...string) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, a := range addrs {
		typ := corev1.NodeInternalIP
		if t, ip, ok := strings.Cut(a, "="); ok {
			typ, a = corev1.NodeAddressType(t), ip
		}
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: typ, Address: a})
	}
	return n
}

func withLabels(n corev1.Node, kv ...string) corev1.Node {
	n.Labels = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Labels[kv[i]] = kv[i+1]
	}
	return n
}

func cordoned(n corev1.Node) corev1.Node {
	n.Spec.Unschedulable = true
	return n
}

func annotated(n corev1.Node, k, v string) corev1.Node {
	n.Annotations = map[string]string{k: v}
	return n
}

// standardInterfaces: eth0 holds the IPv4 documentation subnet, eth1 the IPv6 one and a second IPv4
// subnet, lo is there to be ignored.
func standardInterfaces() []Interface {
	return []Interface{
		{Name: "lo", Up: true, Prefixes: prefixes("127.0.0.1/8", "::1/128")},
		{Name: "eth0", Up: true, Prefixes: prefixes("198.51.100.2/24")},
		{Name: "eth1", Up: true, Prefixes: prefixes("203.0.113.2/24", "2001:db8:1::2/64")},
	}
}

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func TestDerive(t *testing.T) {
	n1 := node("n1", "198.51.100.2", "2001:db8:1::2")
	tests := map[string]struct {
		in   Inputs
		want []Router
		// wantErrs maps a VirtualIP's name to the Reason of its RouterError.
		wantErrs map[string]string
	}{
		// The seed: two hosts, interfaces named differently, PASS authentication.
		"the seed's primary runs at priority 150 on ens3 with the Secret's password": {
			in: Inputs{
				NodeName:   "primary",
				Nodes:      []corev1.Node{node("primary", "198.51.100.1"), node("secondary", "198.51.100.2")},
				VirtualIPs: []vrrpv1.VirtualIP{seedVIP()},
				Secrets:    []corev1.Secret{seedSecret()},
				Interfaces: []Interface{
					{Name: "lo", Up: true, Prefixes: prefixes("127.0.0.1/8")},
					{Name: "ens3", Up: true, Prefixes: prefixes("198.51.100.1/24")},
				},
			},
			// It outranks every node that takes part, so it starts as Master (keepalived's state MASTER).
			want: []Router{seedRouter(func(r *Router) { r.Config.Priority = 150; r.Interface = "ens3"; r.Config.StartAsMaster = true })},
		},
		"the seed's secondary runs at the default priority 100 on eth0": {
			in: Inputs{
				NodeName:   "secondary",
				Nodes:      []corev1.Node{node("primary", "198.51.100.1"), node("secondary", "198.51.100.2")},
				VirtualIPs: []vrrpv1.VirtualIP{seedVIP()},
				Secrets:    []corev1.Secret{seedSecret()},
				Interfaces: []Interface{
					{Name: "eth0", Up: true, Prefixes: prefixes("198.51.100.2/24")},
					{Name: "eth1", Up: true, Prefixes: prefixes("203.0.113.2/24")},
				},
			},
			want: []Router{seedRouter(func(r *Router) { r.Rank, r.Previous = 1, "primary" })},
		},

		// Starting as Master, keepalived's state MASTER, only for the node that would win anyway.
		"a node tied with another for the highest priority starts as Backup": {
			in: Inputs{NodeName: "n1", Nodes: []corev1.Node{node("n1"), node("n2")}, Interfaces: standardInterfaces(),
				VirtualIPs: []vrrpv1.VirtualIP{vip("web", 10, "198.51.100.10/24")}},
			want: []Router{router("web", 10, "198.51.100.10/24")},
		},
		"a node that does not preempt starts as Backup even when it outranks everyone": {
			in: Inputs{NodeName: "n1", Nodes: []corev1.Node{node("n1"), node("n2")}, Interfaces: standardInterfaces(),
				VirtualIPs: []vrrpv1.VirtualIP{vip("web", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) {
					v.Spec.Preempt = ptr(false)
					v.Spec.NodePriorities = []vrrpv1.NodePriority{{Node: "n1", Priority: 200}}
				})}},
			want: []Router{router("web", 10, "198.51.100.10/24", func(r *Router) { r.Config.Priority = 200; r.Config.Preempt = false })},
		},
		"a node outranked only by a node in maintenance starts as Master": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(),
				Nodes: []corev1.Node{node("n1"), annotated(node("n2"), vrrpv1.MaintenanceAnnotation, "true")},
				VirtualIPs: []vrrpv1.VirtualIP{vip("web", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) {
					v.Spec.NodePriorities = []vrrpv1.NodePriority{{Node: "n2", Priority: 200}}
				})}},
			want: []Router{router("web", 10, "198.51.100.10/24", func(r *Router) { r.Config.StartAsMaster = true })},
		},
		"a node outranked by a node outside the nodeSelector starts as Master": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(),
				Nodes: []corev1.Node{withLabels(node("n1"), "role", "edge"), node("n2")},
				VirtualIPs: []vrrpv1.VirtualIP{vip("web", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) {
					v.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"role": "edge"}}
					v.Spec.NodePriorities = []vrrpv1.NodePriority{{Node: "n2", Priority: 200}}
				})}},
			want: []Router{router("web", 10, "198.51.100.10/24", func(r *Router) { r.Config.StartAsMaster = true })},
		},
		"a cordoned node does not start as Master": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(),
				Nodes: []corev1.Node{cordoned(node("n1")), node("n2")},
				VirtualIPs: []vrrpv1.VirtualIP{vip("web", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) {
					v.Spec.NodePriorities = []vrrpv1.NodePriority{{Node: "n1", Priority: 200}}
				})}},
			want: []Router{router("web", 10, "198.51.100.10/24", func(r *Router) {
				r.Config.Priority, r.Resign, r.Reason = DemotedPriority, true, ReasonCordoned
			})},
		},

		// Defaults and fields.
		"every unset field gets the API's default": {
			in:   Inputs{NodeName: "n1", VirtualIPs: []vrrpv1.VirtualIP{vip("web", 10, "198.51.100.10/24")}, Interfaces: standardInterfaces()},
			want: []Router{router("web", 10, "198.51.100.10/24")},
		},
		"every field that is set is carried over": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("web", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) {
					v.Spec.Addresses = append(v.Spec.Addresses, "198.51.100.11")
					v.Spec.Version = vrrpv1.VRRPv3
					v.Spec.AdvertInterval = dur(100 * time.Millisecond)
					v.Spec.Priority = 120
					v.Spec.Preempt = ptr(false)
					v.Spec.PreemptDelay = dur(30 * time.Second)
					v.Spec.V3IPv4Checksum = vrrpv1.ChecksumNoPseudoHeader
					v.Spec.GARP = &vrrpv1.GARP{Count: 5, Interval: dur(200 * time.Millisecond), Refresh: dur(time.Minute)}
					v.Spec.Hooks = &vrrpv1.Hooks{
						Notify:  &vrrpv1.Hook{Command: []string{"notify.sh", "x"}},
						Master:  &vrrpv1.Hook{Command: []string{"master.sh"}},
						Backup:  &vrrpv1.Hook{Command: []string{"backup.sh"}},
						Fault:   &vrrpv1.Hook{Command: []string{"fault.sh"}},
						Stop:    &vrrpv1.Hook{Command: []string{"stop.sh"}},
						Timeout: dur(5 * time.Second),
					}
				}),
			}},
			want: []Router{router("web", 10, "198.51.100.10/24", func(r *Router) {
				r.Config.Addresses = prefixes("198.51.100.10/24", "198.51.100.11/32")
				r.Config.AdvertInterval = 100 * time.Millisecond
				r.Config.Priority = 120
				r.Config.Preempt = false
				r.Config.PreemptDelay = 30 * time.Second
				r.Config.Checksum = vrrp.ChecksumNoPseudoHeader
				r.GARP = GARP{Count: 5, Interval: 200 * time.Millisecond, Refresh: time.Minute}
				r.Hooks = Hooks{
					Notify: []string{"notify.sh", "x"}, Master: []string{"master.sh"}, Backup: []string{"backup.sh"},
					Fault: []string{"fault.sh"}, Stop: []string{"stop.sh"}, Timeout: 5 * time.Second,
				}
			})},
		},
		"an IPv6 router runs on the interface holding its subnet, an address without length as /128": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("v6", 20, "2001:db8:1::10/64", func(v *vrrpv1.VirtualIP) { v.Spec.Addresses = append(v.Spec.Addresses, "2001:db8:1::11") }),
			}},
			want: []Router{router("v6", 20, "2001:db8:1::10/64", func(r *Router) {
				r.Config.Addresses = prefixes("2001:db8:1::10/64", "2001:db8:1::11/128")
			})},
		},

		// Participation.
		"a node the nodeSelector does not match gets no router": {
			in: Inputs{NodeName: "n1", Node: ptr(withLabels(n1, "role", "worker")), Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("web", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) {
					v.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"role": "edge"}}
				}),
			}},
		},
		"a node the nodeSelector matches takes part": {
			in: Inputs{NodeName: "n1", Node: ptr(withLabels(n1, "role", "edge")), Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("web", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) {
					v.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"role": "edge"}}
				}),
			}},
			want: []Router{router("web", 10, "198.51.100.10/24")},
		},
		"an empty nodeSelector selects every node": {
			in: Inputs{NodeName: "n1", Node: &n1, Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("web", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) { v.Spec.NodeSelector = &metav1.LabelSelector{} }),
			}},
			want: []Router{router("web", 10, "198.51.100.10/24")},
		},
		"without a Node object the node has no labels, so a selector with requirements leaves it out": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("edge", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) {
					v.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"role": "edge"}}
				}),
				vip("not-excluded", 11, "198.51.100.11/24", func(v *vrrpv1.VirtualIP) {
					v.Spec.NodeSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
						{Key: "role", Operator: metav1.LabelSelectorOpDoesNotExist},
					}}
				}),
			}},
			want: []Router{router("not-excluded", 11, "198.51.100.11/24")},
		},
		"a nil Node is looked up in Nodes by name": {
			in: Inputs{NodeName: "n1", Nodes: []corev1.Node{withLabels(node("n1"), "role", "edge")}, Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("web", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) {
					v.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"role": "edge"}}
				}),
			}},
			// The only node that takes part starts as Master: nobody else could be.
			want: []Router{router("web", 10, "198.51.100.10/24", func(r *Router) { r.Config.StartAsMaster = true })},
		},
		"an invalid nodeSelector is an error for that router only": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("bad", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) {
					v.Spec.NodeSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "role", Operator: "Near"}}}
				}),
				vip("good", 11, "198.51.100.11/24"),
			}},
			want:     []Router{router("good", 11, "198.51.100.11/24")},
			wantErrs: map[string]string{"bad": "InvalidSpec"},
		},

		// Priority.
		"spec.priority applies when no nodePriorities entry matches": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("web", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) {
					v.Spec.Priority = 90
					v.Spec.NodePriorities = []vrrpv1.NodePriority{{Node: "n2", Priority: 200}}
				}),
			}},
			want: []Router{router("web", 10, "198.51.100.10/24", func(r *Router) { r.Config.Priority = 90 })},
		},
		"a nodePriorities entry matches by label selector": {
			in: Inputs{NodeName: "n1", Node: ptr(withLabels(n1, "zone", "a")), Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("web", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) {
					v.Spec.NodePriorities = []vrrpv1.NodePriority{
						{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"zone": "b"}}, Priority: 200},
						{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"zone": "a"}}, Priority: 180},
					}
				}),
			}},
			want: []Router{router("web", 10, "198.51.100.10/24", func(r *Router) { r.Config.Priority = 180 })},
		},
		"the first matching nodePriorities entry wins over a later one naming the node": {
			in: Inputs{NodeName: "n1", Node: ptr(withLabels(n1, "zone", "a")), Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("web", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) {
					v.Spec.NodePriorities = []vrrpv1.NodePriority{
						{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"zone": "a"}}, Priority: 180},
						{Node: "n1", Priority: 200},
					}
				}),
			}},
			want: []Router{router("web", 10, "198.51.100.10/24", func(r *Router) { r.Config.Priority = 180 })},
		},
		"the preferred-node annotation naming this node makes its priority 254": {
			in: Inputs{NodeName: "n1", Node: &n1, Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("web", 10, "198.51.100.10/24", preferred("n1"), func(v *vrrpv1.VirtualIP) {
					v.Spec.NodePriorities = []vrrpv1.NodePriority{{Node: "n1", Priority: 50}}
				}),
			}},
			want: []Router{router("web", 10, "198.51.100.10/24", func(r *Router) { r.Config.Priority = 254; r.Reason = ReasonPreferred })},
		},
		"the preferred-node annotation naming another node changes nothing here": {
			in: Inputs{NodeName: "n1", Node: &n1, Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("web", 10, "198.51.100.10/24", preferred("n2")),
			}},
			want: []Router{router("web", 10, "198.51.100.10/24")},
		},

		// Cordon, maintenance, exclusion.
		"a cordoned node is demoted to priority 1 and resigns by default": {
			in: Inputs{NodeName: "n1", Node: ptr(cordoned(n1)), Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("web", 10, "198.51.100.10/24"),
			}},
			want: []Router{router("web", 10, "198.51.100.10/24", func(r *Router) {
				r.Config.Priority, r.Resign, r.Reason = 1, true, ReasonCordoned
			})},
		},
		"a cordoned node under onCordon Release is released": {
			in: Inputs{NodeName: "n1", Node: ptr(cordoned(n1)), Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("web", 10, "198.51.100.10/24", onCordon(vrrpv1.CordonRelease)),
			}},
			want: []Router{router("web", 10, "198.51.100.10/24", func(r *Router) { r.Released, r.Reason = true, ReasonCordoned })},
		},
		"a cordoned node under onCordon Ignore keeps its priority": {
			in: Inputs{NodeName: "n1", Node: ptr(cordoned(n1)), Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("web", 10, "198.51.100.10/24", onCordon(vrrpv1.CordonIgnore)),
			}},
			want: []Router{router("web", 10, "198.51.100.10/24")},
		},
		"a cordoned preferred node is demoted: cordon wins over preference": {
			in: Inputs{NodeName: "n1", Node: ptr(cordoned(n1)), Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("web", 10, "198.51.100.10/24", preferred("n1")),
			}},
			want: []Router{router("web", 10, "198.51.100.10/24", func(r *Router) {
				r.Config.Priority, r.Resign, r.Reason = 1, true, ReasonCordoned
			})},
		},
		"the maintenance annotation releases the node, over cordon and preference": {
			in: Inputs{NodeName: "n1", Node: ptr(annotated(cordoned(n1), vrrpv1.MaintenanceAnnotation, "true")), Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("web", 10, "198.51.100.10/24", preferred("n1"), func(v *vrrpv1.VirtualIP) { v.Spec.Priority = 120 }),
			}},
			want: []Router{router("web", 10, "198.51.100.10/24", func(r *Router) {
				r.Config.Priority, r.Released, r.Reason = 254, true, ReasonMaintenance
			})},
		},
		"a maintenance annotation other than true changes nothing": {
			in: Inputs{NodeName: "n1", Node: ptr(annotated(n1, vrrpv1.MaintenanceAnnotation, "false")), Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("web", 10, "198.51.100.10/24"),
			}},
			want: []Router{router("web", 10, "198.51.100.10/24")},
		},
		"the exclude label releases the node whatever its value, over cordon": {
			in: Inputs{NodeName: "n1", Node: ptr(cordoned(withLabels(n1, vrrpv1.ExcludeLabel, ""))), Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("web", 10, "198.51.100.10/24"),
			}},
			want: []Router{router("web", 10, "198.51.100.10/24", func(r *Router) { r.Released, r.Reason = true, ReasonExcluded })},
		},
		"maintenance is the reason when the node is also excluded": {
			in: Inputs{NodeName: "n1", Node: ptr(annotated(withLabels(n1, vrrpv1.ExcludeLabel, "true"), vrrpv1.MaintenanceAnnotation, "true")), Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("web", 10, "198.51.100.10/24"),
			}},
			want: []Router{router("web", 10, "198.51.100.10/24", func(r *Router) { r.Released, r.Reason = true, ReasonMaintenance })},
		},

		// Authentication.
		"the password comes from the key secretRef names": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(),
				Secrets: []corev1.Secret{
					{ObjectMeta: metav1.ObjectMeta{Name: "auth", Namespace: "other"}, Data: map[string][]byte{"vrrp": []byte("wrong")}},
					{ObjectMeta: metav1.ObjectMeta{Name: "auth", Namespace: "vrrp-system"}, Data: map[string][]byte{"password": []byte("nope"), "vrrp": []byte("right")}},
				},
				VirtualIPs: []vrrpv1.VirtualIP{vip("web", 10, "198.51.100.10/24", pass("vrrp-system", "auth", "vrrp"))},
			},
			want: []Router{router("web", 10, "198.51.100.10/24", func(r *Router) { r.Config.Version, r.Config.Password = 2, "right" })},
		},
		"the password key defaults to password": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), Secrets: []corev1.Secret{seedSecret()},
				VirtualIPs: []vrrpv1.VirtualIP{vip("web", 10, "198.51.100.10/24", pass("vrrp-system", "vrrp-auth", ""))},
			},
			want: []Router{router("web", 10, "198.51.100.10/24", func(r *Router) { r.Config.Version, r.Config.Password = 2, "secret12" })},
		},
		"a missing Secret, key or password is an error, and the router does not run without it": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(),
				Secrets: []corev1.Secret{
					seedSecret(),
					{ObjectMeta: metav1.ObjectMeta{Name: "empty", Namespace: "vrrp-system"}, Data: map[string][]byte{"password": nil}},
				},
				VirtualIPs: []vrrpv1.VirtualIP{
					vip("no-secret", 10, "198.51.100.10/24", pass("vrrp-system", "missing", "")),
					vip("wrong-namespace", 11, "198.51.100.11/24", pass("default", "vrrp-auth", "")),
					vip("no-key", 12, "198.51.100.12/24", pass("vrrp-system", "vrrp-auth", "other")),
					vip("empty-password", 13, "198.51.100.13/24", pass("vrrp-system", "empty", "")),
				},
			},
			wantErrs: map[string]string{
				"no-secret": "SecretUnavailable", "wrong-namespace": "SecretUnavailable",
				"no-key": "SecretUnavailable", "empty-password": "SecretUnavailable",
			},
		},
		"authentication with version 3 is an error rather than ignored": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), Secrets: []corev1.Secret{seedSecret()},
				VirtualIPs: []vrrpv1.VirtualIP{vip("web", 10, "198.51.100.10/24", pass("vrrp-system", "vrrp-auth", ""), func(v *vrrpv1.VirtualIP) {
					v.Spec.Version = vrrpv1.VRRPv3
				})},
			},
			wantErrs: map[string]string{"web": "InvalidSpec"},
		},

		// Interface choice.
		"spec.interface is used as is, even when this node lacks it, so that the driver goes FAULT": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("web", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) { v.Spec.Interface = "bond0" }),
			}},
			want: []Router{router("web", 10, "198.51.100.10/24", func(r *Router) { r.Interface = "bond0" })},
		},
		"an up interface holding the subnet wins over a down one": {
			in: Inputs{NodeName: "n1", VirtualIPs: []vrrpv1.VirtualIP{vip("web", 10, "198.51.100.10/24")}, Interfaces: []Interface{
				{Name: "eth9", Up: false, Prefixes: prefixes("198.51.100.9/24")},
				{Name: "eth0", Up: true, Prefixes: prefixes("198.51.100.2/24")},
			}},
			want: []Router{router("web", 10, "198.51.100.10/24")},
		},
		"a lone down interface holding the subnet is chosen, so that the driver goes FAULT": {
			in: Inputs{NodeName: "n1", VirtualIPs: []vrrpv1.VirtualIP{vip("web", 10, "198.51.100.10/24")}, Interfaces: []Interface{
				{Name: "eth0", Up: false, Prefixes: prefixes("198.51.100.2/24")},
			}},
			want: []Router{router("web", 10, "198.51.100.10/24")},
		},
		"the first address decides the interface": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("web", 10, "203.0.113.10/24", func(v *vrrpv1.VirtualIP) { v.Spec.Addresses = append(v.Spec.Addresses, "198.51.100.10/24") }),
			}},
			want: []Router{router("web", 10, "203.0.113.10/24", func(r *Router) {
				r.Interface = "eth1"
				r.Config.Addresses = prefixes("203.0.113.10/24", "198.51.100.10/24")
			})},
		},
		"two interfaces holding the subnet, or none, is an error for that router only": {
			in: Inputs{NodeName: "n1", Interfaces: append(standardInterfaces(), Interface{Name: "eth2", Up: true, Prefixes: prefixes("198.51.100.3/25")}),
				VirtualIPs: []vrrpv1.VirtualIP{
					vip("ambiguous", 10, "198.51.100.10/24"),
					vip("nowhere", 11, "2001:db8:2::10/64"),
					vip("fine", 12, "203.0.113.10/24"),
				},
			},
			want:     []Router{router("fine", 12, "203.0.113.10/24", func(r *Router) { r.Interface = "eth1" })},
			wantErrs: map[string]string{"ambiguous": "AmbiguousInterface", "nowhere": "NoInterface"},
		},

		// Unicast.
		"unicast peers are the other selected nodes' InternalIPs of the router's family, sorted": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(),
				Node: ptr(withLabels(n1, "vrrp", "yes")),
				Nodes: []corev1.Node{
					withLabels(node("n3", "198.51.100.4", "ExternalIP=203.0.113.4", "2001:db8:1::4"), "vrrp", "yes"),
					withLabels(n1, "vrrp", "yes"),
					withLabels(node("n2", "198.51.100.3", "198.51.100.30"), "vrrp", "yes"),
					withLabels(node("other", "198.51.100.5"), "vrrp", "no"),
					withLabels(node("v6only", "2001:db8:1::6"), "vrrp", "yes"),
					withLabels(node("maint", "198.51.100.1"), "vrrp", "yes", vrrpv1.ExcludeLabel, ""),
				},
				VirtualIPs: []vrrpv1.VirtualIP{vip("web", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) {
					v.Spec.Unicast = true
					v.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"vrrp": "yes"}}
				})},
			},
			want: []Router{router("web", 10, "198.51.100.10/24", func(r *Router) {
				r.Unicast = true
				r.Source = netip.MustParseAddr("198.51.100.2")
				r.Peers = addrs("198.51.100.1", "198.51.100.3", "198.51.100.4", "198.51.100.30")
				r.PeerSources = r.Peers
				r.Rank, r.Previous = 1, "maint" // maint sorts before n1
			})},
		},
		"a node's rank counts the selected nodes whose names sort before its own": {
			in: Inputs{NodeName: "n2", Interfaces: standardInterfaces(),
				Node: ptr(withLabels(node("n2"), "vrrp", "yes")),
				Nodes: []corev1.Node{
					withLabels(node("z"), "vrrp", "yes"),
					withLabels(node("a"), "vrrp", "no"),
					node("b"),
					withLabels(node("n1"), "vrrp", "yes"),
					withLabels(node("n2"), "vrrp", "yes"),
					withLabels(node("c"), "vrrp", "yes"),
				},
				VirtualIPs: []vrrpv1.VirtualIP{vip("web", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) {
					v.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"vrrp": "yes"}}
				})},
			},
			want: []Router{router("web", 10, "198.51.100.10/24", func(r *Router) { r.Rank, r.Previous = 2, "n1" })}, // c and n1
		},
		"IPv6 unicast peers are IPv6 InternalIPs": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(),
				Nodes: []corev1.Node{n1, node("n2", "198.51.100.3", "2001:db8:1::3"), node("n3", "2001:db8:1::4")},
				VirtualIPs: []vrrpv1.VirtualIP{vip("v6", 20, "2001:db8:1::10/64", func(v *vrrpv1.VirtualIP) {
					v.Spec.Unicast = true
				})},
			},
			want: []Router{router("v6", 20, "2001:db8:1::10/64", func(r *Router) {
				r.Unicast = true
				r.Source = netip.MustParseAddr("2001:db8:1::2")
				r.Peers = addrs("2001:db8:1::3", "2001:db8:1::4")
				r.PeerSources = r.Peers
			})},
		},
		"a multicast router has no peers": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(),
				Nodes:      []corev1.Node{n1, node("n2", "198.51.100.3")},
				VirtualIPs: []vrrpv1.VirtualIP{vip("web", 10, "198.51.100.10/24")},
			},
			want: []Router{router("web", 10, "198.51.100.10/24")},
		},

		// Errors stay with their router.
		"a spec the protocol refuses is reported while the others run": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("a-fraction-with-v2", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) {
					v.Spec.Version = vrrpv1.VRRPv2
					v.Spec.AdvertInterval = dur(1500 * time.Millisecond)
				}),
				vip("b-multicast-vip", 11, "224.0.0.5"),
				vip("c-fine", 12, "198.51.100.12/24"),
				vip("d-mixed-families", 13, "198.51.100.13/24", func(v *vrrpv1.VirtualIP) { v.Spec.Addresses = append(v.Spec.Addresses, "2001:db8:1::13") }),
				vip("e-ipv6-with-v2", 14, "2001:db8:1::14/64", func(v *vrrpv1.VirtualIP) { v.Spec.Version = vrrpv1.VRRPv2 }),
				vip("f-no-address", 15, "198.51.100.15/24", func(v *vrrpv1.VirtualIP) { v.Spec.Addresses = nil }),
				vip("g-negative-preempt-delay", 16, "198.51.100.16/24", func(v *vrrpv1.VirtualIP) { v.Spec.PreemptDelay = dur(-time.Second) }),
			}},
			want: []Router{router("c-fine", 12, "198.51.100.12/24")},
			wantErrs: map[string]string{
				"a-fraction-with-v2": "InvalidSpec", "b-multicast-vip": "InvalidSpec", "d-mixed-families": "InvalidSpec",
				"e-ipv6-with-v2": "InvalidSpec", "f-no-address": "InvalidSpec", "g-negative-preempt-delay": "InvalidSpec",
			},
		},
		"values the API server refuses are errors, not wrapped into range": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("vrid-256", 256, "198.51.100.10/24"),
				vip("vrid-0", 0, "198.51.100.11/24"),
				vip("version-4", 12, "198.51.100.12/24", func(v *vrrpv1.VirtualIP) { v.Spec.Version = 4 }),
				vip("priority-257", 13, "198.51.100.13/24", func(v *vrrpv1.VirtualIP) { v.Spec.Priority = 257 }),
				vip("node-priority-255", 14, "198.51.100.14/24", func(v *vrrpv1.VirtualIP) {
					v.Spec.NodePriorities = []vrrpv1.NodePriority{{Node: "n1", Priority: 255}}
				}),
				vip("node-priority-unset", 15, "198.51.100.15/24", func(v *vrrpv1.VirtualIP) {
					v.Spec.NodePriorities = []vrrpv1.NodePriority{{Node: "n1"}}
				}),
				vip("unparsable-address", 16, "198.51.100.300/24"),
				vip("zoned-address", 17, "fe80::1%eth0"),
				vip("unknown-checksum", 18, "198.51.100.18/24", func(v *vrrpv1.VirtualIP) { v.Spec.V3IPv4Checksum = "Maybe" }),
				vip("unknown-cordon-policy", 19, "198.51.100.19/24", onCordon("Drop")),
				vip("zero-garp-count", 20, "198.51.100.20/24", func(v *vrrpv1.VirtualIP) { v.Spec.GARP = &vrrpv1.GARP{Count: -1} }),
				vip("zero-hook-timeout", 21, "198.51.100.21/24", func(v *vrrpv1.VirtualIP) { v.Spec.Hooks = &vrrpv1.Hooks{Timeout: dur(0)} }),
				vip("bad-node-priority-selector", 22, "198.51.100.22/24", func(v *vrrpv1.VirtualIP) {
					v.Spec.NodePriorities = []vrrpv1.NodePriority{{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a b": "c"}}, Priority: 5}}
				}),
			}},
			wantErrs: map[string]string{
				"vrid-256": "InvalidSpec", "vrid-0": "InvalidSpec", "version-4": "InvalidSpec", "priority-257": "InvalidSpec",
				"node-priority-255": "InvalidSpec", "node-priority-unset": "InvalidSpec", "unparsable-address": "InvalidSpec",
				"zoned-address": "InvalidSpec", "unknown-checksum": "InvalidSpec", "unknown-cordon-policy": "InvalidSpec",
				"zero-garp-count": "InvalidSpec", "zero-hook-timeout": "InvalidSpec", "bad-node-priority-selector": "InvalidSpec",
			},
		},

		// Router ID conflicts on this node.
		"two VirtualIPs with one VRID and family on one interface: the later by name is refused": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("b", 10, "198.51.100.11/24", func(v *vrrpv1.VirtualIP) { v.Spec.Version = vrrpv1.VRRPv2 }),
				vip("a", 10, "198.51.100.10/24"),
			}},
			want:     []Router{router("a", 10, "198.51.100.10/24")},
			wantErrs: map[string]string{"b": "RouterIDConflict"},
		},
		"a newer VirtualIP that reuses a VRID is refused, whatever its name": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("a-newcomer", 10, "198.51.100.10/24", created(2)),
				vip("z-first", 10, "198.51.100.11/24", created(1)),
			}},
			want:     []Router{router("z-first", 10, "198.51.100.11/24")},
			wantErrs: map[string]string{"a-newcomer": "RouterIDConflict"},
		},
		"a newer VirtualIP that reuses a VRID is refused while the older one's Secret is missing": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("a-newcomer", 10, "198.51.100.10/24", created(2)),
				vip("z-first", 10, "198.51.100.11/24", created(1), pass("vrrp-system", "gone", "password")),
			}},
			wantErrs: map[string]string{"z-first": "SecretUnavailable", "a-newcomer": "RouterIDConflict"},
		},
		"a newer VirtualIP that reuses a VRID is refused while the older one's hooks are invalid": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("a-newcomer", 10, "198.51.100.10/24", created(2)),
				vip("z-first", 10, "198.51.100.11/24", created(1), func(v *vrrpv1.VirtualIP) { v.Spec.Hooks = &vrrpv1.Hooks{Timeout: dur(0)} }),
			}},
			wantErrs: map[string]string{"z-first": "InvalidSpec", "a-newcomer": "RouterIDConflict"},
		},
		"an older VirtualIP in error keeps no VRID where it is not selected, in another family or on another interface": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("elsewhere", 10, "198.51.100.12/24", created(1), pass("vrrp-system", "gone", "password"),
					func(v *vrrpv1.VirtualIP) {
						v.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"zone": "far"}}
					}),
				vip("v6", 10, "2001:db8:1::10/64", created(1), pass("vrrp-system", "gone", "password")),
				vip("eth1", 10, "203.0.113.10/24", created(1), pass("vrrp-system", "gone", "password")),
				vip("newcomer", 10, "198.51.100.10/24", created(2)),
			}},
			want:     []Router{router("newcomer", 10, "198.51.100.10/24")},
			wantErrs: map[string]string{"v6": "SecretUnavailable", "eth1": "SecretUnavailable"},
		},
		"an older VirtualIP whose interface cannot be chosen keeps no VRID: which one it would take is unknown": {
			in: Inputs{NodeName: "n1", Interfaces: []Interface{{Name: "eth0", Up: true, Prefixes: prefixes("198.51.100.2/25")}}, VirtualIPs: []vrrpv1.VirtualIP{
				vip("nowhere", 10, "198.51.100.200/24", created(1)),
				vip("newcomer", 10, "198.51.100.10/24", created(2)),
			}},
			want:     []Router{router("newcomer", 10, "198.51.100.10/24")},
			wantErrs: map[string]string{"nowhere": "NoInterface"},
		},
		// Address conflicts on this node.
		"a newer VirtualIP that holds an address of an older one on the same interface is refused, whatever its name": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("a-newcomer", 11, "198.51.100.10/24", created(2)),
				vip("z-first", 10, "198.51.100.10/24", created(1)),
			}},
			want:     []Router{router("z-first", 10, "198.51.100.10/24")},
			wantErrs: map[string]string{"a-newcomer": "AddressConflict"},
		},
		"an older VirtualIP in error keeps its addresses, as its VRID: the newer is refused now, not stopped at its recovery": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("a-newcomer", 11, "198.51.100.10/24", created(2)),
				vip("z-first", 10, "198.51.100.10/24", created(1), pass("vrrp-system", "gone", "password")),
			}},
			wantErrs: map[string]string{"z-first": "SecretUnavailable", "a-newcomer": "AddressConflict"},
		},
		"a VirtualIP refused for an address keeps its VRID, and one refused for its VRID its addresses": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("a", 10, "198.51.100.10/24", created(1)),
				vip("b", 11, "198.51.100.10/24", created(2)),
				vip("c", 11, "198.51.100.11/24", created(3)),
				vip("d", 10, "198.51.100.12/24", created(4)),
				vip("e", 12, "198.51.100.12/24", created(5)),
			}},
			want:     []Router{router("a", 10, "198.51.100.10/24")},
			wantErrs: map[string]string{"b": "AddressConflict", "c": "RouterIDConflict", "d": "RouterIDConflict", "e": "AddressConflict"},
		},
		"one address on two interfaces of a node is no conflict: the segments differ": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("a", 10, "198.51.100.10/24", created(1)),
				vip("b", 11, "198.51.100.10/24", created(2), func(v *vrrpv1.VirtualIP) { v.Spec.Interface = "eth1" }),
			}},
			want: []Router{
				router("a", 10, "198.51.100.10/24"),
				router("b", 11, "198.51.100.10/24", func(r *Router) { r.Interface = "eth1" }),
			},
		},
		"a VirtualIP listed twice is refused the second time, whatever their ages": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("a", 10, "198.51.100.10/24", created(1)),
				vip("b", 12, "198.51.100.12/24", created(2)),
				vip("a", 11, "198.51.100.11/24", created(3)),
			}},
			want:     []Router{router("a", 10, "198.51.100.10/24"), router("b", 12, "198.51.100.12/24")},
			wantErrs: map[string]string{"a": "InvalidSpec"},
		},
		"one VRID in both families, or on two interfaces, is no conflict": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("a", 10, "198.51.100.10/24"),
				vip("b", 10, "2001:db8:1::10/64"),
				vip("c", 10, "203.0.113.10/24"),
			}},
			want: []Router{
				router("a", 10, "198.51.100.10/24"),
				router("b", 10, "2001:db8:1::10/64"),
				router("c", 10, "203.0.113.10/24", func(r *Router) { r.Interface = "eth1" }),
			},
		},
		"a VirtualIP listed twice is refused the second time": {
			in: Inputs{NodeName: "n1", Interfaces: standardInterfaces(), VirtualIPs: []vrrpv1.VirtualIP{
				vip("a", 10, "198.51.100.10/24"),
				vip("a", 11, "198.51.100.11/24"),
			}},
			want:     []Router{router("a", 10, "198.51.100.10/24")},
			wantErrs: map[string]string{"a": "InvalidSpec"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Derive(tc.in)
			if diff := cmp.Diff(tc.want, got.Routers, equateNetip, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Derive() routers (-want +got):\n%s", diff)
			}
			gotErrs := map[string]string{}
			for _, e := range got.Errors {
				gotErrs[e.Name] = e.Reason()
			}
			if diff := cmp.Diff(tc.wantErrs, gotErrs, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Derive() error reasons (-want +got):\n%s\nerrors: %v", diff, got.Errors)
			}
		})
	}
}

// created sets a VirtualIP's creation time to minute m of a fixed day.
func created(m int) func(*vrrpv1.VirtualIP) {
	return func(v *vrrpv1.VirtualIP) {
		v.CreationTimestamp = metav1.NewTime(time.Date(2026, 11, 30, 0, m, 0, 0, time.UTC))
	}
}

func preferred(node string) func(*vrrpv1.VirtualIP) {
	return func(v *vrrpv1.VirtualIP) {
		v.Annotations = map[string]string{vrrpv1.PreferredNodeAnnotation: node}
	}
}

func onCordon(p vrrpv1.CordonPolicy) func(*vrrpv1.VirtualIP) {
	return func(v *vrrpv1.VirtualIP) { v.Spec.Failover = &vrrpv1.Failover{OnCordon: p} }
}

func pass(namespace, name, key string) func(*vrrpv1.VirtualIP) {
	return func(v *vrrpv1.VirtualIP) {
		v.Spec.Version = vrrpv1.VRRPv2
		v.Spec.Authentication = &vrrpv1.Authentication{
			Type:      vrrpv1.AuthenticationPass,
			SecretRef: vrrpv1.SecretKeyReference{Namespace: namespace, Name: name, Key: key},
		}
	}
}

func TestDeriveErrorsSayWhatAndWrapTheirSentinel(t *testing.T) {
	tests := map[string]struct {
		vip      vrrpv1.VirtualIP
		secrets  []corev1.Secret
		wantErr  error
		contains string
	}{
		"a missing Secret names it": {
			vip:     vip("web", 10, "198.51.100.10/24", pass("vrrp-system", "missing", "")),
			wantErr: ErrSecret, contains: `virtual router "web": reading password from Secret vrrp-system/missing: not found`,
		},
		"a missing key names it": {
			vip:     vip("web", 10, "198.51.100.10/24", pass("vrrp-system", "vrrp-auth", "pw")),
			secrets: []corev1.Secret{seedSecret()},
			wantErr: ErrSecret, contains: `no key "pw"`,
		},
		"an ambiguous interface names the candidates and the way out": {
			vip:     vip("web", 10, "198.51.100.10/24"),
			wantErr: ErrAmbiguousInterface, contains: "eth0, eth2 all hold its subnet, set spec.interface",
		},
		"a protocol refusal keeps vrrp's sentinel": {
			vip:     vip("web", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) { v.Spec.AdvertInterval = dur(5 * time.Millisecond) }),
			wantErr: vrrp.ErrInvalidConfig, contains: "validating configuration",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Derive(Inputs{
				NodeName:   "n1",
				VirtualIPs: []vrrpv1.VirtualIP{tc.vip},
				Secrets:    tc.secrets,
				Interfaces: append(standardInterfaces(), Interface{Name: "eth2", Up: true, Prefixes: prefixes("198.51.100.3/24")}),
			})
			if len(got.Errors) != 1 {
				t.Fatalf("Derive() errors = %v, want one", got.Errors)
			}
			err := got.Errors[0]
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Derive() error %q does not wrap %q", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("Derive() error %q does not contain %q", err, tc.contains)
			}
		})
	}
}

func TestDeriveIsDeterministicAndLeavesItsInputsAlone(t *testing.T) {
	in := func() Inputs {
		return Inputs{
			NodeName: "n1",
			Nodes:    []corev1.Node{node("n1", "198.51.100.2"), node("n3", "198.51.100.4"), node("n2", "198.51.100.3")},
			VirtualIPs: []vrrpv1.VirtualIP{
				vip("c", 12, "198.51.100.12/24", func(v *vrrpv1.VirtualIP) { v.Spec.Unicast = true }),
				vip("a", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) {
					v.Spec.Hooks = &vrrpv1.Hooks{Notify: &vrrpv1.Hook{Command: []string{"notify.sh"}}}
				}),
				vip("b", 11, "2001:db8:2::1/64"),
				vip("d", 10, "198.51.100.13/24"),
			},
			Interfaces: standardInterfaces(),
		}
	}
	want := Derive(in())

	reversed := in()
	slices.Reverse(reversed.VirtualIPs)
	slices.Reverse(reversed.Nodes)
	slices.Reverse(reversed.Interfaces)
	got := Derive(reversed)
	if diff := cmp.Diff(want, got, equateNetip, cmp.Comparer(func(a, b error) bool { return a.Error() == b.Error() })); diff != "" {
		t.Errorf("Derive() of the inputs in another order (-want +got):\n%s", diff)
	}
	if names := routerNames(got); !cmp.Equal(names, []string{"a", "c"}) {
		t.Errorf("Derive() routers %v, want a and c in order", names)
	}
	if len(got.Errors) != 2 || got.Errors[0].Name != "b" || got.Errors[1].Name != "d" {
		t.Errorf("Derive() errors %v, want b (no interface) then d (conflict with a)", got.Errors)
	}

	// The Routers are the caller's to change: the inputs must not see it.
	orig := in()
	mine := in()
	res := Derive(mine)
	res.Routers[0].Hooks.Notify[0] = "changed"
	res.Routers[0].Config.Addresses[0] = netip.MustParsePrefix("203.0.113.1/24")
	if diff := cmp.Diff(orig, mine, equateNetip); diff != "" {
		t.Errorf("Derive() or changing its result modified the inputs (-before +after):\n%s", diff)
	}
}

func routerNames(res Result) []string {
	var names []string
	for _, r := range res.Routers {
		names = append(names, r.Name)
	}
	return names
}

func TestWireIdentity(t *testing.T) {
	base := router("web", 10, "198.51.100.10/24")
	tests := map[string]struct {
		change   func(*Router)
		wantSame bool
	}{
		"a new priority keeps the instance":          {change: func(r *Router) { r.Config.Priority = 1; r.Resign = true }, wantSame: true},
		"new addresses of the family keep it":        {change: func(r *Router) { r.Config.Addresses = prefixes("198.51.100.20/24") }, wantSame: true},
		"a new interval, hooks or peers keep it":     {change: func(r *Router) { r.Config.AdvertInterval = time.Minute; r.Peers = addrs("198.51.100.3") }, wantSame: true},
		"a new VRID needs a new instance":            {change: func(r *Router) { r.Config.VRID = 11 }},
		"a new version needs a new instance":         {change: func(r *Router) { r.Config.Version = 2 }},
		"the other family needs a new instance":      {change: func(r *Router) { r.Config.Addresses = prefixes("2001:db8::10/64") }},
		"another interface needs a new instance":     {change: func(r *Router) { r.Interface = "eth1" }},
		"release alone does not change the identity": {change: func(r *Router) { r.Released = true }, wantSame: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			changed := base
			changed.Config.Addresses = append([]netip.Prefix(nil), base.Config.Addresses...)
			tc.change(&changed)
			if same := base.WireIdentity() == changed.WireIdentity(); same != tc.wantSame {
				t.Errorf("identity %v vs %v: same = %v, want %v", base.WireIdentity(), changed.WireIdentity(), same, tc.wantSame)
			}
		})
	}
	if got, want := base.WireIdentity().String(), "VRID 10 VRRPv3 IPv4 on eth0"; got != want {
		t.Errorf("WireIdentity().String() = %q, want %q", got, want)
	}
}

func TestEffectivePriority(t *testing.T) {
	tests := map[string]struct {
		r    Router
		want uint8
	}{
		"a running router advertises its priority": {r: router("web", 10, "198.51.100.10/24"), want: 100},
		"a demoted router advertises 1":            {r: router("web", 10, "198.51.100.10/24", func(r *Router) { r.Config.Priority, r.Resign = 1, true }), want: 1},
		"a released router advertises 0":           {r: router("web", 10, "198.51.100.10/24", func(r *Router) { r.Released = true }), want: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.r.EffectivePriority(); got != tc.want {
				t.Errorf("EffectivePriority() = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestParseAddress(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    netip.Prefix
		wantErr bool
	}{
		"a CIDR keeps its host bits":             {in: "198.51.100.252/24", want: netip.MustParsePrefix("198.51.100.252/24")},
		"an IPv4 address without length is /32":  {in: "198.51.100.252", want: netip.MustParsePrefix("198.51.100.252/32")},
		"an IPv6 address without length is /128": {in: "2001:db8::1", want: netip.MustParsePrefix("2001:db8::1/128")},
		"an IPv6 CIDR parses":                    {in: "2001:db8::1/64", want: netip.MustParsePrefix("2001:db8::1/64")},
		"a hostname is refused":                  {in: "vip.example.org", wantErr: true},
		"an octet above 255 is refused":          {in: "198.51.100.300/24", wantErr: true},
		"a zone is refused":                      {in: "fe80::1%eth0", wantErr: true},
		"a length beyond the family is refused":  {in: "198.51.100.1/33", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseAddress(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseAddress(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got, equateNetip); diff != "" {
				t.Errorf("ParseAddress(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

// The nodes after the first vrrpv1.MaxListedNodes by name are unlisted (their agents write a status
// entry only while MASTER), also for a router they cannot run, but never for a unicast VirtualIP,
// whose entries publish the addresses the peers send to.
func TestTheNodesAfterTheFirstHundredAreUnlisted(t *testing.T) {
	var nodes []corev1.Node
	for i := range vrrpv1.MaxListedNodes + 1 {
		nodes = append(nodes, node(fmt.Sprintf("n%03d", i), fmt.Sprintf("198.51.100.%d", 1+i)))
	}
	derive := func(self string, vip vrrpv1.VirtualIP) Result {
		return Derive(Inputs{NodeName: self, Nodes: nodes, VirtualIPs: []vrrpv1.VirtualIP{vip}, Interfaces: standardInterfaces()})
	}
	last, before := fmt.Sprintf("n%03d", vrrpv1.MaxListedNodes), fmt.Sprintf("n%03d", vrrpv1.MaxListedNodes-1)
	web := vip("web", 10, "198.51.100.200/24")
	if got := derive(last, web).Routers; len(got) != 1 || !got[0].Unlisted || got[0].Rank != vrrpv1.MaxListedNodes {
		t.Errorf("the last node's router %+v, want it unlisted at rank %d", got, vrrpv1.MaxListedNodes)
	}
	if got := derive(before, web).Routers; len(got) != 1 || got[0].Unlisted {
		t.Errorf("the node before it: %+v, want it listed", got)
	}
	unicast := vip("web", 10, "198.51.100.200/24", func(v *vrrpv1.VirtualIP) { v.Spec.Unicast = true })
	if got := derive(last, unicast).Routers; len(got) != 1 || got[0].Unlisted {
		t.Errorf("the last node's unicast router %+v, want it listed", got)
	}
	broken := vip("web", 10, "198.51.100.200/24", pass("vrrp-system", "missing", ""))
	if got := derive(last, broken).Errors; len(got) != 1 || !got[0].Unlisted || got[0].Rank != vrrpv1.MaxListedNodes {
		t.Errorf("the last node's error %+v, want it unlisted at rank %d", got, vrrpv1.MaxListedNodes)
	}
	if got := derive(before, broken).Errors; len(got) != 1 || got[0].Unlisted {
		t.Errorf("the node before it: error %+v, want it listed", got)
	}
}
