// Package agent is the node agent: it turns VirtualIPs into VRRP speakers on its own node. The
// protocol lives in agent/vrrp; the packages beside it execute its decisions on the OS.
package agent

// The agent reads VirtualIPs and Nodes, and watches the Secrets of its own namespace only, where
// authentication Secrets live: a namespaced Role (vrrp-system here; the chart puts it in the release
// namespace), never a ClusterRole that would let every node read every Secret of the cluster. It
// writes only its own entry of VirtualIP status (server-side apply) and the master labels of its own
// Node, which config/rbac/agent/node_scope_policy.yaml enforces where RBAC cannot. It never writes a
// spec. It watches the pods of its own node (a field selector on spec.nodeName) for the pods checks
// of spec.track; RBAC cannot narrow a list to one node, so the rule is cluster-wide, and read-only.
// At exit it reads its own pod and that pod's DaemonSet (the Role again): an agent stopped because
// its DaemonSet is deleted removes the last known configuration, which holds passwords.
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=vrrp.dev,resources=virtualips,verbs=get;list;watch
// +kubebuilder:rbac:groups=vrrp.dev,resources=virtualips/status,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch,namespace=vrrp-system
// +kubebuilder:rbac:groups=apps,resources=daemonsets,verbs=get,namespace=vrrp-system
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
