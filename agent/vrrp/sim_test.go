package vrrp

import (
	"net/netip"
	"testing"
	"time"
)

// lan connects instances on a fake clock: adverts one sends are encoded, decoded and
// delivered to all others at the same instant, as over a real link without delay.
type lan struct {
	t       *testing.T
	now     time.Time
	routers []*Instance
	log     []string // transitions, "name FROM->TO" with the time since t0
}

func (l *lan) handle(k int, ev Event) {
	l.t.Helper()
	queue := []struct {
		to int
		ev Event
	}{{k, ev}}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		r := l.routers[next.to]
		for _, a := range r.Handle(next.ev, l.now) {
			switch a := a.(type) {
			case SendAdvert:
				cfg := r.Config()
				b, err := a.Advert.AppendEncode(nil, cfg.PrimaryAddress, MulticastIPv4, cfg.Checksum)
				if err != nil {
					l.t.Fatalf("encoding: %v", err)
				}
				for other := range l.routers {
					if other == next.to {
						continue
					}
					adv, err := Decode(b, cfg.PrimaryAddress, MulticastIPv4, TTL)
					if err != nil {
						l.t.Fatalf("decoding: %v", err)
					}
					queue = append(queue, struct {
						to int
						ev Event
					}{other, AdvertReceived{Advert: adv, Src: cfg.PrimaryAddress}})
				}
			case Transition:
				l.log = append(l.log, r.Config().Name+" "+a.From.String()+"->"+a.To.String()+" at "+l.now.Sub(t0).String())
			case Drop:
				l.t.Fatalf("%s dropped an advert: %v", r.Config().Name, a.Err)
			}
		}
	}
}

// runUntil delivers TimerExpired at every deadline up to end.
func (l *lan) runUntil(end time.Time) {
	l.t.Helper()
	for {
		next, who := end, -1
		for k, r := range l.routers {
			if d, ok := r.Deadline(); ok && !d.After(next) && (who < 0 || d.Before(next)) {
				next, who = d, k
			}
		}
		if who < 0 {
			l.now = end
			return
		}
		l.now = next
		l.handle(who, TimerExpired{})
	}
}

func TestTheSeedSetupFailsOverLikeKeepalived(t *testing.T) {
	primary, secondary := v2Config(), v2Config()
	primary.Name, secondary.Name = "primary", "secondary"
	secondary.Priority, secondary.PrimaryAddress = 100, netip.MustParseAddr("198.51.100.11")
	l := &lan{t: t, now: t0}
	for _, cfg := range []Config{primary, secondary} {
		l.routers = append(l.routers, newTestInstance(t, cfg))
	}
	l.handle(0, Startup{})
	l.handle(1, Startup{})
	l.runUntil(t0.Add(10 * time.Second))
	if l.routers[0].State() != StateMaster || l.routers[1].State() != StateBackup {
		t.Fatalf("after 10 s: primary %s, secondary %s; want MASTER, BACKUP; log %q", l.routers[0].State(), l.routers[1].State(), l.log)
	}

	// notify_stop: stopping the primary hands over after the secondary's Skew_Time, 0.609375 s,
	// as measured with keepalived (0.62 s).
	stop := l.now
	l.handle(0, Shutdown{})
	l.runUntil(stop.Add(609375*time.Microsecond - 1))
	if l.routers[1].State() != StateBackup {
		t.Fatalf("secondary took over before its Skew_Time: %q", l.log)
	}
	l.runUntil(stop.Add(609375 * time.Microsecond))
	if l.routers[1].State() != StateMaster {
		t.Fatalf("secondary did not take over at Skew_Time: %q", l.log)
	}

	// The primary comes back and preempts after its Master_Down_Interval, 3.4140625 s.
	back := l.now
	l.handle(0, Startup{})
	l.runUntil(back.Add(3414062500 - 1))
	if l.routers[0].State() != StateBackup {
		t.Fatalf("primary preempted early: %q", l.log)
	}
	l.runUntil(back.Add(3414062500))
	if l.routers[0].State() != StateMaster || l.routers[1].State() != StateBackup {
		t.Fatalf("primary did not preempt: primary %s, secondary %s; log %q", l.routers[0].State(), l.routers[1].State(), l.log)
	}
}

func TestCordonDemoteHandsOverAtOnceAndUncordonTakesBack(t *testing.T) {
	a, b := v3Config(), v3Config()
	a.Name, b.Name = "a", "b"
	a.Priority, b.Priority, b.PrimaryAddress = 150, 100, netip.MustParseAddr("198.51.100.11")
	a.AdvertInterval, b.AdvertInterval = 100*time.Millisecond, 100*time.Millisecond
	l := &lan{t: t, now: t0}
	l.routers = []*Instance{newTestInstance(t, a), newTestInstance(t, b)}
	l.handle(0, Startup{})
	l.handle(1, Startup{})
	l.runUntil(t0.Add(time.Second))

	demote := l.now
	l.handle(0, SetPriority{Priority: 1, Resign: true})
	// b takes over after its Skew_Time at b's priority: 156/256 of 100 ms.
	l.runUntil(demote.Add(60937500))
	if l.routers[1].State() != StateMaster || l.routers[0].State() != StateBackup {
		t.Fatalf("after demote: a %s, b %s; log %q", l.routers[0].State(), l.routers[1].State(), l.log)
	}
	l.runUntil(demote.Add(5 * time.Second))
	if l.routers[1].State() != StateMaster {
		t.Fatalf("the demoted router took the address back: %q", l.log)
	}

	l.handle(0, SetPriority{Priority: 150})
	l.runUntil(l.now.Add(time.Second))
	if l.routers[0].State() != StateMaster || l.routers[1].State() != StateBackup {
		t.Fatalf("after uncordon: a %s, b %s; log %q", l.routers[0].State(), l.routers[1].State(), l.log)
	}
}

// A Master whose priority falls below a preempting Backup's loses the VIP within that Backup's
// Skew_Time; only the highest Backup takes over (see backupReceived).
func TestAMasterFallingBelowItsBackupsHandsOverToTheHighestWithinSkewTime(t *testing.T) {
	interval := time.Second
	tests := map[string]struct {
		change func(c *Config) // applied to both Backups
		fallTo uint8           // the Master's new priority
		want   string          // the Master at the end
		at     time.Duration   // when want takes over after the fall; 0: none does
	}{
		"the highest Backup takes over after its Skew_Time, the other stays Backup": {
			fallTo: 100, want: "b", at: SkewTime(3, 150, interval),
		},
		"a Master falling between its Backups hands over to the higher one": {
			fallTo: 130, want: "b", at: SkewTime(3, 150, interval),
		},
		"a PreemptDelay holds the takeover back until the delay and a Master_Down_Interval ran out": {
			change: func(c *Config) { c.PreemptDelay = 3 * time.Second },
			// Adverts at the fall and 1 s and 2 s after are accepted; the one at 3 s is discarded.
			fallTo: 100, want: "b", at: 2*time.Second + MasterDownInterval(3, 150, interval),
		},
		"Backups without Preempt leave the VIP on the fallen Master": {
			change: func(c *Config) { c.Preempt = false },
			fallTo: 1, want: "a",
		},
		"a Master falling to the highest Backup's priority keeps the VIP": {
			fallTo: 150, want: "a",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a, b, c := v3Config(), v3Config(), v3Config()
			a.Name, b.Name, c.Name = "a", "b", "c"
			a.Priority, b.Priority, c.Priority = 200, 150, 120
			b.PrimaryAddress, c.PrimaryAddress = netip.MustParseAddr("198.51.100.11"), netip.MustParseAddr("198.51.100.12")
			if tc.change != nil {
				tc.change(&b)
				tc.change(&c)
			}
			l := &lan{t: t, now: t0}
			l.routers = []*Instance{newTestInstance(t, a), newTestInstance(t, b), newTestInstance(t, c)}
			for k := range l.routers {
				l.handle(k, Startup{})
			}
			l.runUntil(t0.Add(10 * time.Second))
			wantMasters(t, l, "a")
			settled := len(l.log)

			fall := l.now
			a.Priority = tc.fallTo
			l.handle(0, Reconfigure{Config: a})
			if tc.at == 0 {
				l.runUntil(fall.Add(10 * time.Second))
				wantMasters(t, l, "a")
				if len(l.log) != settled {
					t.Errorf("transitions after the fall: %q", l.log[settled:])
				}
				return
			}
			l.runUntil(fall.Add(tc.at - 1))
			wantMasters(t, l, "a")
			l.runUntil(fall.Add(tc.at))
			wantMasters(t, l, tc.want)
			l.runUntil(fall.Add(10 * time.Second))
			wantMasters(t, l, tc.want)
		})
	}
}

// wantMasters checks that exactly the named router is Master and the others Backup.
func wantMasters(t *testing.T, l *lan, name string) {
	t.Helper()
	for _, r := range l.routers {
		want := StateBackup
		if r.Config().Name == name {
			want = StateMaster
		}
		if r.State() != want {
			t.Fatalf("at %s %s is %s, want %s; log %q", l.now.Sub(t0), r.Config().Name, r.State(), want, l.log)
		}
	}
}
