package controllers

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/internal/dark"
)

// StateUnknown is how the summary shows the state of an entry whose node went dark. It is no
// RouterState: the agents own their entries and the API only admits what an agent can be in; the
// controller says UNKNOWN in its conditions, never in the entry.
const StateUnknown = "UNKNOWN"

func nodeLabels(nodes []corev1.Node) map[string]labels.Set {
	out := make(map[string]labels.Set, len(nodes))
	for _, n := range nodes {
		out[n.Name] = labels.Set(n.Labels)
	}
	return out
}

// withAgentsOfGoneNodes adds to nodes, unlabelled, the nodes whose Node object is gone while an
// agent pod still counts as running there, and to darkNodes as dark.NodeGone. Such an agent may run
// on (kubectl delete node, with the kubelet running): it runs its routers as an unlabelled node's
// (agent/desired) and writes its entry again after a removal, so counted stale the entry was
// removed and written again until the pod garbage collector deleted the pod. The machine may as
// well be gone (a cloud's node deleted with its VM): its entry, kept, must not count as a live
// Master. Dark, it shows as UNKNOWN and counts as nobody's.
func withAgentsOfGoneNodes(nodes map[string]labels.Set, darkNodes map[string]string, pods []corev1.Pod) {
	for i := range pods {
		p := &pods[i]
		if _, ok := nodes[p.Spec.NodeName]; !ok && dark.PodRuns(p) {
			nodes[p.Spec.NodeName] = labels.Set{}
			darkNodes[p.Spec.NodeName] = dark.NodeGone
		}
	}
}

// slimNode is the cache's transform of a Node: names, labels, the Ready condition's status, the
// cordon and the maintenance annotation are all the controller reads, and a Node's status (images,
// addresses, capacity) is large.
func slimNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	slim := &corev1.Node{TypeMeta: n.TypeMeta, ObjectMeta: slimMeta(n.ObjectMeta),
		Spec: corev1.NodeSpec{Unschedulable: n.Spec.Unschedulable}}
	if v, ok := n.Annotations[vrrpv1.MaintenanceAnnotation]; ok {
		slim.Annotations = map[string]string{vrrpv1.MaintenanceAnnotation: v}
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			slim.Status.Conditions = []corev1.NodeCondition{{Type: c.Type, Status: c.Status}}
		}
	}
	return slim, nil
}

// slimPod is the cache's transform of an agent pod: where it runs and whether it does (its phase,
// and which of its containers run: dark.PodRuns).
func slimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	slim := &corev1.Pod{
		TypeMeta:   p.TypeMeta,
		ObjectMeta: slimMeta(p.ObjectMeta),
		Spec:       corev1.PodSpec{NodeName: p.Spec.NodeName},
		Status:     corev1.PodStatus{Phase: p.Status.Phase},
	}
	for _, c := range p.Status.ContainerStatuses {
		st := corev1.ContainerStatus{Name: c.Name}
		if c.State.Running != nil {
			st.State.Running = &corev1.ContainerStateRunning{}
		}
		slim.Status.ContainerStatuses = append(slim.Status.ContainerStatuses, st)
	}
	return slim, nil
}

func slimMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		Labels: m.Labels, DeletionTimestamp: m.DeletionTimestamp,
	}
}
