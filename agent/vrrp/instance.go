package vrrp

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"time"
)

// Transition reasons of the instance's own making.
const (
	reasonStartup        = "startup"
	reasonStartAsMaster  = "startAsMaster"
	reasonAddressOwner   = "addressOwner"
	reasonMasterDown     = "masterDown"
	reasonHigherPriority = "higherPriority"
	reasonHigherAddress  = "higherAddress"
	reasonResign         = "resign"
	reasonShutdown       = "shutdown"
	reasonInterfaceDown  = "interfaceDown"
	reasonInterfaceUp    = "interfaceUp"
)

// Instance is the state machine of one virtual router on this node (RFC 9568 §6, RFC 3768 §6).
// It is not safe for concurrent use: the driver serialises events.
type Instance struct {
	cfg        Config
	log        *slog.Logger
	state      State
	priority   uint8 // effective priority
	ifaceDown  bool
	downReason string // the InterfaceDown event's reason, for a Startup while down

	// masterAdverInterval is Master_Adver_Interval: a VRRPv3 Backup adopts the Master's
	// (RFC 9568 §6.4.2); VRRPv2 drops adverts with another interval, so it is ours.
	masterAdverInterval time.Duration
	masterDown          time.Time // Master_Down_Timer, armed in Backup
	adverTimer          time.Time // Adver_Timer, armed in Master
	// preemptSince starts the current run of adverts this Backup would preempt (PreemptDelay).
	preemptSince time.Time
	// followed and followedPriority are, in Backup, the source and priority of the last advert
	// that reset the Master_Down_Timer: the Master this Backup follows. Invalid when none has
	// (since Initialize, or after a priority-0 advert). See backupReceived.
	followed         netip.Addr
	followedPriority uint8
	// followedAbove: when accepted, that advert's priority was at least ours, so we did not
	// preempt that Master then.
	followedAbove bool
	// skewArmed: the Master_Down_Timer was shortened to Skew_Time against an advert of priority
	// armedAgainst (backupReceived); a later drop of our own priority to it or below undoes that.
	skewArmed    bool
	armedAgainst uint8
	// lastAssert is when this Master last answered a lower-priority advert, lastAssertAnnounce
	// when it last announced its addresses in such an answer, lastZeroAnswer when it last
	// answered a priority-0 advert.
	lastAssert, lastAssertAnnounce, lastZeroAnswer time.Time
	// steady is the Master's periodic advert action for steadyPriority; nil when the
	// configuration changed since.
	steady         []Action
	steadyPriority uint8
	// warned* keep the SHOULD-log diagnostics of RFC 9568 §7.1 to one line per change.
	warnedAddresses, warnedInterval, warnedOwner bool
	// prevAddresses is the address list before the last Reconfigure that changed it, still
	// accepted from others until prevUntil: the nodes of a virtual router learn a new list one
	// after another, and a Backup that learnt it first must not take over from a Master that has
	// not yet.
	prevAddresses []netip.Prefix
	prevUntil     time.Time
}

