package track

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// linkRetryDelay is how long NetlinkLinks waits before subscribing again after netlink failed, e.g.
// with ENOBUFS when a burst of changes overflowed the socket buffer.
const linkRetryDelay = 200 * time.Millisecond

// NetlinkLinks is Links on the node's real interfaces: keepalived's track_interface, which looks
// at the link only (administratively up, with carrier), not at its addresses.
//
// All watches share one netlink link subscription, open while any watch is: interface checks cost
// no polling and no periodic netlink traffic. As in agent/netif, a notification only triggers a
// fresh read of the watched interface by name, so that lost notifications (the subscription is then
// renewed and every interface read again) and an interface deleted and created again under the
// same name are followed. agent/netif's Watch is not reused because its Status also requires an
// address for adverts, which a tracked interface need not have.
type NetlinkLinks struct {
	ns  netns.NsHandle
	log logr.Logger

	mu      sync.Mutex
	watches map[*linkWatch]struct{}
	kick    chan struct{} // capacity 1: a watch was added
	stop    context.CancelFunc
	done    chan struct{}
}

var _ Links = (*NetlinkLinks)(nil)

type linkWatch struct {
	name     string
	onChange func(up bool, detail string)
	index    int // of name at the last read, 0 when it did not exist
	reported bool
	up       bool
	detail   string
}

// NewNetlinkLinks returns a NetlinkLinks for the process's own network namespace, which needs no
// CAP_SYS_ADMIN (see agent/netif).
func NewNetlinkLinks(log logr.Logger) *NetlinkLinks {
	return NewNetlinkLinksAt(netns.None(), log)
}

// NewNetlinkLinksAt returns a NetlinkLinks for the network namespace ns, which must stay open
// while it is used; tests use it with namespaces of their own.
func NewNetlinkLinksAt(ns netns.NsHandle, log logr.Logger) *NetlinkLinks {
	return &NetlinkLinks{ns: ns, log: log, watches: map[*linkWatch]struct{}{}}
}

// Watch implements Links. onChange runs on the subscription's goroutine. cancel returns once the
// subscription has closed when it was the last watch, and onChange is not called after it.
func (l *NetlinkLinks) Watch(ifname string, onChange func(up bool, detail string)) (cancel func()) {
	w := &linkWatch{name: ifname, onChange: onChange}
	l.mu.Lock()
	l.watches[w] = struct{}{}
	if l.stop == nil {
		ctx, stop := context.WithCancel(context.Background())
		l.stop, l.done, l.kick = stop, make(chan struct{}), make(chan struct{}, 1)
		go l.loop(ctx, l.kick, l.done)
	}
	select {
	case l.kick <- struct{}{}:
	default:
	}
	l.mu.Unlock()
	return sync.OnceFunc(func() {
		l.mu.Lock()
		delete(l.watches, w)
		var stop context.CancelFunc
		var done chan struct{}
		if len(l.watches) == 0 {
			stop, done, l.stop = l.stop, l.done, nil
		}
		l.mu.Unlock()
		if stop != nil {
			stop()
			<-done
		}
	})
}

// loop subscribes, and subscribes again after failures, until ctx ends.
func (l *NetlinkLinks) loop(ctx context.Context, kick <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		err := l.follow(ctx, kick)
		if ctx.Err() != nil {
			return
		}
		l.log.Error(err, "Watching links for interface checks; subscribing again")
		// Watches that never got an answer learn why; the others keep their last state rather
		// than flapping over a netlink hiccup.
		l.mu.Lock()
		for w := range l.watches {
			if !w.reported {
				l.report(w, false, fmt.Sprintf("watching link %s: %v", w.name, err))
			}
		}
		l.mu.Unlock()
		t := time.NewTimer(linkRetryDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// follow reads the watched links after each notification about them, and new watches when they
// come, until ctx ends (nil) or the subscription breaks.
func (l *NetlinkLinks) follow(ctx context.Context, kick <-chan struct{}) error {
	h, err := netlink.NewHandleAt(l.ns, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("opening netlink: %w", err)
	}
	defer h.Close()
	updates, stop := make(chan netlink.LinkUpdate, 64), make(chan struct{})
	ns := l.ns
	var subErr error
	var errMu sync.Mutex
	onErr := func(err error) {
		errMu.Lock()
		subErr = err
		errMu.Unlock()
	}
	if err := netlink.LinkSubscribeWithOptions(updates, stop, netlink.LinkSubscribeOptions{Namespace: &ns, ErrorCallback: onErr}); err != nil {
		close(stop)
		return fmt.Errorf("subscribing to link changes: %w", err)
	}
	defer func() {
		close(stop)
		for range updates { // its goroutine may be blocked sending
		}
	}()
	// Read after subscribing, so that no change falls between the read and the first notification.
	l.refresh(h, func(*linkWatch) bool { return true })
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
			l.refresh(h, func(w *linkWatch) bool { return !w.reported })
		case u, ok := <-updates:
			if !ok {
				errMu.Lock()
				defer errMu.Unlock()
				if subErr != nil {
					return fmt.Errorf("link subscription ended: %w", subErr)
				}
				return errors.New("link subscription ended")
			}
			l.refresh(h, func(w *linkWatch) bool { return u.Attrs().Name == w.name || int(u.Index) == w.index })
		}
	}
}

// refresh reads the links of the watches that match and reports those that changed.
func (l *NetlinkLinks) refresh(h *netlink.Handle, match func(*linkWatch) bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	read := map[string]netlink.Link{}
	for w := range l.watches {
		if !match(w) {
			continue
		}
		link, ok := read[w.name]
		if !ok {
			var err error
			link, err = h.LinkByName(w.name)
			if err != nil && !errors.As(err, &netlink.LinkNotFoundError{}) {
				l.log.Error(err, "Reading link for an interface check", "interface", w.name)
				continue
			}
			read[w.name] = link // nil when not found
		}
		w.index = 0
		if link == nil {
			l.report(w, false, "interface "+w.name+" not found")
			continue
		}
		w.index = link.Attrs().Index
		up, detail := linkState(w.name, link.Attrs())
		l.report(w, up, detail)
	}
}

// report calls w's onChange unless that would repeat the last call. l.mu is held.
func (l *NetlinkLinks) report(w *linkWatch, up bool, detail string) {
	if w.reported && w.up == up && w.detail == detail {
		return
	}
	w.reported, w.up, w.detail = true, up, detail
	w.onChange(up, detail)
}

// linkState is keepalived's IF_ISUP: administratively up with carrier. Drivers that report no
// operational state (unknown) count as up, as in agent/netif.
func linkState(name string, a *netlink.LinkAttrs) (bool, string) {
	switch {
	case a.Flags&net.FlagUp == 0:
		return false, "link " + name + " is down"
	case a.OperState != netlink.OperUp && a.OperState != netlink.OperUnknown:
		return false, fmt.Sprintf("link %s has no carrier (%s)", name, a.OperState)
	}
	return true, "link " + name + " is up"
}
