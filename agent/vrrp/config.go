package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// ErrInvalidConfig wraps every error of Config.Validate.
var ErrInvalidConfig = errors.New("invalid vrrp configuration")

// Config is one virtual router as this node runs it. RFC timers derive from AdvertInterval,
// so tests shrink them by shrinking it.
type Config struct {
	Name           string // for logs
	VRID           uint8  // 1-255
	Version        uint8  // 2 or 3
	Priority       uint8  // 1-255; 255 = address owner (RFC 9568 §5.2.4)
	AdvertInterval time.Duration
	// Preempt lets a higher-priority Backup take over from a lower-priority Master
	// (RFC 9568 §6.1 Preempt_Mode). The address owner always preempts.
	Preempt bool
	// PreemptDelay holds a preemption back: a Backup preempts only once it has heard
	// lower-priority adverts for this long without a break (a vendor extension, RFC 9568 has none).
	PreemptDelay time.Duration
	// AcceptMode lets a non-owner Master accept packets addressed to the addresses
	// (RFC 9568 §6.1 Accept_Mode); see AddAddresses.Accept.
	AcceptMode bool
	// StartAsMaster makes Startup go to Master at once instead of Backup, like keepalived's
	// `state MASTER`. RFC 9568 §6.4.1 does this only for the address owner; the agent sets it for
	// the node that has the highest priority of all and preempts, which would take over after
	// Master_Down_Interval anyway. A node that turns out not to be the best steps down on the
	// first higher-priority advert (§6.4.3). A PreemptDelay turns it off: the router starts as
	// Backup, so that the delay holds against a live lower-priority Master.
	StartAsMaster bool
	Addresses     []netip.Prefix // the virtual addresses with their prefix length
	// PrimaryAddress is this node's address on the interface: the adverts' source and the
	// tie breaker between equal priorities (RFC 9568 §6.4.3).
	PrimaryAddress netip.Addr
	// Password turns on VRRPv2 simple-text authentication when not empty; like keepalived,
	// only its first 8 bytes count (RFC 2338 §5.3.6.2).
	Password string
	Checksum ChecksumMode // VRRPv3 over IPv4 only
}

// Validate reports every problem of c, joined; each wraps ErrInvalidConfig and, where one fits,
// the sentinel of the field (ErrVRID, ErrVersion, ErrInterval, ErrFamily, ErrAddressList,
// ErrAuth, ErrAddressCount).
func (c Config) Validate() error {
	var errs []error
	bad := func(sentinel error, format string, args ...any) {
		err := fmt.Errorf(format, args...)
		if sentinel != nil {
			err = fmt.Errorf("%w: %w: %w", ErrInvalidConfig, err, sentinel)
		} else {
			err = fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		errs = append(errs, err)
	}
	if c.VRID == 0 {
		bad(ErrVRID, "vrid 0 is not in 1-255")
	}
	if c.Version != 2 && c.Version != 3 {
		bad(ErrVersion, "version %d is neither 2 nor 3", c.Version)
	}
	if c.Priority == 0 {
		bad(nil, "priority 0 is not in 1-255")
	}
	if c.Version == 2 || c.Version == 3 {
		if err := checkInterval(c.Version, c.AdvertInterval); err != nil {
			bad(nil, "advert interval: %w", err)
		}
	}
	if c.PreemptDelay < 0 {
		bad(nil, "negative preempt delay %s", c.PreemptDelay)
	}
	switch n := len(c.Addresses); {
	case n == 0:
		bad(ErrAddressCount, "no addresses")
	case n > MaxAddresses:
		bad(ErrAddressCount, "%d addresses, more than %d", n, MaxAddresses)
	}
	is4 := c.PrimaryAddress.Is4()
	if !c.PrimaryAddress.IsValid() {
		bad(ErrFamily, "no primary address")
		if len(c.Addresses) > 0 {
			is4 = c.Addresses[0].Addr().Is4()
		}
	} else if c.PrimaryAddress.Is4In6() {
		bad(ErrFamily, "primary address %s is IPv4-mapped", c.PrimaryAddress)
	}
	for k, p := range c.Addresses {
		switch {
		case !p.IsValid():
			bad(ErrAddressList, "address %d is not a valid prefix", k)
		case p.Addr().Is4() != is4:
			bad(ErrFamily, "address %s is not of the primary address's family (RFC 9568 §5.2.9)", p)
		case slices.ContainsFunc(c.Addresses[:k], func(q netip.Prefix) bool { return q.Addr() == p.Addr() }):
			bad(ErrAddressList, "address %s is listed twice", p.Addr())
		default:
			if err := checkVirtualAddress(p.Addr()); err != nil {
				bad(nil, "%w", err)
			}
		}
	}
	if c.Version == 2 && !is4 {
		bad(ErrFamily, "vrrpv2 is IPv4 only (RFC 3768)")
	}
	if c.Version == 3 && c.Password != "" {
		bad(ErrAuth, "a password needs version 2: vrrpv3 has no authentication (RFC 9568 §9)")
	}
	if c.Checksum != ChecksumPseudoHeader && c.Checksum != ChecksumNoPseudoHeader {
		bad(nil, "checksum mode %s", c.Checksum)
	}
	return errors.Join(errs...)
}

// isIPv4 reports the router's family.
func (c Config) isIPv4() bool { return c.PrimaryAddress.Is4() }

// authData returns the VRRPv2 authentication type and data for c.
func (c Config) authData() (uint8, [8]byte) {
	var data [8]byte
	if c.Password == "" {
		return AuthTypeNone, data
	}
	copy(data[:], c.Password) // Cut to 8 bytes, as keepalived does.
	return AuthTypeSimpleText, data
}

// clone returns c with its own Addresses.
func (c Config) clone() Config {
	c.Addresses = slices.Clone(c.Addresses)
	return c
}
