package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// TestIPv6UnicastAgents runs two agents with IPv6 unicast, their Nodes' InternalIPs global
// addresses: each must send from that address, not its link-local one, or the other drops its
// adverts as not a peer's and both hold the VIP (issue 9 item 1). Exactly one is Master, and the
// VIP moves when it stops and back when it returns.
func TestIPv6UnicastAgents(t *testing.T) {
	requireLab(t)
	t.Parallel()
	cases := map[string]struct {
		priorities map[string]int
		// partitioned: the nodes start unable to hear each other, so that both become Master,
		// and are then joined.
		partitioned bool
		want        string // the Master
	}{
		"the higher priority is the only Master": {priorities: map[string]int{"high": 150}, want: "high"},
		// Two Masters of one priority that meet keep the one with the greater source address (RFC
		// 9568 §6.4.3): the global ones, which both compare alike, not the link-local ones.
		"two Masters of one priority meet: the higher global address keeps the VIP": {priorities: map[string]int{}, partitioned: true, want: "low"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			lab := testenv.NewLab(t)
			nodes := map[string]*node{
				"high": newNode(t, lab, "ens3", v6Hosts.high),
				"low":  newNode(t, lab, "eth0", v6Hosts.low),
			}
			client := newNode(t, lab, "eth0", v6Hosts.client)
			for _, n := range []*node{nodes["high"], nodes["low"], client} {
				waitLinkLocal(t, n)
			}
			vip := netip.MustParsePrefix(v6Hosts.vip).Addr()
			config := writeManifests(t, []vipSpec{{name: "services", vrid: 51, version: 3, addresses: []string{v6Hosts.vip},
				interval: fast.String(), priorities: c.priorities, unicast: true}},
				[]nodeObj{{name: "high", internalIPs: []string{addrOf(v6Hosts.high)}}, {name: "low", internalIPs: []string{addrOf(v6Hosts.low)}}})
			agentBinary(t)
			if c.partitioned {
				isolatePorts(t, lab, true)
			}
			agents := map[string]*agent{}
			for _, n := range []string{"high", "low"} {
				agents[n] = startAgent(t, nodes[n], n, config, agentOptions{})
			}
			master, backup := nodes[c.want], nodes["high"]
			if c.want == "high" {
				backup = nodes["low"]
			}
			mdi := masterDownInterval(3, fast, 100)
			if c.partitioned {
				for _, n := range nodes {
					waitFor(t, time.Now(), mdi+10*time.Second, n.String()+" becomes Master alone", func() bool { return n.has(vip) })
				}
				isolatePorts(t, lab, false)
			}
			waitOwner(t, time.Now(), 2*mdi+10*time.Second, vip, master, backup)
			holdsAlone(t, max(2*mdi, time.Second), vip, client, master, backup)
			for n, a := range agents {
				if s := mustScrape(t, a); s.sum(metrics.PacketsDropped, map[string]string{"reason": "not_peer"}) != 0 {
					t.Errorf("agent %s dropped adverts as not a peer's: %v", n, drops(s))
				}
			}

			stop := time.Now()
			agents[c.want].terminate()
			recordTiming(t, "v3 IPv6 unicast 100ms graceful handover", waitOwner(t, stop, mdi+5*time.Second, vip, backup, master))
			holdsAlone(t, time.Second, vip, client, backup, master)
			if c.want != "high" {
				return // without a higher priority the returning node does not preempt
			}
			back := time.Now()
			agents[c.want].start()
			recordTiming(t, "v3 IPv6 unicast 100ms preempt back", waitOwner(t, back, 2*mdi+10*time.Second, vip, master, backup))
			holdsAlone(t, max(2*mdi, time.Second), vip, client, master, backup)
		})
	}
}

// TestKeepalivedInteropIPv6Unicast runs the interop scenario of TestKeepalivedInterop with IPv6
// unicast: keepalived with unicast_src_ip and unicast_peer set to the global addresses, the agent
// knowing keepalived's node by that address as its InternalIP.
func TestKeepalivedInteropIPv6Unicast(t *testing.T) {
	requireLab(t)
	testenv.RequireTool(t, "keepalived")
	t.Parallel()
	c := v6Hosts.with(func(c *interopCase) { c.version, c.interval, c.unicast = 3, 100*time.Millisecond, true })
	for _, keepalivedHigh := range []bool{true, false} {
		role := "keepalived Master, agent Backup"
		if !keepalivedHigh {
			role = "agent Master, keepalived Backup"
		}
		t.Run(role, func(t *testing.T) {
			t.Parallel()
			runInterop(t, c, keepalivedHigh)
		})
	}
}

// The unicast cluster's network: the nodes' InternalIPs, and the API server, on eth0, a /28 of its
// own so that its route in the test's namespace meets no other test's; VRRP on ens4, a second
// segment that only the lab's namespaces see.
const (
	offLinkUplink = "203.0.113.145/28"
	offLinkVIP    = "198.51.100.252/24"
)