// NewInstance returns an instance of cfg in StateInit; it does nothing until Startup.
// A nil log discards.
func NewInstance(cfg Config, log *slog.Logger) (*Instance, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("creating virtual router %q: %w", cfg.Name, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	i := &Instance{
		cfg:                 cfg.clone(),
		log:                 log.With("virtualIP", cfg.Name, "vrid", cfg.VRID),
		priority:            cfg.Priority,
		masterAdverInterval: cfg.AdvertInterval,
	}
	if len(cfg.Password) > len(Advertisement{}.AuthData) {
		i.log.Warn("password longer than 8 bytes: only the first 8 are sent, as keepalived does")
	}
	return i, nil
}

// State returns the current state.
func (i *Instance) State() State { return i.state }

// Priority returns the effective priority: the configured one unless SetPriority changed it.
func (i *Instance) Priority() uint8 { return i.priority }

// Config returns a copy of the configuration.
func (i *Instance) Config() Config { return i.cfg.clone() }

// PrimaryAddress is the configuration's PrimaryAddress, without the copy Config makes.
func (i *Instance) PrimaryAddress() netip.Addr { return i.cfg.PrimaryAddress }

// Addresses are the configuration's Addresses, without the copy Config makes: the caller must not
// change them, and a Reconfigure replaces rather than changes them.
func (i *Instance) Addresses() []netip.Prefix { return i.cfg.Addresses }

// Deadline returns when the driver must next deliver TimerExpired: the Master_Down_Timer in
// Backup, the Adver_Timer in Master. false means no timer is armed.
func (i *Instance) Deadline() (time.Time, bool) {
	switch i.state {
	case StateBackup:
		return i.masterDown, true
	case StateMaster:
		return i.adverTimer, true
	}
	return time.Time{}, false
}

// CanReconfigure reports whether cfg can replace the configuration in place: it must be valid
// and keep the wire identity, VRID, version and address family.
func (i *Instance) CanReconfigure(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("reconfiguring virtual router %q: %w", i.cfg.Name, err)
	}
	switch {
	case cfg.VRID != i.cfg.VRID:
		return fmt.Errorf("reconfiguring virtual router %q: vrid %d to %d: %w", i.cfg.Name, i.cfg.VRID, cfg.VRID, ErrVRID)
	case cfg.Version != i.cfg.Version:
		return fmt.Errorf("reconfiguring virtual router %q: version %d to %d: %w", i.cfg.Name, i.cfg.Version, cfg.Version, ErrVersion)
	case cfg.isIPv4() != i.cfg.isIPv4():
		return fmt.Errorf("reconfiguring virtual router %q: other address family: %w", i.cfg.Name, ErrFamily)
	}
	return nil
}

// Handle applies ev at time now and returns the actions to carry out, in order. The actions are
// valid until the next call and must not be changed (the Master's periodic advert is reused).
func (i *Instance) Handle(ev Event, now time.Time) []Action {
	switch ev := ev.(type) {
	case Startup:
		return i.startup(now)
	case Shutdown:
		return i.shutdown(ev, now)
	case TimerExpired:
		return i.timerExpired(now)
	case AdvertReceived:
		return i.advertReceived(ev, now)
	case SetPriority:
		return i.setPriority(ev, now)
	case Reconfigure:
		return i.reconfigure(ev.Config, now)
	case InterfaceDown:
		return i.interfaceDown(ev)
	case InterfaceUp:
		return i.interfaceUp(now)
	}
	// reflect, not %T: ev must not escape, or every event handed in would be allocated.
	name := "<nil>"
	if t := reflect.TypeOf(ev); t != nil {
		name = t.String()
	}
	i.log.Error("ignoring unknown event", "event", name)
	return nil
}

// startup is RFC 9568 §6.4.1 "If a Startup event is received", from Init or Stopped.
func (i *Instance) startup(now time.Time) []Action {
	if i.state != StateInit && i.state != StateStopped {
		return nil
	}
	if i.ifaceDown {
		return i.transition(nil, StateFault, i.downReason)
	}
	return i.initialize(now, reasonStartup)
}

// initialize leaves Initialize (RFC 9568 §6.4.1): the address owner becomes Master at once,
// others Backup with Master_Down_Timer set to Master_Down_Interval.
func (i *Instance) initialize(now time.Time, reason string) []Action {
	if i.priority == 255 {
		return i.becomeMaster(nil, now, reasonAddressOwner)
	}
	// A PreemptDelay wins over StartAsMaster: starting as Master would preempt a live lower-priority
	// Master at once, which is what the delay holds back (keepalived applies it only from BACKUP).
	if i.cfg.StartAsMaster && i.cfg.PreemptDelay == 0 && reason == reasonStartup {
		return i.becomeMaster(nil, now, reasonStartAsMaster)
	}
	i.masterAdverInterval = i.cfg.AdvertInterval
	i.masterDown = now.Add(i.masterDownInterval())
	i.preemptSince, i.followed, i.skewArmed = time.Time{}, netip.Addr{}, false
	return i.transition(nil, StateBackup, reason)
}

