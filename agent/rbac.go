// Package agent is the node agent: it turns VirtualIPs into VRRP speakers on its own node. The
// protocol lives in agent/vrrp; the packages beside it execute its decisions on the OS.
package agent

// The agent reads VirtualIPs and Nodes, and gets the Secrets they reference by name (no list or
// watch of every Secret). It writes only its own entry of VirtualIP status (server-side apply) and
// the master labels of its own Node, which config/rbac/agent/node_scope_policy.yaml enforces where
// RBAC cannot. It never writes a spec.
// +kubebuilder:rbac:groups=vrrp.dev,resources=virtualips,verbs=get;list;watch
// +kubebuilder:rbac:groups=vrrp.dev,resources=virtualips/status,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
