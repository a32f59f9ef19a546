package speaker

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/hooks"
	"github.com/vrrp-dev/vrrp-operator/agent/sockets"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
)

// packetQueue bounds the packets waiting for one router. A router that falls this far behind is
// flooded; dropping (and counting) is better than stalling the shared socket's reader.
const packetQueue = 64

// router runs one vrrp.Instance. The fields below the line belong to whoever holds mu: the
// router's goroutine while it handles an event, or the socket's reader while it hands a Backup
// an advert directly (packet).
type router struct {
	s        *Speaker
	name     string
	identity desired.WireIdentity
	v6       bool
	log      logr.Logger

	packets inbox
	updates mailbox[desired.Router]
	linkc   mailbox[linkReport]
	stopc   chan string
	done    chan struct{}

	mu sync.Mutex
	// timer wakes the goroutine at nextWake; set by run, and reset only with mu held.
	timer *time.Timer
	// deferred are the actions of an advert the reader handled but left to the goroutine to carry
	// out, from deferredAt; received says whether to count the advert once they have run.
	deferred   []vrrp.Action
	deferredAt time.Time
	received   bool

	cfg        desired.Router
	inst       *vrrp.Instance
	link       *link
	linkUp     bool      // as last reported
	linkSeen   bool      // a report has come
	linkReason string    // why the link is down, as last reported
	sockErr    error     // why the link has no working socket, as last reported; nil when it has one
	faulted    bool      // the instance was told InterfaceDown for the faultCause
	addrFault  bool      // FAULT because the Master could not hold its VIP (AddressFailed)
	faultErr   error     // why addrFault, or why unproven
	addrFaults int       // AddressFailed in a row, without holding the VIP for faultHoldMax in between
	heldSince  time.Time // since when the Master has held every VIP; zero when it does not
	faultUntil time.Time // the end of the current AddressFailed hold
	// unproven: back from an AddressFailed that Check could not see, the router does not preempt
	// (instConfig) until it has held its VIP as Master.
	unproven     bool
	status       Status
	held         []netip.Prefix // addresses this router put on the interface
	missing      []netip.Prefix // addresses the Master must hold whose last add or refresh failed
	addErr       error          // the last failure to add one of missing
	removeErr    error          // the last failure to remove a held address not wanted
	addSince     time.Time      // since when missing has not been empty
	retryNext    time.Time      // next retry of missing and of failed removals, or check in AddressFailed
	retryBackoff time.Duration
	annLeft      int       // announcements still due in the current burst
	annNext      time.Time // next announcement of the burst, or the next refresh
	renewNext    time.Time // next refresh of the IPv4 address lifetime
	buf          []byte
	destination  []netip.Addr
	rxAddrs      []netip.Addr // the addresses of the advert last received (vrrp.AppendDecode)
	// The router's series of the counters it increments per advert, looked up once.
	sentCounter, receivedCounter prometheus.Counter
}

// startRouter creates and starts the router of d. s.mu is held.
func (s *Speaker) startRouter(d desired.Router) (*router, error) {
	r, err := s.newRouter(d)
	if err != nil {
		return nil, err
	}
	r.link = s.acquireLink(r)
	go r.run()
	return r, nil
}

// newRouter creates the router of d, without a link or its goroutine.
func (s *Speaker) newRouter(d desired.Router) (*router, error) {
	v6 := len(d.Config.Addresses) > 0 && d.Config.Addresses[0].Addr().Is6()
	r := &router{
		s: s, name: d.Name, identity: d.WireIdentity(), v6: v6,
		log:     s.log.WithValues("virtualIP", d.Name, "vrid", d.Config.VRID, "interface", d.Interface),
		packets: newInbox(),
		stopc:   make(chan string, 1),
		done:    make(chan struct{}),
		cfg:     d,
	}
	r.updates.init()
	r.linkc.init()
	cfg := d.Config
	if !cfg.PrimaryAddress.IsValid() {
		// The instance needs a source address of the right family to validate; the link's real
		// primary address replaces it as soon as the link reports one.
		cfg.PrimaryAddress = placeholder(v6)
	}
	// The instance adds its own virtualIP and vrid keys.
	inst, err := vrrp.NewInstance(cfg, slog.New(logr.ToSlogHandler(s.log.WithValues("interface", d.Interface))))
	if err != nil {
		return nil, fmt.Errorf("creating VRRP instance %s: %w", d.Name, err)
	}
	r.inst = inst
	r.status = Status{Router: d.Name, State: vrrp.StateInit, Priority: cfg.Priority, Interface: d.Interface, Reason: d.Reason}
	return r, nil
}

