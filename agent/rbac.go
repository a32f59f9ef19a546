// Package agent is the node agent: it turns VirtualIPs into VRRP speakers on its own node. The
// protocol lives in agent/vrrp; the packages beside it execute its decisions on the OS.
package agent

// The agent reads VirtualIPs, the Secrets they reference and Nodes; it writes only its own entry of
// VirtualIP status (server-side apply) and the master label of its own Node. It never writes a spec.
// +kubebuilder:rbac:groups=vrrp.dev,resources=virtualips,verbs=get;list;watch
// +kubebuilder:rbac:groups=vrrp.dev,resources=virtualips/status,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
