package vrrp

import (
	"net/netip"
)

// Event is an input of Instance.Handle.
type Event interface{ isEvent() }

// Startup is the RFC 9568 §6.4.1 Startup event. It acts in StateInit and StateStopped; the
// router goes Backup, or Master at once as the address owner (priority 255), or Fault while
// the interface is known to be down.
type Startup struct{}

// Shutdown is the RFC 9568 Shutdown event: the router goes to StateStopped. A Master first
// sends a priority-0 advertisement, so that a Backup takes over after Skew_Time instead of
// Master_Down_Interval (RFC 9568 §6.4.3), and removes its addresses.
type Shutdown struct{ Reason string }

// TimerExpired is delivered by the driver at or after Deadline; the instance checks which of
// its timers (Master_Down_Timer, Adver_Timer) expired at the given time. Early or spurious
// deliveries do nothing.
type TimerExpired struct{}

// AdvertReceived is an advertisement that passed Decode, with its IP source address.
type AdvertReceived struct {
	Advert Advertisement
	Src    netip.Addr
}

// SetPriority changes the effective priority at run time, without a restart. Priority 0 keeps
// the current priority (0 is not a priority a router can run with, RFC 9568 §5.2.4).
// Resign on a Master sends one priority-0 advertisement, removes the addresses and goes Backup,
// so that the best Backup takes over after its Skew_Time (cordon "Demote"). The router stays a
// Backup that takes the addresses back by the normal rules, e.g. when nobody else advertises.
type SetPriority struct {
	Priority uint8
	Resign   bool
}

// Reconfigure changes the configuration in place. The wire identity (VRID, version, address
// family) must stay: check with Instance.CanReconfigure and build a new Instance otherwise.
// A Master adds and removes the addresses that changed and advertises at once.
type Reconfigure struct{ Config Config }

// InterfaceDown puts the router in StateFault: a Master sends a priority-0 advertisement
// (which the driver may fail to send), removes its addresses and stops advertising.
type InterfaceDown struct{ Reason string }

// InterfaceUp takes a router out of StateFault, through Initialize, to Backup (or Master as
// the address owner), as RFC 9568 §6.4.1 Startup does.
type InterfaceUp struct{}

func (Startup) isEvent()        {}
func (Shutdown) isEvent()       {}
func (TimerExpired) isEvent()   {}
func (AdvertReceived) isEvent() {}
func (SetPriority) isEvent()    {}
func (Reconfigure) isEvent()    {}
func (InterfaceDown) isEvent()  {}
func (InterfaceUp) isEvent()    {}

// Action is an output of Instance.Handle. The driver carries actions out in the order given.
// On becoming Master the order is SendAdvert, AddAddresses, Announce, Transition; on leaving
// Master it is (SendAdvert with priority 0, when due), RemoveAddresses, Transition.
type Action interface{ isAction() }

// SendAdvert asks the driver to encode Advert and send it (to the multicast group or to each
// unicast peer).
type SendAdvert struct{ Advert Advertisement }

// AddAddresses asks the driver to make sure the addresses are on the interface. It is
// idempotent: it is repeated with the same addresses when only Accept changes.
type AddAddresses struct {
	Addresses []netip.Prefix
	// Accept says whether the node may accept packets addressed to them: true for the address
	// owner (priority 255) or with AcceptMode (RFC 9568 §6.4.3). When false the driver must
	// keep such packets from local delivery, except IPv6 Neighbor Discovery (RFC 9568 §6.1).
	Accept bool
}

// RemoveAddresses asks the driver to remove the addresses from the interface.
type RemoveAddresses struct{ Addresses []netip.Prefix }

// Announce asks the driver to send gratuitous ARP (IPv4) or unsolicited Neighbor
// Advertisements (IPv6) for the addresses (RFC 9568 §6.4.1, §6.4.2, errata 7947, 7949).
type Announce struct{ Addresses []netip.Addr }

// Transition reports a state change; the driver runs hooks and updates status from it.
// Priority is the effective priority after the change. Reason is a short lowerCamel word
// ("startup", "addressOwner", "masterDown", "higherPriority", "resign", "interfaceUp") or the
// Reason of the Shutdown or InterfaceDown event ("shutdown", "interfaceDown" when empty).
type Transition struct {
	From, To State
	Priority uint8
	Reason   string
}

// Drop reports an AdvertReceived rejected by the per-router checks (VRID, version, family,
// VRRPv2 interval, authentication, own advert). Count it with DropReason(Err).
type Drop struct{ Err error }

// AddressesDiffer reports an accepted advert whose address list is not ours: the address owner's
// (RFC 9568 §7.1), or one that shares an address with ours, such as a list being changed on the
// nodes one after another. It comes first among the advert's actions; count it apart from drops.
type AddressesDiffer struct{ Addresses []netip.Addr }

func (SendAdvert) isAction()      {}
func (AddAddresses) isAction()    {}
func (RemoveAddresses) isAction() {}
func (Announce) isAction()        {}
func (Transition) isAction()      {}
func (Drop) isAction()            {}
func (AddressesDiffer) isAction() {}
