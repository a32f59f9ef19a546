package netif

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
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
// quietPort, if not 0, is the netlink port of the agent's address manager (addresses.Manager.Port),
// in the watched namespace: its requests add and refresh VIPs, which exclude must cover, so the
// kernel drops their notifications before they wake the watch at all. A Master of 250 VIPs
// refreshes 125 a second.
//
// Watch follows the network namespace of the calling thread at the time of the call. onChange runs
// on Watch's goroutine and should return quickly.
func Watch(ctx context.Context, ifname string, v6 bool, exclude func(netip.Addr) bool, quietPort uint32, onChange func(Status)) error {
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
		s, err := subscribe(ns, v6, quietPort)
		if err != nil {
			if !started {
				return fmt.Errorf("watching %s: %w", ifname, err)
			}
			log.Error(err, "Subscribing to netlink again")
		} else {
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

// follow reads the interface, then again after notifications about it, until ctx is done or the
// subscription breaks. Every notification queued behind the first is taken with it: they are
// answered by the same read.
func (w *watcher) follow(ctx context.Context, s *subscription) {
	stop := context.AfterFunc(ctx, s.close)
	defer stop()
	var retry time.Time // when to read again after a failed read; zero when none failed
	// Read after subscribing, so that no change falls between the read and the first notification.
	if !w.refresh() {
		retry = time.Now().Add(retryDelay)
	}
	for {
		dirty := false
		err := s.next(retry, func(typ uint16, msg []byte) { dirty = w.matters(typ, msg) || dirty })
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			dirty = true
		case err != nil:
			if ctx.Err() == nil {
				w.log.V(1).Info("Netlink notifications broke off", "err", err)
			}
			return
		}
		if !dirty {
			continue
		}
		retry = time.Time{}
		if !w.refresh() {
			retry = time.Now().Add(retryDelay)
		}
	}
}

// addrNotes counts the address notifications watchers have taken, for tests.
var addrNotes atomic.Int64

// matters reports whether a notification may change the Status. A link's matters when it is about
// the watched interface, by name or by index. An address's matters when it is on the watched
// interface and adds an address not known yet, removes a known one, or changes the flags the
// Status depends on: a lifetime refresh of a known address changes none of these. What cannot be
// read (type 0, a malformed message) matters.
func (w *watcher) matters(typ uint16, msg []byte) bool {
	switch typ {
	case 0:
		return true
	case unix.RTM_NEWLINK, unix.RTM_DELLINK:
		index, name, ok := linkNote(msg)
		return !ok || name == w.ifname || index == w.index
	case unix.RTM_NEWADDR, unix.RTM_DELADDR:
		addrNotes.Add(1)
		index, p, flags, ok := addrNote(msg)
		if index != w.index {
			return false
		}
		if !ok {
			return true
		}
		a := addrOf(p, flags)
		old, known := w.known[a.prefix]
		if typ == unix.RTM_DELADDR {
			return known
		}
		return !known || old != a
	}
	return false
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