// TestUnicastOnAnotherInterfaceThanTheInternalIP runs two agents against a real kube-apiserver,
// their Nodes' InternalIPs on eth0 and the VirtualIP's subnet on ens4, a segment where no InternalIP
// is reachable: each agent sends from its ens4 address and publishes it in its status entry, the
// other sends there, and exactly one holds the VIP (issue 9 item 1). Standalone mode cannot show
// this, as its Nodes are what the file says; in a cluster the InternalIP is the kubelet's.
func TestUnicastOnAnotherInterfaceThanTheInternalIP(t *testing.T) {
	requireLab(t)
	t.Parallel()
	lab := testenv.NewLab(t)
	lab.Uplink(offLinkUplink)
	apiAddr := strings.Split(offLinkUplink, "/")[0]
	internal := map[string]string{"high": "203.0.113.146", "low": "203.0.113.147"}
	vrrpAddr := map[string]string{"high": "198.51.100.253", "low": "198.51.100.254"}
	runIP(t, "-n", lab.Switch, "link", "add", "br1", "type", "bridge")
	runIP(t, "-n", lab.Switch, "link", "set", "br1", "type", "bridge", "mcast_snooping", "0")
	runIP(t, "-n", lab.Switch, "link", "set", "br1", "up")
	nodes := map[string]*node{}
	for _, n := range []string{"high", "low"} {
		nodes[n] = secondLink(t, lab, newNode(t, lab, "eth0", internal[n]+"/28"), vrrpAddr[n]+"/24")
	}
	arper := secondLink(t, lab, newNode(t, lab, "eth0", "203.0.113.148/28"), seedClient)

	env, cfg := testenv.APIServerAt(t, apiAddr)
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, vrrpv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, ip := range internal {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := c.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}
		if err := c.Status().Update(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	vip := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "services"}, Spec: vrrpv1.VirtualIPSpec{
		VirtualRouterID: 51, Version: vrrpv1.VRRPv3, Addresses: []string{offLinkVIP}, Unicast: true,
		AdvertInterval: &metav1.Duration{Duration: fast},
		NodePriorities: []vrrpv1.NodePriority{{Node: "high", Priority: 150}},
	}}
	if err := c.Create(ctx, vip); err != nil {
		t.Fatal(err)
	}

	admin := testenv.AdminKubeconfig(t, env)
	bin := agentBinary(t)
	agents := map[string]*proc{}
	for _, n := range []string{"high", "low"} {
		// The node's own view of itself on eth0 runs the agent; the namespace is the same.
		agents[n] = startProc(t, nodes[n], "agent "+n, bin, "agent", "--kubeconfig", admin, "--namespace", "vrrp-system", "--node-name", n,
			"--hook-dir", t.TempDir(), "--state-dir", filepath.Join(t.TempDir(), "state"),
			"--metrics-bind-address", metricsAddr, "--resync", "2s", "-v", "1")
	}
	addr := netip.MustParsePrefix(offLinkVIP).Addr()
	mdi := masterDownInterval(3, fast, 100)
	waitOwner(t, time.Now(), 2*mdi+30*time.Second, addr, nodes["high"], nodes["low"])
	holdsAlone(t, max(2*mdi, time.Second), addr, arper, nodes["high"], nodes["low"])
	testenv.Eventually(t, 10*time.Second, "each node publishes its ens4 address in its status entry", func() (bool, string) {
		var v vrrpv1.VirtualIP
		if err := c.Get(ctx, client.ObjectKeyFromObject(vip), &v); err != nil {
			return false, err.Error()
		}
		got := map[string]string{}
		for _, e := range v.Status.Nodes {
			got[e.Node] = e.Address
		}
		return got["high"] == vrrpAddr["high"] && got["low"] == vrrpAddr["low"], fmt.Sprint(got)
	})

	stop := time.Now()
	agents["high"].terminate()
	recordTiming(t, "v3 unicast off the InternalIP's interface graceful handover", waitOwner(t, stop, mdi+5*time.Second, addr, nodes["low"], nodes["high"]))
	holdsAlone(t, time.Second, addr, arper, nodes["low"], nodes["high"])
}

// secondLink gives n's namespace a second interface, ens4 on the lab's bridge br1 with addr, and
// returns a view of the namespace on it.
func secondLink(t testing.TB, lab *testenv.Lab, n *node, addr string) *node {
	t.Helper()
	peer := "s" + strings.TrimPrefix(n.Name, "vrrpt-")
	peer = peer[:min(len(peer), 15)]
	runIP(t, "-n", n.Name, "link", "add", "ens4", "type", "veth", "peer", "name", peer, "netns", lab.Switch)
	runIP(t, "-n", lab.Switch, "link", "set", peer, "master", "br1", "up")
	runIP(t, "-n", n.Name, "addr", "add", addr, "dev", "ens4")
	runIP(t, "-n", n.Name, "link", "set", "ens4", "up")
	ns, err := netns.GetFromName(n.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nl.Close)
	l, err := nl.LinkByName("ens4")
	if err != nil {
		t.Fatal(err)
	}
	h := *n.Host
	h.Link, h.MAC = "ens4", l.Attrs().HardwareAddr.String()
	return &node{Host: &h, t: t, nl: nl, link: l}
}
