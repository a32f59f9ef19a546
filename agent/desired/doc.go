// Package desired computes what this node should run: from the VirtualIPs, Nodes and Secrets of the
// cluster (or of a standalone manifest file), this node's name and the facts about its interfaces,
// Derive returns one Router per VirtualIP this node takes part in.
//
// It is pure: no clients, sockets or clock, so that the whole policy of design.md ("Forcing a
// failover") is decided in one place and tested as a table. The driver turns Routers into
// vrrp.Instances: it creates one per WireIdentity, reconfigures in place while the identity stays,
// sends vrrp.SetPriority{Priority: 1, Resign: true} for a Router with Resign, and stops (priority-0
// advert, stop hook) a Router that is Released or gone.
//
// A VirtualIP that cannot run here (a missing Secret, no interface for its subnet, a spec the
// protocol refuses) becomes a RouterError. It never keeps the other routers from running.
package desired
