package controllers

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

var (
	now     = metav1.NewTime(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	earlier = metav1.NewTime(now.Add(-time.Hour))
)

const generation = 4

func TestSummarize(t *testing.T) {
	threeNodes := map[string]labels.Set{"a": {"role": "edge"}, "b": {"role": "edge"}, "c": {}}
	edge := &metav1.LabelSelector{MatchLabels: map[string]string{"role": "edge"}}
	notEdge := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "role", Operator: metav1.LabelSelectorOpDoesNotExist}}}

	tests := map[string]struct {
		vip    *vrrpv1.VirtualIP
		others []vrrpv1.VirtualIP
		nodes  map[string]labels.Set // threeNodes when nil
		dark   map[string]string
		want   Summary
	}{
		"one MASTER among BACKUPs is Ready, healthy and names the master": {
			vip: vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "MASTER"), entry("b", "BACKUP"))),
			want: Summary{Master: "a", Conditions: []metav1.Condition{
				cond("Ready", "True", "OneMaster", "node a is MASTER"),
				cond("Degraded", "False", "Healthy", "node a is MASTER"),
			}},
		},
		"two MASTERs are a split brain, not Ready, with no master": {
			vip: vip("web", 51, "198.51.100.1/24", withEntries(entry("b", "MASTER"), entry("a", "MASTER"), entry("c", "BACKUP"))),
			want: Summary{Conditions: []metav1.Condition{
				cond("Ready", "False", "SplitBrain", "2 nodes are MASTER: a, b"),
				cond("Degraded", "True", "SplitBrain", "2 nodes are MASTER: a, b"),
			}},
		},
		"entries without a MASTER are NoMaster and degraded, listing each node's state": {
			vip: vip("web", 51, "198.51.100.1/24", withEntries(entry("b", "FAULT"), entry("a", "BACKUP"), entry("c", "INIT"))),
			want: Summary{Conditions: []metav1.Condition{
				cond("Ready", "False", "NoMaster", "no node is MASTER: a BACKUP, b FAULT, c INIT"),
				cond("Degraded", "True", "NoMaster", "no node is MASTER: a BACKUP, b FAULT, c INIT"),
			}},
		},
		"before any agent reports, there is no master but nothing is degraded": {
			vip: vip("web", 51, "198.51.100.1/24"),
			want: Summary{Conditions: []metav1.Condition{
				cond("Ready", "False", "NoMaster", "no agent has reported yet"),
				cond("Degraded", "False", "Healthy", "no agent has reported yet"),
			}},
		},
		"a nodeSelector that matches no node says so": {
			vip: vip("web", 51, "198.51.100.1/24", withSelector(&metav1.LabelSelector{MatchLabels: map[string]string{"role": "core"}})),
			want: Summary{Conditions: []metav1.Condition{
				cond("Ready", "False", "NoMaster", "no node matches nodeSelector"),
				cond("Degraded", "False", "Healthy", "no node matches nodeSelector"),
			}},
		},
		"the entry of a deleted node is stale and its MASTER does not count": {
			vip: vip("web", 51, "198.51.100.1/24", withEntries(entry("gone", "MASTER"), entry("a", "MASTER"), entry("b", "BACKUP"))),
			want: Summary{Master: "a", StaleNodes: []string{"gone"}, Conditions: []metav1.Condition{
				cond("Ready", "True", "OneMaster", "node a is MASTER"),
				cond("Degraded", "False", "Healthy", "node a is MASTER"),
			}},
		},
		"the MASTER entry of an unreachable node is UNKNOWN and the live MASTER wins, without a split brain": {
			vip:  vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "MASTER"), entry("b", "MASTER"), entry("c", "BACKUP"))),
			dark: map[string]string{"a": "NodeUnreachable"},
			want: Summary{Master: "b", Conditions: []metav1.Condition{
				cond("Ready", "True", "OneMaster", "node b is MASTER; a UNKNOWN (NodeUnreachable, last reported MASTER)"),
				cond("Degraded", "False", "Healthy", "node b is MASTER; a UNKNOWN (NodeUnreachable, last reported MASTER)"),
			}},
		},
		"the MASTER entry of a node whose agent is gone is UNKNOWN: no node is MASTER": {
			vip:  vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "MASTER"), entry("b", "BACKUP"))),
			dark: map[string]string{"a": "AgentGone", "c": "NodeUnreachable"},
			want: Summary{Conditions: []metav1.Condition{
				cond("Ready", "False", "NoMaster", "no node is MASTER: a UNKNOWN (AgentGone, last reported MASTER), b BACKUP"),
				cond("Degraded", "True", "NoMaster", "no node is MASTER: a UNKNOWN (AgentGone, last reported MASTER), b BACKUP"),
			}},
		},
		"entries of dark nodes only are reports, not a wait for agents": {
			vip:  vip("web", 51, "198.51.100.1/24", withEntries(entry("b", "BACKUP", hook("backup", 1, false)), entry("a", "MASTER"))),
			dark: map[string]string{"a": "NodeUnreachable", "b": "NodeUnreachable"},
			want: Summary{Conditions: []metav1.Condition{
				cond("Ready", "False", "NoMaster", "no node is MASTER: a UNKNOWN (NodeUnreachable, last reported MASTER), b UNKNOWN (NodeUnreachable, last reported BACKUP)"),
				cond("Degraded", "True", "NoMaster", "no node is MASTER: a UNKNOWN (NodeUnreachable, last reported MASTER), b UNKNOWN (NodeUnreachable, last reported BACKUP)"),
			}},
		},
		"two live MASTERs beside a dark one are a split brain that names it": {
			vip:  vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "MASTER"), entry("b", "MASTER"), entry("c", "MASTER"))),
			dark: map[string]string{"c": "AgentGone"},
			want: Summary{Conditions: []metav1.Condition{
				cond("Ready", "False", "SplitBrain", "2 nodes are MASTER: a, b; c UNKNOWN (AgentGone, last reported MASTER)"),
				cond("Degraded", "True", "SplitBrain", "2 nodes are MASTER: a, b; c UNKNOWN (AgentGone, last reported MASTER)"),
			}},
		},
		"entries of nodes that no longer match nodeSelector are stale, sorted": {
			vip: vip("web", 51, "198.51.100.1/24", withSelector(notEdge),
				withEntries(entry("b", "BACKUP"), entry("c", "MASTER"), entry("a", "MASTER"))),
			want: Summary{Master: "c", StaleNodes: []string{"a", "b"}, Conditions: []metav1.Condition{
				cond("Ready", "True", "OneMaster", "node c is MASTER"),
				cond("Degraded", "False", "Healthy", "node c is MASTER"),
			}},
		},
		"when every entry is stale the router waits for agents again": {
			vip: vip("web", 51, "198.51.100.1/24", withSelector(edge), withEntries(entry("c", "MASTER"), entry("gone", "BACKUP"))),
			want: Summary{StaleNodes: []string{"c", "gone"}, Conditions: []metav1.Condition{
				cond("Ready", "False", "NoMaster", "no agent has reported yet"),
				cond("Degraded", "False", "Healthy", "no agent has reported yet"),
			}},
		},
		"an empty nodeSelector selects every node": {
			vip: vip("web", 51, "198.51.100.1/24", withSelector(&metav1.LabelSelector{}), withEntries(entry("c", "MASTER"))),
			want: Summary{Master: "c", Conditions: []metav1.Condition{
				cond("Ready", "True", "OneMaster", "node c is MASTER"),
				cond("Degraded", "False", "Healthy", "node c is MASTER"),
			}},
		},
		"a hook that exited non-zero degrades a Ready router": {
			vip: vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "MASTER", hook("master", 2, false)),
				entry("b", "BACKUP", hook("backup", 0, false)))),
			want: Summary{Master: "a", Conditions: []metav1.Condition{
				cond("Ready", "True", "OneMaster", "node a is MASTER"),
				cond("Degraded", "True", "HookFailed", "master hook on node a exited with 2"),
			}},
		},
		"a hook that timed out or could not start degrades, every failure named": {
			vip: vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "MASTER", hook("notify", -1, true)),
				entry("b", "BACKUP", hook("notify", -1, false)))),
			want: Summary{Master: "a", Conditions: []metav1.Condition{
				cond("Ready", "True", "OneMaster", "node a is MASTER"),
				cond("Degraded", "True", "HookFailed", "notify hook on node a timed out; notify hook on node b exited with -1"),
			}},
		},
		"a failed hook on a stale node is forgotten": {
			vip: vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "MASTER"), entry("gone", "BACKUP", hook("stop", 1, false)))),
			want: Summary{Master: "a", StaleNodes: []string{"gone"}, Conditions: []metav1.Condition{
				cond("Ready", "True", "OneMaster", "node a is MASTER"),
				cond("Degraded", "False", "Healthy", "node a is MASTER"),
			}},
		},
		"a failed hook wins over NoMaster": {
			vip: vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "FAULT", hook("fault", 1, false)))),
			want: Summary{Conditions: []metav1.Condition{
				cond("Ready", "False", "NoMaster", "no node is MASTER: a FAULT"),
				cond("Degraded", "True", "HookFailed", "fault hook on node a exited with 1"),
			}},
		},
		"another VirtualIP with the same VRID and family on shared nodes is a router ID conflict": {
			vip:    vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "MASTER"))),
			others: []vrrpv1.VirtualIP{*vip("db", 51, "198.51.100.2/24", withSelector(edge))},
			want: Summary{Master: "a", Conditions: []metav1.Condition{
				cond("Ready", "True", "OneMaster", "node a is MASTER"),
				cond("Degraded", "True", "RouterIDConflict", "VirtualIP db, older, uses VRID 51 for IPv4 on the same interface of nodes a, b: "+refused),
			}},
		},
		"an older VirtualIP keeps its VRID: a newer one that reuses it, whose name sorts first, does not disturb it": {
			vip:    vip("web", 51, "198.51.100.1/24", created(earlier), withEntries(entry("a", "MASTER"))),
			others: []vrrpv1.VirtualIP{*vip("aaa", 51, "198.51.100.2/24", created(now))},
			want:   healthy("a"),
		},
		"the newer VirtualIP is the one in conflict, whose name sorts first, naming the older one": {
			vip:    vip("aaa", 51, "198.51.100.2/24", created(now), withEntries(entry("a", "BACKUP", withReason("RouterIDConflict")))),
			others: []vrrpv1.VirtualIP{*vip("web", 51, "198.51.100.1/24", created(earlier))},
			want: Summary{Conditions: []metav1.Condition{
				cond("Ready", "False", "NoMaster", "no node is MASTER: a BACKUP"),
				cond("Degraded", "True", "RouterIDConflict", "VirtualIP web, older, uses VRID 51 for IPv4 on the same interface of nodes a, b, c: "+refused),
			}},
		},
		"VirtualIPs created in the same second go by name, as the agents order them": {
			vip:    vip("web", 51, "198.51.100.1/24", created(now)),
			others: []vrrpv1.VirtualIP{*vip("db", 51, "198.51.100.2/24", created(now))},
			want: Summary{Conditions: []metav1.Condition{
				cond("Ready", "False", "NoMaster", "no agent has reported yet"),
				cond("Degraded", "True", "RouterIDConflict", "VirtualIP db, older, uses VRID 51 for IPv4 on the same interface of nodes a, b, c: "+refused),
			}},
		},
		"IPv6 routers conflict as IPv4 ones do": {
			vip:    vip("web", 9, "2001:db8::1/64", withSelector(notEdge)),
			others: []vrrpv1.VirtualIP{*vip("db", 9, "2001:db8::2")},
			want: Summary{Conditions: []metav1.Condition{
				cond("Ready", "False", "NoMaster", "no agent has reported yet"),
				cond("Degraded", "True", "RouterIDConflict", "VirtualIP db, older, uses VRID 9 for IPv6 on the same interface of node c: "+refused),
			}},
		},
		"the same VRID in the other family is no conflict": {
			vip:    vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "MASTER"))),
			others: []vrrpv1.VirtualIP{*vip("db", 51, "2001:db8::2")},
			want:   healthy("a"),
		},
		"the same VRID on disjoint nodes is no conflict": {
			vip:    vip("web", 51, "198.51.100.1/24", withSelector(edge), withEntries(entry("a", "MASTER"))),
			others: []vrrpv1.VirtualIP{*vip("db", 51, "198.51.100.2/24", withSelector(notEdge))},
			want:   healthy("a"),
		},
		"another VRID is no conflict": {
			vip:    vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "MASTER"))),
			others: []vrrpv1.VirtualIP{*vip("db", 52, "198.51.100.2/24")},
			want:   healthy("a"),
		},
		"the VirtualIP itself among the others is no conflict": {
			vip:    vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "MASTER"))),
			others: []vrrpv1.VirtualIP{*vip("web", 51, "198.51.100.1/24")},
			want:   healthy("a"),
		},
		"different named interfaces are no conflict": {
			vip:    vip("web", 51, "198.51.100.1/24", withInterface("eth0"), withEntries(entry("a", "MASTER"))),
			others: []vrrpv1.VirtualIP{*vip("db", 51, "198.51.100.2/24", withInterface("eth1"))},
			want:   healthy("a"),
		},
		"one named interface and one chosen per node are no conflict until an agent reports the same": {
			vip:    vip("web", 51, "198.51.100.1/24", withInterface("eth0"), withEntries(entry("a", "MASTER"))),
			others: []vrrpv1.VirtualIP{*vip("db", 51, "198.51.100.2/24")},
			want:   healthy("a"),
		},
		"an interface chosen per node that an agent reports as the other's named interface conflicts": {
			vip: vip("web", 51, "198.51.100.1/24", withInterface("eth0"), withEntries(entry("a", "MASTER"))),
			others: []vrrpv1.VirtualIP{*vip("db", 51, "198.51.100.2/24",
				withEntries(entry("a", "BACKUP", onInterface("eth1")), entry("b", "BACKUP", onInterface("eth0"))))},
			want: Summary{Master: "a", Conditions: []metav1.Condition{
				cond("Ready", "True", "OneMaster", "node a is MASTER"),
				cond("Degraded", "True", "RouterIDConflict", "VirtualIP db, older, uses VRID 51 for IPv4 on the same interface of node b: "+refused),
			}},
		},
		"an agent that refuses the VirtualIP for a reused VRID is a conflict where the controller cannot tell the interfaces": {
			vip: vip("web", 51, "198.51.100.1/24", created(now), withInterface("eth0"), withEntries(
				entry("a", "FAULT", withReason("RouterIDConflict"), func(e *vrrpv1.NodeStatus) {
					e.Message = `virtual router "web": VRID 51 on eth0 is also used by VirtualIP "db": virtual router ID already in use on this interface`
				}), entry("b", "MASTER", onInterface("eth0")))),
			others: []vrrpv1.VirtualIP{*vip("db", 51, "198.51.100.2/24", created(earlier), withEntries(entry("a", "FAULT", withReason("SecretUnavailable"))))},
			want: Summary{Master: "b", Conditions: []metav1.Condition{
				cond("Ready", "True", "OneMaster", "node b is MASTER"),
				cond("Degraded", "True", "RouterIDConflict", `node a refuses it: virtual router "web": VRID 51 on eth0 is also used by VirtualIP "db": virtual router ID already in use on this interface`),
			}},
		},
		"interfaces chosen per node that the agents report as different are no conflict": {
			vip: vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "MASTER", onInterface("eth0")), entry("b", "BACKUP", onInterface("eth0")),
				entry("c", "BACKUP", onInterface("eth0")))),
			others: []vrrpv1.VirtualIP{*vip("db", 51, "198.51.100.2/24", withEntries(entry("a", "BACKUP", onInterface("eth1")),
				entry("b", "BACKUP", onInterface("eth1")), entry("c", "BACKUP", onInterface("eth1"))))},
			want: healthy("a"),
		},
		"a conflicting VirtualIP with an invalid nodeSelector is left to its own summary": {
			vip: vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "MASTER"))),
			others: []vrrpv1.VirtualIP{*vip("db", 51, "198.51.100.2/24", withSelector(&metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "role", Operator: "Near"}}}))},
			want: healthy("a"),
		},
		"several conflicts are each named, sorted": {
			vip: vip("web", 51, "198.51.100.1/24", created(now), withEntries(entry("a", "MASTER"))),
			others: []vrrpv1.VirtualIP{*vip("zeta", 51, "198.51.100.3/24", created(earlier), withSelector(notEdge)),
				*vip("db", 51, "198.51.100.2/24", withSelector(edge))},
			want: Summary{Master: "a", Conditions: []metav1.Condition{
				cond("Ready", "True", "OneMaster", "node a is MASTER"),
				cond("Degraded", "True", "RouterIDConflict", "VirtualIP db, older, uses VRID 51 for IPv4 on the same interface of nodes a, b: "+
					refused+"; VirtualIP zeta, older, uses VRID 51 for IPv4 on the same interface of node c: "+refused),
			}},
		},
		"a split brain wins over a router ID conflict and a failed hook": {
			vip:    vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "MASTER", hook("master", 1, false)), entry("b", "MASTER"))),
			others: []vrrpv1.VirtualIP{*vip("db", 51, "198.51.100.2/24")},
			want: Summary{Conditions: []metav1.Condition{
				cond("Ready", "False", "SplitBrain", "2 nodes are MASTER: a, b"),
				cond("Degraded", "True", "SplitBrain", "2 nodes are MASTER: a, b"),
			}},
		},
		"a router ID conflict wins over a failed hook": {
			vip:    vip("web", 51, "198.51.100.1/24", withSelector(notEdge), withEntries(entry("c", "MASTER", hook("master", 1, false)))),
			others: []vrrpv1.VirtualIP{*vip("db", 51, "198.51.100.2/24")},
			want: Summary{Master: "c", Conditions: []metav1.Condition{
				cond("Ready", "True", "OneMaster", "node c is MASTER"),
				cond("Degraded", "True", "RouterIDConflict", "VirtualIP db, older, uses VRID 51 for IPv4 on the same interface of node c: "+refused),
			}},
		},
		"long lists of nodes are cut with a count": {
			vip: vip("web", 51, "198.51.100.1/24", withEntries(
				entry("n01", "MASTER"), entry("n02", "MASTER"), entry("n03", "MASTER"), entry("n04", "MASTER"), entry("n05", "MASTER"),
				entry("n06", "MASTER"), entry("n07", "MASTER"), entry("n08", "MASTER"), entry("n09", "MASTER"), entry("n10", "MASTER"))),
			nodes: manyNodes(10),
			want: Summary{Conditions: []metav1.Condition{
				cond("Ready", "False", "SplitBrain", "10 nodes are MASTER: n01, n02, n03, n04, n05, n06, n07, n08, 2 more"),
				cond("Degraded", "True", "SplitBrain", "10 nodes are MASTER: n01, n02, n03, n04, n05, n06, n07, n08, 2 more"),
			}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			nodes := tc.nodes
			if nodes == nil {
				nodes = threeNodes
			}
			got := Summarize(tc.vip, tc.others, nodes, tc.dark, now)
			// Events have a test of their own, on VirtualIPs that have conditions already; so has
			// Settling.
			got.Events, got.Settling = nil, 0
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreUnexported(Summary{})); diff != "" {
				t.Errorf("Summarize (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSummarizeTransitions starts from stored conditions and checks lastTransitionTime and the Events.
func TestSummarizeTransitions(t *testing.T) {
	nodes := map[string]labels.Set{"a": {}, "b": {}}
	stored := func(ready, degraded metav1.Condition) func(*vrrpv1.VirtualIP) {
		ready.LastTransitionTime, degraded.LastTransitionTime = earlier, earlier
		ready.ObservedGeneration, degraded.ObservedGeneration = generation-1, generation-1
		return func(v *vrrpv1.VirtualIP) { v.Status.Conditions = []metav1.Condition{ready, degraded} }
	}
	waiting := stored(cond("Ready", "False", "NoMaster", "no agent has reported yet"), cond("Degraded", "False", "Healthy", "no agent has reported yet"))
	oneMaster := stored(cond("Ready", "True", "OneMaster", "node a is MASTER"), cond("Degraded", "False", "Healthy", "node a is MASTER"))
	splitBrain := stored(cond("Ready", "False", "SplitBrain", "2 nodes are MASTER: a, b"), cond("Degraded", "True", "SplitBrain", "2 nodes are MASTER: a, b"))
	noMaster := stored(cond("Ready", "False", "NoMaster", "no node is MASTER: a BACKUP"), cond("Degraded", "True", "NoMaster", "no node is MASTER: a BACKUP"))
	hookFailed := stored(cond("Ready", "True", "OneMaster", "node a is MASTER"), cond("Degraded", "True", "HookFailed", "master hook on node a exited with 1"))

	tests := map[string]struct {
		vip            *vrrpv1.VirtualIP
		want           []Event
		wantTransition map[string]metav1.Time // lastTransitionTime by condition type
	}{
		"a new VirtualIP with no reports yet announces nothing": {
			vip:            vip("web", 51, "198.51.100.1/24"),
			wantTransition: map[string]metav1.Time{"Ready": now, "Degraded": now},
		},
		"a new VirtualIP whose agents report no MASTER warns at once": {
			vip:            vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "BACKUP"))),
			want:           []Event{{Type: corev1.EventTypeWarning, Reason: "NoMaster", Note: "no node is MASTER: a BACKUP"}},
			wantTransition: map[string]metav1.Time{"Ready": now, "Degraded": now},
		},
		"the first MASTER is elected": {
			vip:            vip("web", 51, "198.51.100.1/24", waiting, withEntries(entry("a", "MASTER"))),
			want:           []Event{{Type: corev1.EventTypeNormal, Reason: "MasterElected", Note: "node a is MASTER"}},
			wantTransition: map[string]metav1.Time{"Ready": now, "Degraded": earlier},
		},
		"BACKUPs reporting after the wait warn once of NoMaster": {
			vip:            vip("web", 51, "198.51.100.1/24", waiting, withEntries(entry("a", "BACKUP"))),
			want:           []Event{{Type: corev1.EventTypeWarning, Reason: "NoMaster", Note: "no node is MASTER: a BACKUP"}},
			wantTransition: map[string]metav1.Time{"Ready": earlier, "Degraded": now},
		},
		"another MASTER in place of the first, Ready staying True, is left to its agent's BecameMaster": {
			vip:            vip("web", 51, "198.51.100.1/24", oneMaster, withMaster("a"), withEntries(entry("a", "BACKUP"), entry("b", "MASTER"))),
			wantTransition: map[string]metav1.Time{"Ready": earlier, "Degraded": earlier},
		},
		"a second MASTER is one SplitBrain warning for both conditions": {
			vip:            vip("web", 51, "198.51.100.1/24", oneMaster, withEntries(entry("a", "MASTER"), entry("b", "MASTER"))),
			want:           []Event{{Type: corev1.EventTypeWarning, Reason: "SplitBrain", Note: "2 nodes are MASTER: a, b"}},
			wantTransition: map[string]metav1.Time{"Ready": now, "Degraded": now},
		},
		"the end of a split brain is one MasterElected, which says Degraded is over too": {
			vip:            vip("web", 51, "198.51.100.1/24", splitBrain, withEntries(entry("a", "MASTER"), entry("b", "BACKUP"))),
			want:           []Event{{Type: corev1.EventTypeNormal, Reason: "MasterElected", Note: "node a is MASTER"}},
			wantTransition: map[string]metav1.Time{"Ready": now, "Degraded": now},
		},
		"the end of a NoMaster is one MasterElected, which says Degraded is over too": {
			vip:            vip("web", 51, "198.51.100.1/24", noMaster, withEntries(entry("a", "MASTER"), entry("b", "BACKUP"))),
			want:           []Event{{Type: corev1.EventTypeNormal, Reason: "MasterElected", Note: "node a is MASTER"}},
			wantTransition: map[string]metav1.Time{"Ready": now, "Degraded": now},
		},
		"a MASTER elected as a failed hook of its own clears is healthy again as well": {
			vip: vip("web", 51, "198.51.100.1/24", stored(cond("Ready", "False", "NoMaster", "no node is MASTER: a BACKUP"), cond("Degraded", "True", "HookFailed", "backup hook on node a exited with 1")),
				withEntries(entry("a", "MASTER", hook("master", 0, false)))),
			want: []Event{
				{Type: corev1.EventTypeNormal, Reason: "MasterElected", Note: "node a is MASTER"},
				{Type: corev1.EventTypeNormal, Reason: "Healthy", Note: "node a is MASTER"},
			},
			wantTransition: map[string]metav1.Time{"Ready": now, "Degraded": now},
		},
		"a split brain that loses every MASTER becomes NoMaster, keeping its transition times": {
			vip:            vip("web", 51, "198.51.100.1/24", splitBrain, withEntries(entry("a", "BACKUP"))),
			want:           []Event{{Type: corev1.EventTypeWarning, Reason: "NoMaster", Note: "no node is MASTER: a BACKUP"}},
			wantTransition: map[string]metav1.Time{"Ready": earlier, "Degraded": earlier},
		},
		"a MASTER that leaves warns of NoMaster": {
			vip:            vip("web", 51, "198.51.100.1/24", oneMaster, withEntries(entry("a", "STOPPED"))),
			want:           []Event{{Type: corev1.EventTypeWarning, Reason: "NoMaster", Note: "no node is MASTER: a STOPPED"}},
			wantTransition: map[string]metav1.Time{"Ready": now, "Degraded": now},
		},
		"the last entry going stale after a MASTER warns of NoMaster": {
			vip:            vip("web", 51, "198.51.100.1/24", oneMaster, withEntries(entry("gone", "MASTER"))),
			want:           []Event{{Type: corev1.EventTypeWarning, Reason: "NoMaster", Note: "no agent has reported yet"}},
			wantTransition: map[string]metav1.Time{"Ready": now, "Degraded": earlier},
		},
		"a change of message alone announces nothing": {
			vip:            vip("web", 51, "198.51.100.1/24", noMaster, withEntries(entry("a", "BACKUP"), entry("b", "FAULT"))),
			wantTransition: map[string]metav1.Time{"Ready": earlier, "Degraded": earlier},
		},
		"nothing changed announces nothing and keeps the transition times": {
			vip:            vip("web", 51, "198.51.100.1/24", oneMaster, withMaster("a"), withEntries(entry("a", "MASTER"))),
			wantTransition: map[string]metav1.Time{"Ready": earlier, "Degraded": earlier},
		},
		"a failed hook warns while Ready stays": {
			vip:            vip("web", 51, "198.51.100.1/24", oneMaster, withEntries(entry("a", "MASTER", hook("master", 1, false)))),
			want:           []Event{{Type: corev1.EventTypeWarning, Reason: "HookFailed", Note: "master hook on node a exited with 1"}},
			wantTransition: map[string]metav1.Time{"Ready": earlier, "Degraded": now},
		},
		"a hook that succeeds again is healthy": {
			vip:            vip("web", 51, "198.51.100.1/24", hookFailed, withEntries(entry("a", "MASTER", hook("master", 0, false)))),
			want:           []Event{{Type: corev1.EventTypeNormal, Reason: "Healthy", Note: "node a is MASTER"}},
			wantTransition: map[string]metav1.Time{"Ready": earlier, "Degraded": now},
		},
		"a failed hook turning into a split brain changes reason, not status, and keeps the time": {
			vip:            vip("web", 51, "198.51.100.1/24", hookFailed, withEntries(entry("a", "MASTER"), entry("b", "MASTER"))),
			want:           []Event{{Type: corev1.EventTypeWarning, Reason: "SplitBrain", Note: "2 nodes are MASTER: a, b"}},
			wantTransition: map[string]metav1.Time{"Ready": now, "Degraded": earlier},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := tc.vip.DeepCopy()
			got := Summarize(tc.vip, nil, nodes, nil, now)
			if diff := cmp.Diff(tc.want, got.Events); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			gotTransition := map[string]metav1.Time{}
			for _, c := range got.Conditions {
				gotTransition[c.Type] = c.LastTransitionTime
				if c.ObservedGeneration != generation {
					t.Errorf("condition %s has observedGeneration %d, want %d", c.Type, c.ObservedGeneration, generation)
				}
			}
			if diff := cmp.Diff(tc.wantTransition, gotTransition); diff != "" {
				t.Errorf("lastTransitionTime (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tc.vip); diff != "" {
				t.Errorf("Summarize changed its input (-before +after):\n%s", diff)
			}
		})
	}
}

