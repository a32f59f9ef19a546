package speaker

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
)

// Fault reasons in status, besides the node policy's (Cordoned, Maintenance...). RFC 9568 has no
// Fault state; a router that cannot take part in the election safely is FAULT, as keepalived's is,
// for the first of these that holds.
const (
	// ReasonInterfaceDown: the interface is down or gone.
	ReasonInterfaceDown = "InterfaceDown"
	// ReasonNoSocket: the VRRP socket would not open or its reader died. Deaf, a Backup would
	// become a second Master beside the real one.
	ReasonNoSocket = "NoSocket"
	// ReasonCheckFailed: a check of spec.track without a weight fails (desired.Router.CheckFault),
	// as keepalived's unweighted track_script; the message names the checks.
	ReasonCheckFailed = "CheckFailed"
	// ReasonAddressFailed: as Master, the router could not put its VIP on the interface for a
	// Master_Down_Interval; a Backup holds it better.
	ReasonAddressFailed = "AddressFailed"
)

// Retrying VIPs that failed to be added or removed: 100 ms, doubling, at most retryMax apart.
// A router in AddressFailed stays FAULT for faultHoldFirst, doubling with each AddressFailed in a
// row up to faultHoldMax, and then checks every retryMax whether an add could succeed again: a
// node whose adds keep failing comes back as rarely as that, however often its check passes.
const (
	retryFirst     = 100 * time.Millisecond
	retryMax       = 5 * time.Second
	faultHoldFirst = 5 * time.Second
	faultHoldMax   = time.Minute
)

// faultCause returns why the router must be FAULT, or "" when nothing keeps it from running.
// The order is that of what must be mended first: the interface and the socket, without which
// nothing else can be judged, then the failing checks, which last until the service is mended,
// then AddressFailed, a hold that ends by itself (the router stays FAULT for a check still
// failing when it does).
func (r *router) faultCause() string {
	switch {
	case r.linkSeen && !r.linkUp:
		return ReasonInterfaceDown
	case r.sockErr != nil:
		return ReasonNoSocket
	case r.cfg.CheckFault != "":
		return ReasonCheckFailed
	case r.addrFault:
		return ReasonAddressFailed
	}
	return ""
}

// updateFault tells the instance when a fault begins (InterfaceDown: a Master sends priority 0
// so that a Backup takes over at once) or ends (InterfaceUp: back through Initialize), and
// publishes a changed reason or message.
func (r *router) updateFault() {
	cause := r.faultCause()
	switch {
	case cause != "" && !r.faulted:
		r.faulted = true
		// The instance's reason is lowerCamel, as its own are.
		r.handle(vrrp.InterfaceDown{Reason: strings.ToLower(cause[:1]) + cause[1:]})
	case cause == "" && r.faulted:
		r.faulted = false
		r.handle(vrrp.InterfaceUp{})
	}
	r.publishIfChanged()
}

// message explains the fault, or an address the router is retrying.
func (r *router) message() string {
	switch r.faultCause() {
	case ReasonInterfaceDown:
		return r.linkReason
	case ReasonNoSocket:
		return r.sockErr.Error()
	case ReasonCheckFailed:
		return r.cfg.CheckFault
	case ReasonAddressFailed:
		return "cannot hold the VIP: " + r.faultErr.Error()
	}
	switch {
	case r.unproven && r.faultErr != nil:
		return "not preempting until the VIP has been added: " + r.faultErr.Error()
	case r.addErr != nil:
		return "retrying: " + r.addErr.Error()
	case r.removeErr != nil && r.hasStray():
		return "retrying: " + r.removeErr.Error()
	}
	return ""
}

func (r *router) publishIfChanged() {
	if r.reason() != r.status.Reason || r.message() != r.status.Message || r.inst.Priority() != r.status.Priority ||
		!slices.EqualFunc(r.cfg.CheckStates, r.status.Checks, checkStateEqual) {
		r.publish()
	}
}