// shutdown handles the Shutdown event (RFC 9568 §6.4.2, §6.4.3), ending in Stopped.
func (i *Instance) shutdown(ev Shutdown, _ time.Time) []Action {
	reason := cmp.Or(ev.Reason, reasonShutdown)
	switch i.state {
	case StateStopped:
		return nil
	case StateMaster:
		// RFC 9568 §6.4.3: cancel the Adver_Timer, send an advert with priority 0.
		return i.leaveMaster(nil, true, StateStopped, reason)
	}
	i.masterDown = time.Time{}
	return i.transition(nil, StateStopped, reason)
}

// interfaceDown puts a running router in Fault; a router not started remembers it.
func (i *Instance) interfaceDown(ev InterfaceDown) []Action {
	reason := cmp.Or(ev.Reason, reasonInterfaceDown)
	i.ifaceDown, i.downReason = true, reason
	switch i.state {
	case StateMaster:
		// A priority-0 advert, as on Shutdown, lets a Backup take over after Skew_Time when the
		// link still carries it (e.g. the address, not the link, went away).
		return i.leaveMaster(nil, true, StateFault, reason)
	case StateBackup:
		i.masterDown = time.Time{}
		return i.transition(nil, StateFault, reason)
	}
	return nil
}

// interfaceUp takes a router out of Fault through Initialize.
func (i *Instance) interfaceUp(now time.Time) []Action {
	i.ifaceDown = false
	if i.state != StateFault {
		return nil
	}
	return i.initialize(now, reasonInterfaceUp)
}

// timerExpired fires the timers due at now.
func (i *Instance) timerExpired(now time.Time) []Action {
	switch i.state {
	case StateBackup:
		if !now.Before(i.masterDown) {
			// RFC 9568 §6.4.2: the Master_Down_Timer fired.
			return i.becomeMaster(nil, now, reasonMasterDown)
		}
	case StateMaster:
		if !now.Before(i.adverTimer) {
			// RFC 9568 §6.4.3: send an advert, reset the Adver_Timer.
			i.resetAdverTimer(now)
			return i.steadyAdvert()
		}
	}
	return nil
}

// advertReceived is "If an ADVERTISEMENT is received" of RFC 9568 §6.4.2 and §6.4.3, after
// the per-router checks of §7.1 (and RFC 3768 §7.1) that Decode cannot make.
func (i *Instance) advertReceived(ev AdvertReceived, now time.Time) []Action {
	if i.state != StateBackup && i.state != StateMaster {
		return nil
	}
	adv, src := ev.Advert, ev.Src.Unmap()
	if err := i.check(adv, src, now); err != nil {
		if errors.Is(err, ErrAddressMismatch) {
			i.warnAddresses(adv, src, true)
		}
		i.log.Debug("dropping advertisement", "from", src, "reason", DropReason(err), "error", err)
		return []Action{Drop{Err: err}}
	}
	i.diagnose(adv, src)
	var acts []Action
	if !sameAddresses(adv.Addresses, i.cfg.Addresses) {
		acts = append(acts, AddressesDiffer{Addresses: slices.Clone(adv.Addresses)})
	}
	if i.state == StateBackup {
		return append(acts, i.backupReceived(adv, src, now)...)
	}
	return append(acts, i.masterReceived(adv, src, now)...)
}

