package desired

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

func TestExplain(t *testing.T) {
	seed := seedVIP()
	nodes := []corev1.Node{node("primary", "198.51.100.1"), node("secondary", "198.51.100.2")}
	tracking := Step{Rule: RuleTracking, Detail: "none: no spec.track, nothing else changes the priority"}
	untouched := func(prio uint8, onCordon string) []Step {
		return []Step{
			{Rule: RuleMaintenance, Priority: prio, Detail: `Node annotation vrrp.dev/maintenance is not "true"`},
			{Rule: RuleExclude, Priority: prio, Detail: "Node label node.kubernetes.io/exclude-from-external-load-balancers is absent"},
			{Rule: RuleCordon, Priority: prio, Detail: "the Node is not cordoned (onCordon " + onCordon + ")"},
			withPriority(tracking, prio, false),
		}
	}
	tests := map[string]struct {
		vip   vrrpv1.VirtualIP
		nodes []corev1.Node
		node  string
		want  Explanation
	}{
		"the seed's primary gets 150 from its nodePriorities entry and starts as Master": {
			vip: seed, nodes: nodes, node: "primary",
			want: Explanation{VirtualIP: "services", Node: "primary", Participates: true, Selector: "every node",
				Steps: append([]Step{
					{Rule: RuleSpecPriority, Applied: true, Priority: 100, Detail: "spec.priority is 100"},
					{Rule: RuleNodePriorities, Applied: true, Priority: 150, Detail: "nodePriorities[0] (node primary) sets 150; the first matching entry wins"},
					{Rule: RulePreferredNode, Priority: 150, Detail: "annotation vrrp.dev/preferred-node is not set"},
				}, untouched(150, "Demote")...),
				Priority: 150, Effective: 150, Preempt: true, StartsAsMaster: true},
		},
		"the seed's secondary keeps spec.priority": {
			vip: seed, nodes: nodes, node: "secondary",
			want: Explanation{VirtualIP: "services", Node: "secondary", Participates: true, Selector: "every node",
				Steps: append([]Step{
					{Rule: RuleSpecPriority, Applied: true, Priority: 100, Detail: "spec.priority is 100"},
					{Rule: RuleNodePriorities, Priority: 100, Detail: "no nodePriorities entry matches this node"},
					{Rule: RulePreferredNode, Priority: 100, Detail: "annotation vrrp.dev/preferred-node is not set"},
				}, untouched(100, "Demote")...),
				Priority: 100, Effective: 100, Preempt: true},
		},
		"the preferred node gets 254 over its nodePriorities entry, without preempt it does not start as Master": {
			vip: vip("v", 7, "198.51.100.7/24", preferred("secondary"), func(v *vrrpv1.VirtualIP) {
				v.Spec.Preempt = ptr(false)
				v.Spec.NodePriorities = []vrrpv1.NodePriority{{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"zone": "a"}}, Priority: 120}}
			}),
			nodes: []corev1.Node{withLabels(node("primary"), "zone", "b"), withLabels(node("secondary"), "zone", "a")}, node: "secondary",
			want: Explanation{VirtualIP: "v", Node: "secondary", Participates: true, Selector: "every node",
				Steps: append([]Step{
					{Rule: RuleSpecPriority, Applied: true, Priority: 100, Detail: "spec.priority is unset: the default, 100"},
					{Rule: RuleNodePriorities, Applied: true, Priority: 120, Detail: "nodePriorities[0] (selector zone=a) sets 120; the first matching entry wins"},
					{Rule: RulePreferredNode, Applied: true, Priority: 254, Detail: "annotation vrrp.dev/preferred-node names this node: 254"},
				}, untouched(254, "Demote")...),
				Priority: 254, Effective: 254, Reason: ReasonPreferred},
		},
		"a cordoned preferred node is demoted to 1: cordon beats preference": {
			vip: vip("v", 7, "198.51.100.7/24", preferred("primary")), node: "primary",
			nodes: []corev1.Node{cordoned(node("primary")), node("secondary")},
			want: Explanation{VirtualIP: "v", Node: "primary", Participates: true, Selector: "every node",
				Steps: []Step{
					{Rule: RuleSpecPriority, Applied: true, Priority: 100, Detail: "spec.priority is unset: the default, 100"},
					{Rule: RuleNodePriorities, Priority: 100, Detail: "spec.nodePriorities is empty"},
					{Rule: RulePreferredNode, Applied: true, Priority: 254, Detail: "annotation vrrp.dev/preferred-node names this node: 254"},
					{Rule: RuleMaintenance, Priority: 254, Detail: `Node annotation vrrp.dev/maintenance is not "true"`},
					{Rule: RuleExclude, Priority: 254, Detail: "Node label node.kubernetes.io/exclude-from-external-load-balancers is absent"},
					{Rule: RuleCordon, Applied: true, Priority: 1, Detail: "the Node is cordoned, onCordon Demote: 1, and a Master hands over at once"},
					withPriority(tracking, 1, false),
				},
				Priority: 1, Effective: 1, Resign: true, Reason: ReasonCordoned, Preempt: true},
		},
		"maintenance releases the node and decides before the exclude label and cordon": {
			vip: vip("v", 7, "198.51.100.7/24", onCordon(vrrpv1.CordonRelease)), node: "primary",
			nodes: []corev1.Node{func() corev1.Node {
				n := cordoned(annotated(withLabels(node("primary"), vrrpv1.ExcludeLabel, ""), vrrpv1.MaintenanceAnnotation, "True"))
				return n
			}(), node("secondary")},
			want: Explanation{VirtualIP: "v", Node: "primary", Participates: true, Selector: "every node",
				Steps: []Step{
					{Rule: RuleSpecPriority, Applied: true, Priority: 100, Detail: "spec.priority is unset: the default, 100"},
					{Rule: RuleNodePriorities, Priority: 100, Detail: "spec.nodePriorities is empty"},
					{Rule: RulePreferredNode, Priority: 100, Detail: "annotation vrrp.dev/preferred-node is not set"},
					{Rule: RuleMaintenance, Applied: true, Released: true, Priority: 100, Detail: "Node annotation vrrp.dev/maintenance=true: the node releases the VIP (advertises priority 0)"},
					{Rule: RuleExclude, Released: true, Priority: 100, Detail: "Node label node.kubernetes.io/exclude-from-external-load-balancers is present, but maintenance already decided"},
					{Rule: RuleCordon, Released: true, Priority: 100, Detail: "the Node is cordoned (onCordon Release), but maintenance already decided"},
					withPriority(tracking, 100, true),
				},
				Priority: 100, Effective: 0, Released: true, Reason: ReasonMaintenance, Preempt: true},
		},
		"a cordoned node under onCordon Ignore keeps its priority": {
			vip: vip("v", 7, "198.51.100.7/24", onCordon(vrrpv1.CordonIgnore)), node: "primary",
			nodes: []corev1.Node{cordoned(node("primary"))},
			want: Explanation{VirtualIP: "v", Node: "primary", Participates: true, Selector: "every node",
				Steps: []Step{
					{Rule: RuleSpecPriority, Applied: true, Priority: 100, Detail: "spec.priority is unset: the default, 100"},
					{Rule: RuleNodePriorities, Priority: 100, Detail: "spec.nodePriorities is empty"},
					{Rule: RulePreferredNode, Priority: 100, Detail: "annotation vrrp.dev/preferred-node is not set"},
					{Rule: RuleMaintenance, Priority: 100, Detail: `Node annotation vrrp.dev/maintenance is not "true"`},
					{Rule: RuleExclude, Priority: 100, Detail: "Node label node.kubernetes.io/exclude-from-external-load-balancers is absent"},
					{Rule: RuleCordon, Priority: 100, Detail: "the Node is cordoned, onCordon Ignore: the priority stays"},
					withPriority(tracking, 100, false),
				},
				Priority: 100, Effective: 100, Preempt: true, StartsAsMaster: true},
		},
		"with a preempt delay the top node does not start as Master: the agent waits as a Backup": {
			vip: vip("v", 7, "198.51.100.7/24", func(v *vrrpv1.VirtualIP) {
				v.Spec.PreemptDelay = &metav1.Duration{Duration: 30 * time.Second}
				v.Spec.NodePriorities = []vrrpv1.NodePriority{{Node: "primary", Priority: 150}}
			}),
			nodes: nodes, node: "primary",
			want: Explanation{VirtualIP: "v", Node: "primary", Participates: true, Selector: "every node",
				Steps: append([]Step{
					{Rule: RuleSpecPriority, Applied: true, Priority: 100, Detail: "spec.priority is unset: the default, 100"},
					{Rule: RuleNodePriorities, Applied: true, Priority: 150, Detail: "nodePriorities[0] (node primary) sets 150; the first matching entry wins"},
					{Rule: RulePreferredNode, Priority: 150, Detail: "annotation vrrp.dev/preferred-node is not set"},
				}, untouched(150, "Demote")...),
				Priority: 150, Effective: 150, Preempt: true},
		},
		"a node the nodeSelector leaves out does not take part": {
			vip: vip("v", 7, "198.51.100.7/24", func(v *vrrpv1.VirtualIP) {
				v.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"vrrp": "yes"}}
			}),
			nodes: []corev1.Node{node("primary")}, node: "primary",
			want: Explanation{VirtualIP: "v", Node: "primary", Selector: "vrrp=yes"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Explain(&tc.vip, tc.node, tc.nodes)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Explain (-want +got):\n%s", diff)
			}
		})
	}
}

