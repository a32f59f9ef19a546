// Package vrrp is the Virtual Router Redundancy Protocol itself: the wire codec and the
// state machine of one virtual router, with no sockets, goroutines or clock inside.
//
// It implements:
//
//   - VRRPv2, RFC 3768, for IPv4, including the simple-text ("PASS") authentication that
//     RFC 2338 defined and keepalived still speaks;
//   - VRRPv3, RFC 9568 (which obsoletes RFC 5798), for IPv4 and IPv6, with its verified
//     errata 7947, 7949, 8298, 8299, 8300 (see Decode) and 8301.
//
// Decode and Advertisement.AppendEncode convert between IP payloads and Advertisement
// values; the socket layer owns IP headers, TTL/hop limit 255 on send (RFC 9568 §5.1.1.3,
// §5.1.2.3) and the multicast groups 224.0.0.18 and ff02::12 (RFC 9568 §5.1.1.2, §5.1.2.2).
//
// An Instance is one virtual router on one node. It takes events (Startup, AdvertReceived,
// TimerExpired, SetPriority, ...) with the current time and returns the actions the driver
// must carry out in order (SendAdvert, AddAddresses, Announce, RemoveAddresses, Transition,
// Drop). The driver asks Deadline when to deliver the next TimerExpired, so tests drive an
// Instance on a fake clock.
//
// One departure from RFC 9568 §6.4.2: a preempting Backup whose Master falls below it (a
// tracked check lowered the Master's priority) takes over after its Skew_Time, as after a
// priority-0 advert, rather than a Master_Down_Interval after the Master's last higher advert.
// A Backup that has followed no Master yet waits as the RFC says. See Instance's backupReceived.
package vrrp