// backupReceived is RFC 9568 §6.4.2 (RFC 3768 §6.4.2) for an accepted advert.
//
// One departure from §6.4.2: when the Master this Backup follows falls below it, the Backup
// preempts within Skew_Time instead of a Master_Down_Interval. §6.4.2 says to discard a
// lower-priority advert with Preempt_Mode, so the Master_Down_Timer armed by the Master's last
// higher advert runs out: up to 3 intervals + Skew_Time after a Master lowered its priority (a
// failing weighted check, track_script). Here, when
//
//   - the advert comes from the source of the last advert that reset the Master_Down_Timer,
//   - that advert's priority was at least ours then (we followed a Master not worse than us),
//   - this one is non-zero and below ours, and we preempt now (Preempt_Mode or owner, and no
//     PreemptDelay holding back): the Master fell, or our own priority rose above it (a check
//     with a positive weight passing again, or a negative one no longer failing),
//
// the advert is still discarded, and the Master_Down_Timer becomes now + Skew_Time if that is
// sooner. This is safe for the reasons §6.4.2 already relies on for a priority-0 advert, which
// sets the same Skew_Time: the Master is alive and says it is worse than us, so preempting is
// what §6.4.2 does anyway, only later; Skew_Time is shortest for the highest Backup, which takes
// over first, and its advert resets every lower Backup (priority at least theirs) and sends the
// Master to Backup (§6.4.3). A Backup that has followed no Master yet (startup), or that
// accepted the lower Master under PreemptDelay, waits for its Master_Down_Timer as before, so
// startup preemption keeps keepalived's timings.
func (i *Instance) backupReceived(adv Advertisement, src netip.Addr, now time.Time) []Action {
	if adv.Priority == 0 {
		// The Master resigned: take over after Skew_Time, the highest priority first.
		i.masterDown, i.skewArmed = now.Add(i.skewTime()), false
		i.followed = netip.Addr{}
		return nil
	}
	if adv.Priority < i.priority && i.preempts() && !i.preemptHeldBack(now) {
		// Preempt: discard the advert and let the Master_Down_Timer run out, within Skew_Time
		// when the Master we followed has just fallen below us (see above).
		if src == i.followed && i.followedAbove {
			if at := now.Add(i.skewTime()); at.Before(i.masterDown) {
				i.log.Info("the master's priority fell below ours; preempting after Skew_Time",
					"master", src, "from", i.followedPriority, "to", adv.Priority, "ours", i.priority)
				i.masterDown, i.skewArmed, i.armedAgainst = at, true, adv.Priority
			}
		}
		return nil
	}
	if adv.Priority >= i.priority {
		i.preemptSince = time.Time{}
	}
	if i.cfg.Version == 3 {
		// RFC 9568 §6.4.2: adopt the Master's interval; Skew_Time and Master_Down_Interval
		// follow from it.
		i.masterAdverInterval = adv.Interval
	}
	i.masterDown, i.skewArmed = now.Add(i.masterDownInterval()), false
	i.followed, i.followedPriority, i.followedAbove = src, adv.Priority, adv.Priority >= i.priority
	return nil
}

// disarmSkew undoes a Skew_Time takeover armed against the Master this Backup follows once our own
// priority no longer beats that Master's advert, or we no longer preempt: taking over then would
// make a second Master beside a live one. The Master_Down_Timer starts over, as if its advert had
// just been accepted.
func (i *Instance) disarmSkew(now time.Time) {
	if i.state == StateBackup && i.skewArmed && (i.priority <= i.armedAgainst || !i.preempts()) {
		i.skewArmed = false
		i.masterDown = now.Add(i.masterDownInterval())
	}
}