func placeholder(v6 bool) netip.Addr {
	if v6 {
		return netip.MustParseAddr("fe80::1")
	}
	return netip.MustParseAddr("192.0.2.1")
}

// update hands the router a new desired configuration; the latest wins.
func (r *router) update(d desired.Router) { r.updates.put(d) }

// stop asks the router to shut down and leave; it does not wait.
func (r *router) stop(reason string) {
	select {
	case r.stopc <- reason:
	default:
	}
}

// packet is the demux handler: it must not block the shared reader. A router that is free takes
// the advert at once (receiveNow): a Backup of 250 routers hears 250 to 2,500 adverts a second,
// and handing each to its goroutine woke that goroutine for every one of them. A busy router, or
// one with packets waiting already, gets it through the inbox, which copies the payload into a
// buffer the router has finished with, or a new one while none is free.
func (r *router) packet(p sockets.Packet) {
	// TryLock, not Lock: the goroutine may hold mu through netlink calls or while it waits for
	// this very reader (releaseLink), and the reader serves every router of the link.
	if r.mu.TryLock() {
		done := r.receiveNow(p)
		r.mu.Unlock()
		if done {
			return
		}
	}
	if !r.packets.put(p) {
		r.s.opts.Metrics.Dropped.WithLabelValues(r.identity.Interface, r.name, "queue_full").Inc()
	}
}

// receiveNow handles p on the reader, mu held, and reports whether it did. It leaves to the
// goroutine a router that is not running yet, has packets or actions waiting or its timer due
// (order), or is Master (settle may reconfigure and send, taking the link's lock, whose holders
// may wait for the reader). Of the advert's actions it carries out only counting ones. A Backup's
// advert brings no other today (RFC 9568 §6.4.2: it restarts the timer or is discarded); should
// the instance ever return one, it waits in deferred for the goroutine, which it wakes, rather
// than run on the reader.
func (r *router) receiveNow(p sockets.Packet) bool {
	if r.timer == nil || r.deferred != nil || r.packets.waiting() || r.inst.State() == vrrp.StateMaster {
		return false
	}
	now := time.Now()
	if next, ok := r.nextWake(); ok && !now.Before(next) {
		// Its timer is due: the goroutine, awake or about to be, handles it first. An advert
		// taken here would restart a Master_Down_Timer that has run out.
		return false
	}
	ev, running, ok := r.advert(p)
	if !ok {
		return true // dropped and counted
	}
	acts := r.inst.Handle(ev, now)
	if !slices.ContainsFunc(acts, needsGoroutine) {
		r.countReceived(r.execute(acts, now), running)
		r.rearm()
		return true
	}
	r.deferred, r.deferredAt, r.received = acts, now, running
	r.packets.signal()
	return true
}

// tickIfDue does what is due now (tickAt), if anything is. mu is held.
func (r *router) tickIfDue() {
	now := time.Now()
	if next, ok := r.nextWake(); ok && !now.Before(next) {
		r.tickAt(now)
	}
}

// needsGoroutine reports whether carrying out a is more than counting.
func needsGoroutine(a vrrp.Action) bool {
	switch a.(type) {
	case vrrp.Drop, vrrp.AddressesDiffer:
		return false
	}
	return true
}

// catchUp carries out the actions an advert handled on the reader left. mu is held.
func (r *router) catchUp() {
	if r.deferred == nil {
		return
	}
	acts, at := r.deferred, r.deferredAt
	r.deferred = nil
	r.countReceived(r.execute(acts, at), r.received)
}

// rearm sets the timer to nextWake. mu is held.
func (r *router) rearm() {
	if next, ok := r.nextWake(); ok {
		r.timer.Reset(max(time.Until(next), 0))
	} else {
		r.timer.Stop()
	}
}

// recycle hands a payload buffer back to packet once the router is done with it.
func (r *router) recycle(buf []byte) { r.packets.recycle(buf) }

