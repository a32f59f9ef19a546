package vrrp

import (
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The tests below follow the state tables of RFC 9568 §6.4 (and RFC 3768 §6.4), one test per
// row, with both polarities: what the row does, and that nearby inputs do not trigger it.

func TestInitializeOnStartup(t *testing.T) {
	owner := v3Config()
	owner.Priority = 255
	best := v3Config()
	best.Priority, best.StartAsMaster = 150, true
	tests := map[string]struct {
		cfg      Config
		before   []Event
		want     func(cfg Config) []Action
		state    State
		deadline time.Duration // from t0; -1: none
	}{
		"the address owner (priority 255) becomes Master at once and advertises (§6.4.1)": {
			cfg:      owner,
			want:     func(cfg Config) []Action { return becameMaster(cfg, StateInit, 255, true, "addressOwner") },
			state:    StateMaster,
			deadline: time.Second,
		},
		"a priority-254 router becomes Backup and waits Master_Down_Interval (§6.4.1)": {
			cfg: func() Config { c := v3Config(); c.Priority = 254; return c }(),
			want: func(Config) []Action {
				return []Action{Transition{From: StateInit, To: StateBackup, Priority: 254, Reason: "startup"}}
			},
			state:    StateBackup,
			deadline: 3*time.Second + 7812500,
		},
		"a stopped router starts again as Backup": {
			cfg:    v3Config(),
			before: []Event{Startup{}, Shutdown{}},
			want: func(Config) []Action {
				return []Action{Transition{From: StateStopped, To: StateBackup, Priority: 100, Reason: "startup"}}
			},
			state:    StateBackup,
			deadline: 3*time.Second + 609375*time.Microsecond,
		},
		"a router whose interface went down before Startup starts in Fault, for the reason given": {
			cfg:    v3Config(),
			before: []Event{InterfaceDown{Reason: "checkFailed"}},
			want: func(Config) []Action {
				return []Action{Transition{From: StateInit, To: StateFault, Priority: 100, Reason: "checkFailed"}}
			},
			state:    StateFault,
			deadline: -1,
		},
		"a router told to start as Master (keepalived's state MASTER) becomes Master at once": {
			cfg:      best,
			want:     func(cfg Config) []Action { return becameMaster(cfg, StateInit, 150, false, "startAsMaster") },
			state:    StateMaster,
			deadline: time.Second,
		},
		"a router told to start as Master with a PreemptDelay starts as Backup, so the delay holds": {
			cfg: func() Config { c := best; c.PreemptDelay = 5 * time.Second; return c }(),
			want: func(Config) []Action {
				return []Action{Transition{From: StateInit, To: StateBackup, Priority: 150, Reason: "startup"}}
			},
			state:    StateBackup,
			deadline: 3*time.Second + 414062500,
		},
		"a router told to start as Master recovering from Fault goes Backup as the RFC says": {
			cfg:      best,
			before:   []Event{InterfaceDown{}, Startup{}, InterfaceUp{}},
			want:     func(Config) []Action { return nil },
			state:    StateBackup,
			deadline: 3*time.Second + 414062500,
		},
		"Startup of a running Backup does nothing": {
			cfg:      v3Config(),
			before:   []Event{Startup{}},
			want:     func(Config) []Action { return nil },
			state:    StateBackup,
			deadline: 3*time.Second + 609375*time.Microsecond,
		},
		"Startup of a running Master does nothing": {
			cfg:      owner,
			before:   []Event{Startup{}},
			want:     func(Config) []Action { return nil },
			state:    StateMaster,
			deadline: time.Second,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			i := newTestInstance(t, tc.cfg)
			wantNoDeadline(t, i)
			for _, ev := range tc.before {
				i.Handle(ev, t0)
			}
			wantActions(t, tc.want(tc.cfg), i.Handle(Startup{}, t0))
			wantState(t, i, tc.state)
			if tc.deadline < 0 {
				wantNoDeadline(t, i)
			} else {
				wantDeadline(t, i, t0.Add(tc.deadline))
			}
		})
	}
}

func TestBackupOnShutdown(t *testing.T) {
	t.Run("a Backup cancels Master_Down_Timer and stops without a word (§6.4.2)", func(t *testing.T) {
		i := backup(t, v3Config())
		wantActions(t, []Action{Transition{From: StateBackup, To: StateStopped, Priority: 100, Reason: "agent stopping"}},
			i.Handle(Shutdown{Reason: "agent stopping"}, t0.Add(time.Second)))
		wantNoDeadline(t, i)
		wantActions(t, nil, i.Handle(TimerExpired{}, t0.Add(time.Hour)))
	})
	t.Run("a stopped router ignores another Shutdown", func(t *testing.T) {
		i := backup(t, v3Config())
		i.Handle(Shutdown{}, t0)
		wantActions(t, nil, i.Handle(Shutdown{}, t0))
		wantState(t, i, StateStopped)
	})
	t.Run("a router never started stops with a report, so that its stop hook runs", func(t *testing.T) {
		i := newTestInstance(t, v3Config())
		wantActions(t, []Action{Transition{From: StateInit, To: StateStopped, Priority: 100, Reason: "shutdown"}}, i.Handle(Shutdown{}, t0))
	})
}

func TestBackupWhenMasterDownTimerFires(t *testing.T) {
	cfg := v3Config()
	down := 3*time.Second + 609375*time.Microsecond
	t.Run("at Master_Down_Interval a Backup advertises, takes and announces the addresses and becomes Master (§6.4.2)", func(t *testing.T) {
		i := backup(t, cfg)
		wantActions(t, becameMaster(cfg, StateBackup, 100, false, "masterDown"), i.Handle(TimerExpired{}, t0.Add(down)))
		// One interval on (4.609375 s), brought back to its eighth of a second (nextAdvert).
		wantDeadline(t, i, t0.Add(4500*time.Millisecond))
	})
	t.Run("one nanosecond earlier nothing happens", func(t *testing.T) {
		i := backup(t, cfg)
		wantActions(t, nil, i.Handle(TimerExpired{}, t0.Add(down-1)))
		wantState(t, i, StateBackup)
		wantDeadline(t, i, t0.Add(down))
	})
	t.Run("a late delivery still fires", func(t *testing.T) {
		i := backup(t, cfg)
		wantActions(t, becameMaster(cfg, StateBackup, 100, false, "masterDown"), i.Handle(TimerExpired{}, t0.Add(down+time.Second)))
	})
}