// masterReceived is RFC 9568 §6.4.3 (RFC 3768 §6.4.3) for an accepted advert.
func (i *Instance) masterReceived(adv Advertisement, src netip.Addr, now time.Time) []Action {
	if adv.Priority == 0 {
		// Another Master resigned: advertise now so that no Backup takes over after Skew_Time.
		// Once an interval at most, on a limit of its own: one advert resets every Backup, and a
		// flood of forged priority-0 adverts must not make us send one advert per packet.
		if !i.lastZeroAnswer.IsZero() && now.Sub(i.lastZeroAnswer) < i.cfg.AdvertInterval {
			return nil
		}
		i.lastZeroAnswer = now
		i.resetAdverTimer(now)
		return []Action{SendAdvert{Advert: i.advert(i.priority)}}
	}
	higher := adv.Priority > i.priority
	// Ties go to the greater primary address, compared as unsigned integers in network byte
	// order, which is netip.Addr's order within a family.
	tieLost := adv.Priority == i.priority && src.Compare(i.cfg.PrimaryAddress) > 0
	if higher || tieLost {
		reason := reasonHigherPriority
		if tieLost {
			reason = reasonHigherAddress
		}
		acts := i.leaveMaster(nil, false, StateBackup, reason)
		i.masterAdverInterval = i.cfg.AdvertInterval
		if i.cfg.Version == 3 {
			i.masterAdverInterval = adv.Interval
		}
		i.masterDown = now.Add(i.masterDownInterval())
		i.followed, i.followedPriority, i.followedAbove = src, adv.Priority, true
		return acts
	}
	// RFC 9568 §6.4.3 "new Active Router logic": a lower-priority Master hears us at once, and
	// learning bridges learn our path. keepalived does it for v2 too ("forcing new election").
	// At most once per Advertisement_Interval, so that a flood of forged low-priority adverts
	// cannot make us send one advert per packet.
	if !i.lastAssert.IsZero() && now.Sub(i.lastAssert) < i.cfg.AdvertInterval {
		return nil
	}
	i.lastAssert = now
	acts := []Action{SendAdvert{Advert: i.advert(i.priority)}}
	// The other Master announced the addresses when it took over, so hosts and routers send
	// their traffic to it; it steps down at our advert without a word. Announced again, they come
	// back here at once, not when their neighbour entries go stale (a router's may last hours).
	// keepalived does the same (vrrp_garp_lower_prio_repeat). Once a second at most: an
	// announcement is a burst per address.
	if i.lastAssertAnnounce.IsZero() || now.Sub(i.lastAssertAnnounce) >= assertAnnounceEvery {
		i.lastAssertAnnounce = now
		acts = append(acts, Announce{Addresses: addrsOf(i.cfg.Addresses)})
	}
	return acts
}

// assertAnnounceEvery bounds how often a Master announces its addresses again on hearing a
// lower-priority Master (masterReceived).
const assertAnnounceEvery = time.Second

