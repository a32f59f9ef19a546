package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

func TestFailoverMovesTheVIPAndSaysHowLongItTook(t *testing.T) {
	h := newHarness(t, seedCluster()...)
	out := h.mustRun(exitOK, "failover", "services", "--to", "third")
	// The stand-in agents converge 3 s after the change; status is read every 100 ms.
	if want := "VirtualIP services: third is Master after 3s (was primary)\n"; out != want {
		t.Errorf("failover: %q, want %q", out, want)
	}
	v := h.vip("services")
	if v.Annotations[vrrpv1.PreferredNodeAnnotation] != "third" || v.Status.Master != "third" {
		t.Errorf("after failover: annotations %v, master %q", v.Annotations, v.Status.Master)
	}

	out = h.mustRun(exitOK, "failover", "services", "--clear", "-o", "json")
	var res failoverResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	want := failoverResult{VirtualIP: "services", PreferredNode: "third", PreviousMaster: "third", Master: "primary", Converged: true, Took: "3s", TookSeconds: 3}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("failover --clear -o json (-want +got):\n%s", diff)
	}
	if _, ok := h.vip("services").Annotations[vrrpv1.PreferredNodeAnnotation]; ok {
		t.Errorf("failover --clear left the annotation")
	}
}

func TestFailoverTimesOutWithExitCode3(t *testing.T) {
	h := newHarness(t, seedCluster()...)
	h.agents.off = true
	h.mustRun(exitTimeout, "failover", "services", "--to", "secondary", "--timeout", "2s")
	want := `kubectl vrrp failover: VirtualIP services: not converged within 2s: status.master is "primary"; secondary is BACKUP at priority 100` + "\n"
	if got := h.stderr.String(); got != want {
		t.Errorf("stderr: %q, want %q", got, want)
	}
	if h.vip("services").Annotations[vrrpv1.PreferredNodeAnnotation] != "secondary" {
		t.Errorf("a failover that timed out should leave its annotation set")
	}
}

func TestFailoverRefusesWhatTheAgentsWouldNotDo(t *testing.T) {
	tests := map[string]struct {
		mutateVIP  func(*vrrpv1.VirtualIP)
		mutateNode func(*corev1.Node)
		pods       []client.Object
		to         string
		want       string
	}{
		"a cordoned node under onCordon Demote": {
			mutateNode: func(n *corev1.Node) { n.Spec.Unschedulable = true }, to: "third",
			want: "node third is cordoned and VirtualIP services demotes cordoned nodes to priority 1, whatever the preference: kubectl uncordon third first",
		},
		"a node in maintenance": {
			mutateNode: func(n *corev1.Node) { n.Annotations = map[string]string{vrrpv1.MaintenanceAnnotation: "true"} }, to: "third",
			want: "node third releases its VIPs (Maintenance), whatever the preference: kubectl vrrp undrain third first",
		},
		"a node the nodeSelector leaves out": {
			mutateVIP: func(v *vrrpv1.VirtualIP) {
				v.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"vrrp": "yes"}}
			}, to: "third",
			want: "node third does not take part in VirtualIP services: its nodeSelector is vrrp=yes",
		},
		"preempt off": {
			mutateVIP: func(v *vrrpv1.VirtualIP) { f := false; v.Spec.Preempt = &f }, to: "third",
			want: "VirtualIP services has spec.preempt false: a preferred node does not take the VIP from a live Master (RFC 9568 §6.4.3); move the Master away instead (kubectl vrrp drain)",
		},
		"a node without an agent": {
			mutateVIP: func(v *vrrpv1.VirtualIP) { v.Status.Nodes = v.Status.Nodes[:2] }, to: "third",
			want: "node third has no entry in VirtualIP services's status: no agent runs the VirtualIP there",
		},
		"an unknown node": {
			to: "ghost", want: `node "ghost" not found (kubectl get nodes lists them)`,
		},
		"another live node at 254 ties and is never preempted": {
			mutateVIP: func(v *vrrpv1.VirtualIP) { v.Spec.NodePriorities[0].Priority = 254 }, to: "third",
			want: "node primary has priority 254 for VirtualIP services too (nodePriorities): a Backup preempts only a Master of strictly lower priority (RFC 9568 §6.4.2), so third would never take the VIP from it; lower primary's priority first",
		},
		"a node whose agent has shut down": {
			mutateVIP: func(v *vrrpv1.VirtualIP) {
				v.Status.Nodes[2].State, v.Status.Nodes[2].Priority = vrrpv1.StateStopped, 0
			}, to: "third",
			want: "node third is STOPPED for VirtualIP services (-): its agent does not run the router there",
		},
		"a node whose Ready is Unknown": {
			mutateNode: notReady, to: "third",
			want: "node third is not Ready (status Unknown): Kubernetes has lost touch with it, and likely with its agent",
		},
		"a node whose agent pod does not run": {
			pods: []client.Object{agentPod("primary", corev1.PodRunning), agentPod("secondary", corev1.PodRunning), agentPod("third", corev1.PodPending)},
			to:   "third",
			want: "no agent pod runs on node third: its entries say only what its agent last reported",
		},
		"a preempt delay longer than the timeout": {
			mutateVIP: func(v *vrrpv1.VirtualIP) { v.Spec.PreemptDelay = &metav1.Duration{Duration: 90 * time.Second} }, to: "third",
			want: "VirtualIP services has preemptDelay 1m30s: third takes the VIP after up to 1m33.008s (the delay and Master_Down_Interval), longer than --timeout 1m0s; pass --timeout 1m34s or more",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			objs := seedCluster()
			for _, o := range objs {
				if n, ok := o.(*corev1.Node); ok && tc.mutateNode != nil && n.Name == tc.to {
					tc.mutateNode(n)
				}
				if v, ok := o.(*vrrpv1.VirtualIP); ok && tc.mutateVIP != nil {
					tc.mutateVIP(v)
				}
			}
			h := newHarness(t, append(objs, tc.pods...)...)
			h.mustRun(exitError, "failover", "services", "--to", tc.to)
			if got := strings.TrimSpace(h.stderr.String()); got != "kubectl vrrp failover: "+tc.want {
				t.Errorf("stderr: %q\nwant %q", got, "kubectl vrrp failover: "+tc.want)
			}
			if _, ok := h.vip("services").Annotations[vrrpv1.PreferredNodeAnnotation]; ok {
				t.Errorf("a refused failover set the annotation")
			}
		})
	}
}

