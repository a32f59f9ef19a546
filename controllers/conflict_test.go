package controllers

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// TestRouterIDConflictAgreesWithDerive puts an older and a newer VirtualIP with one VRID before
// both the agent of node n1 (desired.Derive) and the controller (Summarize): the newer one is
// RouterIDConflict in its status exactly when n1's agent refuses it. When they disagreed, the
// status said "this one is refused" while the newer one ran, and every agent stopped it as soon as
// the older one's error cleared (issue 9 item 4).
func TestRouterIDConflictAgreesWithDerive(t *testing.T) {
	n1 := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"zone": "near"}}}
	ifs := []desired.Interface{
		{Name: "eth0", Up: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.2/24")}},
		{Name: "eth1", Up: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.2/24"), netip.MustParsePrefix("2001:db8:1::2/64")}},
	}
	secret := corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "vrrp-system", Name: "auth"}, Data: map[string][]byte{"password": []byte("s3cret")}}
	auth := func(name string) func(*vrrpv1.VirtualIP) {
		return func(v *vrrpv1.VirtualIP) {
			v.Spec.Version = vrrpv1.VRRPv2
			v.Spec.Authentication = &vrrpv1.Authentication{Type: vrrpv1.AuthenticationPass,
				SecretRef: vrrpv1.SecretKeyReference{Namespace: "vrrp-system", Name: name, Key: "password"}}
		}
	}
	badHooks := func(v *vrrpv1.VirtualIP) { v.Spec.Hooks = &vrrpv1.Hooks{Timeout: &metav1.Duration{}} }
	far := withSelector(&metav1.LabelSelector{MatchLabels: map[string]string{"zone": "far"}})
	// The entries of n1's agent: an older one that runs reports its interface, one in error does not.
	runs := withEntries(entry("n1", "MASTER", onInterface("eth0")))
	fails := func(reason string) func(*vrrpv1.VirtualIP) {
		return withEntries(entry("n1", "FAULT", withReason(reason)))
	}

	tests := map[string]struct {
		older, newer *vrrpv1.VirtualIP
		refused      bool
		// onlyReported: the controller cannot tell before n1's agent reports, as the older one's
		// interface on n1 is known to that agent alone.
		onlyReported bool
	}{
		"an older one that runs keeps the VRID": {
			older:   vip("older", 10, "198.51.100.11/24", created(earlier), auth("auth"), runs),
			newer:   vip("newer", 10, "198.51.100.10/24", created(now)),
			refused: true,
		},
		"an older one whose Secret is missing keeps the VRID": {
			older:   vip("older", 10, "198.51.100.11/24", created(earlier), auth("gone"), fails("SecretUnavailable")),
			newer:   vip("newer", 10, "198.51.100.10/24", created(now)),
			refused: true,
		},
		"an older one whose hooks are invalid keeps the VRID on the interface both name": {
			older:   vip("older", 10, "198.51.100.11/24", created(earlier), badHooks, withInterface("eth0"), fails("InvalidSpec")),
			newer:   vip("newer", 10, "198.51.100.10/24", created(now), withInterface("eth0")),
			refused: true,
		},
		"an older one whose Secret is missing keeps the VRID on the interface only the agent knows it would take": {
			older:        vip("older", 10, "198.51.100.11/24", created(earlier), auth("gone"), fails("SecretUnavailable")),
			newer:        vip("newer", 10, "198.51.100.10/24", created(now), withInterface("eth0")),
			refused:      true,
			onlyReported: true,
		},
		"an older one in error on another interface leaves it": {
			older: vip("older", 10, "203.0.113.11/24", created(earlier), auth("gone"), withInterface("eth1"), fails("SecretUnavailable")),
			newer: vip("newer", 10, "198.51.100.10/24", created(now), withInterface("eth0")),
		},
		"an older one in error of the other family leaves it": {
			older: vip("older", 10, "2001:db8:1::11/64", created(earlier), auth("gone"), fails("SecretUnavailable")),
			newer: vip("newer", 10, "198.51.100.10/24", created(now)),
		},
		"an older one that cannot choose an interface on the node leaves it: its subnet is elsewhere": {
			older: vip("older", 10, "192.0.2.11/24", created(earlier), fails("NoInterface")),
			newer: vip("newer", 10, "198.51.100.10/24", created(now)),
		},
		"a newer one that cannot choose an interface on the node is FAULT for that, not in conflict": {
			older:        vip("older", 10, "198.51.100.11/24", created(earlier), runs),
			newer:        vip("newer", 10, "192.0.2.10/24", created(now)),
			onlyReported: true,
		},
		"an older one in error that does not select the node leaves it": {
			older: vip("older", 10, "198.51.100.11/24", created(earlier), auth("gone"), far),
			newer: vip("newer", 10, "198.51.100.10/24", created(now)),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			newer := tc.newer
			vips := []vrrpv1.VirtualIP{*tc.older, *newer}
			res := desired.Derive(desired.Inputs{NodeName: n1.Name, Nodes: []corev1.Node{n1}, VirtualIPs: vips,
				Secrets: []corev1.Secret{secret}, SecretNamespace: "vrrp-system", Interfaces: ifs})
			// The newer one's entry, as n1's agent writes it: FAULT with the reason when refused.
			agent, report := false, entry("n1", "MASTER")
			for _, r := range res.Routers {
				if r.Name == newer.Name {
					report.Interface = r.Interface
				}
			}
			for _, e := range res.Errors {
				if e.Name == newer.Name {
					agent = e.Reason() == vrrpv1.ReasonRouterIDConflict
					report = entry("n1", "FAULT", withReason(e.Reason()))
					report.Message = e.Error()
				}
			}
			reported := newer.DeepCopy()
			reported.Status.Nodes = []vrrpv1.NodeStatus{report}
			for what, v := range map[string]*vrrpv1.VirtualIP{"before n1's agent reports": newer, "once it has": reported} {
				if tc.onlyReported && v == newer {
					continue
				}
				sum := Summarize(v, vips, map[string]labels.Set{n1.Name: n1.Labels}, nil, now)
				d := meta.FindStatusCondition(sum.Conditions, vrrpv1.ConditionDegraded)
				controller := d.Reason == vrrpv1.ReasonRouterIDConflict
				if agent != tc.refused || controller != tc.refused {
					t.Errorf("%s: newer refused by n1's agent: %v (errors %v); RouterIDConflict in status: %v (%s); want both %v",
						what, agent, res.Errors, controller, d.Message, tc.refused)
				}
			}
		})
	}
}

// The controller reads the reasons of the agents' FAULT entries without importing agent/desired.
func TestInterfaceReasonsAreTheAgents(t *testing.T) {
	for reason, err := range map[string]error{reasonNoInterface: desired.ErrNoInterface, reasonAmbiguousInterface: desired.ErrAmbiguousInterface} {
		if got := (desired.RouterError{Err: err}).Reason(); got != reason {
			t.Errorf("the agent's reason for %v is %q, the controller reads %q", err, got, reason)
		}
	}
}