// run is the router's goroutine. It waits in a frame kept small, and handles each event in step:
// a goroutine's stack grows to the deepest call it made and shrinks only by half at a collection
// that finds it parked using less than a quarter, which a frame holding the events' values (2 KiB,
// a desired.Router among them) never let happen (issue 12).
func (r *router) run() {
	defer close(r.done)
	r.mu.Lock()
	r.timer = time.NewTimer(time.Hour)
	timer := r.timer
	defer timer.Stop()
	r.publish()
	r.rearm()
	r.mu.Unlock()
	for {
		var ev event
		select {
		case <-r.packets.ready:
			ev = eventPacket
		case <-timer.C:
			ev = eventTimer
		case <-r.updates.ready:
			ev = eventUpdate
		case <-r.linkc.ready:
			ev = eventLink
		case reason := <-r.stopc:
			r.leave(reason)
			return
		}
		r.step(ev)
	}
}

// event is what woke the router's goroutine.
type event uint8

const (
	eventPacket event = iota // packets wait in the inbox
	eventTimer               // nextWake came: something may be due
	eventUpdate              // a new desired configuration
	eventLink                // a new report of the link
)

// step handles ev under mu, after the actions an advert handled on the reader left.
func (r *router) step(ev event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.catchUp()
	switch ev {
	case eventPacket:
		if p, ok := r.packets.take(); ok {
			r.tickIfDue() // what came due before the packet came first
			r.receive(p)
			r.recycle(p.Payload)
		}
	case eventTimer:
		r.tick() // nothing may be due: the reader moves the timer without waking us
	case eventUpdate:
		r.apply()
	case eventLink:
		var rep linkReport
		if r.linkc.take(&rep) {
			r.sockErr = rep.noSocket
			r.linkChanged(rep.LinkStatus)
		}
	}
	r.rearm()
}

// leave stops the router for reason: a Master sends its priority-0 advert and removes the
// addresses it put on the interface, and the router leaves its link.
func (r *router) leave(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.catchUp()
	r.handle(vrrp.Shutdown{Reason: reason})
	for _, p := range slices.Clone(r.held) {
		r.removeAddress(p)
	}
	r.s.releaseLink(r.link, r)
	if reason != "shutdown" {
		r.s.forgetStatus(r.name)
	}
}

// nextWake is the earliest of the instance's timer, the next announcement, the next lifetime
// refresh and the next retry of an address. A refresh waits up to renewSlack for the Master's
// next advert, which it goes with (tickAt), so that it costs no wake-up of its own.
func (r *router) nextWake() (time.Time, bool) {
	next, ok := r.inst.Deadline()
	renew := r.renewNext
	if !renew.IsZero() {
		renew = renew.Add(r.renewSlack())
	}
	for _, t := range [...]time.Time{r.annNext, renew, r.retryNext} {
		if !t.IsZero() && (!ok || t.Before(next)) {
			next, ok = t, true
		}
	}
	return next, ok
}

// renewSlack is how far a lifetime refresh may move from renewNext to go with an advert: half an
// advert interval, so that one advert always falls within the window, and at most a sixth of the
// lifetime, so that the refresh is never late by more than half the lifetime's margin.
func (r *router) renewSlack() time.Duration {
	return min(r.cfg.Config.AdvertInterval/2, r.s.opts.AddressLifetime/6)
}

func (r *router) tick() { r.tickAt(time.Now()) }

// tickAt does what is due at now: the instance's timer, announcements, the lifetime refresh from
// renewSlack before renewNext on, address retries.
func (r *router) tickAt(now time.Time) {
	if d, ok := r.inst.Deadline(); ok && !now.Before(d) {
		r.handleAt(vrrp.TimerExpired{}, now)
	}
	if !r.annNext.IsZero() && !now.Before(r.annNext) {
		r.announce(now)
	}
	if !r.renewNext.IsZero() && !now.Before(r.renewNext.Add(-r.renewSlack())) {
		r.renewNext = time.Time{}
		// Only a Master keeps its addresses alive, and only its own: ones a failed removal left
		// expire unless a retry removes them first.
		if r.inst.State() == vrrp.StateMaster {
			for _, p := range r.wanted() {
				if slices.Contains(r.held, p) {
					r.addAddress(p)
				}
			}
			r.renewNext = now.Add(r.s.opts.AddressLifetime / 3)
		}
	}
	if !r.retryNext.IsZero() && !now.Before(r.retryNext) {
		r.retry(now)
	}
	r.schedule(now)
	r.settle(now)
	r.publishIfChanged()
}

