// Package announce tells the link that this node now holds virtual addresses, so that hosts and
// switches send their traffic for them here at once instead of when their caches expire.
//
// RFC 9568 §6.4.1 and §6.4.2 have a router that becomes Active (Master) announce every address
// of the virtual router:
//
//   - IPv4: a gratuitous ARP request, broadcast, with sender and target protocol address both the
//     virtual address and sender hardware address our interface's MAC; the target hardware address
//     is zero (RFC 826, in the ARP Announcement form of RFC 5227 §2.3, which keepalived sends too).
//   - IPv6: an unsolicited Neighbor Advertisement to all-nodes (ff02::1) with the Override flag
//     set and the Solicited flag clear, target the virtual address and a Target Link-Layer Address
//     option (RFC 4861 §7.2.6), hop limit 255 (RFC 4861 §7.1.2). The Router flag is set when the
//     interface forwards IPv6, as keepalived does: RFC 9568 sets it for a virtual router, but a
//     node that does not route would then be taken for one.
//
// The addresses are announced with the interface's own MAC, not the virtual router MAC of
// RFC 9568 §7.3: the agent holds the addresses on the interface itself, as keepalived does
// without use_vmac.
//
// Receivers update an entry they already have and, by default, create none: Linux ignores a
// gratuitous ARP for an address it has no entry for unless arp_accept is set, and an unsolicited
// NA likewise (RFC 4861 §7.2.5). That is the point: the hosts that matter are those that talked
// to the old Master.
//
// Schedule says when to repeat the announcement: at once, then Count-1 more times Spacing apart,
// then optionally every Refresh. It is pure; the driver owns the clock.
package announce
