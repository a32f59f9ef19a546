// Package controllers holds the cluster-side reconciler of VirtualIPs: it summarises the agents'
// per-node status into status.master and conditions, detects router ID conflicts and removes entries
// of nodes that left.
package controllers

// The controller reads VirtualIPs and Nodes and owns the summary part of VirtualIP status.
// +kubebuilder:rbac:groups=vrrp.dev,resources=virtualips,verbs=get;list;watch
// +kubebuilder:rbac:groups=vrrp.dev,resources=virtualips/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch
