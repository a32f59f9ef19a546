// Package netif answers what the agent needs to know about the node's interfaces: which interface
// a VIP belongs on when the VirtualIP names none (the seed's primary calls it ens3, the secondary
// eth0), which address adverts are sent from, and whether the interface can carry the router at all.
//
// Watch implements interface tracking: link down, no carrier or the node's own address gone makes
// the router go to FAULT (its VIPs released, the fault hook run), and it comes back to Backup by
// itself once the interface is usable again, as keepalived's track_interface does.
//
// The choices themselves are pure functions over a snapshot of interface facts (select.go); the
// _linux.go files only read those facts with netlink.
package netif