func withPriority(s Step, p uint8, released bool) Step {
	s.Priority, s.Released = p, released
	return s
}

func TestExplainErrors(t *testing.T) {
	nodes := []corev1.Node{node("primary")}
	tests := map[string]struct {
		vip  vrrpv1.VirtualIP
		node string
		want error
	}{
		"a node that is not among the Nodes": {vip: seedVIP(), node: "ghost", want: ErrNodeNotFound},
		"a nodePriorities entry without a priority": {vip: vip("v", 7, "198.51.100.7/24", func(v *vrrpv1.VirtualIP) {
			v.Spec.NodePriorities = []vrrpv1.NodePriority{{Node: "primary"}}
		}), node: "primary", want: ErrInvalidSpec},
		"an onCordon the API does not know": {vip: vip("v", 7, "198.51.100.7/24", onCordon("Panic")), node: "primary", want: ErrInvalidSpec},
		"a nodeSelector that does not parse": {vip: vip("v", 7, "198.51.100.7/24", func(v *vrrpv1.VirtualIP) {
			v.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"bad key!": "x"}}
		}), node: "primary", want: ErrInvalidSpec},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Explain(&tc.vip, tc.node, nodes)
			if !errors.Is(err, tc.want) {
				t.Errorf("Explain: got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestExplainAgreesWithDerive: for every combination of the policy's inputs, the explanation's
// outcome and its last step are what Derive gives the agent of that node.
func TestExplainAgreesWithDerive(t *testing.T) {
	entries := map[string][]vrrpv1.NodePriority{
		"none":             nil,
		"by name":          {{Node: "n1", Priority: 150}},
		"by selector":      {{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"zone": "a"}}, Priority: 120}, {Node: "n1", Priority: 30}},
		"another node":     {{Node: "n2", Priority: 200}},
		"first match wins": {{Node: "n1", Priority: 10}, {Node: "n1", Priority: 20}},
	}
	cases := 0
	for entriesName, nps := range entries {
		for _, pref := range []string{"", "n1", "n2"} {
			for _, policy := range []vrrpv1.CordonPolicy{"", vrrpv1.CordonDemote, vrrpv1.CordonRelease, vrrpv1.CordonIgnore} {
				for _, preempt := range []bool{true, false} {
					for facts := 0; facts < 8; facts++ { // cordoned, maintenance, excluded
						v := vip("v", 7, "198.51.100.7/24", func(v *vrrpv1.VirtualIP) {
							v.Spec.NodePriorities = nps
							v.Spec.Preempt = ptr(preempt)
							if policy != "" {
								v.Spec.Failover = &vrrpv1.Failover{OnCordon: policy}
							}
							if pref != "" {
								v.Annotations = map[string]string{vrrpv1.PreferredNodeAnnotation: pref}
							}
						})
						n1 := withLabels(node("n1", "198.51.100.2"), "zone", "a")
						if facts&1 != 0 {
							n1 = cordoned(n1)
						}
						if facts&2 != 0 {
							n1 = annotated(n1, vrrpv1.MaintenanceAnnotation, "true")
						}
						if facts&4 != 0 {
							n1.Labels[vrrpv1.ExcludeLabel] = ""
						}
						nodes := []corev1.Node{n1, node("n2", "198.51.100.3")}
						name := fmt.Sprintf("entries %s, preferred %q, onCordon %q, preempt %v, facts %03b", entriesName, pref, policy, preempt, facts)
						cases++
						ex, err := Explain(&v, "n1", nodes)
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						res := Derive(Inputs{NodeName: "n1", Nodes: nodes, VirtualIPs: []vrrpv1.VirtualIP{v}, Interfaces: standardInterfaces()})
						if len(res.Routers) != 1 {
							t.Fatalf("%s: Derive gives %+v", name, res)
						}
						r := res.Routers[0]
						want := [6]any{r.Config.Priority, r.EffectivePriority(), r.Released, r.Resign, r.Reason, r.Config.StartAsMaster}
						got := [6]any{ex.Priority, ex.Effective, ex.Released, ex.Resign, ex.Reason, ex.StartsAsMaster}
						if want != got {
							t.Errorf("%s: Explain gives %v, Derive %v (priority, effective, released, resign, reason, startsAsMaster)", name, got, want)
						}
						all, err := ExplainAll(&v, nodes)
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						for _, got := range all {
							want, err := Explain(&v, got.Node, nodes)
							if err != nil {
								t.Fatalf("%s: %v", name, err)
							}
							if diff := cmp.Diff(want, got); diff != "" {
								t.Errorf("%s: ExplainAll and Explain differ on %s (-Explain +ExplainAll):\n%s", name, got.Node, diff)
							}
						}
						last := ex.Steps[len(ex.Steps)-1]
						if last.Priority != r.Config.Priority || last.Released != r.Released {
							t.Errorf("%s: the last step says %d released %v, Derive %d released %v", name, last.Priority, last.Released, r.Config.Priority, r.Released)
						}
					}
				}
			}
		}
	}
	if cases != 5*3*4*2*8 {
		t.Fatalf("ran %d cases", cases)
	}
}

