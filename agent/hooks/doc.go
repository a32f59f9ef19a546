// Package hooks runs the notify hooks of VRRP routers: keepalived's notify, notify_master,
// notify_backup, notify_fault and notify_stop, made safe for a node agent whose configuration comes
// from a cluster object.
//
// Whoever can create a VirtualIP must not gain root on the nodes, so only regular executable files
// inside the hook directory (mounted from the Helm chart) run, with no shell, a clean environment and
// a timeout that kills the hook's whole process group. Hooks of one router run in order on a queue of
// their own so that a slow hook never blocks the state machine, and every run ends in a Result (exit
// code, duration, the last lines of output) for status and metrics.
//
// The notify hook is called the way keepalived calls it, `<cmd> INSTANCE <name> <STATE> <priority>`
// (see NotifyArgs), so existing keepalived scripts such as the seed's keepalived.sh keep working.
package hooks
