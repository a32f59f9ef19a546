package vrrp

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// t0 is the fake clock's start; tests pass times explicitly, nothing sleeps.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var (
	ourAddr    = netip.MustParseAddr("198.51.100.10")
	peerAddr   = netip.MustParseAddr("198.51.100.20") // greater than ours
	lowerAddr  = netip.MustParseAddr("198.51.100.5")  // smaller than ours
	ourAddr6   = netip.MustParseAddr("fe80::10")
	peerAddr6  = netip.MustParseAddr("fe80::20")
	vip        = netip.MustParsePrefix("198.51.100.252/24")
	vip2       = netip.MustParsePrefix("203.0.113.7/24")
	vip6       = netip.MustParsePrefix("2001:db8::252/64")
	testWriter = func(t testing.TB) *slog.Logger {
		return slog.New(slog.NewTextHandler(tLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
)

type tLogWriter struct{ t testing.TB }

func (w tLogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// v3Config is a VRRPv3 IPv4 router with priority 100, 1 s adverts and Preempt.
func v3Config() Config {
	return Config{
		Name: "services", VRID: 51, Version: 3, Priority: 100, AdvertInterval: time.Second, Preempt: true,
		Addresses: []netip.Prefix{vip}, PrimaryAddress: ourAddr,
	}
}

// v2Config is the seed's setup: VRRPv2, PASS, 1 s adverts.
func v2Config() Config {
	cfg := v3Config()
	cfg.Version, cfg.Priority, cfg.Password = 2, 150, "secret12"
	return cfg
}

func newTestInstance(t testing.TB, cfg Config) *Instance {
	t.Helper()
	i, err := NewInstance(cfg, testWriter(t))
	if err != nil {
		t.Fatalf("NewInstance: %v", err)
	}
	return i
}

// backup returns an instance of cfg that went Backup at t0.
func backup(t testing.TB, cfg Config) *Instance {
	t.Helper()
	i := newTestInstance(t, cfg)
	i.Handle(Startup{}, t0)
	wantState(t, i, StateBackup)
	return i
}

// master returns an instance of cfg that became Master when its Master_Down_Timer fired, and
// that time.
func master(t testing.TB, cfg Config) (*Instance, time.Time) {
	t.Helper()
	i := backup(t, cfg)
	now, _ := i.Deadline()
	i.Handle(TimerExpired{}, now)
	wantState(t, i, StateMaster)
	return i, now
}

// advertFrom is an advert another router of cfg's virtual router sends.
func advertFrom(cfg Config, src netip.Addr, priority uint8) AdvertReceived {
	a := Advertisement{Version: cfg.Version, VRID: cfg.VRID, Priority: priority, Interval: cfg.AdvertInterval}
	for _, p := range cfg.Addresses {
		a.Addresses = append(a.Addresses, p.Addr())
	}
	if cfg.Version == 2 {
		a.AuthType, a.AuthData = cfg.authData()
	}
	return AdvertReceived{Advert: a, Src: src}
}

// ours is the advert an instance of cfg sends with priority.
func ours(cfg Config, priority uint8) SendAdvert {
	return SendAdvert{Advert: advertFrom(cfg, netip.Addr{}, priority).Advert}
}

// becameMaster are the actions of becoming Master, in their documented order.
func becameMaster(cfg Config, from State, priority uint8, accept bool, reason string) []Action {
	var as []netip.Addr
	for _, p := range cfg.Addresses {
		as = append(as, p.Addr())
	}
	return []Action{
		ours(cfg, priority),
		AddAddresses{Addresses: cfg.Addresses, Accept: accept},
		Announce{Addresses: as},
		Transition{From: from, To: StateMaster, Priority: priority, Reason: reason},
	}
}

func wantActions(t testing.TB, want, got []Action) {
	t.Helper()
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("actions mismatch (-want +got):\n%s", diff)
	}
}

func wantState(t testing.TB, i *Instance, want State) {
	t.Helper()
	if got := i.State(); got != want {
		t.Fatalf("State() = %s, want %s", got, want)
	}
}

func wantDeadline(t testing.TB, i *Instance, want time.Time) {
	t.Helper()
	got, ok := i.Deadline()
	if !ok {
		t.Fatalf("Deadline() = none, want %s", want.Sub(t0))
	}
	if !got.Equal(want) {
		t.Errorf("Deadline() = t0+%s, want t0+%s", got.Sub(t0), want.Sub(t0))
	}
}

func wantNoDeadline(t testing.TB, i *Instance) {
	t.Helper()
	if got, ok := i.Deadline(); ok {
		t.Errorf("Deadline() = t0+%s, want none", got.Sub(t0))
	}
}
