package kube

import (
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// Every status write of every agent and of the controller, and every kubelet heartbeat, is an
// update of a watched object; only those that change what derivation reads may derive again. A
// VirtualIP's other status changes still have the reporter look at this node's entry.
func TestOnlyUpdatesOfWhatDerivationReadsDeriveAgain(t *testing.T) {
	vip := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "seed", ResourceVersion: "1", Generation: 1},
		Spec: vrrpv1.VirtualIPSpec{VirtualRouterID: 7, Addresses: []string{"198.51.100.7/24"}},
		Status: vrrpv1.VirtualIPStatus{Master: "a", Nodes: []vrrpv1.NodeStatus{
			{Node: "a", State: vrrpv1.StateMaster, Priority: 150, Address: "198.51.100.1"},
			{Node: "b", State: vrrpv1.StateBackup, Priority: 100}}}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a", ResourceVersion: "1", Labels: map[string]string{"zone": "x"}},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "198.51.100.1"}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}

	for _, c := range []struct {
		name       string
		old, obj   any
		wantDerive bool
		wantVerify bool
	}{
		{name: "a state written by an agent only has the reporter look", old: vip,
			obj: edit(vip, func(v *vrrpv1.VirtualIP) {
				v.ResourceVersion = "2"
				v.Status.Master, v.Status.Nodes[0].State, v.Status.Nodes[1].State = "b", vrrpv1.StateBackup, vrrpv1.StateMaster
			}),
			wantVerify: true},
		{name: "an entry with a published address removed derives again", old: vip,
			obj:        edit(vip, func(v *vrrpv1.VirtualIP) { v.Status.Nodes = v.Status.Nodes[1:2] }),
			wantDerive: true}, // the unicast peers change
		{name: "an entry without an address removed only has the reporter look", old: vip,
			obj:        edit(vip, func(v *vrrpv1.VirtualIP) { v.Status.Nodes = v.Status.Nodes[:1] }),
			wantVerify: true},
		{name: "a published address derives again", old: vip,
			obj:        edit(vip, func(v *vrrpv1.VirtualIP) { v.Status.Nodes[1].Address = "198.51.100.2" }),
			wantDerive: true},
		{name: "a spec change derives again", old: vip,
			obj:        edit(vip, func(v *vrrpv1.VirtualIP) { v.Generation, v.Spec.Addresses[0] = 2, "198.51.100.8/24" }),
			wantDerive: true},
		{name: "an annotation derives again", old: vip,
			obj: edit(vip, func(v *vrrpv1.VirtualIP) {
				v.Annotations = map[string]string{vrrpv1.PreferredNodeAnnotation: "b"}
			}),
			wantDerive: true},
		{name: "a kubelet heartbeat does nothing", old: node,
			obj: editNode(node, func(n *corev1.Node) {
				n.ResourceVersion = "2"
				n.Status.Conditions[0].LastHeartbeatTime = metav1.Now()
			})},
		{name: "a cordon derives again", old: node,
			obj: editNode(node, func(n *corev1.Node) { n.Spec.Unschedulable = true }), wantDerive: true},
		{name: "a label derives again", old: node,
			obj: editNode(node, func(n *corev1.Node) { n.Labels["zone"] = "y" }), wantDerive: true},
		{name: "a node address derives again", old: node,
			obj: editNode(node, func(n *corev1.Node) { n.Status.Addresses[0].Address = "198.51.100.9" }), wantDerive: true},
		{name: "a Secret always derives again", old: &corev1.Secret{}, obj: &corev1.Secret{Data: map[string][]byte{"k": nil}},
			wantDerive: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := &agent{rep: newReporter("a", logr.Discard()), poke: make(chan struct{}, 1)}
			a.updated(c.old, c.obj)
			derived := len(a.poke) == 1
			verify := a.rep.verify
			if derived != c.wantDerive || verify != c.wantVerify {
				t.Fatalf("derive %v, reporter verifies %v; want %v, %v", derived, verify, c.wantDerive, c.wantVerify)
			}
		})
	}
}

func edit(v *vrrpv1.VirtualIP, f func(*vrrpv1.VirtualIP)) *vrrpv1.VirtualIP {
	c := v.DeepCopy()
	f(c)
	return c
}

func editNode(n *corev1.Node, f func(*corev1.Node)) *corev1.Node {
	c := n.DeepCopy()
	f(c)
	return c
}