// receive applies the unicast peer filter, then the checks of RFC 9568 §7.1 that need only the
// packet (Decode), then hands the advert to the instance, which makes the per-router checks.
func (r *router) receive(p sockets.Packet) {
	if ev, running, ok := r.advert(p); ok {
		r.countReceived(r.handle(ev), running)
	}
}

// advert is p as the instance's event, and whether the router is running (Backup or Master: in
// Init, Fault or Stopped the instance ignores adverts); false if p was dropped (and counted).
func (r *router) advert(p sockets.Packet) (ev vrrp.AdvertReceived, running, ok bool) {
	ttl := p.TTL
	if r.cfg.Unicast {
		if !sockets.FromPeer(p.Src, r.cfg.PeerSources) {
			r.s.opts.Metrics.Dropped.WithLabelValues(r.cfg.Interface, r.name, "not_peer").Inc()
			return
		}
		// The TTL of 255 proves that a multicast advert was sent on the link; a unicast one comes
		// from a configured peer, perhaps routed. keepalived checks no TTL in unicast mode either,
		// and sends its IPv6 unicast adverts with the default hop limit (64) unless unicast_ttl is
		// set: take a peer's advert whatever its TTL.
		ttl = vrrp.TTL
	}
	adv, err := vrrp.AppendDecode(r.rxAddrs, p.Payload, p.Src, p.Dst, ttl)
	if err != nil {
		r.drop(err)
		return ev, false, false
	}
	r.rxAddrs = adv.Addresses
	running = r.inst.State() == vrrp.StateBackup || r.inst.State() == vrrp.StateMaster
	return vrrp.AdvertReceived{Advert: adv, Src: p.Src}, running, true
}

// countReceived counts an advert a running router took, unless the instance dropped it.
func (r *router) countReceived(dropped, running bool) {
	if dropped || !running {
		return
	}
	if r.receivedCounter == nil {
		r.receivedCounter = r.s.opts.Metrics.AdvertsReceived.WithLabelValues(r.name)
	}
	r.receivedCounter.Inc()
}

func (r *router) drop(err error) {
	reason := vrrp.DropReason(err)
	r.s.opts.Metrics.Dropped.WithLabelValues(r.cfg.Interface, r.name, reason).Inc()
	r.log.V(4).Info("dropped packet", "reason", reason, "error", err.Error())
}

// apply moves the router to the desired configuration waiting in updates, if one does, without
// restarting it; the configuration goes from the mailbox to r.cfg without a copy on the stack. A check that
// puts the router in FAULT acts first, so that a Master's priority-0 advert is the first the
// others hear of it; one that clears acts once the instance has the new configuration, so that
// the router comes back through Backup with its new priority.
func (r *router) apply() {
	wasResigned, wasReleased := r.cfg.Resign, r.cfg.Released
	if !r.updates.take(&r.cfg) {
		return
	}
	d := &r.cfg
	if d.CheckFault != "" {
		r.updateFault()
	}
	cfg := r.instConfig(d.Config)
	cfg.PrimaryAddress = r.source(r.linkPrimary())
	if d.Resign && !wasResigned {
		r.handle(vrrp.SetPriority{Priority: cfg.Priority, Resign: true})
	}
	if !configEqual(cfg, r.inst.Config()) {
		if err := r.inst.CanReconfigure(cfg); err != nil {
			r.log.Error(err, "cannot apply configuration in place")
		} else {
			r.handle(vrrp.Reconfigure{Config: cfg})
		}
	}
	r.updateFault()
	switch {
	case d.Released && !wasReleased:
		r.handle(vrrp.Shutdown{Reason: d.Reason})
	case !d.Released && wasReleased:
		r.start()
	}
	r.publishIfChanged()
}

// instConfig is the instance's configuration for cfg: while unproven, the router does not preempt,
// start as Master or own the addresses (priority 255 always preempts, RFC 9568 §6.1).
func (r *router) instConfig(cfg vrrp.Config) vrrp.Config {
	if r.unproven {
		cfg.Preempt, cfg.StartAsMaster, cfg.Priority = false, false, min(cfg.Priority, 254)
	}
	return cfg
}

// reconfigure hands the instance the desired configuration again, as instConfig now makes it.
func (r *router) reconfigure() {
	cfg := r.instConfig(r.cfg.Config)
	cfg.PrimaryAddress = r.inst.Config().PrimaryAddress
	if !configEqual(cfg, r.inst.Config()) {
		r.handle(vrrp.Reconfigure{Config: cfg})
	}
}