func TestFailoverWaitsForTheTargetToRunAsPreferred(t *testing.T) {
	// Status shows third Master already, at its own priority: an old entry, not the failover's
	// doing. The wait ends when third's entry shows the preference applied.
	h := newHarness(t, seedCluster(func(v *vrrpv1.VirtualIP) {
		v.Status.Master = "third"
		v.Status.Nodes[0].State, v.Status.Nodes[2].State = vrrpv1.StateBackup, vrrpv1.StateMaster
	})...)
	if out, want := h.mustRun(exitOK, "failover", "services", "--to", "third"), "VirtualIP services: third is Master after 3s (was third)\n"; out != want {
		t.Errorf("failover: %q, want %q", out, want)
	}
	if e := entryOf(h.vip("services"), "third"); e.Reason != "Preferred" || e.Priority != 254 {
		t.Errorf("third's entry: %+v", e)
	}
}

func TestWaitsRideOutTransientErrorsAndEndAtTheDeadline(t *testing.T) {
	t.Run("a GET that fails while the API server restarts is tried again", func(t *testing.T) {
		h := newHarness(t, seedCluster()...)
		h.flaky = 3
		if out, want := h.mustRun(exitOK, "failover", "services", "--to", "third"), "VirtualIP services: third is Master after 3s (was primary)\n"; out != want {
			t.Errorf("failover: %q, want %q", out, want)
		}
	})
	t.Run("GETs that fail until the deadline end the wait with exit 3 and the last error", func(t *testing.T) {
		h := newHarness(t, seedCluster()...)
		h.flaky = 1 << 30
		h.mustRun(exitTimeout, "drain", "primary", "--timeout", "2s")
		want := "kubectl vrrp drain: node primary: not converged within 2s: services: status has not been read (the last request failed: reading VirtualIP services: the API server is restarting)\n"
		if got := h.stderr.String(); got != want {
			t.Errorf("stderr: %q\nwant %q", got, want)
		}
	})
	t.Run("a GET that hangs ends at the deadline with exit 3", func(t *testing.T) {
		h := newHarness(t, seedCluster()...)
		h.hang = true
		h.mustRun(exitTimeout, "failover", "services", "--to", "third")
		if got, want := h.stderr.String(), "kubectl vrrp failover: VirtualIP services: not converged within 1m0s: status has not been read"; !strings.HasPrefix(got, want) {
			t.Errorf("stderr: %q\nwant it to start with %q", got, want)
		}
	})
}

func TestDrainAndUndrain(t *testing.T) {
	h := newHarness(t, append(seedCluster(), &vrrpv1.VirtualIP{
		ObjectMeta: metav1.ObjectMeta{Name: "elsewhere"},
		Spec: vrrpv1.VirtualIPSpec{VirtualRouterID: 52, Addresses: []string{"198.51.100.250/24"},
			NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"vrrp": "yes"}}},
	})...)
	out := h.mustRun(exitOK, "drain", "primary")
	want := `VIRTUALIP  MASTER BEFORE  MASTER NOW  STATUS  TOOK  NOTE
services   primary        secondary   done    3s    -
node primary drained
`
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("drain (-want +got):\n%s", diff)
	}
	if h.node("primary").Annotations[vrrpv1.MaintenanceAnnotation] != "true" {
		t.Errorf("drain did not set the maintenance annotation")
	}
	if e := entryOf(h.vip("services"), "primary"); e.State != vrrpv1.StateStopped || e.Reason != "Maintenance" {
		t.Errorf("primary's entry after drain: %+v", e)
	}

	out = h.mustRun(exitOK, "undrain", "primary", "-o", "json")
	var res drainResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	wantRes := drainResult{Node: "primary", Converged: true, VirtualIPs: []drainedVIP{
		{Name: "services", Before: "secondary", After: "primary", Done: true, Took: "3s", TookSeconds: 3}}}
	if diff := cmp.Diff(wantRes, res); diff != "" {
		t.Errorf("undrain -o json (-want +got):\n%s", diff)
	}
	if _, ok := h.node("primary").Annotations[vrrpv1.MaintenanceAnnotation]; ok {
		t.Errorf("undrain left the maintenance annotation")
	}
}

func TestDrainTheOnlyNodeDoesNotWaitForAnotherToTakeOver(t *testing.T) {
	v := seed(func(v *vrrpv1.VirtualIP) { v.Status.Nodes = v.Status.Nodes[:1] })
	h := newHarness(t, append(nodes("primary"), v)...)
	out := h.mustRun(exitOK, "drain", "primary")
	if !strings.Contains(out, "no other node can hold it") {
		t.Errorf("drain of the only node:\n%s", out)
	}
}

func TestDrainTimesOutWithExitCode3(t *testing.T) {
	h := newHarness(t, seedCluster()...)
	h.agents.off = true
	h.mustRun(exitTimeout, "drain", "primary", "--timeout", "1s")
	if want := "kubectl vrrp drain: node primary: not converged within 1s: services: primary is still MASTER (-)\n"; h.stderr.String() != want {
		t.Errorf("stderr: %q, want %q", h.stderr.String(), want)
	}
	if !strings.Contains(h.stdout.String(), "pending") {
		t.Errorf("the table should show what is pending:\n%s", h.stdout.String())
	}
}

