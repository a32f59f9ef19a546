package announce

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// drive plays a driver on a fake clock: it announces when the router becomes Master, then wakes
// up late by lateness after each time Next gives, until Next says stop or gives a time past
// horizon.
// It returns when each announcement went out, relative to the transition.
func drive(s Schedule, lateness, horizon time.Duration) []time.Duration {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	sent := []time.Duration{0}
	for {
		next, ok := s.Next(start, now)
		if !ok || next.Sub(start) > horizon {
			return sent
		}
		now = next.Add(lateness)
		sent = append(sent, now.Sub(start))
	}
}

// secs turns seconds into durations.
func secs(ds ...float64) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = time.Duration(math.Round(d * float64(time.Second)))
	}
	return out
}

func TestScheduleOnAFakeClock(t *testing.T) {
	tests := map[string]struct {
		s        Schedule
		lateness time.Duration
		horizon  time.Duration // 4 minutes if zero
		want     []time.Duration
	}{
		"the zero schedule announces five times 1.1 s apart and stops": {
			want: secs(0, 1.1, 2.2, 3.3, 4.4),
		},
		"a count of one announces once": {
			s:    Schedule{Count: 1},
			want: secs(0),
		},
		"spacing and count are configurable": {
			s:    Schedule{Count: 3, Spacing: 2 * time.Second},
			want: secs(0, 2, 4),
		},
		"refresh goes on after the burst for as long as the router is Master": {
			s:    Schedule{Count: 2, Spacing: time.Second, Refresh: time.Minute},
			want: secs(0, 1, 61, 121, 181),
		},
		"a driver that wakes up late skips what it missed instead of bursting": {
			s:        Schedule{Count: 5, Spacing: time.Second},
			lateness: 1500 * time.Millisecond,
			want:     secs(0, 2.5, 4.5),
		},
		"a late driver keeps refreshing on the original beat": {
			s:        Schedule{Count: 1, Refresh: 10 * time.Second},
			lateness: 3 * time.Second,
			horizon:  time.Minute,
			want:     secs(0, 13, 23, 33, 43, 53, 63),
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if tt.horizon == 0 {
				tt.horizon = 4 * time.Minute
			}
			got := drive(tt.s, tt.lateness, tt.horizon)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("announcement times (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScheduleBeforeTheTransitionPointsAtIt(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	got, ok := Schedule{}.Next(start, start.Add(-time.Second))
	if !ok || !got.Equal(start) {
		t.Fatalf("Next before the transition = %v, %v; want %v, true", got, ok, start)
	}
}
