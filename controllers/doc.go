// Package controllers holds the cluster-side reconciler of VirtualIPs: it summarises the agents'
// per-node status into status.master and conditions, detects router ID conflicts and removes entries
// of nodes that left.
//
// Summarize decides, from the entries, the Nodes and which nodes have gone dark (internal/dark: kubelet
// silent, Ready Unknown; no agent pod running); handovers holds back a summary that a VRRP handover may still
// settle (handover.go). VirtualIPReconciler reads the cluster, writes what Summarize decided and
// records Events. The RBAC markers are over VirtualIPReconciler.Reconcile.
package controllers