func TestDrainAndUndrainFinishWhatTheAgentsFinish(t *testing.T) {
	inMaintenance := func(n *corev1.Node) {
		n.Annotations = map[string]string{vrrpv1.MaintenanceAnnotation: "true"}
	}
	stoppedFor := func(reason string) func(*vrrpv1.VirtualIP) {
		return func(v *vrrpv1.VirtualIP) {
			v.Status.Master = "secondary"
			v.Status.Nodes[0].State, v.Status.Nodes[0].Priority, v.Status.Nodes[0].Reason = vrrpv1.StateStopped, 0, reason
			v.Status.Nodes[1].State = vrrpv1.StateMaster
		}
	}
	tests := map[string]struct {
		mutateVIP  []func(*vrrpv1.VirtualIP)
		mutateNode map[string]func(*corev1.Node)
		// extra objects beside the seed's
		extra []func() *vrrpv1.VirtualIP
		fault map[string]string
		// agentsOff: status never follows.
		agentsOff bool
		args      []string
		// want are the lines stdout must hold.
		want []string
	}{
		"undrain of a node that keeps the exclude label: it stays released, by design": {
			mutateVIP: []func(*vrrpv1.VirtualIP){stoppedFor("Maintenance")},
			mutateNode: map[string]func(*corev1.Node){"primary": func(n *corev1.Node) {
				inMaintenance(n)
				n.Labels = map[string]string{vrrpv1.ExcludeLabel: ""}
			}},
			args: []string{"undrain", "primary"},
			want: []string{"services   secondary      secondary   done    3s    primary stays released: Excluded (remove the label node.kubernetes.io/exclude-from-external-load-balancers first)"},
		},
		"undrain of a node still cordoned under onCordon Release": {
			mutateVIP: []func(*vrrpv1.VirtualIP){stoppedFor("Maintenance"), func(v *vrrpv1.VirtualIP) {
				v.Spec.Failover = &vrrpv1.Failover{OnCordon: vrrpv1.CordonRelease}
			}},
			mutateNode: map[string]func(*corev1.Node){"primary": func(n *corev1.Node) {
				inMaintenance(n)
				n.Spec.Unschedulable = true
			}},
			args: []string{"undrain", "primary"},
			want: []string{"primary stays released: Cordoned (kubectl uncordon primary first)", "node primary undrained"},
		},
		"drain of a node in FAULT: it holds nothing": {
			mutateVIP: []func(*vrrpv1.VirtualIP){func(v *vrrpv1.VirtualIP) {
				v.Status.Nodes[2].State, v.Status.Nodes[2].Reason = vrrpv1.StateFault, "NoInterface"
			}},
			fault: map[string]string{"third": "NoInterface"},
			args:  []string{"drain", "third"},
			want:  []string{"services   primary        primary     done    0s    third is FAULT (NoInterface): it holds nothing", "node third drained"},
		},
		"drain when the other nodes are not Ready: nobody else can hold it": {
			mutateNode: map[string]func(*corev1.Node){"secondary": notReady, "third": notReady},
			args:       []string{"drain", "primary"},
			want:       []string{"services   primary        -           done    3s    no other node can hold it", "node primary drained"},
		},
		"drain notes a VirtualIP whose spec cannot be evaluated": {
			extra: []func() *vrrpv1.VirtualIP{func() *vrrpv1.VirtualIP {
				return &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "broken"},
					Spec: vrrpv1.VirtualIPSpec{VirtualRouterID: 53, Addresses: []string{"198.51.100.249/24"}, NodePriorities: []vrrpv1.NodePriority{{Node: "primary"}}}}
			}},
			args: []string{"drain", "primary"},
			want: []string{"broken     -              -           done    -     not waited for: nodePriorities[0].priority", "node primary drained"},
		},
		"undrain of a node never drained does not wait on another node's trouble": {
			mutateVIP: []func(*vrrpv1.VirtualIP){func(v *vrrpv1.VirtualIP) {
				v.Status.Master = ""
				v.Status.Nodes[0].State = vrrpv1.StateBackup
			}},
			agentsOff: true,
			args:      []string{"undrain", "third", "--timeout", "2s"},
			want:      []string{"services   -              -           done    -     third was not drained: nothing to wait for", "node third undrained"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			objs := seedCluster(tc.mutateVIP...)
			for _, o := range objs {
				if n, ok := o.(*corev1.Node); ok && tc.mutateNode[n.Name] != nil {
					tc.mutateNode[n.Name](n)
				}
			}
			for _, x := range tc.extra {
				objs = append(objs, x())
			}
			h := newHarness(t, objs...)
			h.agents.fault = tc.fault
			h.agents.off = tc.agentsOff
			out := h.mustRun(exitOK, tc.args...)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("%v lacks %q:\n%s", tc.args, w, out)
				}
			}
		})
	}
}

