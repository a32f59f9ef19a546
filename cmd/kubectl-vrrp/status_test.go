package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

func TestStatusTable(t *testing.T) {
	h := newHarness(t, seedCluster()...)
	got := h.mustRun(exitOK, "status", "services")
	want := `VirtualIP services  VRID 51  198.51.100.252/24  master primary  ready True
NODE       STATE   PRIORITY  WHY             INTERFACE  SINCE  LAST HOOK
primary    MASTER  150       nodePriorities  ens3       1m5s   notify exit 0, 12ms, 1m5s ago
secondary  BACKUP  100       spec.priority   eth0       2h0m   -
third      BACKUP  100       spec.priority   eth0       2h0m   -
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}

func TestStatusShowsTheChecksOfTrackedVirtualIPs(t *testing.T) {
	h := newHarness(t, seedCluster(func(v *vrrpv1.VirtualIP) {
		v.Status.Nodes[0].State, v.Status.Nodes[0].Priority, v.Status.Nodes[0].Reason = vrrpv1.StateBackup, 90, "CheckWeight"
		v.Status.Nodes[0].Checks = []vrrpv1.CheckStatus{{Name: "haproxy", State: vrrpv1.CheckFailing, Weight: -60, Message: "503 Service Unavailable"}}
		v.Status.Nodes[1].State, v.Status.Master = vrrpv1.StateMaster, "secondary"
		v.Status.Nodes[1].Checks = []vrrpv1.CheckStatus{{Name: "haproxy", State: vrrpv1.CheckPassing}}
	})...)
	got := h.mustRun(exitOK, "status", "services")
	want := `VirtualIP services  VRID 51  198.51.100.252/24  master secondary  ready True
NODE       STATE   PRIORITY  WHY            INTERFACE  SINCE  LAST HOOK                      CHECKS
primary    BACKUP  90        CheckWeight    ens3       1m5s   notify exit 0, 12ms, 1m5s ago  haproxy failing -60
secondary  MASTER  100       spec.priority  eth0       2h0m   -                              haproxy passing
third      BACKUP  100       spec.priority  eth0       2h0m   -                              -
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}

