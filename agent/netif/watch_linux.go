package netif

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// retryDelay is how long Watch waits before subscribing again after netlink failed, e.g. with
// ENOBUFS when a burst of changes overflowed the socket buffer.
const retryDelay = 200 * time.Millisecond

// Watch reports the Status of ifname to onChange: once at the start, then on every change, never
// twice the same in a row. It returns nil when ctx is done, or an error if it cannot start. Logs go
// to the logger in ctx.
//
// Netlink link and address notifications only trigger a fresh read of the interface by name; the
// Status is never assembled from the notifications themselves. So nothing drifts when notifications
// are lost (the subscription is then renewed and the interface read again), and an interface that
// is deleted and created again under the same name is followed with its new index. Notifications
// that cannot change the Status trigger nothing: the Master refreshing the lifetime of its VIPs
// (an RTM_NEWADDR each) would otherwise cost a read of every address of the interface per refresh.
// The notifications queued together cost one read: a Master adding 250 VIPs, one.
//
// Watch follows the network namespace of the calling thread at the time of the call. onChange runs
// on Watch's goroutine and should return quickly.
func Watch(ctx context.Context, ifname string, v6 bool, exclude func(netip.Addr) bool, onChange func(Status)) error {
	log := logr.FromContextOrDiscard(ctx).WithValues("interface", ifname)
	ns, err := watchedNamespace()
	if err != nil {
		return fmt.Errorf("watching %s: %w", ifname, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("watching %s: opening netlink: %w", ifname, err)
	}
	defer h.Close()

	w := &watcher{ifname: ifname, v6: v6, exclude: exclude, onChange: onChange, h: h, log: log}
	for started := false; ; started = true {
		s, err := subscribe(ns, log)
		if err != nil {
			if !started {
				return fmt.Errorf("watching %s: %w", ifname, err)
			}
			log.Error(err, "Subscribing to netlink again")
		} else {
			// Read after subscribing, so that no change falls between the read and the first
			// notification.
			w.refresh()
			w.follow(ctx, s)
			s.close()
		}
		if ctx.Err() != nil {
			return nil
		}
		t := time.NewTimer(retryDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

type watcher struct {
	ifname   string
	v6       bool
	exclude  func(netip.Addr) bool
	onChange func(Status)
	h        *netlink.Handle
	log      logr.Logger

	index    int // of ifname at the last read, 0 when it did not exist
	reported bool
	last     Status
	// known are the addresses of ifname at the last read, with what Status depends on.
	known map[netip.Prefix]ifaddr
}

// reads counts the reads of interfaces by every watcher, for tests.
var reads atomic.Int64

// follow reads the interface again after each notification about it, until ctx is done or the
// subscription breaks.
func (w *watcher) follow(ctx context.Context, s *subscription) {
	var retry <-chan time.Time
	for {
		var dirty bool
		select {
		case <-ctx.Done():
			return
		case u, ok := <-s.links:
			if !ok {
				return
			}
			dirty = w.linkMatters(u)
		case u, ok := <-s.addrs:
			if !ok {
				return
			}
			dirty = w.addrMatters(u)
		case <-retry:
			dirty = true
		}
		// Take every notification queued behind this one: they are answered by the same read.
	queued:
		for {
			select {
			case u, ok := <-s.links:
				if !ok {
					return
				}
				dirty = w.linkMatters(u) || dirty
			case u, ok := <-s.addrs:
				if !ok {
					return
				}
				dirty = w.addrMatters(u) || dirty
			default:
				break queued
			}
		}
		if !dirty {
			continue
		}
		retry = nil
		if !w.refresh() {
			retry = time.After(retryDelay)
		}
	}
}

// linkMatters reports whether a link notification is about the watched interface.
func (w *watcher) linkMatters(u netlink.LinkUpdate) bool {
	return u.Attrs().Name == w.ifname || int(u.Index) == w.index
}

// addrMatters reports whether an address notification may change the Status: it is about the
// watched interface and adds an address not known yet, removes a known one, or changes the flags
// the Status depends on. A lifetime refresh of a known address changes none of these.
func (w *watcher) addrMatters(u netlink.AddrUpdate) bool {
	if u.LinkIndex != w.index {
		return false
	}
	ip, ok := netip.AddrFromSlice(u.LinkAddress.IP)
	if !ok {
		return true
	}
	ip = ip.Unmap()
	bits, _ := u.LinkAddress.Mask.Size()
	a := addrOf(netip.PrefixFrom(ip, bits), u.Flags)
	old, known := w.known[a.prefix]
	if !u.NewAddr {
		return known
	}
	return !known || old != a
}

func (w *watcher) refresh() bool {
	i, found, err := readOne(w.h, w.ifname)
	if err != nil {
		w.log.Error(err, "Reading interface")
		return false
	}
	reads.Add(1)
	w.index = 0
	clear(w.known)
	if found {
		w.index = i.index
		if w.known == nil {
			w.known = make(map[netip.Prefix]ifaddr, len(i.addrs))
		}
		for _, a := range i.addrs {
			w.known[a.prefix] = a
		}
	}
	st := status(w.ifname, i, found, w.v6, w.exclude)
	if w.reported && st == w.last {
		return true
	}
	w.reported, w.last = true, st
	w.onChange(st)
	return true
}

// processNamespace is the network namespace the process started in, taken while the package is
// initialised, before any thread can have left it.
var processNamespace, _ = netns.Get()

// watchedNamespace is the network namespace of the calling thread, or netns.None() when that is the
// process's own. Netlink enters a named namespace (setns) for every socket it opens, which needs
// CAP_SYS_ADMIN: the agent's pod has only NET_ADMIN and NET_RAW, and its threads never leave the
// process's namespace, so it names none. Tests run watches from threads in other namespaces, as root.
func watchedNamespace() (netns.NsHandle, error) {
	ns, err := netns.Get()
	if err != nil {
		return netns.None(), fmt.Errorf("getting the network namespace: %w", err)
	}
	if processNamespace.IsOpen() && ns.Equal(processNamespace) {
		_ = ns.Close()
		return netns.None(), nil
	}
	return ns, nil
}

type subscription struct {
	done  chan struct{}
	links chan netlink.LinkUpdate
	addrs chan netlink.AddrUpdate
}

// subscribe opens link and address notifications in ns.
func subscribe(ns netns.NsHandle, log logr.Logger) (*subscription, error) {
	s := &subscription{
		done:  make(chan struct{}),
		links: make(chan netlink.LinkUpdate, 64),
		addrs: make(chan netlink.AddrUpdate, 64),
	}
	// The subscription ends by closing its channel; this only says why.
	onErr := func(err error) { log.V(1).Info("Netlink notification error", "err", err) }
	if err := netlink.LinkSubscribeWithOptions(s.links, s.done, netlink.LinkSubscribeOptions{Namespace: &ns, ErrorCallback: onErr}); err != nil {
		close(s.done)
		return nil, fmt.Errorf("subscribing to link changes: %w", err)
	}
	if err := netlink.AddrSubscribeWithOptions(s.addrs, s.done, netlink.AddrSubscribeOptions{Namespace: &ns, ErrorCallback: onErr}); err != nil {
		close(s.done)
		for range s.links {
		}
		return nil, fmt.Errorf("subscribing to address changes: %w", err)
	}
	return s, nil
}

// close ends the subscription and waits for its goroutines, which may be blocked sending.
func (s *subscription) close() {
	close(s.done)
	for range s.links {
	}
	for range s.addrs {
	}
}
