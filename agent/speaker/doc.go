// Package speaker runs the virtual routers of one node: one vrrp.Instance per VirtualIP, each on a
// goroutine of its own that owns the instance, its timers and its announcements, and carries out the
// instance's actions on the OS (sockets, addresses, announcements, hooks).
//
// The speaker never waits on the Kubernetes API: it is given the desired routers (Apply) and reports
// what happens through a callback (Options.OnStatus). The OS adapters are small interfaces so that the
// whole speaker runs against fakes inside testing/synctest, on fake time.
package speaker
