package speaker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/vrrp-dev/vrrp-operator/agent/sockets"
)

type linkKey struct {
	name string
	v6   bool
}

// link is one interface and family: the socket its routers share and the watch of its status.
type link struct {
	s   *Speaker
	key linkKey

	ctx    context.Context // ends when the last router leaves
	cancel context.CancelFunc

	mu       sync.Mutex
	status   LinkStatus
	seen     bool // a status came from the watch
	closed   bool // the last router left: the watch may still report, nothing may open
	retrying bool // a retryOpen is scheduled
	failing  bool // the last open failed (logged once)
	demux    *sockets.Demux
	conn     sockets.Conn // the demux's; nil with it
	noSocket error        // why there is no working socket: it failed to open or its reader stopped
	subs     map[*router]struct{}
	// unregistered are the routers whose VRID the current socket would not take (ErrVRIDInUse: a
	// predecessor that has not stopped yet). Deaf, they are FAULT NoSocket until registered.
	unregistered map[*router]error
}

// linkReport is what a link tells its routers: the interface's status and whether its socket
// works. One report carries both, so that a router never acts on the one without the other.
type linkReport struct {
	LinkStatus
	// noSocket says why the link has no working socket; nil when it has one. A router without
	// one can neither hear the Master nor be heard, so it must not run the election (FAULT).
	noSocket error
}

// acquireLink returns the link of r's interface, opening it for the first router. s.mu is held.
func (s *Speaker) acquireLink(r *router) *link {
	key := linkKey{r.identity.Interface, r.v6}
	l, ok := s.links[key]
	if !ok {
		ctx, cancel := context.WithCancel(context.Background())
		l = &link{s: s, key: key, ctx: ctx, cancel: cancel, subs: map[*router]struct{}{}, unregistered: map[*router]error{}}
		s.links[key] = l
		go s.opts.Network.Watch(ctx, key.name, key.v6, l.setStatus)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.subs[r] = struct{}{}
	// A socket opened now registers every router of the link, r among them; an existing one needs r
	// registered. Registering twice would log a false "VRID in use".
	if !l.openLocked() {
		l.registerLocked(r)
	}
	// A socket opened for r serves the routers that had none as well: tell them all.
	l.notifyLocked()
	return l
}

// notifyLocked reports the link's status and socket to every router, once the watch has reported.
// l.mu is held.
func (l *link) notifyLocked() {
	if !l.seen {
		return
	}
	for r := range l.subs {
		rep := linkReport{LinkStatus: l.status, noSocket: l.noSocket}
		if rep.noSocket == nil {
			rep.noSocket = l.unregistered[r]
		}
		r.linkc.put(rep)
	}
}

// releaseLink drops r from its link and closes the link after its last router.
func (s *Speaker) releaseLink(l *link, r *router) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l.mu.Lock()
	delete(l.subs, r)
	if _, deaf := l.unregistered[r]; !deaf && l.demux != nil {
		// Only its own registration: an unregistered router's VRID is its predecessor's.
		l.demux.Remove(r.identity.VRID)
	}
	delete(l.unregistered, r)
	last := len(l.subs) == 0
	l.closed = last
	var d *sockets.Demux
	if last {
		d, l.demux, l.conn = l.demux, nil, nil
	}
	l.mu.Unlock()
	if !last {
		return
	}
	l.cancel()
	delete(s.links, l.key)
	if d != nil {
		if err := d.Close(); err != nil {
			s.log.V(1).Info("closing VRRP socket", "interface", l.key.name, "error", err.Error())
		}
	}
}

// setStatus is the watch callback: it records the status, reopens the socket when the interface
// comes (back) up and tells every router.
func (l *link) setStatus(st LinkStatus) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	wasUp := l.status.Up
	l.status, l.seen = st, true
	if st.Up && !wasUp && l.demux != nil {
		// A socket bound to a device that was deleted and created again hears nothing and sends
		// nowhere, without any error to show it: open a fresh one whenever the link comes up.
		_ = l.demux.Close()
		l.demux, l.conn = nil, nil
	}
	if st.Up {
		l.openLocked()
	}
	l.notifyLocked()
}