func TestStatusProblems(t *testing.T) {
	tests := map[string]struct {
		mutate func(*vrrpv1.VirtualIP)
		// mutateNode changes the Node of that name.
		mutateNode map[string]func(*corev1.Node)
		// pods are the agent pods; none: they tell nothing, as when none matches the selector.
		pods []client.Object
		// forbidPods makes listing pods Forbidden.
		forbidPods bool
		// want are lines the output must hold.
		want []string
		// warningsOnly: the output shows no problem that makes the exit code 4.
		warningsOnly bool
	}{
		"two MASTERs are a split brain": {
			mutate: func(v *vrrpv1.VirtualIP) {
				v.Status.Nodes[1].State = vrrpv1.StateMaster
				v.Status.Master = ""
				v.Status.Conditions = []metav1.Condition{
					{Type: vrrpv1.ConditionReady, Status: metav1.ConditionFalse, Reason: vrrpv1.ReasonSplitBrain, Message: "2 nodes are MASTER: primary, secondary"},
					{Type: vrrpv1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: vrrpv1.ReasonSplitBrain, Message: "2 nodes are MASTER: primary, secondary"},
				}
			},
			want: []string{"! SplitBrain: 2 nodes are MASTER: primary, secondary"},
		},
		"two MASTERs without a controller are a split brain all the same": {
			mutate: func(v *vrrpv1.VirtualIP) {
				v.Status.Nodes[2].State = vrrpv1.StateMaster
				v.Status.Conditions = nil
			},
			want: []string{"! SplitBrain: 2 nodes are MASTER: primary, third (no Ready condition: is the controller running?)"},
		},
		"a node in FAULT is named with its reason": {
			mutate: func(v *vrrpv1.VirtualIP) {
				v.Status.Nodes[2].State, v.Status.Nodes[2].Reason, v.Status.Nodes[2].Message = vrrpv1.StateFault, "RouterIDConflict", `VRID 51 on eth0 is also used by VirtualIP "dns"`
			},
			want: []string{"third      FAULT   100       RouterIDConflict", `! Fault: node third is FAULT: RouterIDConflict: VRID 51 on eth0 is also used by VirtualIP "dns"`},
		},
		"a VRID conflict the controller found": {
			mutate: func(v *vrrpv1.VirtualIP) {
				v.Status.Conditions[1] = metav1.Condition{Type: vrrpv1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: vrrpv1.ReasonRouterIDConflict, Message: "VirtualIP dns uses VRID 51 on primary"}
			},
			want: []string{"! RouterIDConflict: VirtualIP dns uses VRID 51 on primary"},
		},
		"no Master the controller calls Degraded": {
			mutate: func(v *vrrpv1.VirtualIP) {
				v.Status.Nodes[0].State, v.Status.Master = vrrpv1.StateBackup, ""
				msg := "no node is MASTER: primary BACKUP, secondary BACKUP, third BACKUP"
				v.Status.Conditions[0] = metav1.Condition{Type: vrrpv1.ConditionReady, Status: metav1.ConditionFalse, Reason: vrrpv1.ReasonNoMaster, Message: msg}
				v.Status.Conditions[1] = metav1.Condition{Type: vrrpv1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: vrrpv1.ReasonNoMaster, Message: msg}
			},
			want: []string{"master -  ready False", "! NoMaster: no node is MASTER: primary BACKUP, secondary BACKUP, third BACKUP"},
		},
		"no Master yet, Degraded False: a VirtualIP just created is shown, not an exit code 4": {
			mutate: func(v *vrrpv1.VirtualIP) {
				v.Status.Nodes, v.Status.Master = nil, ""
				v.Status.Conditions[0] = metav1.Condition{Type: vrrpv1.ConditionReady, Status: metav1.ConditionFalse, Reason: vrrpv1.ReasonNoMaster, Message: "no agent has reported"}
				v.Status.Conditions[1] = metav1.Condition{Type: vrrpv1.ConditionDegraded, Status: metav1.ConditionFalse, Reason: vrrpv1.ReasonHealthy, Message: "no agent has reported"}
			},
			want:         []string{"master -  ready False", "! NoMaster: no agent has reported"},
			warningsOnly: true,
		},
		"a controller behind the spec is a warning": {
			mutate:       func(v *vrrpv1.VirtualIP) { v.Generation = 2 },
			want:         []string{"! ControllerBehind: the controller has summarised generation 1 of 2"},
			warningsOnly: true,
		},
		"a stale MASTER entry of a node whose Ready is Unknown is no split brain": {
			mutate: func(v *vrrpv1.VirtualIP) {
				v.Status.Nodes[2].State = vrrpv1.StateMaster
				v.Status.Conditions = nil
			},
			mutateNode:   map[string]func(*corev1.Node){"third": notReady},
			want:         []string{"third      UNKNOWN  100       node not Ready: status Unknown, last reported MASTER"},
			warningsOnly: true,
		},
		"a stale MASTER entry of a node whose agent pod does not run is no split brain, as the controller counts it": {
			mutate: func(v *vrrpv1.VirtualIP) {
				v.Status.Nodes[2].State = vrrpv1.StateMaster
				v.Status.Conditions = nil
			},
			pods:         []client.Object{agentPod("primary", corev1.PodRunning), agentPod("secondary", corev1.PodRunning), agentPod("third", corev1.PodFailed)},
			want:         []string{"third      UNKNOWN  100       no agent pod runs there, last reported MASTER"},
			warningsOnly: true,
		},
		"agent pods running on both MASTERs leave a split brain": {
			mutate: func(v *vrrpv1.VirtualIP) { v.Status.Nodes[2].State = vrrpv1.StateMaster },
			pods:   []client.Object{agentPod("primary", corev1.PodRunning), agentPod("third", corev1.PodRunning)},
			want:   []string{"! SplitBrain: 2 nodes are MASTER: primary, third"},
		},
		"agent pods that may not be listed tell nothing: both MASTERs count": {
			mutate:     func(v *vrrpv1.VirtualIP) { v.Status.Nodes[2].State = vrrpv1.StateMaster },
			pods:       []client.Object{agentPod("primary", corev1.PodRunning)},
			forbidPods: true,
			want:       []string{"! SplitBrain: 2 nodes are MASTER: primary, third"},
		},
		"two live MASTERs are a split brain before the controller says so": {
			mutate: func(v *vrrpv1.VirtualIP) { v.Status.Nodes[2].State = vrrpv1.StateMaster },
			want:   []string{"! SplitBrain: 2 nodes are MASTER: primary, third"},
		},
		"a failed hook": {
			mutate: func(v *vrrpv1.VirtualIP) {
				v.Status.Nodes[0].LastHook.ExitCode = 3
				v.Status.Conditions[1] = metav1.Condition{Type: vrrpv1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: vrrpv1.ReasonHookFailed, Message: "primary: notify exited 3"}
			},
			want: []string{"notify exit 3, 12ms, 1m5s ago", "! HookFailed: primary: notify exited 3"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			objs := seedCluster(tc.mutate)
			for _, o := range objs {
				if n, ok := o.(*corev1.Node); ok && tc.mutateNode[n.Name] != nil {
					tc.mutateNode[n.Name](n)
				}
			}
			h := newHarness(t, append(objs, tc.pods...)...)
			h.forbidPods = tc.forbidPods
			exit := exitProblems
			if tc.warningsOnly {
				exit = exitOK
			}
			out := h.mustRun(exit, "status")
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("status lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestStatusColourOnlyOnATerminalAndColumnsStillAlign(t *testing.T) {
	mutate := func(v *vrrpv1.VirtualIP) {
		v.Status.Nodes[2].State, v.Status.Nodes[2].Reason = vrrpv1.StateFault, "InterfaceDown"
	}
	h := newHarness(t, seedCluster(mutate)...)
	plainOut := h.mustRun(exitProblems, "status")
	if ansi.MatchString(plainOut) {
		t.Errorf("colour codes without a terminal:\n%q", plainOut)
	}
	h.colour = true
	coloured := h.mustRun(exitProblems, "status")
	for _, want := range []string{string(red) + "FAULT" + reset, string(green) + "MASTER" + reset} {
		if !strings.Contains(coloured, want) {
			t.Errorf("coloured status lacks %q:\n%q", want, coloured)
		}
	}
	if diff := cmp.Diff(plainOut, ansi.ReplaceAllString(coloured, "")); diff != "" {
		t.Errorf("coloured status without its colour codes differs from the plain one (-plain +stripped):\n%s", diff)
	}
}

func TestColourWanted(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	tests := map[string]struct {
		terminal bool
		getenv   func(string) string
		want     bool
	}{
		"a terminal":           {true, env("TERM", "xterm"), true},
		"a pipe":               {false, env("TERM", "xterm"), false},
		"a terminal, NO_COLOR": {true, env("TERM", "xterm", "NO_COLOR", "1"), false},
		"a dumb terminal":      {true, env("TERM", "dumb"), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := colourWanted(tc.terminal, tc.getenv); got != tc.want {
				t.Errorf("colourWanted = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStatusForScripts(t *testing.T) {
	h := newHarness(t, seedCluster()...)
	var one vipStatus
	if err := json.Unmarshal([]byte(h.mustRun(exitOK, "status", "services", "-o", "json")), &one); err != nil {
		t.Fatal(err)
	}
	if one.Master != "primary" || len(one.Nodes) != 3 || one.Nodes[1].Why != "spec.priority" || len(one.Problems) != 0 {
		t.Errorf("status -o json: %+v", one)
	}
	var all struct{ Items []vipStatus }
	if err := yaml.Unmarshal([]byte(h.mustRun(exitOK, "status", "-o", "yaml")), &all); err != nil {
		t.Fatal(err)
	}
	if len(all.Items) != 1 || all.Items[0].Name != "services" || all.Items[0].Nodes[0].LastHook.Kind != "notify" {
		t.Errorf("status -o yaml: %+v", all)
	}
}

func TestStatusShowsSelectedNodesThatNeverReported(t *testing.T) {
	unreported := "not reported: no agent runs there, or it cannot reach the API server"
	tests := map[string]struct {
		selector *metav1.LabelSelector
		want     bool
	}{
		"a nodeSelector that names the nodes shows the one that never reported": {
			selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "vrrp", Operator: metav1.LabelSelectorOpDoesNotExist}}},
			want:     true,
		},
		"without a nodeSelector a node without an agent takes no part":                    {},
		"an empty nodeSelector selects every node: a node without an agent takes no part": {selector: &metav1.LabelSelector{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, seedCluster(func(v *vrrpv1.VirtualIP) {
				v.Spec.NodeSelector = tc.selector
				v.Status.Nodes = v.Status.Nodes[:2]
			})...)
			out := h.mustRun(exitOK, "status")
			if want := "third      -       100       " + unreported; tc.want != strings.Contains(out, want) {
				t.Errorf("status shows %q: %v, want %v:\n%s", want, !tc.want, tc.want, out)
			}
			if !tc.want && strings.Contains(out, "third") {
				t.Errorf("status shows third:\n%s", out)
			}
		})
	}
}

// The nodes after the first vrrpv1.MaxListedNodes write no entry while BACKUP: status counts them
// in one line instead of calling each silent.
func TestStatusCountsTheUnlistedNodes(t *testing.T) {
	objs := seedCluster(func(v *vrrpv1.VirtualIP) {
		v.Spec.NodeSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "vrrp", Operator: metav1.LabelSelectorOpDoesNotExist}}}
	})
	for i := range vrrpv1.MaxListedNodes {
		objs = append(objs, nodes(fmt.Sprintf("z%03d", i))...)
	}
	h := newHarness(t, objs...)
	out := h.mustRun(exitOK, "status")
	// primary, secondary and third come first by name; z000 to z096 are listed but have not reported.
	if want := "z096       -       100       not reported"; !strings.Contains(out, want) {
		t.Errorf("status lacks %q:\n%s", want, out)
	}
	if strings.Contains(out, "z097") {
		t.Errorf("status shows the unlisted z097 as a node of its own:\n%s", out)
	}
	if want := fmt.Sprintf("3 more selected nodes, not listed: status lists the first %d by name and any MASTER\n", vrrpv1.MaxListedNodes); !strings.Contains(out, want) {
		t.Errorf("status lacks %q:\n%s", want, out)
	}
}

func TestStatusWithoutVirtualIPs(t *testing.T) {
	h := newHarness(t, nodes("primary")...)
	if out := h.mustRun(exitOK, "status"); out != "No VirtualIPs.\n" {
		t.Errorf("status: %q", out)
	}
}