// check makes the per-router receive checks; the error wraps the reason to drop.
func (i *Instance) check(adv Advertisement, src netip.Addr, now time.Time) error {
	c := &i.cfg
	switch {
	case adv.VRID != c.VRID:
		return fmt.Errorf("vrid %d, ours is %d: %w", adv.VRID, c.VRID, ErrVRID)
	case adv.Version != c.Version:
		return fmt.Errorf("version %d, ours is %d: %w", adv.Version, c.Version, ErrVersion)
	case !src.IsValid() || src.Is4() != c.isIPv4():
		return fmt.Errorf("source %s: %w", src, ErrFamily)
	case src == c.PrimaryAddress:
		return fmt.Errorf("source %s is our primary address: %w", src, ErrOwnAdvert)
	case len(adv.Addresses) == 0:
		return fmt.Errorf("no addresses: %w", ErrAddressCount)
	case adv.Interval <= 0:
		return fmt.Errorf("interval %s: %w", adv.Interval, ErrInterval)
	}
	for _, a := range adv.Addresses {
		if a.Unmap().Is4() != c.isIPv4() {
			return fmt.Errorf("address %s: %w", a, ErrFamily)
		}
	}
	if c.Version == 2 {
		// RFC 3768 §7.1: the interval and the authentication MUST match ours.
		if adv.Interval != c.AdvertInterval {
			return fmt.Errorf("interval %s, ours is %s: %w", adv.Interval, c.AdvertInterval, ErrIntervalMismatch)
		}
		authType, authData := c.authData()
		if adv.AuthType != authType {
			return fmt.Errorf("auth type %d, ours is %d: %w", adv.AuthType, authType, ErrAuth)
		}
		if authType == AuthTypeSimpleText && adv.AuthData != authData {
			return fmt.Errorf("wrong password: %w", ErrAuth)
		}
	}
	// RFC 9568 §7.1 (RFC 3768 §7.1): we verify the addresses, which the RFC allows (MAY); a list
	// other than ours MUST then be dropped unless the address owner (priority 255) sent it. We drop
	// a list that shares no address with ours, whatever its priority, as keepalived drops it: it
	// comes from another virtual router on our VRID (an appliance that owns its own gateway, or a
	// forged advert at 255), and following it would leave our VIP unheld. A list that overlaps ours is the same virtual
	// router with its list being changed, which the nodes learn one after another, or a keepalived
	// peer whose virtual_ipaddress_excluded we list too. Dropping those would make every Backup
	// take over from a Master that learnt the new list first: two Masters until the last node
	// catches up. So, deviating from the MUST, they are processed, logged (diagnose) and counted
	// (AddressesDiffer). A disjoint list, the old one, is still taken for a Master_Down_Interval
	// after a change, for a Backup that learnt the new list before its Master.
	if !overlaps(adv.Addresses, c.Addresses) &&
		!(now.Before(i.prevUntil) && sameAddresses(adv.Addresses, i.prevAddresses)) {
		return fmt.Errorf("addresses %v, ours are %v: %w", adv.Addresses, addrsOf(c.Addresses), ErrAddressMismatch)
	}
	return nil
}

// overlaps reports whether an advert lists at least one of our addresses.
func overlaps(got []netip.Addr, ours []netip.Prefix) bool {
	return slices.ContainsFunc(ours, func(p netip.Prefix) bool {
		return slices.ContainsFunc(got, func(a netip.Addr) bool { return a.Unmap() == p.Addr() })
	})
}

// diagnose logs what RFC 9568 §7.1 and §8.3.2 say to log but not to drop, once per change.
func (i *Instance) diagnose(adv Advertisement, src netip.Addr) {
	if mismatch := i.cfg.Version == 3 && adv.Interval != i.cfg.AdvertInterval; mismatch != i.warnedInterval {
		i.warnedInterval = mismatch
		if mismatch {
			i.log.Warn("advertisement interval differs from ours", "from", src, "interval", adv.Interval, "ours", i.cfg.AdvertInterval)
		}
	}
	i.warnAddresses(adv, src, !sameAddresses(adv.Addresses, i.cfg.Addresses))
	// Erratum 8298: an owner verifies it is alone and logs, rather than discarding.
	if owners := adv.Priority == 255 && i.priority == 255; owners != i.warnedOwner {
		i.warnedOwner = owners
		if owners {
			i.log.Warn("another router claims to be the address owner (priority 255)", "from", src)
		}
	}
}

// warnAddresses logs an advertised address list other than ours once per change (RFC 9568 §7.1
// SHOULD log, rate-limited), whether the advert was dropped or processed (the owner's, or a list
// that overlaps ours).
func (i *Instance) warnAddresses(adv Advertisement, src netip.Addr, mismatch bool) {
	if mismatch == i.warnedAddresses {
		return
	}
	i.warnedAddresses = mismatch
	if mismatch {
		i.log.Warn("advertised addresses differ from ours", "from", src, "priority", adv.Priority,
			"addresses", adv.Addresses, "ours", addrsOf(i.cfg.Addresses))
	}
}

// sameAddresses compares an advert's addresses with ours as sets. Ours hold no address twice
// (Config.Validate), so equal counts and every one of ours present mean equal sets, even when
// the advert repeats an address.
func sameAddresses(got []netip.Addr, ours []netip.Prefix) bool {
	if len(got) != len(ours) {
		return false
	}
	for _, p := range ours {
		if !slices.ContainsFunc(got, func(a netip.Addr) bool { return a.Unmap() == p.Addr() }) {
			return false
		}
	}
	return true
}