// openLocked opens the socket unless a live one exists; one whose reader stopped is replaced. It
// reports whether it opened one, and so registered every router of the link. l.mu is held.
func (l *link) openLocked() bool {
	if l.demux != nil {
		select {
		case <-l.demux.Done():
			_ = l.demux.Close()
			l.demux, l.conn = nil, nil
		default:
			return false
		}
	}
	conn, err := l.s.opts.Network.Listen(l.key.name, l.key.v6)
	if err != nil {
		l.noSocket = fmt.Errorf("opening the VRRP socket on %s: %w", l.key.name, err)
		if l.status.Up {
			// The link is up but the socket will not open: without it the routers are deaf and
			// mute, so keep trying rather than wait for the next link change.
			if !l.failing {
				l.s.log.Error(err, "opening the VRRP socket; retrying every second", "interface", l.key.name)
			}
			l.failing = true
			l.retryLocked()
		}
		return false
	}
	if l.failing {
		l.s.log.Info("opened the VRRP socket", "interface", l.key.name)
		l.failing = false
	}
	l.noSocket = nil
	d := sockets.NewDemux(conn, l.dropped)
	l.demux, l.conn = d, conn
	go l.watchReader(d)
	clear(l.unregistered)
	for r := range l.subs {
		l.registerLocked(r)
	}
	return true
}

// retryLocked schedules a retryOpen unless one is. l.mu is held.
func (l *link) retryLocked() {
	if !l.retrying {
		l.retrying = true
		go l.retryOpen()
	}
}

// retryOpen tries a second later to open the socket again, while the link is up and has none, or
// to register the routers the socket would not take; openLocked and registerLocked schedule the
// next try if this one fails too.
func (l *link) retryOpen() {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-t.C:
	case <-l.ctx.Done():
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.retrying = false
	if l.closed || !l.status.Up {
		return
	}
	if l.demux == nil {
		l.openLocked()
	} else {
		for r := range l.unregistered {
			l.registerLocked(r)
		}
	}
	l.notifyLocked() // opened and registered, or why not this time
}

// watchReader waits for d's reader to stop. Unless the link closed or replaced d meanwhile, the
// reader died of a read error: it opens a new socket at once, so that one bad read costs the
// routers nothing (a Master that heard of it would go FAULT without the socket to send its
// priority-0 advert, and its Backup would take over after Master_Down_Interval). Only when that
// fails are the routers deaf: they hear of it (FAULT) and the link retries as after a failed open.
func (l *link) watchReader(d *sockets.Demux) {
	<-d.Done()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.demux != d || l.closed {
		return
	}
	err := d.Close() // the read error that stopped it
	if err == nil {
		err = errors.New("closed unexpectedly")
	}
	l.demux, l.conn = nil, nil
	if l.status.Up && l.openLocked() {
		l.s.log.Error(err, "the VRRP socket stopped reading; opened a new one", "interface", l.key.name)
		l.notifyLocked() // a router the old socket would not take may be registered now
		return
	}
	stopped := fmt.Errorf("the VRRP socket on %s stopped reading: %w", l.key.name, err)
	if l.noSocket != nil {
		stopped = fmt.Errorf("%w; %w", stopped, l.noSocket) // and why the new one would not open
	}
	l.noSocket = stopped
	l.s.log.Error(err, "the VRRP socket stopped reading; opening a new one", "interface", l.key.name)
	l.failing = true
	if l.status.Up {
		l.retryLocked()
	}
	l.notifyLocked()
}

// registerLocked hands r's VRID to the current socket. A VRID still taken (ErrVRIDInUse, by a
// predecessor that did not stop within stopWait) leaves r deaf: it is FAULT NoSocket, retried
// every second. l.mu is held.
func (l *link) registerLocked(r *router) {
	if l.demux == nil {
		return
	}
	if err := l.demux.Handle(r.identity.VRID, r.packet); err != nil {
		if _, ok := l.unregistered[r]; !ok {
			l.s.log.Error(err, "registering router on socket; retrying every second", "virtualIP", r.name, "interface", l.key.name)
		}
		l.unregistered[r] = fmt.Errorf("registering on the VRRP socket of %s: %w", l.key.name, err)
		l.retryLocked()
		return
	}
	if _, ok := l.unregistered[r]; ok {
		l.s.log.Info("registered router on socket", "virtualIP", r.name, "interface", l.key.name)
		delete(l.unregistered, r)
	}
}

// send sends one payload on the link's current socket.
func (l *link) send(payload []byte, src, dst netip.Addr) error {
	l.mu.Lock()
	c := l.conn
	l.mu.Unlock()
	if c == nil {
		return errNoSocket
	}
	return c.Send(payload, src, dst)
}

var errNoSocket = errors.New("no VRRP socket on the interface")

// dropped counts packets the demux could not hand to a router.
func (l *link) dropped(_ sockets.Packet, reason error) {
	label := "other"
	switch {
	case errors.Is(reason, sockets.ErrOwnPacket):
		label = "own_packet"
	case errors.Is(reason, sockets.ErrTooShort):
		label = "length"
	case errors.Is(reason, sockets.ErrUnknownVRID):
		label = "vrid"
	}
	l.s.opts.Metrics.Dropped.WithLabelValues(l.key.name, "", label).Inc()
}