// reason explains the router's state or priority in status: a fault says why, otherwise the node
// policy does (Cordoned, Maintenance, Excluded, Preferred, or nothing).
func (r *router) reason() string {
	if r.inst.State() == vrrp.StateFault {
		return cmp.Or(r.faultCause(), ReasonInterfaceDown)
	}
	return r.cfg.Reason
}

// linkChanged follows the interface and its socket (r.sockErr): down, or no socket, means FAULT
// (RFC 9568 has no Fault state; keepalived's FAULT is what admins know), up again means back to
// Backup through Initialize. The instance hears of every change, whatever its state, so that it
// knows the link when it is started later. The first report starts the router.
func (r *router) linkChanged(st LinkStatus) {
	first := !r.linkSeen
	r.linkUp, r.linkSeen = st.Up, true
	if p := r.source(st.Primary); p.IsValid() && p != r.inst.PrimaryAddress() {
		cfg := r.inst.Config()
		cfg.PrimaryAddress = p
		r.handle(vrrp.Reconfigure{Config: cfg})
	}
	r.linkReason = st.Reason
	r.updateFault()
	if first {
		r.start()
	}
}

// start joins the router (RFC 9568 Startup) unless the node is released from it. With the interface
// down the instance goes to Fault instead.
func (r *router) start() {
	if r.cfg.Released {
		// Released from the start: Stopped at once, with the stop hook, as a release later would.
		r.handle(vrrp.Shutdown{Reason: r.cfg.Reason})
		return
	}
	r.handle(vrrp.Startup{})
}

// handle feeds one event to the instance and carries out its actions in order. It reports whether
// the instance dropped the event (a received advert that failed the per-router checks).
func (r *router) handle(ev vrrp.Event) (dropped bool) { return r.handleAt(ev, time.Now()) }

// handleAt is handle at now.
func (r *router) handleAt(ev vrrp.Event, now time.Time) (dropped bool) {
	return r.execute(r.inst.Handle(ev, now), now)
}

// execute carries out the instance's actions of an event at now, in order; dropped as handle's.
func (r *router) execute(acts []vrrp.Action, now time.Time) (dropped bool) {
	for _, a := range acts {
		switch a := a.(type) {
		case vrrp.SendAdvert:
			r.send(a.Advert)
		case vrrp.AddAddresses:
			for _, p := range a.Addresses {
				r.addAddress(p) // a failure is retried (schedule below)
			}
			if r.s.opts.AddressLifetime > 0 {
				r.renewNext = now.Add(r.s.opts.AddressLifetime / 3)
			}
		case vrrp.RemoveAddresses:
			for _, p := range a.Addresses {
				r.removeAddress(p)
			}
			// Leaving Master ends announcements and refreshes, whatever a failed removal left.
			if len(r.wanted()) == 0 {
				r.annLeft, r.annNext, r.renewNext = 0, time.Time{}, time.Time{}
			}
		case vrrp.Announce:
			r.annLeft = max(r.cfg.GARP.Count, 1)
			r.announce(now)
		case vrrp.Transition:
			r.transition(a, now)
		case vrrp.Drop:
			r.drop(a.Err)
			dropped = true
		case vrrp.AddressesDiffer:
			// Processed, not dropped: the instance logs it once per change.
			r.s.opts.Metrics.AddressMismatch.WithLabelValues(r.name).Inc()
		}
	}
	r.schedule(now)
	r.settle(now)
	return dropped
}

// source is the address adverts leave from and the instance breaks ties with (RFC 9568 §6.4.3):
// the link's primary address (IPv6 link-local, RFC 9568 §5.1.2.1), except in unicast mode, where
// it is the address the peers know this node by (desired.Router.Source), as keepalived's
// unicast_src_ip is. The link's stands in while the interface has no such address.
func (r *router) source(link netip.Addr) netip.Addr {
	if r.cfg.Unicast && r.cfg.Source.IsValid() {
		return r.cfg.Source
	}
	return link
}

// linkPrimary is the link's primary address as last reported, else the instance's.
func (r *router) linkPrimary() netip.Addr {
	r.link.mu.Lock()
	p := r.link.status.Primary
	r.link.mu.Unlock()
	if !p.IsValid() {
		return r.inst.PrimaryAddress()
	}
	return p
}

