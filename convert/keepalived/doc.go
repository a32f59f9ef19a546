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
//
// Tracking becomes spec.track with keepalived's semantics (track.go): a tracked vrrp_script is a
// check named after it (chk_haproxy: chk-haproxy) with its interval, timeout, rise and fall and the
// weight track_script gives it, else the script's (0: failing is FAULT). Its script is a tcp check
// when it only connects (bash's </dev/tcp/IP/PORT, nc -z IP PORT), an http check when it is
// `curl -f URL` with nothing that changes what passes, else an exec check of a program in the
// hook directory: a script's base name (a note says where to copy it), a program keepalived finds
// on PATH or a shell command line (reported: the program must be written). track_interface
// entries are interface checks, track_file entries file checks (keepalived's default weight 1,
// reverse as the weight negated). Reversed script and interface weights, init_fail, user,
// track_process and track_bfd have no counterpart and are reported; so is a timeout longer than
// the interval, which the CRD refuses (it becomes the interval), and nodes that track differently
// (the first node's checks are taken, as a VirtualIP has one list).
package keepalived
