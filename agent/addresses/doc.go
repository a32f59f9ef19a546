// Package addresses holds virtual IP addresses on the node's interfaces with netlink, and remembers
// which ones it added so that nothing is left behind.
//
// Two promises of the agent (design.md, "A crash leaves no stale VIP behind") live here:
//
//   - VIPs carry a finite valid lifetime that the Master refreshes (Manager.Add is idempotent and
//     resets it), so the VIP of a SIGKILLed agent vanishes by itself within seconds. keepalived
//     leaves it for ever and two hosts answer for it.
//   - Every address the agent adds is first recorded in a state file on the node; a restarted agent
//     calls Manager.RemoveLeftovers before it joins.
//
// An address that was on the interface before the agent asked for it (say, configured statically by
// the admin) is not the agent's: it is neither recorded nor ever removed. See Manager.Add.
//
// IPv6 VIPs are added with IFA_F_NODAD: duplicate address detection would delay a new Master by
// about 1.4 s, and the VRRP election already makes sure that one node holds the address.
package addresses