func TestBackupOnAdvertWithPriorityZero(t *testing.T) {
	cfg := v3Config()
	now := t0.Add(time.Second)
	t.Run("a priority-0 advert sets Master_Down_Timer to Skew_Time (§6.4.2)", func(t *testing.T) {
		i := backup(t, cfg)
		wantActions(t, nil, i.Handle(advertFrom(cfg, peerAddr, 0), now))
		wantDeadline(t, i, now.Add(609375*time.Microsecond))
		wantActions(t, becameMaster(cfg, StateBackup, 100, false, "masterDown"), i.Handle(TimerExpired{}, now.Add(609375*time.Microsecond)))
	})
	t.Run("a priority-1 advert resets Master_Down_Timer to Master_Down_Interval instead", func(t *testing.T) {
		c := cfg
		c.Preempt = false
		i := backup(t, c)
		wantActions(t, nil, i.Handle(advertFrom(c, peerAddr, 1), now))
		wantDeadline(t, i, now.Add(3*time.Second+609375*time.Microsecond))
	})
}

func TestBackupOnAdvertWithNonZeroPriority(t *testing.T) {
	down := 3*time.Second + 609375*time.Microsecond // priority 100 at 1 s
	now := t0.Add(2 * time.Second)
	tests := map[string]struct {
		preempt  bool
		priority uint8 // ours
		advert   func(cfg Config) AdvertReceived
		deadline time.Time
	}{
		"with Preempt, a higher priority resets Master_Down_Timer": {
			preempt: true, priority: 100,
			advert:   func(c Config) AdvertReceived { return advertFrom(c, peerAddr, 101) },
			deadline: now.Add(down),
		},
		"with Preempt, an equal priority resets Master_Down_Timer whatever the address": {
			preempt: true, priority: 100,
			advert:   func(c Config) AdvertReceived { return advertFrom(c, lowerAddr, 100) },
			deadline: now.Add(down),
		},
		"with Preempt, a lower priority is discarded and Master_Down_Timer runs on": {
			preempt: true, priority: 100,
			advert:   func(c Config) AdvertReceived { return advertFrom(c, peerAddr, 99) },
			deadline: t0.Add(down),
		},
		"without Preempt, a lower priority resets Master_Down_Timer": {
			preempt: false, priority: 100,
			advert:   func(c Config) AdvertReceived { return advertFrom(c, peerAddr, 99) },
			deadline: now.Add(down),
		},
		"without Preempt, the address owner still preempts (§6.1)": {
			preempt: false, priority: 255,
			advert: func(c Config) AdvertReceived { return advertFrom(c, peerAddr, 254) },
			// Discarded; the owner it followed since losing the tie fell below it, so it takes
			// over after its Skew_Time (see TestBackupPreemptsAFallenMasterAfterSkewTime).
			deadline: now.Add(3906250),
		},
		"a VRRPv3 Backup adopts the Master's interval and recomputes both timers": {
			preempt: true, priority: 100,
			advert: func(c Config) AdvertReceived {
				a := advertFrom(c, peerAddr, 200)
				a.Advert.Interval = 250 * time.Millisecond
				return a
			},
			deadline: now.Add(750*time.Millisecond + 152343750),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := v3Config()
			cfg.Preempt, cfg.Priority = tc.preempt, tc.priority
			i := newTestInstance(t, cfg)
			if tc.priority == 255 {
				// An owner only gets to Backup by losing a tie with another owner.
				i.Handle(Startup{}, t0)
				i.Handle(advertFrom(cfg, peerAddr, 255), t0)
			} else {
				i.Handle(Startup{}, t0)
			}
			wantState(t, i, StateBackup)
			wantActions(t, nil, i.Handle(tc.advert(cfg), now))
			wantDeadline(t, i, tc.deadline)
		})
	}
}

func TestMasterOnShutdown(t *testing.T) {
	cfg := v3Config()
	t.Run("a Master sends priority 0, removes its addresses and stops (§6.4.3)", func(t *testing.T) {
		i, now := master(t, cfg)
		wantActions(t, []Action{
			ours(cfg, 0),
			RemoveAddresses{Addresses: cfg.Addresses},
			Transition{From: StateMaster, To: StateStopped, Priority: 100, Reason: "shutdown"},
		}, i.Handle(Shutdown{}, now))
		wantNoDeadline(t, i)
		wantActions(t, nil, i.Handle(TimerExpired{}, now.Add(time.Hour)))
	})
}

func TestMasterWhenAdverTimerFires(t *testing.T) {
	cfg := v3Config()
	t.Run("a Master advertises and resets Adver_Timer (§6.4.3)", func(t *testing.T) {
		i, now := master(t, cfg)
		fire, _ := i.Deadline()
		if want := now.Add(890625 * time.Microsecond); !fire.Equal(want) { // t0+4.5 s
			t.Fatalf("Deadline() = t0+%s, want t0+%s", fire.Sub(t0), want.Sub(t0))
		}
		wantActions(t, []Action{ours(cfg, 100)}, i.Handle(TimerExpired{}, fire))
		wantDeadline(t, i, fire.Add(time.Second))
	})
	t.Run("a Master woken late keeps the Adver_Timer's slot", func(t *testing.T) {
		i, _ := master(t, cfg)
		fire, _ := i.Deadline()
		wantActions(t, []Action{ours(cfg, 100)}, i.Handle(TimerExpired{}, fire.Add(40*time.Millisecond)))
		wantDeadline(t, i, fire.Add(time.Second))
	})
	t.Run("a Master woken early sends nothing", func(t *testing.T) {
		i, _ := master(t, cfg)
		fire, _ := i.Deadline()
		wantActions(t, nil, i.Handle(TimerExpired{}, fire.Add(-1)))
		wantDeadline(t, i, fire)
	})
}

func TestMasterOnAdvertWithPriorityZero(t *testing.T) {
	cfg := v3Config()
	t.Run("a Master hearing priority 0 advertises at once and resets Adver_Timer (§6.4.3)", func(t *testing.T) {
		i, now := master(t, cfg)
		at := now.Add(300 * time.Millisecond)
		wantActions(t, []Action{ours(cfg, 100)}, i.Handle(advertFrom(cfg, peerAddr, 0), at))
		wantDeadline(t, i, t0.Add(4875*time.Millisecond)) // at+1 s is 4.909375 s
		wantState(t, i, StateMaster)
	})
}

func TestMasterOnAdvertWithNonZeroPriority(t *testing.T) {
	cfg := v3Config()
	slower := func(a AdvertReceived) AdvertReceived { a.Advert.Interval = 2 * time.Second; return a }
	tests := map[string]struct {
		advert   AdvertReceived
		want     []Action
		state    State
		deadline func(at, mastered time.Time) time.Time
	}{
		"a higher priority makes the Master give up its addresses and go Backup": {
			advert: advertFrom(cfg, lowerAddr, 101),
			want: []Action{
				RemoveAddresses{Addresses: cfg.Addresses},
				Transition{From: StateMaster, To: StateBackup, Priority: 100, Reason: "higherPriority"},
			},
			state:    StateBackup,
			deadline: func(at, _ time.Time) time.Time { return at.Add(3*time.Second + 609375*time.Microsecond) },
		},
		"a VRRPv3 Master going Backup adopts the new Master's interval": {
			advert: slower(advertFrom(cfg, lowerAddr, 200)),
			want: []Action{
				RemoveAddresses{Addresses: cfg.Addresses},
				Transition{From: StateMaster, To: StateBackup, Priority: 100, Reason: "higherPriority"},
			},
			state:    StateBackup,
			deadline: func(at, _ time.Time) time.Time { return at.Add(6*time.Second + 1218750*time.Microsecond) },
		},
		"an equal priority from a greater primary address wins the tie": {
			advert: advertFrom(cfg, peerAddr, 100),
			want: []Action{
				RemoveAddresses{Addresses: cfg.Addresses},
				Transition{From: StateMaster, To: StateBackup, Priority: 100, Reason: "higherAddress"},
			},
			state:    StateBackup,
			deadline: func(at, _ time.Time) time.Time { return at.Add(3*time.Second + 609375*time.Microsecond) },
		},
		"an equal priority from a smaller primary address loses the tie, hears us at once and the addresses are announced again": {
			advert:   advertFrom(cfg, lowerAddr, 100),
			want:     []Action{ours(cfg, 100), Announce{Addresses: addrsOf(cfg.Addresses)}},
			state:    StateMaster,
			deadline: func(_, _ time.Time) time.Time { return t0.Add(4500 * time.Millisecond) },
		},
		"a lower priority hears us at once, without resetting Adver_Timer (RFC 9568 §6.4.3), and the addresses are announced again": {
			advert:   advertFrom(cfg, peerAddr, 99),
			want:     []Action{ours(cfg, 100), Announce{Addresses: addrsOf(cfg.Addresses)}},
			state:    StateMaster,
			deadline: func(_, _ time.Time) time.Time { return t0.Add(4500 * time.Millisecond) },
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			i, mastered := master(t, cfg)
			at := mastered.Add(400 * time.Millisecond)
			wantActions(t, tc.want, i.Handle(tc.advert, at))
			wantState(t, i, tc.state)
			wantDeadline(t, i, tc.deadline(at, mastered))
		})
	}
}

// A Master answers a lower-priority one at most once per Advertisement_Interval, and announces its
// addresses again at most once a second: when a split brain heals, the other Master, which
// announced them when it took over, steps down at our advert, and hosts and routers must send to
// us at once, not once their neighbour entries go stale.
func TestMasterAnswersLowerPriorityAtMostOncePerInterval(t *testing.T) {
	type step struct {
		after    time.Duration
		want     bool // the answer: our advert
		announce bool // and the announcement
	}
	tests := map[string]struct {
		interval time.Duration
		steps    []step
	}{
		"at 1 s adverts each answer announces": {
			interval: time.Second,
			steps:    []step{{0, true, true}, {10 * time.Millisecond, false, false}, {999 * time.Millisecond, false, false}, {time.Second, true, true}},
		},
		"at 100 ms adverts the answer comes every interval, the announcement once a second": {
			interval: 100 * time.Millisecond,
			steps:    []step{{0, true, true}, {100 * time.Millisecond, true, false}, {900 * time.Millisecond, true, false}, {time.Second, true, true}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := v3Config()
			cfg.AdvertInterval = tc.interval
			i, now := master(t, cfg)
			low := advertFrom(cfg, peerAddr, 50)
			for _, s := range tc.steps {
				var want []Action
				if s.want {
					want = append(want, ours(cfg, 100))
				}
				if s.announce {
					want = append(want, Announce{Addresses: addrsOf(cfg.Addresses)})
				}
				wantActions(t, want, i.Handle(low, now.Add(s.after)))
			}
		})
	}
}