// checkStateEqual compares two check states, Since as an instant.
func checkStateEqual(a, b desired.CheckState) bool {
	return a.Name == b.Name && a.Weight == b.Weight && a.Result.State == b.Result.State &&
		a.Result.Since.Equal(b.Result.Since) && a.Result.Message == b.Result.Message && a.Result.Value == b.Result.Value
}

// wanted are the addresses the router must hold: its VIPs as Master, none otherwise.
func (r *router) wanted() []netip.Prefix {
	if r.inst.State() != vrrp.StateMaster {
		return nil
	}
	return r.inst.Addresses()
}

// addAddress adds or refreshes p. A failure leaves p to retry; it reports whether p is newly held.
func (r *router) addAddress(p netip.Prefix) bool {
	if err := r.s.opts.Addresses.Add(r.cfg.Interface, p, r.s.opts.AddressLifetime); err != nil {
		r.s.opts.Metrics.AddressErrors.WithLabelValues(r.name, metrics.OpAdd).Inc()
		if r.addErr == nil {
			r.log.Error(err, "adding VIP; retrying", "address", p)
		} else {
			r.log.V(1).Info("adding VIP", "address", p, "error", err.Error())
		}
		r.addErr = err
		if !slices.Contains(r.missing, p) {
			r.missing = append(r.missing, p)
		}
		return false
	}
	r.missing = slices.DeleteFunc(r.missing, func(q netip.Prefix) bool { return q == p })
	if len(r.missing) == 0 {
		r.addErr = nil
	}
	if slices.Contains(r.held, p) {
		return false
	}
	r.held = append(r.held, p)
	return true
}

// removeAddress removes p; a failure leaves p held, to retry, and never announced again.
func (r *router) removeAddress(p netip.Prefix) {
	r.missing = slices.DeleteFunc(r.missing, func(q netip.Prefix) bool { return q == p })
	if len(r.missing) == 0 {
		r.addErr = nil
	}
	if err := r.s.opts.Addresses.Remove(r.cfg.Interface, p); err != nil {
		r.s.opts.Metrics.AddressErrors.WithLabelValues(r.name, metrics.OpRemove).Inc()
		if r.removeErr == nil {
			r.log.Error(err, "removing VIP; retrying", "address", p)
		}
		r.removeErr = err
		return
	}
	r.held = slices.DeleteFunc(r.held, func(q netip.Prefix) bool { return q == p })
	if !r.hasStray() {
		r.removeErr = nil
	}
}

// hasStray reports whether stray is not empty, without making it: schedule asks at every tick.
func (r *router) hasStray() bool {
	wanted := r.wanted()
	for _, p := range r.held {
		if !slices.Contains(wanted, p) {
			return true
		}
	}
	return false
}

// stray are held addresses the router must not hold: removals that failed.
func (r *router) stray() []netip.Prefix {
	wanted := r.wanted()
	return slices.DeleteFunc(slices.Clone(r.held), func(p netip.Prefix) bool { return slices.Contains(wanted, p) })
}

// holdBound is how long a Master may fail to hold its VIP before it goes FAULT: the
// Master_Down_Interval, after which a Backup would have taken over from a dead Master too.
func (r *router) holdBound() time.Duration {
	cfg := r.inst.Config()
	return vrrp.MasterDownInterval(cfg.Version, r.inst.Priority(), cfg.AdvertInterval)
}

