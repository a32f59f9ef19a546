package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
			h := newHarness(t, objs...)
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