// setPriority changes the effective priority at run time.
func (i *Instance) setPriority(ev SetPriority, now time.Time) []Action {
	old, oldAccept := i.priority, i.accept()
	if ev.Priority != 0 {
		i.priority = ev.Priority
	}
	if i.priority != old {
		i.log.Info("priority changed", "from", old, "to", i.priority)
	}
	i.disarmSkew(now)
	if i.state != StateMaster {
		return nil
	}
	if ev.Resign {
		acts := i.leaveMaster(nil, true, StateBackup, reasonResign)
		i.masterAdverInterval = i.cfg.AdvertInterval
		i.masterDown = now.Add(i.masterDownInterval())
		i.followed = netip.Addr{}
		return acts
	}
	if i.priority == old {
		return nil
	}
	// Advertise the new priority at once, so that a higher Backup with Preempt starts its
	// takeover now rather than one interval later.
	i.resetAdverTimer(now)
	acts := []Action{SendAdvert{Advert: i.advert(i.priority)}}
	if i.accept() != oldAccept {
		acts = append(acts, AddAddresses{Addresses: i.prefixes(), Accept: i.accept()})
	}
	return acts
}

// reconfigure replaces the configuration in place.
func (i *Instance) reconfigure(cfg Config, now time.Time) []Action {
	if err := i.CanReconfigure(cfg); err != nil {
		i.log.Error("ignoring reconfiguration", "error", err)
		return nil
	}
	old, oldAccept := i.cfg, i.accept()
	i.cfg = cfg.clone()
	i.steady = nil
	if cfg.Priority != old.Priority {
		// A new configured priority wins over an earlier SetPriority; an unchanged one keeps it.
		i.priority = cfg.Priority
	}
	i.warnedAddresses, i.warnedInterval = false, false
	if cfg.Version == 2 {
		i.masterAdverInterval = cfg.AdvertInterval
	}
	if !slices.Equal(old.Addresses, cfg.Addresses) {
		// The others follow within about one resync; a Master_Down_Interval is what a Backup
		// would wait anyway before it takes over.
		i.prevAddresses, i.prevUntil = old.Addresses, now.Add(i.masterDownInterval())
	}
	i.disarmSkew(now)
	if i.state != StateMaster {
		return nil
	}
	var acts []Action
	removed := slices.DeleteFunc(slices.Clone(old.Addresses), func(p netip.Prefix) bool { return slices.Contains(cfg.Addresses, p) })
	added := slices.DeleteFunc(slices.Clone(cfg.Addresses), func(p netip.Prefix) bool { return slices.Contains(old.Addresses, p) })
	if len(removed) > 0 {
		acts = append(acts, RemoveAddresses{Addresses: removed})
	}
	switch {
	case i.accept() != oldAccept:
		acts = append(acts, AddAddresses{Addresses: i.prefixes(), Accept: i.accept()})
	case len(added) > 0:
		acts = append(acts, AddAddresses{Addresses: added, Accept: i.accept()})
	}
	if len(added) > 0 {
		acts = append(acts, Announce{Addresses: addrsOf(added)})
	}
	i.resetAdverTimer(now)
	return append(acts, SendAdvert{Advert: i.advert(i.priority)})
}

// becomeMaster is the common tail of RFC 9568 §6.4.1 (owner) and §6.4.2 (Master_Down_Timer
// fired): advertise, take and announce the addresses, set the Adver_Timer.
func (i *Instance) becomeMaster(acts []Action, now time.Time, reason string) []Action {
	acts = append(acts,
		SendAdvert{Advert: i.advert(i.priority)},
		AddAddresses{Addresses: i.prefixes(), Accept: i.accept()},
		Announce{Addresses: addrsOf(i.cfg.Addresses)},
	)
	i.resetAdverTimer(now)
	i.masterDown, i.preemptSince, i.lastAssert, i.lastAssertAnnounce, i.lastZeroAnswer = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return i.transition(acts, StateMaster, reason)
}

