package vrrp

import "time"

// SkewTime is Skew_Time for a router of the given version and priority, in full nanosecond
// precision: no rounding to centiseconds, so distinct priorities never give equal timers.
//
// VRRPv3: ((256 - Priority) * Master_Adver_Interval) / 256 (RFC 9568 §6.1).
// VRRPv2: (256 - Priority) / 256 seconds, whatever the interval (RFC 3768 §6.1), as keepalived
// computes it too.
func SkewTime(version, priority uint8, masterAdverInterval time.Duration) time.Duration {
	if version == 2 {
		masterAdverInterval = time.Second
	}
	return time.Duration(256-int64(priority)) * masterAdverInterval / 256
}

// MasterDownInterval is Master_Down_Interval: 3 * Master_Adver_Interval + Skew_Time
// (RFC 9568 §6.1, RFC 3768 §6.1).
func MasterDownInterval(version, priority uint8, masterAdverInterval time.Duration) time.Duration {
	return 3*masterAdverInterval + SkewTime(version, priority, masterAdverInterval)
}

// advertGrid divides the advert interval into the slots Adver_Timer is set on (nextAdvert).
const advertGrid = 8

// nextAdvert is when the Adver_Timer set at now fires: one advert interval on, brought back to
// the start of its slot, an eighth of the interval counted from the Unix epoch, so within
// (now + 7/8 interval, now + interval]. A deliberate departure from RFC 9568 §6.4.3's "reset the
// Adver_Timer to Advertisement_Interval", in the safe direction: an advert is never later than the
// RFC has it, so a Backup keeps the RFC's margin, and may come up to an eighth early. Re-armed at
// now + interval, each timer's lateness moved its router's phase, and a Backup of many routers
// woke for adverts scattered over the cycle; in slots, a host's Masters of one interval advertise
// in at most eight bursts a cycle (issue 12; README, Performance). A timer that fires late by
// less than a slot keeps its slot, so lateness does not add up.
func nextAdvert(now time.Time, interval time.Duration) time.Time {
	next := now.Add(interval)
	slot := int64(interval / advertGrid)
	if slot <= 0 {
		return next // not a valid interval (Config.Validate)
	}
	off := next.UnixNano() % slot
	if off < 0 {
		off += slot // before 1970
	}
	return next.Add(-time.Duration(off))
}
