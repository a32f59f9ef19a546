// Package host binds the speaker to this node's real network: raw VRRP sockets, interface
// watches and address announcements, each from the package that does it.
package host

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/vrrp-dev/vrrp-operator/agent/announce"
	"github.com/vrrp-dev/vrrp-operator/agent/netif"
	"github.com/vrrp-dev/vrrp-operator/agent/sockets"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
)

// Network is speaker.Network on the real interfaces of the calling thread's network namespace.
type Network struct {
	// Exclude reports addresses that are VIPs, never the node's own address.
	Exclude func(netip.Addr) bool
	// QuietPort is the netlink port that adds and refreshes the VIPs Exclude reports
	// (addresses.Manager.Port): interface watches never wake for its changes. 0 for none.
	QuietPort uint32
	Log       logr.Logger

	// watch is netif.Watch; tests replace it.
	watch func(ctx context.Context, ifname string, v6 bool, exclude func(netip.Addr) bool, quietPort uint32, onChange func(netif.Status)) error
}

var _ speaker.Network = (*Network)(nil)

// Listen opens the VRRP socket of an interface. A socket whose receive buffer is smaller than
// asked for (no CAP_NET_ADMIN and a low net.core.rmem_max) works, but may drop the tail of a burst
// of adverts: that is logged.
func (n *Network) Listen(ifname string, v6 bool) (sockets.Conn, error) {
	c, err := sockets.Listen(ifname, v6)
	if err != nil {
		return nil, err
	}
	if got := c.ReceiveBuffer(); got < 2*sockets.ReceiveBuffer {
		n.Log.Info("the VRRP socket's receive buffer is smaller than asked for: a burst of adverts may overflow it",
			"interface", ifname, "bytes", got, "asked", 2*sockets.ReceiveBuffer)
	}
	return c, nil
}

// Watch reports the interface's status until ctx ends. A watch that cannot start (netlink refused
// a socket: EMFILE, ENOMEM) reports the link down with why, and is started again after
// watchRetry, doubling to watchRetryMax: the routers on the interface are FAULT meanwhile, and
// run again once it can be followed, rather than stay FAULT until the agent restarts.
func (n *Network) Watch(ctx context.Context, ifname string, v6 bool, onChange func(speaker.LinkStatus)) {
	ctx = logr.NewContext(ctx, n.Log.WithValues("interface", ifname))
	watch := n.watch
	if watch == nil {
		watch = netif.Watch
	}
	for wait := watchRetry; ; wait = min(2*wait, watchRetryMax) {
		err := watch(ctx, ifname, v6, n.Exclude, n.QuietPort, func(st netif.Status) {
			onChange(speaker.LinkStatus{Up: st.Up, Reason: st.Reason, Primary: st.Address})
		})
		if err == nil || ctx.Err() != nil {
			return
		}
		n.Log.Error(err, "watching interface; trying again", "interface", ifname, "in", wait.String())
		onChange(speaker.LinkStatus{Reason: fmt.Sprintf("watching %s: %v", ifname, err)})
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// How soon a watch that could not start is tried again.
const (
	watchRetry    = time.Second
	watchRetryMax = 30 * time.Second
)

// Announcers is speaker.Announcer with one announce.Sender per interface, opened on first use.
type Announcers struct {
	mu      sync.Mutex
	senders map[string]*announce.Sender
}

var _ speaker.Announcer = (*Announcers)(nil)

// Announce sends gratuitous ARP or unsolicited NA for addrs on ifname. A failed send drops the
// interface's sender so that the next announcement reopens it (the interface may have been
// re-created with a new index or MAC).
func (a *Announcers) Announce(ifname string, addrs []netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.senders == nil {
		a.senders = map[string]*announce.Sender{}
	}
	s, ok := a.senders[ifname]
	if !ok {
		var err error
		if s, err = announce.New(ifname); err != nil {
			return fmt.Errorf("opening announcer on %s: %w", ifname, err)
		}
		a.senders[ifname] = s
	}
	if err := s.Announce(addrs); err != nil {
		_ = s.Close()
		delete(a.senders, ifname)
		return fmt.Errorf("announcing on %s: %w", ifname, err)
	}
	return nil
}

// Close closes every sender.
func (a *Announcers) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for name, s := range a.senders {
		_ = s.Close()
		delete(a.senders, name)
	}
}