func (r *router) send(adv vrrp.Advertisement) {
	src := r.inst.PrimaryAddress()
	r.destination = r.destination[:0]
	switch {
	case r.cfg.Unicast:
		r.destination = append(r.destination, r.cfg.Peers...)
	case r.v6:
		r.destination = append(r.destination, vrrp.MulticastIPv6)
	default:
		r.destination = append(r.destination, vrrp.MulticastIPv4)
	}
	for _, dst := range r.destination {
		var err error
		r.buf, err = adv.AppendEncode(r.buf[:0], src, dst, r.cfg.Config.Checksum)
		if err == nil {
			err = r.link.send(r.buf, src, dst)
		}
		if err != nil {
			r.s.opts.Metrics.SendErrors.WithLabelValues(r.name).Inc()
			r.log.V(1).Info("sending advertisement", "to", dst, "error", err.Error())
			continue
		}
		if r.sentCounter == nil {
			r.sentCounter = r.s.opts.Metrics.AdvertsSent.WithLabelValues(r.name)
		}
		r.sentCounter.Inc()
	}
}

// announce sends one round of gratuitous ARP / unsolicited NA for the addresses the Master holds
// and schedules the next: the rest of the burst at GARP.Interval, then a refresh every GARP.Refresh
// if set. Addresses a failed removal left, on a Backup or after a reconfiguration, are never
// announced: that would draw the traffic of a VIP this node is not Master for.
func (r *router) announce(now time.Time) {
	var addrs []netip.Addr
	for _, p := range r.wanted() {
		if slices.Contains(r.held, p) {
			addrs = append(addrs, p.Addr())
		}
	}
	if len(addrs) == 0 {
		r.annLeft, r.annNext = 0, time.Time{}
		return
	}
	if err := r.s.opts.Announcer.Announce(r.cfg.Interface, addrs); err != nil {
		r.s.opts.Metrics.SendErrors.WithLabelValues(r.name).Inc()
		r.log.V(1).Info("announcing VIPs", "error", err.Error())
	}
	if r.annLeft > 0 {
		r.annLeft--
	}
	switch {
	case r.annLeft > 0:
		r.annNext = now.Add(r.cfg.GARP.Interval)
	case r.cfg.GARP.Refresh > 0:
		r.annNext = now.Add(r.cfg.GARP.Refresh)
	default:
		r.annNext = time.Time{}
	}
}

// transition reports a state change and runs the hooks keepalived would: notify with
// INSTANCE <name> <STATE> <priority> on every change, the per-state hook, and on STOPPED the stop hook.
func (r *router) transition(t vrrp.Transition, now time.Time) {
	m := r.s.opts.Metrics
	m.Transitions.WithLabelValues(r.name, t.From.String(), t.To.String()).Inc()
	r.status.State, r.status.Priority, r.status.Since = t.To, t.Priority, now
	r.status.Reason = r.reason()
	r.publish()

	h := r.cfg.Hooks
	var perState []string
	kind := ""
	switch t.To {
	case vrrp.StateMaster:
		perState, kind = h.Master, hooks.KindMaster
	case vrrp.StateBackup:
		perState, kind = h.Backup, hooks.KindBackup
	case vrrp.StateFault:
		perState, kind = h.Fault, hooks.KindFault
	case vrrp.StateStopped:
		perState, kind = h.Stop, hooks.KindStop
	}
	if r.s.opts.Hooks == nil {
		return
	}
	// keepalived tells notify scripts STOP, not STOPPED; existing scripts match on it.
	word := t.To.String()
	if t.To == vrrp.StateStopped {
		word = "STOP"
	}
	env := hooks.StateEnv(r.name, word, int(t.Priority), r.cfg.Config.Addresses, r.s.opts.Node)
	if len(h.Notify) > 0 {
		r.s.opts.Hooks.Enqueue(hooks.Job{Router: r.name, Kind: hooks.KindNotify, Command: h.Notify,
			Args: hooks.NotifyArgs(r.name, word, int(t.Priority)), Env: env, Timeout: h.Timeout})
	}
	if len(perState) > 0 {
		r.s.opts.Hooks.Enqueue(hooks.Job{Router: r.name, Kind: kind, Command: perState, Env: env, Timeout: h.Timeout})
	}
}

func (r *router) publish() {
	m := r.s.opts.Metrics
	m.SetState(r.name, r.status.State.String())
	m.Priority.WithLabelValues(r.name).Set(float64(r.inst.Priority()))
	r.status.Priority = r.inst.Priority()
	r.status.Reason, r.status.Message = r.reason(), r.message()
	r.status.Checks = slices.Clone(r.cfg.CheckStates)
	r.s.setStatus(r.status)
}

