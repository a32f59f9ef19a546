package controllers

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Why an entry does not count: Kubernetes considers its node gone dark, so what the entry says is
// only what the node's agent last reported, not what the node does now. The summary shows such an
// entry as StateUnknown with one of these reasons.
const (
	// DarkNodeUnreachable: the Node's Ready condition is Unknown, which the node lifecycle
	// controller sets when the kubelet stops posting status (and taints the Node
	// node.kubernetes.io/unreachable). Ready False is no darkness: a kubelet posts it, so the node
	// runs, and so may its agent (see darkNodes).
	DarkNodeUnreachable = "NodeUnreachable"
	// DarkAgentGone: no pod of the agent DaemonSet runs on the node.
	DarkAgentGone = "AgentGone"
)

// StateUnknown is how the summary shows the state of an entry whose node went dark. It is no
// RouterState: the agents own their entries and the API only admits what an agent can be in; the
// controller says UNKNOWN in its conditions, never in the entry.
const StateUnknown = "UNKNOWN"

// DefaultAgentPodSelector selects the pods of the agent DaemonSet of the chart and of config/agent
// (labels app.kubernetes.io/name and app.kubernetes.io/component, which both set).
const DefaultAgentPodSelector = "app.kubernetes.io/name=vrrp-operator,app.kubernetes.io/component=agent"

// darkNodes tells, by node name, why Kubernetes considers a node gone dark; nodes missing from the
// result are alive. A node is dark when its kubelet has gone silent (Ready Unknown) or, when
// agentPods is not nil, when none of them runs on it.
//
// Ready False is not dark: the kubelet is alive and posting it (the container runtime or network
// plugin is not ready, the node is shutting down), and the agent, a hostNetwork pod that tolerates
// not-ready Nodes, keeps running and writing its entry. Hiding that entry would hide a real split
// brain, or leave a VirtualIP whose only Master it is without one. Whether that agent still runs
// is what its pod says. An entry carries no heartbeat (the agent writes on change only), so its
// age cannot tell either. A Node without a Ready condition has had no verdict yet (its kubelet has
// not posted status; the node lifecycle controller turns that into Unknown after its grace period)
// and counts as alive. A terminating pod still runs: an agent that stops gracefully reports
// STOPPED itself, and until then it may well hold the addresses.
func darkNodes(nodes []corev1.Node, agentPods []corev1.Pod) map[string]string {
	var running map[string]bool
	if agentPods != nil {
		running = make(map[string]bool, len(agentPods))
		for i := range agentPods {
			if podRuns(&agentPods[i]) {
				running[agentPods[i].Spec.NodeName] = true
			}
		}
	}
	dark := map[string]string{}
	for i := range nodes {
		n := &nodes[i]
		switch {
		case readyStatus(n) == corev1.ConditionUnknown:
			dark[n.Name] = DarkNodeUnreachable
		case running != nil && !running[n.Name]:
			dark[n.Name] = DarkAgentGone
		}
	}
	return dark
}

func nodeLabels(nodes []corev1.Node) map[string]labels.Set {
	out := make(map[string]labels.Set, len(nodes))
	for _, n := range nodes {
		out[n.Name] = labels.Set(n.Labels)
	}
	return out
}

// readyStatus is the status of n's Ready condition, empty when it has none.
func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

func podRuns(p *corev1.Pod) bool {
	return p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning
}

// slimNode is the cache's transform of a Node: names, labels and the Ready condition's status are
// all the controller reads, and a Node's status (images, addresses, capacity) is large.
func slimNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	slim := &corev1.Node{TypeMeta: n.TypeMeta, ObjectMeta: slimMeta(n.ObjectMeta)}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			slim.Status.Conditions = []corev1.NodeCondition{{Type: c.Type, Status: c.Status}}
		}
	}
	return slim, nil
}

// slimPod is the cache's transform of an agent pod: where it runs and whether it does.
func slimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	return &corev1.Pod{
		TypeMeta:   p.TypeMeta,
		ObjectMeta: slimMeta(p.ObjectMeta),
		Spec:       corev1.PodSpec{NodeName: p.Spec.NodeName},
		Status:     corev1.PodStatus{Phase: p.Status.Phase},
	}, nil
}

func slimMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		Labels: m.Labels, DeletionTimestamp: m.DeletionTimestamp,
	}
}