// Review of the plugin: the checks of spec.track move a node's priority, which the agents report
// in status and the spec alone does not tell.
func TestFailoverAndUndrainFollowTheChecksWeights(t *testing.T) {
	t.Run("failover to a node whose failing check takes 60 from its priority ends when it is Master", func(t *testing.T) {
		h := newHarness(t, seedCluster()...)
		h.agents.weight = map[string]int{"third": -60}
		if out, want := h.mustRun(exitOK, "failover", "services", "--to", "third"), "VirtualIP services: third is Master after 3s (was primary)\n"; out != want {
			t.Errorf("failover: %q, want %q", out, want)
		}
		if e := entryOf(h.vip("services"), "third"); e.Reason != "Preferred" || e.Priority != 194 {
			t.Errorf("third's entry: %+v, want Preferred at 194", e)
		}
	})
	t.Run("failover is refused when another node's checks take it to 254", func(t *testing.T) {
		h := newHarness(t, seedCluster(func(v *vrrpv1.VirtualIP) {
			v.Status.Nodes[0].Priority, v.Status.Nodes[0].Reason = 254, desired.ReasonCheckWeight
		})...)
		h.mustRun(exitError, "failover", "services", "--to", "third")
		want := "kubectl vrrp failover: node primary has priority 254 for VirtualIP services too (nodePriorities 150 and its checks, as its status entry reports): a Backup preempts only a Master of strictly lower priority (RFC 9568 §6.4.2), so third would never take the VIP from it; lower primary's priority first"
		if got := strings.TrimSpace(h.stderr.String()); got != want {
			t.Errorf("stderr: %q\nwant %q", got, want)
		}
	})
	t.Run("undrain of a node whose failing check leaves it below the Master ends once it is Backup", func(t *testing.T) {
		h := newHarness(t, seedCluster()...)
		h.agents.weight = map[string]int{"primary": -60}
		h.mustRun(exitOK, "drain", "primary")
		out := h.mustRun(exitOK, "undrain", "primary", "--timeout", "10s")
		if !strings.Contains(out, "node primary undrained") {
			t.Errorf("undrain: %q", out)
		}
		if e := entryOf(h.vip("services"), "primary"); e.State != vrrpv1.StateBackup || e.Priority != 90 || e.Reason != desired.ReasonCheckWeight {
			t.Errorf("primary's entry: %+v, want BACKUP at 90 for CheckWeight", e)
		}
	})
}

// Review of the plugin: a command that fails after its change says what it left set and how to
// undo it, and a VirtualIP deleted while drain waits is done.
func TestACommandThatFailsAfterItsChangeSaysWhatItLeft(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: vrrpv1.GroupVersion.Group, Resource: "virtualips"}, "services", errors.New("RBAC"))
	revoke := func(h *harness) func(client.WithWatch) { return func(client.WithWatch) { h.fail = forbidden } }
	t.Run("drain", func(t *testing.T) {
		h := newHarness(t, seedCluster()...)
		h.afterChange = revoke(h)
		h.mustRun(exitError, "drain", "primary")
		want := "kubectl vrrp drain: node primary is drained (its vrrp.dev/maintenance annotation is set), but reading VirtualIP services: "
		if got := h.stderr.String(); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "; kubectl vrrp undrain primary undoes it\n") {
			t.Errorf("stderr: %q\nwant %q…; kubectl vrrp undrain primary undoes it", got, want)
		}
	})
	t.Run("failover", func(t *testing.T) {
		h := newHarness(t, seedCluster()...)
		h.afterChange = revoke(h)
		h.mustRun(exitError, "failover", "services", "--to", "third")
		want := "kubectl vrrp failover: VirtualIP services prefers third now (its vrrp.dev/preferred-node annotation is set), but reading VirtualIP services: "
		if got := h.stderr.String(); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "; kubectl vrrp failover services --clear undoes it\n") {
			t.Errorf("stderr: %q\nwant %q…; kubectl vrrp failover services --clear undoes it", got, want)
		}
	})
	t.Run("failover over another preference", func(t *testing.T) {
		h := newHarness(t, seedCluster(func(v *vrrpv1.VirtualIP) {
			v.Annotations = map[string]string{vrrpv1.PreferredNodeAnnotation: "secondary"}
		})...)
		h.afterChange = revoke(h)
		h.mustRun(exitError, "failover", "services", "--to", "third")
		if got, want := h.stderr.String(), "; kubectl vrrp failover services --to secondary puts back the preference before\n"; !strings.HasSuffix(got, want) {
			t.Errorf("stderr: %q\nwant it to end with %q", got, want)
		}
	})
	t.Run("a VirtualIP deleted while drain waits is done", func(t *testing.T) {
		h := newHarness(t, seedCluster()...)
		h.afterChange = func(c client.WithWatch) {
			if err := c.Delete(context.Background(), &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "services"}}); err != nil {
				t.Error(err)
			}
		}
		out := h.mustRun(exitOK, "drain", "primary")
		if !strings.Contains(out, "deleted meanwhile") || !strings.Contains(out, "node primary drained") {
			t.Errorf("drain: %q", out)
		}
	})
}