func TestReceivedAdvertsFailingRouterChecksAreDropped(t *testing.T) {
	v3, v2 := v3Config(), v2Config()
	v2none := v2
	v2none.Password = ""
	two := v3
	two.Addresses = prefixes("198.51.100.252/24", "198.51.100.253/24")
	mod := func(a AdvertReceived, f func(*Advertisement)) AdvertReceived { f(&a.Advert); return a }
	tests := map[string]struct {
		cfg    Config
		advert AdvertReceived
		want   error // nil: accepted
	}{
		"another VRID is dropped (§7.1)": {
			cfg: v3, advert: mod(advertFrom(v3, peerAddr, 200), func(a *Advertisement) { a.VRID = 52 }), want: ErrVRID,
		},
		"a VRRPv2 advert to a VRRPv3 router is dropped (§7.1)": {
			cfg: v3, advert: advertFrom(v2, peerAddr, 200), want: ErrVersion,
		},
		"an advert from an IPv6 source to an IPv4 router is dropped": {
			cfg: v3, advert: advertFrom(v3, peerAddr6, 200), want: ErrFamily,
		},
		"an advert listing IPv6 addresses to an IPv4 router is dropped (§5.2.9)": {
			cfg: v3, advert: mod(advertFrom(v3, peerAddr, 200), func(a *Advertisement) { a.Addresses = addrs("2001:db8::1") }), want: ErrFamily,
		},
		"our own advert looped back is dropped": {
			cfg: v3, advert: advertFrom(v3, ourAddr, 200), want: ErrOwnAdvert,
		},
		"an advert without addresses is dropped (§5.2.5)": {
			cfg: v3, advert: mod(advertFrom(v3, peerAddr, 200), func(a *Advertisement) { a.Addresses = nil }), want: ErrAddressCount,
		},
		"an advert with interval 0 is dropped (erratum 8301)": {
			cfg: v3, advert: mod(advertFrom(v3, peerAddr, 200), func(a *Advertisement) { a.Interval = 0 }), want: ErrInterval,
		},
		"a VRRPv3 advert with another interval is accepted (§7.1 says log, not drop)": {
			cfg: v3, advert: mod(advertFrom(v3, peerAddr, 200), func(a *Advertisement) { a.Interval = 2 * time.Second }),
		},
		"a VRRPv3 advert listing other addresses is dropped (§7.1: MUST unless from the owner)": {
			cfg: v3, advert: mod(advertFrom(v3, peerAddr, 200), func(a *Advertisement) { a.Addresses = addrs("198.51.100.99") }), want: ErrAddressMismatch,
		},
		"a VRRPv2 advert listing other addresses is dropped (RFC 3768 §7.1)": {
			cfg: v2, advert: mod(advertFrom(v2, peerAddr, 200), func(a *Advertisement) { a.Addresses = addrs("198.51.100.99") }), want: ErrAddressMismatch,
		},
		"an advert listing one of our two addresses is accepted (a list being changed, not another router)": {
			cfg: two, advert: mod(advertFrom(two, peerAddr, 200), func(a *Advertisement) { a.Addresses = addrs("198.51.100.252") }),
		},
		"an advert listing one of our addresses twice instead of both is accepted": {
			cfg: two, advert: mod(advertFrom(two, peerAddr, 200), func(a *Advertisement) { a.Addresses = addrs("198.51.100.252", "198.51.100.252") }),
		},
		"an advert listing our address and another is accepted": {
			cfg: v3, advert: mod(advertFrom(v3, peerAddr, 200), func(a *Advertisement) { a.Addresses = addrs("198.51.100.252", "198.51.100.99") }),
		},
		"an advert listing two addresses, none of them ours, is dropped": {
			cfg: two, advert: mod(advertFrom(two, peerAddr, 200), func(a *Advertisement) { a.Addresses = addrs("198.51.100.98", "198.51.100.99") }), want: ErrAddressMismatch,
		},
		"an advert listing our addresses in another order is accepted": {
			cfg: two, advert: mod(advertFrom(two, peerAddr, 200), func(a *Advertisement) { a.Addresses = addrs("198.51.100.253", "198.51.100.252") }),
		},
		// Review of issue 12: another router on our VRID at 255 (or a forged advert) took our
		// Master down and held every Backup, our VIP unheld; keepalived drops it.
		"the address owner's advert listing none of our addresses is dropped, as keepalived drops it": {
			cfg: v3, advert: mod(advertFrom(v3, peerAddr, 255), func(a *Advertisement) { a.Addresses = addrs("198.51.100.99") }), want: ErrAddressMismatch,
		},
		"the address owner's advert listing ours and another is accepted (§7.1: continue processing)": {
			cfg: v3, advert: mod(advertFrom(v3, peerAddr, 255), func(a *Advertisement) { a.Addresses = addrs("198.51.100.252", "198.51.100.99") }),
		},
		"a wrong password is auth, whatever the addresses": {
			cfg: v2, advert: mod(advertFrom(v2, peerAddr, 200), func(a *Advertisement) { a.AuthData[7] = '3'; a.Addresses = addrs("198.51.100.99") }), want: ErrAuth,
		},
		"a VRRPv2 advert with another interval is dropped (RFC 3768 §7.1)": {
			cfg: v2, advert: mod(advertFrom(v2, peerAddr, 200), func(a *Advertisement) { a.Interval = 2 * time.Second }), want: ErrIntervalMismatch,
		},
		"a VRRPv2 advert without authentication to a PASS router is dropped": {
			cfg: v2, advert: advertFrom(v2none, peerAddr, 200), want: ErrAuth,
		},
		"a VRRPv2 advert with PASS to a router without authentication is dropped": {
			cfg: v2none, advert: advertFrom(v2, peerAddr, 200), want: ErrAuth,
		},
		"a VRRPv2 advert with the wrong password is dropped": {
			cfg: v2, advert: mod(advertFrom(v2, peerAddr, 200), func(a *Advertisement) { a.AuthData[7] = '3' }), want: ErrAuth,
		},
		"a VRRPv2 advert with the right password is accepted": {
			cfg: v2, advert: advertFrom(v2, peerAddr, 200),
		},
		"a password longer than 8 bytes matches on its first 8, as keepalived cuts it": {
			cfg: func() Config { c := v2; c.Password = "secret12-and-more"; return c }(), advert: advertFrom(v2, peerAddr, 200),
		},
		"a VRRPv2 advert without authentication ignores the authentication data": {
			cfg: v2none, advert: mod(advertFrom(v2none, peerAddr, 200), func(a *Advertisement) { a.AuthData[0] = 'x' }),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for _, state := range []State{StateBackup, StateMaster} {
				var i *Instance
				now := t0.Add(time.Second)
				if state == StateBackup {
					i = backup(t, tc.cfg)
				} else {
					i, now = master(t, tc.cfg)
				}
				deadline, _ := i.Deadline()
				got := i.Handle(tc.advert, now)
				if tc.want == nil {
					if len(got) == 1 {
						if d, ok := got[0].(Drop); ok {
							t.Fatalf("%s dropped it: %v", state, d.Err)
						}
					}
					continue
				}
				wantActions(t, []Action{Drop{Err: tc.want}}, got)
				wantState(t, i, state)
				wantDeadline(t, i, deadline)
			}
		})
	}
}

func TestRoutersNotRunningIgnoreAdvertsAndTimers(t *testing.T) {
	cfg := v3Config()
	tests := map[string][]Event{
		"a router never started":                   nil,
		"a stopped router":                         {Startup{}, Shutdown{}},
		"a router in Fault":                        {Startup{}, InterfaceDown{}},
		"a router whose interface went down twice": {Startup{}, InterfaceDown{}, InterfaceDown{}},
	}
	for name, before := range tests {
		t.Run(name, func(t *testing.T) {
			i := newTestInstance(t, cfg)
			for _, ev := range before {
				i.Handle(ev, t0)
			}
			state := i.State()
			wantActions(t, nil, i.Handle(advertFrom(cfg, peerAddr, 200), t0))
			wantActions(t, nil, i.Handle(advertFrom(cfg, peerAddr, 0), t0))
			wantActions(t, nil, i.Handle(TimerExpired{}, t0.Add(time.Hour)))
			wantState(t, i, state)
			wantNoDeadline(t, i)
		})
	}
}

