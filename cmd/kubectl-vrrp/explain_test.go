package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

func TestExplainTheSeed(t *testing.T) {
	h := newHarness(t, seedCluster()...)
	got := h.mustRun(exitOK, "explain", "services")
	want := `VirtualIP services: preempt on, status.master primary

NODE       POLICY PRIORITY  REASON  STATUS
primary    150              -       MASTER 150
secondary  100              -       BACKUP 100
third      100              -       BACKUP 100

primary should be Master: it has the highest effective priority (150) of the nodes that run the router. Status: primary is Master.

How primary gets its priority, in the order the agent applies the rules:
#  RULE            PRIORITY  DETAIL
1  spec.priority   100       spec.priority is 100
2  nodePriorities  150       nodePriorities[0] (node primary) sets 150; the first matching entry wins
3  preferredNode   150       annotation vrrp.dev/preferred-node is not set
4  maintenance     150       Node annotation vrrp.dev/maintenance is not "true"
5  exclude         150       Node label node.kubernetes.io/exclude-from-external-load-balancers is absent
6  cordon          150       the Node is not cordoned (onCordon Demote)
7  tracking        150       none: no spec.track, nothing else changes the priority
=> primary advertises priority 150; it outranks every other node and starts as Master; its agent reports MASTER at 150.
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("explain (-want +got):\n%s", diff)
	}
}

func TestExplainOneNode(t *testing.T) {
	tests := map[string]struct {
		mutateVIP  func(*vrrpv1.VirtualIP)
		mutateNode map[string]func(*corev1.Node)
		node       string
		want       []string
	}{
		"a Backup is told who outranks it": {
			node: "secondary",
			want: []string{"secondary stays Backup: primary outranks it (150 > 100).", "How secondary gets its priority"},
		},
		"a cordoned Master is demoted and the status has not caught up": {
			mutateNode: map[string]func(*corev1.Node){"primary": func(n *corev1.Node) { n.Spec.Unschedulable = true }},
			node:       "primary",
			want: []string{
				"primary    1                Cordoned  MASTER 150 (not applied yet?)",
				"secondary, third tie at priority 100: the higher primary address wins (RFC 9568 §6.4.3).",
				"6  cordon          1         the Node is cordoned, onCordon Demote: 1, and a Master hands over at once",
				"=> primary advertises priority 1 and a Master hands over at once",
			},
		},
		"a priority its checks moved is marked so, not as not applied yet": {
			mutateVIP: func(v *vrrpv1.VirtualIP) {
				weight := int32(-60)
				v.Spec.Track = []vrrpv1.Check{{Name: "haproxy", Weight: &weight, HTTP: &vrrpv1.HTTPCheck{URL: "http://127.0.0.1:8404/healthz"}}}
				v.Status.Nodes[0].State, v.Status.Nodes[0].Priority, v.Status.Nodes[0].Reason = vrrpv1.StateBackup, 90, desired.ReasonCheckWeight
				v.Status.Nodes[1].State, v.Status.Master = vrrpv1.StateMaster, "secondary"
			},
			node: "primary",
			want: []string{"primary    150              -       BACKUP 90 (with its checks)"},
		},
		"a tie keeps the Master that holds the VIP: a Backup of equal priority does not preempt": {
			mutateVIP: func(v *vrrpv1.VirtualIP) {
				v.Spec.NodePriorities = nil
				v.Status.Nodes[0].Address, v.Status.Nodes[1].Address, v.Status.Nodes[2].Address = "198.51.100.253", "198.51.100.254", "198.51.100.251"
			},
			want: []string{"primary, secondary, third tie at priority 100: primary holds the VIP and keeps it, as a Backup of equal priority does not preempt (RFC 9568 §6.4.2). Status: primary is Master."},
		},
		"a tie that no node holds is broken by the published addresses": {
			mutateVIP: func(v *vrrpv1.VirtualIP) {
				v.Spec.NodePriorities = nil
				v.Status.Nodes[0].State, v.Status.Master = vrrpv1.StateBackup, ""
				v.Status.Nodes[0].Address, v.Status.Nodes[1].Address, v.Status.Nodes[2].Address = "198.51.100.253", "198.51.100.254", "198.51.100.251"
			},
			want: []string{"primary, secondary, third tie at priority 100: the higher primary address wins (RFC 9568 §6.4.3): secondary (198.51.100.254) should be Master. Status shows no Master."},
		},
		"a node whose Ready is Unknown is not counted, whatever its stale entry says": {
			mutateNode: map[string]func(*corev1.Node){"primary": notReady},
			want: []string{"secondary, third tie at priority 100: the higher primary address wins (RFC 9568 §6.4.3).",
				"Not counted: primary (node not Ready: status Unknown)."},
		},
		"a released node advertises 0": {
			mutateNode: map[string]func(*corev1.Node){"third": func(n *corev1.Node) { n.Labels = map[string]string{vrrpv1.ExcludeLabel: ""} }},
			node:       "third",
			want: []string{"third takes no part now: Excluded (it advertises priority 0).", "Not counted: third (released: Excluded).",
				"5  exclude         0 (released, 100 kept)"},
		},
		"a node outside the nodeSelector": {
			mutateVIP: func(v *vrrpv1.VirtualIP) {
				v.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"vrrp": "yes"}}
			},
			node: "third",
			want: []string{"third does not take part: the nodeSelector (vrrp=yes) does not select it."},
		},
		"preempt off": {
			mutateVIP: func(v *vrrpv1.VirtualIP) { f := false; v.Spec.Preempt = &f },
			want:      []string{"Preempt is off: a Master keeps the VIP while it runs"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			objs := seedCluster()
			for _, o := range objs {
				if n, ok := o.(*corev1.Node); ok && tc.mutateNode[n.Name] != nil {
					tc.mutateNode[n.Name](n)
				}
				if v, ok := o.(*vrrpv1.VirtualIP); ok && tc.mutateVIP != nil {
					tc.mutateVIP(v)
				}
			}
			h := newHarness(t, objs...)
			args := []string{"explain", "services"}
			if tc.node != "" {
				args = append(args, "--node", tc.node)
			}
			out := h.mustRun(exitOK, args...)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("explain lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestExplainForScripts(t *testing.T) {
	h := newHarness(t, seedCluster()...)
	var out explained
	if err := json.Unmarshal([]byte(h.mustRun(exitOK, "explain", "services", "--node", "secondary", "-o", "json")), &out); err != nil {
		t.Fatal(err)
	}
	if out.ExpectedMaster != "primary" || out.Master != "primary" || out.Node == nil || out.Node.Node != "secondary" ||
		len(out.Node.Steps) != 7 || out.Node.Steps[1].Rule != desired.RuleNodePriorities || out.Node.Status.State != vrrpv1.StateBackup {
		t.Errorf("explain -o json: %+v", out)
	}
}

// A node after the first vrrpv1.MaxListedNodes writes no entry while BACKUP: explain counts it as a
// live Backup (not "no report"), undrain of that node waits for it to take over when it outranks
// the Master, and drain sees it as a node that can take over.
func TestAnUnlistedNodeCountsAsALiveBackup(t *testing.T) {
	objs := seedCluster(func(v *vrrpv1.VirtualIP) {
		v.Spec.NodePriorities = append(v.Spec.NodePriorities, vrrpv1.NodePriority{Node: "z099", Priority: 200})
	})
	for i := range vrrpv1.MaxListedNodes {
		objs = append(objs, nodes(fmt.Sprintf("z%03d", i))...)
	}
	h := newHarness(t, objs...)
	out := h.mustRun(exitOK, "explain", "services", "-o", "json")
	var got explained
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.ExpectedMaster != "z099" {
		t.Errorf("expected master %q, want the unlisted z099 at 200: %s", got.ExpectedMaster, got.Conclusion)
	}
	all, err := listNodes(context.Background(), h.client)
	if err != nil {
		t.Fatal(err)
	}
	v := h.vip("services")
	v.Status.Nodes = v.Status.Nodes[:1] // primary's alone: no listed node could take over
	if !otherCandidate(v, "primary", all) {
		t.Error("drain finds no other node to hold the VIP beside the unlisted z099")
	}
	if ok, detail := settled(v, all, "z099"); ok || !strings.Contains(detail, "z099 has no entry") {
		t.Errorf("undrain z099: settled %v (%s), want it to wait for z099", ok, detail)
	}
	// Another command cannot tell z099 from an unlisted node that cannot run the router.
	if ok, detail := settled(v, all, ""); !ok {
		t.Errorf("failover --clear: settled %v (%s), want it settled with primary", ok, detail)
	}
}
