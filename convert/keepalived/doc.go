// Package keepalived converts keepalived configurations, one per node, into VirtualIPs, the Secret
// of their PASS passwords and a stub of the hook ConfigMap (`vrrp-operator convert`, issue 11).
//
// Each vrrp_instance becomes one VirtualIP. What the nodes must share (router ID, version,
// interval, addresses as a set, authentication, hooks, GARP) must be the same in every node's
// file; what may differ per node (priority, interface, initial state, unicast source) is folded:
// priorities into spec.priority and nodePriorities, interfaces into spec.interface only when the
// nodes agree. Preemption keepalived lets differ per node, a VirtualIP cannot: nodes that differ
// (after keepalived clears nopreempt and preempt_delay under state MASTER) are reported. Every directive is either converted or reported with its file and line: a Note
// when the manifests carry its meaning and the reader should still know something, Unmapped when
// they do not. The result is complete when nothing is Unmapped.
package keepalived
