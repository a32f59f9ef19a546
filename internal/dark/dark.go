// Package dark tells which nodes Kubernetes considers gone dark: their kubelet has gone silent, or
// no agent pod runs on them. What such a node's entry in a VirtualIP's status says is only what its
// agent last reported, not what the node does now: the controller shows it as UNKNOWN, and kubectl
// vrrp does not count it as live.
package dark

import corev1 "k8s.io/api/core/v1"

// Why a node is dark.
const (
	// NodeUnreachable: the Node's Ready condition is Unknown, which the node lifecycle
	// controller sets when the kubelet stops posting status (and taints the Node
	// node.kubernetes.io/unreachable). Ready False is no darkness: a kubelet posts it, so the node
	// runs, and so may its agent (see Nodes).
	NodeUnreachable = "NodeUnreachable"
	// AgentGone: no pod of the agent DaemonSet runs on the node.
	AgentGone = "AgentGone"
	// NodeGone: the Node object is gone while an agent pod still counts as running there (a
	// Node deleted by hand with its kubelet on, or a machine gone whose pods the garbage collector
	// has not deleted yet): its agent may run, or the machine may be no more.
	NodeGone = "NodeGone"
)

// DefaultAgentPodSelector selects the pods of the agent DaemonSet of the chart and of config/agent
// (labels app.kubernetes.io/name and app.kubernetes.io/component, which both set).
const DefaultAgentPodSelector = "app.kubernetes.io/name=vrrp-operator,app.kubernetes.io/component=agent"

// Nodes tells, by node name, why Kubernetes considers a node gone dark; nodes missing from the
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
func Nodes(nodes []corev1.Node, agentPods []corev1.Pod) map[string]string {
	var running map[string]bool
	if agentPods != nil {
		running = make(map[string]bool, len(agentPods))
		for i := range agentPods {
			if PodRuns(&agentPods[i]) {
				running[agentPods[i].Spec.NodeName] = true
			}
		}
	}
	dark := map[string]string{}
	for i := range nodes {
		n := &nodes[i]
		switch {
		case ReadyStatus(n) == corev1.ConditionUnknown:
			dark[n.Name] = NodeUnreachable
		case running != nil && !running[n.Name]:
			dark[n.Name] = AgentGone
		}
	}
	return dark
}

// ReadyStatus is the status of n's Ready condition, empty when it has none.
func ReadyStatus(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

// PodRuns says whether an agent pod runs: it is on a node, in phase Running, and one of its
// containers runs. A crash-looping agent keeps its pod in phase Running (restartPolicy Always)
// while its container waits to restart: its entry then says what a dead agent last reported, and
// its VIPs expire with their lifetime. A pod whose kubelet has reported no container yet counts
// by its phase, and one container running is enough: hiding the entry of an agent that does run
// beside a failing sidecar would hide a real Master.
func PodRuns(p *corev1.Pod) bool {
	if p.Spec.NodeName == "" || p.Status.Phase != corev1.PodRunning {
		return false
	}
	if len(p.Status.ContainerStatuses) == 0 {
		return true
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Running != nil {
			return true
		}
	}
	return false
}