func TestSummarizeKeepsForeignConditionsOutOfItsOwn(t *testing.T) {
	v := vip("web", 51, "198.51.100.1/24", withEntries(entry("a", "MASTER")), func(v *vrrpv1.VirtualIP) {
		v.Status.Conditions = []metav1.Condition{{Type: "Progressing", Status: "True", Reason: "Rollout", LastTransitionTime: earlier}}
	})
	got := Summarize(v, nil, map[string]labels.Set{"a": {}}, nil, now)
	var types []string
	for _, c := range got.Conditions {
		types = append(types, c.Type)
	}
	if diff := cmp.Diff([]string{"Ready", "Degraded"}, types); diff != "" {
		t.Errorf("condition types (-want +got):\n%s", diff)
	}
}

// TestSummarizeReportsASpecNoAgentCanRun: a selector that does not parse makes every agent report
// FAULT; the controller says why instead of keeping the conditions of the spec before.
func TestSummarizeReportsASpecNoAgentCanRun(t *testing.T) {
	nodes := map[string]labels.Set{"a": {}, "b": {}}
	wasReady := func(v *vrrpv1.VirtualIP) {
		v.Status.Conditions = []metav1.Condition{
			{Type: "Ready", Status: "True", Reason: "OneMaster", Message: "node a is MASTER", LastTransitionTime: earlier},
			{Type: "Degraded", Status: "False", Reason: "Healthy", Message: "node a is MASTER", LastTransitionTime: earlier},
		}
	}
	badOperator := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "role", Operator: "Near"}}}
	badKey := &metav1.LabelSelector{MatchLabels: map[string]string{"not a key!": "x"}}
	tests := map[string]struct {
		vip      *vrrpv1.VirtualIP
		wantText string // in both conditions' message and the Event's note
	}{
		"a nodeSelector operator that does not exist": {
			vip:      vip("web", 51, "198.51.100.1/24", wasReady, withSelector(badOperator), withEntries(entry("a", "MASTER"), entry("b", "FAULT"))),
			wantText: `spec.nodeSelector: "Near" is not a valid label selector operator`,
		},
		"a nodeSelector label key that does not parse": {
			vip:      vip("web", 51, "198.51.100.1/24", wasReady, withSelector(badKey), withEntries(entry("a", "FAULT"), entry("b", "FAULT"))),
			wantText: `spec.nodeSelector: key: Invalid value: "not a key!"`,
		},
		"a nodePriorities selector that does not parse": {
			vip: vip("web", 51, "198.51.100.1/24", wasReady, withEntries(entry("a", "FAULT")), func(v *vrrpv1.VirtualIP) {
				v.Spec.NodePriorities = []vrrpv1.NodePriority{{Node: "a", Priority: 150}, {Selector: badOperator, Priority: 120}}
			}),
			wantText: `spec.nodePriorities[1].selector: "Near" is not a valid label selector operator`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := tc.vip.DeepCopy()
			got := Summarize(tc.vip, nil, nodes, nil, now)
			if got.Master != "" || len(got.StaleNodes) != 0 {
				t.Errorf("master %q, stale entries %v; want neither: which nodes match cannot be told", got.Master, got.StaleNodes)
			}
			want := map[string]metav1.ConditionStatus{"Ready": "False", "Degraded": "True"}
			for _, c := range got.Conditions {
				if c.Status != want[c.Type] || c.Reason != "InvalidSpec" || !strings.Contains(c.Message, tc.wantText) ||
					c.LastTransitionTime != now || c.ObservedGeneration != generation {
					t.Errorf("condition %s = %+v, want status %s, reason InvalidSpec, a message containing %q, changed now",
						c.Type, c, want[c.Type], tc.wantText)
				}
			}
			if len(got.Conditions) != 2 {
				t.Errorf("conditions %+v, want Ready and Degraded", got.Conditions)
			}
			if len(got.Events) != 1 || got.Events[0].Type != corev1.EventTypeWarning || got.Events[0].Reason != "InvalidSpec" ||
				!strings.Contains(got.Events[0].Note, tc.wantText) {
				t.Errorf("events %+v, want one InvalidSpec warning containing %q", got.Events, tc.wantText)
			}
			if diff := cmp.Diff(before, tc.vip); diff != "" {
				t.Errorf("Summarize changed its input (-before +after):\n%s", diff)
			}
		})
	}
}

func TestInvalidSpecErrorsWrapErrInvalidSpec(t *testing.T) {
	spec := &vrrpv1.VirtualIPSpec{NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"not a key!": "x"}}}
	if _, err := participants(spec); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("participants = %v, want an error wrapping ErrInvalidSpec", err)
	}
}

func TestHookFailuresAreCappedInTheMessage(t *testing.T) {
	var es []vrrpv1.NodeStatus
	for i := range 20 {
		es = append(es, entry(fmt.Sprintf("n%02d", i+1), "BACKUP", hook("backup", 1, false)))
	}
	got := Summarize(vip("web", 51, "198.51.100.1/24", withEntries(es...)), nil, manyNodes(20), nil, now)
	msg := got.Conditions[1].Message
	if !strings.HasSuffix(msg, "; 12 more") || strings.Contains(msg, "n09") {
		t.Errorf("Degraded message is not cut after 8 failures: %q", msg)
	}
}

func vip(name string, vrid int32, addr string, opts ...func(*vrrpv1.VirtualIP)) *vrrpv1.VirtualIP {
	v := &vrrpv1.VirtualIP{
		ObjectMeta: metav1.ObjectMeta{Name: name, Generation: generation},
		Spec:       vrrpv1.VirtualIPSpec{VirtualRouterID: vrid, Addresses: []string{addr}},
	}
	for _, o := range opts {
		o(v)
	}
	return v
}

