// Package sockets carries VRRP messages (IP protocol 112) between the node agent and the wire. It
// moves bytes only: the codec and the state machine in agent/vrrp decide what they mean.
//
// Listen opens one raw socket per interface and address family. The socket obeys the IP rules of
// RFC 9568 §5.1:
//
//   - it is bound to its interface (SO_BINDTODEVICE) and joined to the VRRP group there, 224.0.0.18
//     or ff02::12 (§5.1.1.2, §5.1.2.2), so that routers on two interfaces never hear each other;
//   - everything it sends leaves with TTL or hop limit 255, unicast included (§5.1.1.3, §5.1.2.3),
//     and the source address the caller names: the interface's primary IPv4 address (§5.1.1.1) or
//     its IPv6 link-local address (§5.1.2.1). The caller names it because the VRRPv3 checksum
//     covers a pseudo-header that holds it (§5.2.8);
//   - the kernel neither computes nor verifies IPv6 checksums on it: the codec does, so that a bad
//     checksum is counted instead of vanishing inside the kernel;
//   - multicast loopback is off, and a packet whose source is an address this socket sent from
//     (in the last minute) is still marked Own, so that an echo of our own advertisement is never
//     taken for a peer's;
//   - every received Packet reports its TTL or hop limit, destination and interface, so that the
//     caller can discard what RFC 9568 §7.1 says to discard (TTL other than 255, among others).
//
// Several virtual routers share one socket per interface and family through a Demux, which reads
// in one goroutine and hands each packet to the router registered for its VRID.
//
// Unicast mode (the design's spec.unicast) uses the same socket: Send to a peer's unicast address
// works like Send to the group. Which sources a router accepts is the router's business, because
// routers sharing a socket may differ on it: a unicast router drops every packet for which
// FromPeer reports false.
package sockets
