package vrrp

import (
	"fmt"
	"testing"
	"time"
)

func TestTimersAreExactToTheNanosecond(t *testing.T) {
	// Expected values worked out by hand from RFC 9568 §6.1:
	// Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256,
	// Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time, in nanoseconds.
	tests := []struct {
		priority uint8
		cs       int64 // advertisement interval in centiseconds
		skew     time.Duration
		down     time.Duration
	}{
		{1, 1, 9960937, 39960937},
		{1, 10, 99609375, 399609375},
		{1, 100, 996093750, 3996093750},
		{1, 4095, 40790039062, 163640039062},
		{100, 1, 6093750, 36093750},
		{100, 10, 60937500, 360937500},
		{100, 100, 609375000, 3609375000},
		{100, 4095, 24953906250, 147803906250},
		{254, 1, 78125, 30078125},
		{254, 10, 781250, 300781250},
		{254, 100, 7812500, 3007812500},
		{254, 4095, 319921875, 123169921875},
		{255, 1, 39062, 30039062},
		{255, 10, 390625, 300390625},
		{255, 100, 3906250, 3003906250},
		{255, 4095, 159960937, 123009960937},
	}
	for _, tc := range tests {
		interval := time.Duration(tc.cs) * 10 * time.Millisecond
		t.Run(fmt.Sprintf("priority %d at %d centiseconds", tc.priority, tc.cs), func(t *testing.T) {
			if got := SkewTime(3, tc.priority, interval); got != tc.skew {
				t.Errorf("SkewTime = %d ns, want %d ns", got, tc.skew)
			}
			if got := MasterDownInterval(3, tc.priority, interval); got != tc.down {
				t.Errorf("MasterDownInterval = %d ns, want %d ns", got, tc.down)
			}

			// The instance arms exactly these timers: Master_Down_Interval after Startup,
			// Skew_Time after a priority-0 advert (RFC 9568 §6.4.1, §6.4.2).
			if tc.priority == 255 {
				return // the owner does not wait: see TestInitializeOnStartup
			}
			cfg := v3Config()
			cfg.Priority, cfg.AdvertInterval = tc.priority, interval
			i := newTestInstance(t, cfg)
			i.Handle(Startup{}, t0)
			wantDeadline(t, i, t0.Add(tc.down))
			now := t0.Add(interval)
			i.Handle(advertFrom(cfg, peerAddr, 0), now)
			wantDeadline(t, i, now.Add(tc.skew))
		})
	}
}

func TestVRRPv2SkewTimeIsAFractionOfASecondWhateverTheInterval(t *testing.T) {
	// RFC 3768 §6.1: Skew_Time = (256 - Priority) / 256 seconds; keepalived agrees.
	tests := map[string]struct {
		priority uint8
		interval time.Duration
		skew     time.Duration
		down     time.Duration
	}{
		"priority 100 at 1 s, the seed's backup": {100, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		"priority 100 at 3 s":                    {100, 3 * time.Second, 609375 * time.Microsecond, 9609375 * time.Microsecond},
		"priority 150 at 255 s":                  {150, 255 * time.Second, 414062500, 765*time.Second + 414062500},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := SkewTime(2, tc.priority, tc.interval); got != tc.skew {
				t.Errorf("SkewTime = %s, want %s", got, tc.skew)
			}
			if got := MasterDownInterval(2, tc.priority, tc.interval); got != tc.down {
				t.Errorf("MasterDownInterval = %s, want %s", got, tc.down)
			}
		})
	}
}

func TestDistinctPrioritiesNeverGiveEqualDownTimers(t *testing.T) {
	// RFC 9568 §8.3.2 relies on distinct priorities for Backups not to take over together;
	// centisecond truncation (as in some implementations) would break that at short intervals.
	for cs := int64(1); cs <= 4095; cs++ {
		interval := time.Duration(cs) * 10 * time.Millisecond
		prev := MasterDownInterval(3, 1, interval)
		for p := 2; p <= 255; p++ {
			cur := MasterDownInterval(3, uint8(p), interval)
			if cur >= prev {
				t.Fatalf("at %d cs, priority %d waits %d ns, not less than priority %d's %d ns", cs, p, cur, p-1, prev)
			}
			prev = cur
		}
	}
	for s := 1; s <= 255; s++ {
		interval := time.Duration(s) * time.Second
		prev := MasterDownInterval(2, 1, interval)
		for p := 2; p <= 255; p++ {
			cur := MasterDownInterval(2, uint8(p), interval)
			if cur >= prev {
				t.Fatalf("v2 at %d s, priority %d waits %s, not less than priority %d's %s", s, p, cur, p-1, prev)
			}
			prev = cur
		}
	}
}