// configEqual compares the parts of two configurations that Reconfigure changes. StartAsMaster
// counts though it matters only at the next start: an instance that kept a stale true would take
// the VIP at once when maintenance ends, beside the Master that outranks it now.
func configEqual(a, b vrrp.Config) bool {
	return a.Name == b.Name && a.Priority == b.Priority && a.AdvertInterval == b.AdvertInterval &&
		a.Preempt == b.Preempt && a.PreemptDelay == b.PreemptDelay && a.AcceptMode == b.AcceptMode &&
		a.StartAsMaster == b.StartAsMaster &&
		slices.Equal(a.Addresses, b.Addresses) && a.PrimaryAddress == b.PrimaryAddress &&
		a.Password == b.Password && a.Checksum == b.Checksum
}

// mailbox holds the latest value sent to it: a newer value replaces one not yet taken. ready
// holds a token while a value may wait; the value itself waits in the mailbox, not in a channel,
// so that the goroutine that selects on ready holds no copy of it while it waits.
type mailbox[T any] struct {
	ready chan struct{}

	mu  sync.Mutex
	v   T
	set bool // v waits
}

func (m *mailbox[T]) init() { m.ready = make(chan struct{}, 1) }

func (m *mailbox[T]) put(v T) {
	m.mu.Lock()
	m.v, m.set = v, true
	m.mu.Unlock()
	select {
	case m.ready <- struct{}{}:
	default:
	}
}

// take moves the waiting value to dst; false if none waits (a token left by a put whose value
// an earlier take took).
func (m *mailbox[T]) take(dst *T) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.set {
		return false
	}
	var zero T
	*dst, m.v, m.set = m.v, zero, false
	return true
}

// inbox is the queue of packets waiting for one router, at most packetQueue, and the payload
// buffers it has finished with. It grows only as far as packets actually wait: channels of
// packetQueue packets and buffers, allocated up front, were a third of a 250-router agent's live
// heap (8.6 KiB a router) while a router rarely has more than one packet waiting.
type inbox struct {
	// ready holds a token while packets wait; take passes it on while more remain, so that the
	// router's select takes one packet at a time between its timers and updates.
	ready chan struct{}

	mu    sync.Mutex
	queue []sockets.Packet // queue[head:] wait, oldest first
	head  int
	free  [][]byte // payload buffers done with, at most packetQueue+1
}

func newInbox() inbox { return inbox{ready: make(chan struct{}, 1)} }

// put queues a copy of p, in a buffer from the free list if there is one; false if packetQueue
// packets wait already.
func (q *inbox) put(p sockets.Packet) bool {
	q.mu.Lock()
	if len(q.queue)-q.head >= packetQueue {
		q.mu.Unlock()
		return false
	}
	var buf []byte
	if n := len(q.free); n > 0 {
		buf, q.free[n-1] = q.free[n-1], nil
		q.free = q.free[:n-1]
	}
	p.Payload = append(buf[:0], p.Payload...)
	if q.head > 0 && len(q.queue) == cap(q.queue) {
		// Reuse the taken front before growing.
		n := copy(q.queue, q.queue[q.head:])
		clear(q.queue[n:])
		q.queue, q.head = q.queue[:n], 0
	}
	q.queue = append(q.queue, p)
	q.mu.Unlock()
	q.signal()
	return true
}

// waiting reports whether packets wait.
func (q *inbox) waiting() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.head < len(q.queue)
}

// take returns the oldest waiting packet; false if none waits.
func (q *inbox) take() (sockets.Packet, bool) {
	q.mu.Lock()
	if q.head == len(q.queue) {
		q.mu.Unlock()
		return sockets.Packet{}, false
	}
	p := q.queue[q.head]
	q.queue[q.head] = sockets.Packet{}
	q.head++
	more := q.head < len(q.queue)
	if !more {
		q.queue, q.head = q.queue[:0], 0
	}
	q.mu.Unlock()
	if more {
		q.signal()
	}
	return p, true
}

// recycle keeps buf for a later put.
func (q *inbox) recycle(buf []byte) {
	q.mu.Lock()
	if len(q.free) <= packetQueue {
		q.free = append(q.free, buf)
	}
	q.mu.Unlock()
}

func (q *inbox) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}
