package kube

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

func TestSnapshot(t *testing.T) {
	yes := true
	in := desired.Inputs{
		VirtualIPs: []vrrpv1.VirtualIP{{
			ObjectMeta: metav1.ObjectMeta{Name: "services", Annotations: map[string]string{vrrpv1.PreferredNodeAnnotation: "secondary"},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
			Spec: vrrpv1.VirtualIPSpec{VirtualRouterID: 51, Version: 2, Addresses: []string{"198.51.100.252/24"},
				AdvertInterval: &metav1.Duration{Duration: time.Second}, Priority: 100, Preempt: &yes,
				NodePriorities: []vrrpv1.NodePriority{{Node: "primary", Priority: 150}},
				Authentication: &vrrpv1.Authentication{Type: vrrpv1.AuthenticationPass,
					SecretRef: vrrpv1.SecretKeyReference{Name: "vrrp-auth", Namespace: "vrrp-system", Key: "password"}}},
			Status: vrrpv1.VirtualIPStatus{Master: "primary"},
		}},
		Nodes: []corev1.Node{{
			ObjectMeta: metav1.ObjectMeta{Name: "primary", Labels: map[string]string{"zone": "a"}},
			Spec:       corev1.NodeSpec{Unschedulable: true},
			Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "198.51.100.253"}}},
		}},
		Secrets: []corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Name: "vrrp-auth", Namespace: "vrrp-system"},
			Data: map[string][]byte{"password": []byte("secret12")}}},
	}
	dir := t.TempDir()
	s := newSnapshot(dir)
	if _, _, ok, err := s.load(); ok || err != nil {
		t.Fatalf("load before any save = %v, %v; want nothing and no error", ok, err)
	}
	ifaces := []desired.Interface{{Name: "eth0", Up: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.253/24")}}}
	want := desired.Derive(desired.Inputs{NodeName: "primary", Nodes: in.Nodes, VirtualIPs: in.VirtualIPs, Secrets: in.Secrets, Interfaces: ifaces})
	if err := s.save(in, want); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600: it holds VRRP passwords", s.path, fi.Mode().Perm())
	}
	got, _, ok, err := newSnapshot(dir).load()
	if !ok || err != nil {
		t.Fatalf("load after save = %v, %v", ok, err)
	}
	// What a restarted agent derives from the file is what it derived from the API server.
	have := desired.Derive(desired.Inputs{NodeName: "primary", Nodes: got.Nodes, VirtualIPs: got.VirtualIPs, Secrets: got.Secrets, Interfaces: ifaces})
	if len(want.Routers) != 1 || len(want.Errors) != 0 {
		t.Fatalf("the inputs should give one router: %+v", want)
	}
	if diff := cmp.Diff(want, have, cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
		t.Errorf("routers derived from the snapshot (-want +got):\n%s", diff)
	}
	if len(got.VirtualIPs) != 1 || got.VirtualIPs[0].ManagedFields != nil || got.VirtualIPs[0].Status.Master != "" {
		t.Errorf("the snapshot keeps managed fields or status: %+v", got.VirtualIPs)
	}
	if !got.Nodes[0].Spec.Unschedulable || string(got.Secrets[0].Data["password"]) != "secret12" {
		t.Errorf("the snapshot lost the cordon or the password: %+v %+v", got.Nodes, got.Secrets)
	}
}
