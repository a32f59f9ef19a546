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