// refused ends the message of a RouterIDConflict.
const refused = "it keeps the VRID there and this one is refused"

func created(t metav1.Time) func(*vrrpv1.VirtualIP) {
	return func(v *vrrpv1.VirtualIP) { v.CreationTimestamp = t }
}

func withReason(reason string) func(*vrrpv1.NodeStatus) {
	return func(e *vrrpv1.NodeStatus) { e.Reason = reason }
}

func withMaster(node string) func(*vrrpv1.VirtualIP) {
	return func(v *vrrpv1.VirtualIP) { v.Status.Master = node }
}

func withEntries(es ...vrrpv1.NodeStatus) func(*vrrpv1.VirtualIP) {
	return func(v *vrrpv1.VirtualIP) { v.Status.Nodes = es }
}

func withSelector(s *metav1.LabelSelector) func(*vrrpv1.VirtualIP) {
	return func(v *vrrpv1.VirtualIP) { v.Spec.NodeSelector = s }
}

func withInterface(name string) func(*vrrpv1.VirtualIP) {
	return func(v *vrrpv1.VirtualIP) { v.Spec.Interface = name }
}

func entry(node string, state vrrpv1.RouterState, opts ...func(*vrrpv1.NodeStatus)) vrrpv1.NodeStatus {
	e := vrrpv1.NodeStatus{Node: node, State: state, Priority: 100}
	for _, o := range opts {
		o(&e)
	}
	return e
}

func hook(kind string, exit int32, timedOut bool) func(*vrrpv1.NodeStatus) {
	return func(e *vrrpv1.NodeStatus) {
		e.LastHook = &vrrpv1.HookResult{Kind: kind, ExitCode: exit, TimedOut: timedOut}
	}
}

func onInterface(name string) func(*vrrpv1.NodeStatus) {
	return func(e *vrrpv1.NodeStatus) { e.Interface = name }
}

func cond(typ string, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg,
		ObservedGeneration: generation, LastTransitionTime: now}
}

func healthy(master string) Summary {
	return Summary{Master: master, Conditions: []metav1.Condition{
		cond("Ready", "True", "OneMaster", "node "+master+" is MASTER"),
		cond("Degraded", "False", "Healthy", "node "+master+" is MASTER"),
	}}
}

func manyNodes(n int) map[string]labels.Set {
	m := map[string]labels.Set{}
	for i := range n {
		m[fmt.Sprintf("n%02d", i+1)] = labels.Set{}
	}
	return m
}

// A VirtualIP that selects more than vrrpv1.MaxListedNodes nodes says so, so that a reader of
// status.nodes does not take the missing entries for silent agents.
func TestSummarizeSaysWhenNotEveryNodeIsListed(t *testing.T) {
	for _, tc := range []struct {
		nodes   int
		unicast bool
		want    string
	}{
		{nodes: vrrpv1.MaxListedNodes, want: "node n01 is MASTER"},
		{nodes: vrrpv1.MaxListedNodes + 1, want: fmt.Sprintf("node n01 is MASTER; more than %d nodes selected: status lists the first %d by name and any MASTER", vrrpv1.MaxListedNodes, vrrpv1.MaxListedNodes)},
		{nodes: 150, unicast: true, want: "node n01 is MASTER"},
	} {
		v := vip("web", 51, "198.51.100.1/24", withEntries(entry("n01", "MASTER")))
		v.Spec.Unicast = tc.unicast
		got := Summarize(v, nil, manyNodes(tc.nodes), nil, now)
		if msg := got.Conditions[0].Message; msg != tc.want {
			t.Errorf("%d nodes, unicast %v: Ready message %q, want %q", tc.nodes, tc.unicast, msg, tc.want)
		}
	}
}