func TestInterfaceDownAndUp(t *testing.T) {
	cfg := v3Config()
	owner := v3Config()
	owner.Priority = 255
	t.Run("a Master whose interface goes down sends priority 0, removes its addresses and goes Fault", func(t *testing.T) {
		i, now := master(t, cfg)
		wantActions(t, []Action{
			ours(cfg, 0),
			RemoveAddresses{Addresses: cfg.Addresses},
			Transition{From: StateMaster, To: StateFault, Priority: 100, Reason: "eth0 down"},
		}, i.Handle(InterfaceDown{Reason: "eth0 down"}, now))
		wantNoDeadline(t, i)
	})
	t.Run("a Backup whose interface goes down goes Fault with no timer", func(t *testing.T) {
		i := backup(t, cfg)
		wantActions(t, []Action{Transition{From: StateBackup, To: StateFault, Priority: 100, Reason: "interfaceDown"}}, i.Handle(InterfaceDown{}, t0))
		wantNoDeadline(t, i)
	})
	t.Run("InterfaceUp takes a router in Fault through Initialize to Backup", func(t *testing.T) {
		i := backup(t, cfg)
		i.Handle(InterfaceDown{}, t0)
		now := t0.Add(time.Minute)
		wantActions(t, []Action{Transition{From: StateFault, To: StateBackup, Priority: 100, Reason: "interfaceUp"}}, i.Handle(InterfaceUp{}, now))
		wantDeadline(t, i, now.Add(3*time.Second+609375*time.Microsecond))
	})
	t.Run("InterfaceUp takes the address owner in Fault straight to Master", func(t *testing.T) {
		i := newTestInstance(t, owner)
		i.Handle(Startup{}, t0)
		i.Handle(InterfaceDown{}, t0)
		wantActions(t, becameMaster(owner, StateFault, 255, true, "addressOwner"), i.Handle(InterfaceUp{}, t0))
	})
	t.Run("InterfaceUp before Startup only clears the fault", func(t *testing.T) {
		i := newTestInstance(t, cfg)
		i.Handle(InterfaceDown{}, t0)
		wantActions(t, nil, i.Handle(InterfaceUp{}, t0))
		wantState(t, i, StateInit)
		wantActions(t, []Action{Transition{From: StateInit, To: StateBackup, Priority: 100, Reason: "startup"}}, i.Handle(Startup{}, t0))
	})
	t.Run("InterfaceUp of a running Backup does nothing", func(t *testing.T) {
		i := backup(t, cfg)
		wantActions(t, nil, i.Handle(InterfaceUp{}, t0.Add(time.Second)))
		wantDeadline(t, i, t0.Add(3*time.Second+609375*time.Microsecond))
	})
	t.Run("a router in Fault stops on Shutdown", func(t *testing.T) {
		i := backup(t, cfg)
		i.Handle(InterfaceDown{}, t0)
		wantActions(t, []Action{Transition{From: StateFault, To: StateStopped, Priority: 100, Reason: "shutdown"}}, i.Handle(Shutdown{}, t0))
	})
}

func TestSetPriority(t *testing.T) {
	cfg := v3Config()
	t.Run("a Master resigning sends priority 0, removes its addresses and goes Backup (cordon Demote)", func(t *testing.T) {
		i, now := master(t, cfg)
		wantActions(t, []Action{
			ours(cfg, 0),
			RemoveAddresses{Addresses: cfg.Addresses},
			Transition{From: StateMaster, To: StateBackup, Priority: 1, Reason: "resign"},
		}, i.Handle(SetPriority{Priority: 1, Resign: true}, now))
		if i.Priority() != 1 {
			t.Errorf("Priority() = %d, want 1", i.Priority())
		}
		// Nobody else took over: the demoted router takes the addresses back by the rules.
		wantDeadline(t, i, now.Add(3*time.Second+996093750))
	})
	t.Run("a Master resigning with priority 0 keeps its priority", func(t *testing.T) {
		i, now := master(t, cfg)
		acts := i.Handle(SetPriority{Resign: true}, now)
		if i.Priority() != 100 || i.State() != StateBackup || len(acts) != 3 {
			t.Errorf("after resigning: priority %d, state %s, %d actions; want 100, BACKUP, 3", i.Priority(), i.State(), len(acts))
		}
	})
	t.Run("a Master given a new priority advertises it at once and stays Master", func(t *testing.T) {
		i, now := master(t, cfg)
		at := now.Add(100 * time.Millisecond)
		wantActions(t, []Action{ours(cfg, 50)}, i.Handle(SetPriority{Priority: 50}, at))
		wantState(t, i, StateMaster)
		wantDeadline(t, i, t0.Add(4625*time.Millisecond)) // at+1 s is 4.709375 s
	})
	t.Run("a Master given its current priority sends nothing", func(t *testing.T) {
		i, now := master(t, cfg)
		wantActions(t, nil, i.Handle(SetPriority{Priority: 100}, now))
	})
	t.Run("an address owner demoted loses Accept without AcceptMode", func(t *testing.T) {
		c := cfg
		c.Priority = 255
		i := newTestInstance(t, c)
		i.Handle(Startup{}, t0)
		wantActions(t, []Action{ours(c, 200), AddAddresses{Addresses: c.Addresses, Accept: false}}, i.Handle(SetPriority{Priority: 200}, t0))
	})
	t.Run("a Backup raised above the Master preempts it by discarding its next advert, after Skew_Time", func(t *testing.T) {
		i := backup(t, cfg)
		now := t0.Add(time.Second)
		i.Handle(advertFrom(cfg, peerAddr, 150), now)
		wantActions(t, nil, i.Handle(SetPriority{Priority: 200}, now))
		wantActions(t, nil, i.Handle(advertFrom(cfg, peerAddr, 150), now.Add(time.Second)))
		// The Master it followed is now below it: Skew_Time of priority 200, not the timer armed by
		// the last accepted advert (3.609 s after it).
		deadline := now.Add(time.Second + 218750*time.Microsecond)
		wantDeadline(t, i, deadline)
		wantActions(t, becameMaster(cfg, StateBackup, 200, false, "masterDown"), i.Handle(TimerExpired{}, deadline))
	})
	t.Run("a Backup asked to resign only takes the priority", func(t *testing.T) {
		i := backup(t, cfg)
		wantActions(t, nil, i.Handle(SetPriority{Priority: 20, Resign: true}, t0))
		wantState(t, i, StateBackup)
		if i.Priority() != 20 {
			t.Errorf("Priority() = %d, want 20", i.Priority())
		}
	})
}

