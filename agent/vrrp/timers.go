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
// the start of its slot, an eighth of the interval counted from the Unix epoch. A host's Masters
// of one interval then send in at most eight bursts a cycle however their takeovers were spread,
// and their Backups wake per burst: before, each timer's lateness moved its router's phase, and a
// Backup of 250 routers at 100 ms woke for about 200 bursts a second (keepalived's Masters, whose
// loop reads the clock once per pass, gave 86; the slots give about 40). Brought back, never on:
// an advert is never later than RFC 9568 §6.4.3 has it, so a Backup's margin (Skew_Time after
// two lost adverts) is the RFC's; the one after a takeover, a new priority or an answer may come
// up to an eighth of the interval early. A timer that fires late by less than a slot keeps its
// slot, so lateness does not add up.
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