// resetAdverTimer sets the Adver_Timer one advert interval on from now, to the start of its slot
// (nextAdvert).
func (i *Instance) resetAdverTimer(now time.Time) {
	i.adverTimer = nextAdvert(now, i.cfg.AdvertInterval)
}

// leaveMaster cancels the Adver_Timer and gives the addresses up, after a priority-0 advert
// when resign is set.
func (i *Instance) leaveMaster(acts []Action, resign bool, to State, reason string) []Action {
	if resign {
		acts = append(acts, SendAdvert{Advert: i.advert(0)})
	}
	acts = append(acts, RemoveAddresses{Addresses: i.prefixes()})
	i.adverTimer = time.Time{}
	return i.transition(acts, to, reason)
}

// transition moves to state to and reports it.
func (i *Instance) transition(acts []Action, to State, reason string) []Action {
	from := i.state
	i.state = to
	// The states as strings: a handler formats other types through fmt (slog's text handler), and
	// that alone grew every router's goroutine stack from 8 to 16 KiB in the speaker (issue 12).
	i.log.Info("state changed", "from", from.String(), "to", to.String(), "priority", i.priority, "reason", reason)
	return append(acts, Transition{From: from, To: to, Priority: i.priority, Reason: reason})
}

// preempts reports Preempt_Mode; the address owner always preempts (RFC 9568 §6.1).
func (i *Instance) preempts() bool { return i.cfg.Preempt || i.priority == 255 }

// preemptHeldBack reports whether PreemptDelay still holds a preemption back at now.
func (i *Instance) preemptHeldBack(now time.Time) bool {
	if i.cfg.PreemptDelay <= 0 {
		return false
	}
	if i.preemptSince.IsZero() {
		i.preemptSince = now
	}
	return now.Sub(i.preemptSince) < i.cfg.PreemptDelay
}

// accept is Accept_Mode as RFC 9568 §6.4.3 applies it: the owner always accepts.
func (i *Instance) accept() bool { return i.cfg.AcceptMode || i.priority == 255 }

func (i *Instance) skewTime() time.Duration {
	return SkewTime(i.cfg.Version, i.priority, i.masterAdverInterval)
}

func (i *Instance) masterDownInterval() time.Duration {
	return MasterDownInterval(i.cfg.Version, i.priority, i.masterAdverInterval)
}

// steadyAdvert is the Master's periodic advert as an action list, made again only when the
// priority or the configuration changed: the Master of 250 routers at 100 ms sends 2,500 a
// second. The caller must not change it.
func (i *Instance) steadyAdvert() []Action {
	if i.steady == nil || i.steadyPriority != i.priority {
		i.steady, i.steadyPriority = []Action{SendAdvert{Advert: i.advert(i.priority)}}, i.priority
	}
	return i.steady
}

// advert builds our advertisement with the given priority.
func (i *Instance) advert(priority uint8) Advertisement {
	a := Advertisement{
		Version:   i.cfg.Version,
		VRID:      i.cfg.VRID,
		Priority:  priority,
		Interval:  i.cfg.AdvertInterval,
		Addresses: addrsOf(i.cfg.Addresses),
	}
	if i.cfg.Version == 2 {
		a.AuthType, a.AuthData = i.cfg.authData()
	}
	return a
}

func (i *Instance) prefixes() []netip.Prefix { return slices.Clone(i.cfg.Addresses) }

func addrsOf(ps []netip.Prefix) []netip.Addr {
	out := make([]netip.Addr, len(ps))
	for k, p := range ps {
		out[k] = p.Addr()
	}
	return out
}
