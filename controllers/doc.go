// Package controllers holds the cluster-side reconciler of VirtualIPs: it summarises the agents'
// per-node status into status.master and conditions, detects router ID conflicts and removes entries
// of nodes that left.
//
// Summarize decides; VirtualIPReconciler reads the cluster, writes what Summarize decided and
// records Events. The RBAC markers are over VirtualIPReconciler.Reconcile.
package controllers