// TestSummaryFlapping: a flapping VirtualIP (handovers.hold) says so in Degraded, whatever else is
// wrong, unless nothing reports on it or its spec cannot run.
func TestSummaryFlapping(t *testing.T) {
	const note = "flapping: 4 times without exactly one MASTER within 1m0s"
	nodes := map[string]labels.Set{"a": {}, "b": {}}
	stored := func(ready, degraded metav1.Condition) func(*vrrpv1.VirtualIP) {
		ready.LastTransitionTime, degraded.LastTransitionTime = earlier, earlier
		return func(v *vrrpv1.VirtualIP) { v.Status.Conditions = []metav1.Condition{ready, degraded} }
	}
	oneMaster := stored(cond("Ready", "True", "OneMaster", "node a is MASTER"), cond("Degraded", "False", "Healthy", "node a is MASTER"))
	hookFailed := stored(cond("Ready", "True", "OneMaster", "node a is MASTER"), cond("Degraded", "True", "HookFailed", "master hook on node a exited with 1"))
	waiting := stored(cond("Ready", "False", "NoMaster", "no agent has reported yet"), cond("Degraded", "False", "Healthy", "no agent has reported yet"))
	at := func(c metav1.Condition, t metav1.Time) metav1.Condition {
		c.LastTransitionTime, c.ObservedGeneration = t, generation
		return c
	}
	tests := map[string]struct {
		vip        *vrrpv1.VirtualIP
		want       []metav1.Condition
		wantEvents []Event
	}{
		"a healthy VirtualIP turns Degraded, Flapping, with one Warning": {
			vip: vip("web", 51, "198.51.100.1/24", oneMaster, withEntries(entry("a", "MASTER"), entry("b", "BACKUP"))),
			want: []metav1.Condition{
				at(cond("Ready", "True", "OneMaster", "node a is MASTER"), earlier),
				at(cond("Degraded", "True", "Flapping", "node a is MASTER; "+note), now),
			},
			wantEvents: []Event{{Type: "Warning", Reason: "Flapping", Note: "node a is MASTER; " + note}},
		},
		"a failed hook keeps its reason, and its message says it is flapping too": {
			vip: vip("web", 51, "198.51.100.1/24", hookFailed, withEntries(entry("a", "MASTER", hook("master", 1, false)), entry("b", "BACKUP"))),
			want: []metav1.Condition{
				at(cond("Ready", "True", "OneMaster", "node a is MASTER"), earlier),
				at(cond("Degraded", "True", "HookFailed", "master hook on node a exited with 1; "+note), earlier),
			},
		},
		"a gap past its bound is reported in one Event that says it is flapping": {
			vip: vip("web", 51, "198.51.100.1/24", oneMaster, withEntries(entry("a", "BACKUP"), entry("b", "BACKUP"))),
			want: []metav1.Condition{
				at(cond("Ready", "False", "NoMaster", "no node is MASTER: a BACKUP, b BACKUP; "+note), now),
				at(cond("Degraded", "True", "NoMaster", "no node is MASTER: a BACKUP, b BACKUP; "+note), now),
			},
			wantEvents: []Event{{Type: "Warning", Reason: "NoMaster", Note: "no node is MASTER: a BACKUP, b BACKUP; " + note}},
		},
		"a VirtualIP no agent reports on is not flapping": {
			vip: vip("web", 51, "198.51.100.1/24", waiting),
			want: []metav1.Condition{
				at(cond("Ready", "False", "NoMaster", "no agent has reported yet"), earlier),
				at(cond("Degraded", "False", "Healthy", "no agent has reported yet"), earlier),
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sum := Summarize(tc.vip, nil, nodes, nil, now)
			sum.flapping(tc.vip, now, note)
			if diff := cmp.Diff(tc.want, sum.Conditions); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantEvents, sum.Events); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}

	badKey := &metav1.LabelSelector{MatchLabels: map[string]string{"not a key!": "x"}}
	v := vip("web", 51, "198.51.100.1/24", oneMaster, withSelector(badKey), withEntries(entry("a", "FAULT"), entry("b", "FAULT")))
	sum := Summarize(v, nil, nodes, nil, now)
	want := sum.Conditions
	sum.flapping(v, now, note)
	if diff := cmp.Diff(want, sum.Conditions); diff != "" {
		t.Errorf("a spec no agent can run was marked as flapping (-before +after):\n%s", diff)
	}
}

// Review of issue 12: a Node deleted while an agent pod still counts as running there (kubectl
// delete node by mistake, with the agent running on; or a machine gone whose pod the garbage
// collector has not deleted yet). Its entry is kept while the pod runs, as UNKNOWN: the controller
// removed it, the agent wrote it again, and status flipped until the pod was deleted; but a machine
// that is gone must not count as a second Master either.
func TestTheEntryOfANodeWhoseObjectIsGoneIsKeptAsUnknownWhileItsAgentRuns(t *testing.T) {
	running := corev1.Pod{Spec: corev1.PodSpec{NodeName: "gone"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	crashing := *running.DeepCopy()
	crashing.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "agent",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
	tests := map[string]struct {
		pods       []corev1.Pod
		selector   *metav1.LabelSelector
		aMaster    bool
		wantStale  []string
		wantMaster string
		wantReady  string // in Ready's message
	}{
		"its agent runs: kept, UNKNOWN":                       {pods: []corev1.Pod{running}, wantReady: "gone UNKNOWN (NodeGone, last reported MASTER)"},
		"a live MASTER beside it is the one Master":           {pods: []corev1.Pod{running}, aMaster: true, wantMaster: "a", wantReady: "node a is MASTER; gone UNKNOWN (NodeGone"},
		"no agent pod on it: stale":                           {wantStale: []string{"gone"}},
		"its agent crash-loops: stale":                        {pods: []corev1.Pod{crashing}, wantStale: []string{"gone"}},
		"a selector an unlabelled node does not match: stale": {pods: []corev1.Pod{running}, selector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "lb"}}, wantStale: []string{"gone"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			vip := &vrrpv1.VirtualIP{Spec: vrrpv1.VirtualIPSpec{VirtualRouterID: 51, Addresses: []string{"198.51.100.1/24"}, NodeSelector: tc.selector},
				Status: vrrpv1.VirtualIPStatus{Nodes: []vrrpv1.NodeStatus{
					{Node: "a", State: vrrpv1.StateBackup, Priority: 100},
					{Node: "gone", State: vrrpv1.StateMaster, Priority: 150},
				}}}
			if tc.aMaster {
				vip.Status.Nodes[0].State = vrrpv1.StateMaster
			}
			nodes, darkNodes := map[string]labels.Set{"a": {}}, map[string]string{}
			if tc.selector != nil {
				nodes["a"] = labels.Set{"role": "lb"}
			}
			withAgentsOfGoneNodes(nodes, darkNodes, tc.pods)
			sum := Summarize(vip, nil, nodes, darkNodes, now)
			if diff := cmp.Diff(tc.wantStale, sum.StaleNodes); diff != "" {
				t.Errorf("stale nodes (-want +got):\n%s", diff)
			}
			if sum.Master != tc.wantMaster {
				t.Errorf("master %q, want %q", sum.Master, tc.wantMaster)
			}
			ready := sum.Conditions[0]
			if ready.Type != vrrpv1.ConditionReady || !strings.Contains(ready.Message, tc.wantReady) {
				t.Errorf("%s: %q, want it to say %q", ready.Type, ready.Message, tc.wantReady)
			}
		})
	}
}

// Review of issue 12: with more nodes selected than status lists, the unlisted nodes, which have
// no entry unless MASTER, may be the Backups that take over: a gap whose listed entries cannot
// take over (FAULT, STOPPED) is held for the longest Master_Down_Interval, not reported NoMaster
// with a Warning at once.
func TestAGapIsHeldForBackupsPastTheListedNodes(t *testing.T) {
	const past = 20
	tests := map[string]struct {
		darkUnlisted bool
		want         time.Duration
	}{
		"unlisted nodes may take over": {want: 3*time.Second + 255*time.Second/256},
		"every unlisted node is dark":  {darkUnlisted: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			vip := &vrrpv1.VirtualIP{Spec: vrrpv1.VirtualIPSpec{VirtualRouterID: 51, Addresses: []string{"198.51.100.1/24"}}}
			nodes, darkNodes := map[string]labels.Set{}, map[string]string{}
			for i := 1; i <= vrrpv1.MaxListedNodes; i++ {
				n := fmt.Sprintf("a%03d", i)
				nodes[n] = labels.Set{}
				vip.Status.Nodes = append(vip.Status.Nodes, vrrpv1.NodeStatus{Node: n, State: vrrpv1.StateFault, Reason: "NoInterface"})
			}
			for i := 1; i <= past; i++ {
				n := fmt.Sprintf("z%02d", i)
				nodes[n] = labels.Set{}
				if tc.darkUnlisted {
					darkNodes[n] = "AgentGone"
				}
			}
			if got := Summarize(vip, nil, nodes, darkNodes, now).Settling; got != tc.want {
				t.Errorf("Settling %v, want %v", got, tc.want)
			}
		})
	}
}