func TestExplainAllRanksParticipantsByEffectivePriority(t *testing.T) {
	v := vip("v", 7, "198.51.100.7/24", func(v *vrrpv1.VirtualIP) {
		v.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"vrrp": "yes"}}
		v.Spec.NodePriorities = []vrrpv1.NodePriority{{Node: "b", Priority: 150}}
	})
	nodes := []corev1.Node{
		withLabels(node("a"), "vrrp", "yes"),
		withLabels(node("b"), "vrrp", "yes"),
		withLabels(node("c"), "vrrp", "yes"),
		node("d"),
		annotated(withLabels(node("e"), "vrrp", "yes"), vrrpv1.MaintenanceAnnotation, "true"),
	}
	all, err := ExplainAll(&v, nodes)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ex := range all {
		got = append(got, fmt.Sprintf("%s %d %v", ex.Node, ex.Effective, ex.Participates))
	}
	want := []string{"b 150 true", "a 100 true", "c 100 true", "e 0 true", "d 0 false"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ExplainAll order (-want +got):\n%s", diff)
	}
}

// The nodes after the first vrrpv1.MaxListedNodes selected ones by name are unlisted: their
// agents write a status entry only while MASTER, and kubectl vrrp must not call them silent.
func TestExplainAllTellsTheUnlistedNodes(t *testing.T) {
	v := vip("v", 7, "198.51.100.7/24", func(v *vrrpv1.VirtualIP) {
		v.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"vrrp": "yes"}}
	})
	var nodes []corev1.Node
	for i := range vrrpv1.MaxListedNodes + 2 {
		nodes = append(nodes, withLabels(node(fmt.Sprintf("n%03d", i)), "vrrp", "yes"))
	}
	nodes = append(nodes, node("a-unselected"))
	all, err := ExplainAll(&v, nodes)
	if err != nil {
		t.Fatal(err)
	}
	var unlisted []string
	for _, ex := range all {
		if ex.Unlisted {
			unlisted = append(unlisted, ex.Node)
		}
	}
	want := []string{fmt.Sprintf("n%03d", vrrpv1.MaxListedNodes), fmt.Sprintf("n%03d", vrrpv1.MaxListedNodes+1)}
	if diff := cmp.Diff(want, unlisted); diff != "" {
		t.Errorf("unlisted nodes (-want +got):\n%s", diff)
	}
}