func TestReconfigure(t *testing.T) {
	cfg := v3Config()
	t.Run("a Master removes old addresses, adds and announces new ones and advertises the new list", func(t *testing.T) {
		i, now := master(t, cfg)
		next := cfg
		next.Addresses = []netip.Prefix{vip2}
		next.AdvertInterval = 2 * time.Second
		wantActions(t, []Action{
			RemoveAddresses{Addresses: []netip.Prefix{vip}},
			AddAddresses{Addresses: []netip.Prefix{vip2}},
			Announce{Addresses: []netip.Addr{vip2.Addr()}},
			ours(next, 100),
		}, i.Handle(Reconfigure{Config: next}, now))
		wantDeadline(t, i, t0.Add(5500*time.Millisecond)) // now+2 s is 5.609375 s, in slots of 250 ms
		if diff := cmp.Diff(next, i.Config(), cmpOpts); diff != "" {
			t.Errorf("Config() mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("a Master whose AcceptMode turns on re-adds all its addresses with Accept", func(t *testing.T) {
		i, now := master(t, cfg)
		next := cfg
		next.AcceptMode = true
		next.Addresses = []netip.Prefix{vip, vip2}
		wantActions(t, []Action{
			AddAddresses{Addresses: next.Addresses, Accept: true},
			Announce{Addresses: []netip.Addr{vip2.Addr()}},
			ours(next, 100),
		}, i.Handle(Reconfigure{Config: next}, now))
	})
	t.Run("a Backup takes the new configuration without actions", func(t *testing.T) {
		i := backup(t, cfg)
		next := cfg
		next.Addresses = []netip.Prefix{vip2}
		wantActions(t, nil, i.Handle(Reconfigure{Config: next}, t0))
	})
	t.Run("a new configured priority replaces one set at run time", func(t *testing.T) {
		i := backup(t, cfg)
		i.Handle(SetPriority{Priority: 1}, t0)
		next := cfg
		next.Priority = 120
		i.Handle(Reconfigure{Config: next}, t0)
		if i.Priority() != 120 {
			t.Errorf("Priority() = %d, want 120", i.Priority())
		}
	})
	t.Run("an unchanged configured priority keeps one set at run time", func(t *testing.T) {
		i := backup(t, cfg)
		i.Handle(SetPriority{Priority: 1}, t0)
		next := cfg
		next.Preempt = false
		i.Handle(Reconfigure{Config: next}, t0)
		if i.Priority() != 1 {
			t.Errorf("Priority() = %d, want 1", i.Priority())
		}
	})
	t.Run("a VRRPv2 Backup takes the new interval at once", func(t *testing.T) {
		c := v2Config()
		i := backup(t, c)
		next := c
		next.AdvertInterval = 2 * time.Second
		i.Handle(Reconfigure{Config: next}, t0)
		now := t0.Add(time.Second)
		i.Handle(advertFrom(next, peerAddr, 200), now)
		wantDeadline(t, i, now.Add(6*time.Second+414062500))
	})
	refused := map[string]struct {
		change func(*Config)
		want   error
	}{
		"a new VRID is refused":               {func(c *Config) { c.VRID = 52 }, ErrVRID},
		"a new version is refused":            {func(c *Config) { c.Version = 2 }, ErrVersion},
		"a new address family is refused":     {func(c *Config) { c.PrimaryAddress, c.Addresses = ourAddr6, []netip.Prefix{vip6} }, ErrFamily},
		"an invalid configuration is refused": {func(c *Config) { c.Priority = 0 }, ErrInvalidConfig},
	}
	for name, tc := range refused {
		t.Run(name, func(t *testing.T) {
			i, now := master(t, cfg)
			next := cfg
			tc.change(&next)
			if err := i.CanReconfigure(next); !errors.Is(err, tc.want) {
				t.Errorf("CanReconfigure error = %v, want %v", err, tc.want)
			}
			wantActions(t, nil, i.Handle(Reconfigure{Config: next}, now))
			if diff := cmp.Diff(cfg, i.Config(), cmpOpts); diff != "" {
				t.Errorf("Config() changed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPreemptDelay(t *testing.T) {
	cfg := v3Config()
	cfg.Priority, cfg.PreemptDelay = 200, 5*time.Second
	down := 3*time.Second + 218750*time.Microsecond // priority 200 at 1 s
	t.Run("a Backup accepts a lower-priority Master until it has heard it for PreemptDelay", func(t *testing.T) {
		i := backup(t, cfg)
		var last time.Time
		for s := 1; s <= 5; s++ {
			last = t0.Add(time.Duration(s) * time.Second)
			i.Handle(advertFrom(cfg, peerAddr, 100), last)
			wantDeadline(t, i, last.Add(down))
		}
		// From t0+6s the delay, started at t0+1s, has run out: adverts are discarded.
		i.Handle(advertFrom(cfg, peerAddr, 100), t0.Add(6*time.Second))
		wantDeadline(t, i, last.Add(down))
		wantActions(t, becameMaster(cfg, StateBackup, 200, false, "masterDown"), i.Handle(TimerExpired{}, last.Add(down)))
	})
	t.Run("an advert of higher priority restarts the delay", func(t *testing.T) {
		i := backup(t, cfg)
		i.Handle(advertFrom(cfg, peerAddr, 100), t0.Add(time.Second))
		i.Handle(advertFrom(cfg, peerAddr, 250), t0.Add(5*time.Second))
		at := t0.Add(6500 * time.Millisecond)
		i.Handle(advertFrom(cfg, peerAddr, 100), at)
		wantDeadline(t, i, at.Add(down))
	})
}

func TestAcceptModeDecidesWhetherTheMasterAcceptsPackets(t *testing.T) {
	tests := map[string]struct {
		priority   uint8
		acceptMode bool
		want       bool
	}{
		"the address owner accepts without AcceptMode (§6.4.3)": {255, false, true},
		"a non-owner with AcceptMode accepts":                   {100, true, true},
		"a non-owner without AcceptMode does not accept":        {100, false, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := v3Config()
			cfg.Priority, cfg.AcceptMode = tc.priority, tc.acceptMode
			i := newTestInstance(t, cfg)
			acts := i.Handle(Startup{}, t0)
			if i.State() != StateMaster {
				now, _ := i.Deadline()
				acts = i.Handle(TimerExpired{}, now)
			}
			for _, a := range acts {
				if add, ok := a.(AddAddresses); ok {
					if add.Accept != tc.want {
						t.Errorf("AddAddresses.Accept = %t, want %t", add.Accept, tc.want)
					}
					return
				}
			}
			t.Fatalf("no AddAddresses in %v", acts)
		})
	}
}

func TestUnknownEventsAreIgnored(t *testing.T) {
	i := backup(t, v3Config())
	wantActions(t, nil, i.Handle(nil, t0))
	wantState(t, i, StateBackup)
}

func TestConfigReturnsACopy(t *testing.T) {
	cfg := v3Config()
	i := newTestInstance(t, cfg)
	got := i.Config()
	got.Addresses[0] = vip2
	if diff := cmp.Diff(cfg, i.Config(), cmpOpts); diff != "" {
		t.Errorf("Config() shares memory with the instance (-want +got):\n%s", diff)
	}
}

func TestNewInstanceWithoutLoggerDiscards(t *testing.T) {
	cfg := v2Config()
	cfg.Password = "longer-than-eight"
	i, err := NewInstance(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	i.Handle(Startup{}, t0)
	wantState(t, i, StateBackup)
	if _, err := NewInstance(Config{}, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewInstance(Config{}) error = %v, want ErrInvalidConfig", err)
	}
}

func TestAddressesOfTheLastListAreAcceptedForAMasterDownInterval(t *testing.T) {
	// The Backup learnt the new list first; the Master still advertises the old one.
	cfg := v3Config()
	i := backup(t, cfg)
	next := cfg
	next.Addresses = prefixes("198.51.100.99/24")
	now := t0.Add(time.Second)
	i.Handle(Reconfigure{Config: next}, now)
	mdi := MasterDownInterval(3, 100, time.Second)
	old := advertFrom(cfg, peerAddr, 200)
	wantActions(t, []Action{AddressesDiffer{Addresses: old.Advert.Addresses}}, i.Handle(old, now.Add(mdi-time.Nanosecond)))
	wantActions(t, []Action{Drop{Err: ErrAddressMismatch}}, i.Handle(old, now.Add(2*mdi)))
	if got := i.Handle(advertFrom(next, peerAddr, 200), now.Add(2*mdi)); len(got) != 0 {
		t.Errorf("the new list: got %v, want it accepted", got)
	}
}

// Issue 9 follow-up: the nodes learn a changed address list one after another. When the Master
// learns it first, its Backups must keep following it, or each takes over after its
// Master_Down_Interval and the VirtualIP has two Masters until the last node catches up.
func TestABackupFollowsAMasterThatLearntAChangedAddressListFirst(t *testing.T) {
	two := v3Config()
	two.Addresses = prefixes("198.51.100.252/24", "198.51.100.253/24")
	tests := map[string]struct {
		backup, master Config
	}{
		"an address added":   {backup: v3Config(), master: two},
		"an address removed": {backup: two, master: v3Config()},
		"keepalived's list without the virtual_ipaddress_excluded we list": {backup: two, master: v3Config()},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			i := backup(t, tc.backup)
			adv := advertFrom(tc.master, peerAddr, 200)
			differ := AddressesDiffer{Addresses: adv.Advert.Addresses}
			// Ten intervals of the Master's adverts, each past a Master_Down_Interval of the start.
			for k := range 10 {
				now := t0.Add(time.Duration(k+1) * time.Second)
				wantActions(t, []Action{differ}, i.Handle(adv, now))
				wantActions(t, nil, i.Handle(TimerExpired{}, now.Add(time.Second-time.Nanosecond)))
			}
			wantState(t, i, StateBackup)
		})
	}
}

func TestAMasterCountsTheAddressOwnersOtherListBeforeStandingDown(t *testing.T) {
	cfg := v3Config()
	i, now := master(t, cfg)
	adv := advertFrom(cfg, peerAddr, 255)
	adv.Advert.Addresses = addrs("198.51.100.252", "198.51.100.99")
	got := i.Handle(adv, now)
	if len(got) == 0 {
		t.Fatal("the owner's advert did nothing")
	}
	wantActions(t, []Action{AddressesDiffer{Addresses: addrs("198.51.100.252", "198.51.100.99")}}, got[:1])
	wantState(t, i, StateBackup)
}

// Review of issue 12: an advert at 255 that lists none of our addresses is another router on our
// VRID, or a forged one: a Master that followed it left our VIP unheld, every Backup with it.
func TestAMasterKeepsTheVIPAgainstAnOwnerOfOtherAddresses(t *testing.T) {
	cfg := v3Config()
	i, now := master(t, cfg)
	adv := advertFrom(cfg, peerAddr, 255)
	adv.Advert.Addresses = addrs("198.51.100.99")
	for k := range 10 {
		i.Handle(adv, now.Add(time.Duration(k)*time.Second))
	}
	wantState(t, i, StateMaster)
}

// A Backup that preempts takes over within its Skew_Time when the Master it follows falls below
// it (a failing weighted check), instead of a Master_Down_Interval after the Master's last higher
// advert; otherwise a lower advert is discarded as RFC 9568 §6.4.2 says (see backupReceived).
func TestBackupPreemptsAFallenMasterAfterSkewTime(t *testing.T) {
	skew := 609375 * time.Microsecond // priority 100 at 1 s
	down := 3*time.Second + skew
	t1, t2 := t0.Add(time.Second), t0.Add(1500*time.Millisecond)
	type heard struct {
		at     time.Time
		advert AdvertReceived
	}
	tests := map[string]struct {
		change   func(*Config)
		master   bool // start as a Master rather than a Backup
		before   []heard
		fall     heard
		deadline time.Time
		raise    uint8 // our priority after before, when set
	}{
		"a Master followed at a higher priority that falls below us: Skew_Time": {
			before:   []heard{{t1, advertFrom(v3Config(), peerAddr, 150)}},
			fall:     heard{t2, advertFrom(v3Config(), peerAddr, 50)},
			deadline: t2.Add(skew),
		},
		"a Master followed at our priority that falls below us: Skew_Time": {
			before:   []heard{{t1, advertFrom(v3Config(), lowerAddr, 100)}},
			fall:     heard{t2, advertFrom(v3Config(), lowerAddr, 99)},
			deadline: t2.Add(skew),
		},
		"a fall heard late keeps the sooner Master_Down_Timer": {
			before:   []heard{{t1, advertFrom(v3Config(), peerAddr, 150)}},
			fall:     heard{t1.Add(3500 * time.Millisecond), advertFrom(v3Config(), peerAddr, 50)},
			deadline: t1.Add(down),
		},
		"a Master that stepped down for a higher one follows it, and preempts when it falls": {
			master:   true,
			before:   []heard{{t0.Add(5 * time.Second), advertFrom(v3Config(), peerAddr, 150)}},
			fall:     heard{t0.Add(6 * time.Second), advertFrom(v3Config(), peerAddr, 50)},
			deadline: t0.Add(6 * time.Second).Add(skew),
		},
		"a Master followed at a higher priority than ours, which rose above it: Skew_Time": {
			before:   []heard{{t1, advertFrom(v3Config(), peerAddr, 90)}},
			change:   func(c *Config) { c.Priority = 80 },
			raise:    100,
			fall:     heard{t2, advertFrom(v3Config(), peerAddr, 90)},
			deadline: t2.Add(skew),
		},
		"a Master that falls to our priority is followed still": {
			before:   []heard{{t1, advertFrom(v3Config(), peerAddr, 150)}},
			fall:     heard{t2, advertFrom(v3Config(), peerAddr, 100)},
			deadline: t2.Add(down),
		},
		"a lower advert from another source than the Master followed is discarded, the timer kept": {
			before:   []heard{{t1, advertFrom(v3Config(), peerAddr, 150)}},
			fall:     heard{t2, advertFrom(v3Config(), lowerAddr, 50)},
			deadline: t1.Add(down),
		},
		"without Preempt a fallen Master is followed": {
			change:   func(c *Config) { c.Preempt = false },
			before:   []heard{{t1, advertFrom(v3Config(), peerAddr, 150)}},
			fall:     heard{t2, advertFrom(v3Config(), peerAddr, 50)},
			deadline: t2.Add(down),
		},
		"with a PreemptDelay a fallen Master is followed while the delay runs": {
			change:   func(c *Config) { c.PreemptDelay = 5 * time.Second },
			before:   []heard{{t1, advertFrom(v3Config(), peerAddr, 150)}},
			fall:     heard{t2, advertFrom(v3Config(), peerAddr, 50)},
			deadline: t2.Add(down),
		},
		"a Master accepted below us during a PreemptDelay waits for the timer once the delay ran out": {
			change:   func(c *Config) { c.PreemptDelay = time.Second },
			before:   []heard{{t1, advertFrom(v3Config(), peerAddr, 90)}},
			fall:     heard{t1.Add(time.Second), advertFrom(v3Config(), peerAddr, 80)},
			deadline: t1.Add(down),
		},
		"a Backup that has followed no Master waits for its timer, as keepalived at startup": {
			fall:     heard{t2, advertFrom(v3Config(), peerAddr, 50)},
			deadline: t0.Add(down),
		},
		"after a priority-0 advert the next lower advert does not shorten the timer": {
			before: []heard{
				{t1, advertFrom(v3Config(), peerAddr, 150)},
				{t1.Add(100 * time.Millisecond), advertFrom(v3Config(), peerAddr, 0)},
			},
			fall:     heard{t1.Add(200 * time.Millisecond), advertFrom(v3Config(), lowerAddr, 50)},
			deadline: t1.Add(100 * time.Millisecond).Add(skew),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := v3Config()
			if tc.change != nil {
				tc.change(&cfg)
			}
			var i *Instance
			if tc.master {
				i, _ = master(t, cfg)
			} else {
				i = backup(t, cfg)
			}
			for _, h := range tc.before {
				i.Handle(h.advert, h.at)
			}
			if tc.raise != 0 {
				i.Handle(SetPriority{Priority: tc.raise}, tc.before[len(tc.before)-1].at)
			}
			wantState(t, i, StateBackup)
			wantActions(t, nil, i.Handle(tc.fall.advert, tc.fall.at))
			wantDeadline(t, i, tc.deadline)
		})
	}
	t.Run("a Backup whose own priority drops back to the Master's before Skew_Time runs out does not take over", func(t *testing.T) {
		cfg := v3Config()
		i := backup(t, func() Config { c := cfg; c.Priority = 80; return c }())
		i.Handle(advertFrom(cfg, peerAddr, 90), t1)
		i.Handle(SetPriority{Priority: 100}, t1)                         // our check passes again
		wantActions(t, nil, i.Handle(advertFrom(cfg, peerAddr, 90), t2)) // armed: Skew_Time
		wantDeadline(t, i, t2.Add(skew))
		at := t2.Add(100 * time.Millisecond)
		i.Handle(SetPriority{Priority: 80}, at) // and fails again before Skew_Time ran out
		wantDeadline(t, i, at.Add(3*time.Second+(256-80)*time.Second/256))
		wantActions(t, nil, i.Handle(TimerExpired{}, t2.Add(skew)))
		wantState(t, i, StateBackup)
	})
	t.Run("a Backup reconfigured below the Master's advert before Skew_Time runs out does not take over", func(t *testing.T) {
		cfg := v3Config()
		i := backup(t, cfg)
		i.Handle(advertFrom(cfg, peerAddr, 150), t1)
		i.Handle(advertFrom(cfg, peerAddr, 50), t2) // the Master fell: armed
		wantDeadline(t, i, t2.Add(skew))
		at := t2.Add(100 * time.Millisecond)
		lower := cfg
		lower.Priority = 40
		i.Handle(Reconfigure{Config: lower}, at)
		wantDeadline(t, i, at.Add(3*time.Second+(256-40)*time.Second/256))
		wantState(t, i, StateBackup)
	})
	t.Run("the Backup takes over when the shortened timer fires", func(t *testing.T) {
		cfg := v3Config()
		i := backup(t, cfg)
		i.Handle(advertFrom(cfg, peerAddr, 150), t1)
		i.Handle(advertFrom(cfg, peerAddr, 50), t2)
		wantActions(t, nil, i.Handle(TimerExpired{}, t2.Add(skew-1)))
		wantActions(t, becameMaster(cfg, StateBackup, 100, false, "masterDown"), i.Handle(TimerExpired{}, t2.Add(skew)))
	})
}

// The line of a transition, as the agent's text log and the tests that read it (test/cluster's
// parseTransitions) know it: the states as words, not through fmt, which grew every router's
// goroutine stack in the speaker to 16 KiB (issue 12).
func TestTransitionLogLine(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
	i, err := NewInstance(v3Config(), log)
	if err != nil {
		t.Fatal(err)
	}
	i.Handle(Startup{}, t0)
	want := `level=INFO msg="state changed" virtualIP=services vrid=51 from=INIT to=BACKUP priority=100 reason=startup` + "\n"
	if got := buf.String(); got != want {
		t.Errorf("logged %q, want %q", got, want)
	}
}

// Review of issue 12: a Master answered every priority-0 advert, so a flood of forged ones made
// it send one advert per packet; the answer to lower-priority adverts was limited already.
func TestAMasterAnswersPriorityZeroOnceAnInterval(t *testing.T) {
	cfg := v3Config()
	i, now := master(t, cfg)
	zero := advertFrom(cfg, peerAddr, 0)
	sent := 0
	for k := range 1000 {
		for _, a := range i.Handle(zero, now.Add(time.Duration(k)*time.Millisecond)) {
			if _, ok := a.(SendAdvert); ok {
				sent++
			}
		}
	}
	if want := int(time.Second / cfg.AdvertInterval); sent != want {
		t.Errorf("1000 priority-0 adverts in 1 s made %d adverts, want %d: one per interval of %v", sent, want, cfg.AdvertInterval)
	}
}