// retry runs at retryNext: it adds the VIPs the Master still misses, removes those a Backup
// still holds, leaves AddressFailed once an add could succeed, and goes AddressFailed when the
// Master has missed a VIP for holdBound.
func (r *router) retry(now time.Time) {
	r.retryNext = time.Time{}
	added := false
	for _, p := range slices.Clone(r.missing) {
		added = r.addAddress(p) || added
	}
	for _, p := range r.stray() {
		r.removeAddress(p)
	}
	if added {
		// The burst of becoming Master left these out: announce them now (RFC 9568 §6.4.2).
		r.annLeft = max(r.cfg.GARP.Count, 1)
		r.announce(now)
	}
	switch {
	case r.addrFault && !now.Before(r.faultUntil) && r.probe() == nil:
		r.log.Info("the VIP can be added again; leaving FAULT", "preempt", !r.unproven)
		r.addrFault = false
		if !r.unproven {
			r.faultErr = nil
		}
		r.updateFault()
	case len(r.missing) > 0 && !now.Before(r.addSince.Add(r.holdBound())):
		r.addrFaults++
		hold := faultHoldMax
		if r.addrFaults < 8 {
			hold = min(faultHoldFirst<<(r.addrFaults-1), faultHoldMax)
		}
		r.faultUntil = now.Add(hold)
		r.log.Error(r.addErr, "cannot hold the VIP; going FAULT so that a Backup takes over", "for", now.Sub(r.addSince), "hold", hold)
		r.addrFault, r.faultErr = true, r.addErr
		r.updateFault()
		if r.checkAll() == nil && !r.unproven {
			// Check cannot see what makes the add fail (a netlink error, IPv6 disabled on the
			// interface): passing, it would bring the router back to preempt and fail again, the VIP
			// unheld for a Master_Down_Interval each time. It comes back as a Backup that does not
			// preempt until, Master once more, it has held its VIP.
			r.log.Info("the check passes although the add fails: back as a Backup that does not preempt until it holds the VIP")
			r.unproven = true
			r.reconfigure()
		}
	}
	r.schedule(now)
	r.publishIfChanged()
}

// settle ends the distrust of a router back from AddressFailed once it is Master holding every
// VIP: it preempts again at once, and AddressFailed counts from the start once the VIPs have been
// held for faultHoldMax. One add that works proves little: a node whose later refreshes fail
// would otherwise cycle FAULT, Backup, Master every faultHoldFirst without the hold growing.
func (r *router) settle(now time.Time) {
	if r.inst.State() != vrrp.StateMaster || len(r.missing) > 0 {
		r.heldSince = time.Time{}
		return
	}
	if r.heldSince.IsZero() {
		r.heldSince = now
	}
	if now.Sub(r.heldSince) >= faultHoldMax {
		r.addrFaults = 0
	}
	if r.unproven {
		r.log.Info("the VIP was added; preempting again")
		r.unproven, r.faultErr = false, nil
		r.reconfigure()
	}
}

// probe checks, without adding anything, whether every VIP could be added now.
func (r *router) probe() error {
	if err := r.checkAll(); err != nil {
		r.s.opts.Metrics.AddressErrors.WithLabelValues(r.name, metrics.OpAdd).Inc()
		r.faultErr = err
		return err
	}
	return nil
}

// checkAll is the AddressHolder's Check of every VIP.
func (r *router) checkAll() error {
	for _, p := range r.inst.Addresses() {
		if err := r.s.opts.Addresses.Check(r.cfg.Interface, p); err != nil {
			return err
		}
	}
	return nil
}

// schedule arms the next retry while anything is left to retry, backing off; it disarms and
// resets the backoff when nothing is.
func (r *router) schedule(now time.Time) {
	if len(r.missing) == 0 {
		r.addSince = time.Time{}
	} else if r.addSince.IsZero() {
		r.addSince = now
	}
	if !r.hasStray() {
		// Nothing left to remove, also when the address a removal failed for is wanted again
		// (Master once more): no retry would clear the error.
		r.removeErr = nil
	}
	if len(r.missing) == 0 && !r.hasStray() && !r.addrFault {
		r.retryNext, r.retryBackoff = time.Time{}, 0
		return
	}
	if !r.retryNext.IsZero() {
		return
	}
	r.retryBackoff = min(max(2*r.retryBackoff, retryFirst), retryMax)
	r.retryNext = now.Add(r.retryBackoff)
	if r.addrFault && r.retryNext.Before(r.faultUntil) {
		r.retryNext = r.faultUntil
	}
	// The last try is at the bound, not up to a backoff after it.
	if bound := r.addSince.Add(r.holdBound()); len(r.missing) > 0 && bound.Before(r.retryNext) {
		r.retryNext = bound
	}
}