func TestNextAdvertKeepsMastersInEighthsOfTheInterval(t *testing.T) {
	// t0 (2026-01-01 UTC) is a midnight, whole days after the Unix epoch, so it starts a slot of
	// every interval below (a day is a multiple of 375 ms too).
	tests := map[string]struct {
		now      time.Time
		interval time.Duration
		want     time.Time
	}{
		"a timer set on a slot fires one interval on":                        {t0, time.Second, t0.Add(time.Second)},
		"a timer set 50 ms into a slot fires at that slot's start at 1 s":    {t0.Add(50 * time.Millisecond), time.Second, t0.Add(time.Second)},
		"a timer set 124 ms into a slot keeps it at 1 s":                     {t0.Add(124 * time.Millisecond), time.Second, t0.Add(time.Second)},
		"a timer set 125 ms after a slot's start has the next slot at 1 s":   {t0.Add(125 * time.Millisecond), time.Second, t0.Add(1125 * time.Millisecond)},
		"a timer set 60 ms before a slot fires an eighth early at most":      {t0.Add(-60 * time.Millisecond), time.Second, t0.Add(875 * time.Millisecond)},
		"at 100 ms adverts a slot is 12.5 ms":                                {t0.Add(9 * time.Millisecond), 100 * time.Millisecond, t0.Add(100 * time.Millisecond)},
		"at 10 ms adverts a slot is 1.25 ms":                                 {t0.Add(2 * time.Millisecond), 10 * time.Millisecond, t0.Add(11250 * time.Microsecond)},
		"a VRRPv2 interval of 3 s has slots of 375 ms":                       {t0.Add(200 * time.Millisecond), 3 * time.Second, t0.Add(3 * time.Second)},
		"a clock before 1970 has its slots too":                              {time.Unix(-10, 30e6), time.Second, time.Unix(-9, 0)},
		"an interval no configuration allows is not rounded, nor divided by": {t0.Add(3), 7, t0.Add(10)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := nextAdvert(tc.now, tc.interval); !got.Equal(tc.want) {
				t.Errorf("nextAdvert(%s, %s) = %s, want %s", tc.now, tc.interval, got, tc.want)
			}
		})
	}
}

func TestMastersThatTookOverApartAdvertiseInAtMostEightBursts(t *testing.T) {
	cfg := v3Config()
	cfg.AdvertInterval = 100 * time.Millisecond
	phases := map[time.Duration]bool{}
	for n := range 250 {
		// Takeovers scattered over 1.7 s, none on a slot, as a host's 250 routers start.
		now := t0.Add(time.Duration(n)*6793*time.Microsecond + 1)
		i := newTestInstance(t, cfg)
		i.Handle(Startup{}, now)
		last, _ := i.Deadline()
		i.Handle(TimerExpired{}, last)
		wantState(t, i, StateMaster)
		for k := range 30 {
			fire, _ := i.Deadline()
			// Never later than RFC 9568 §6.4.3 has it, at most a slot (an eighth) early.
			if gap := fire.Sub(last); gap > cfg.AdvertInterval || gap < cfg.AdvertInterval*7/8 {
				t.Fatalf("router %d: an advert %s after the last, want 87.5 to 100 ms", n, gap)
			}
			// Woken up to 15 ms late, more than a slot at times, as a busy host wakes timers.
			last = fire.Add(time.Duration((n+k)%16) * time.Millisecond)
			i.Handle(TimerExpired{}, last)
		}
		fire, _ := i.Deadline()
		phases[fire.Sub(t0)%cfg.AdvertInterval] = true
	}
	if len(phases) > advertGrid {
		t.Errorf("250 Masters advertise at %d points of the cycle, want at most %d", len(phases), advertGrid)
	}
}
