package e2e

import (
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// The seed's addresses, moved to a documentation prefix.
var (
	seedVIP       = netip.MustParseAddr("198.51.100.252")
	seedPrimary   = "198.51.100.253/24"
	seedSecondary = "198.51.100.254/24"
	seedClient    = "198.51.100.10/24"
)

// TestSeedSetupFromTheSampleFile runs config/samples/standalone-seed.yaml as the seed ran
// keepalived: primary (ens3, priority 150) and secondary (eth0, 100), VRRPv2 with PASS, adverts
// every second, the seed's notify script and notify_stop. It checks the election, that one MAC
// answers ARP for the VIP for two Master_Down_Intervals, that SIGTERM hands the VIP over (the
// seed's notify_stop use case), that the primary takes it back when it returns, and that the
// script's master flag is 1 on MASTER and 0 on BACKUP and STOP, called with keepalived's arguments.
func TestSeedSetupFromTheSampleFile(t *testing.T) {
	requireLab(t)
	t.Parallel()
	lab := testenv.NewLab(t)
	primary := newNode(t, lab, "ens3", seedPrimary)
	secondary := newNode(t, lab, "eth0", seedSecondary)
	client := newNode(t, lab, "eth0", seedClient)
	sample := filepath.Join(testenv.Root(), "config", "samples", "standalone-seed.yaml")
	ph, sh := newSeedHook(t), newSeedHook(t)

	agentBinary(t) // built before the clock starts
	start := time.Now()
	pa := startAgent(t, primary, "primary", sample, agentOptions{hooks: ph})
	sa := startAgent(t, secondary, "secondary", sample, agentOptions{hooks: sh})
	mdi := masterDownInterval(2, time.Second, 100)
	elected := waitOwner(t, start, mdi+5*time.Second, seedVIP, primary, secondary)
	recordTiming(t, "seed election from start (primary Master)", elected)
	ping(t, client, seedVIP)
	holdsAlone(t, 2*mdi, seedVIP, client, primary, secondary)
	waitFlag(t, ph, "1", "primary is MASTER")
	waitFlag(t, sh, "0", "secondary is BACKUP")

	// The seed's notify_stop use case: stopping the service forces a clean failover.
	stop := time.Now()
	pa.sigterm()
	recordTiming(t, "seed graceful failover (SIGTERM primary -> secondary holds VIP)", waitOwner(t, stop, 5*time.Second, seedVIP, secondary, primary))
	recordTiming(t, "seed client's ARP entry follows the VIP after SIGTERM", waitNeighbor(t, stop, client, seedVIP, secondary))
	pa.waitExit()
	holdsAlone(t, time.Second, seedVIP, client, secondary, primary)
	waitFlag(t, ph, "0", "primary stopped")
	waitFlag(t, sh, "1", "secondary took over")

	// The primary comes back and preempts (preempt defaults to true, as in keepalived).
	back := time.Now()
	pa.start()
	recordTiming(t, "seed preempt back (primary restarted -> primary holds VIP)", waitOwner(t, back, masterDownInterval(2, time.Second, 150)+5*time.Second, seedVIP, primary, secondary))
	holdsAlone(t, time.Second, seedVIP, client, primary, secondary)
	waitFlag(t, ph, "1", "primary is MASTER again")
	waitFlag(t, sh, "0", "secondary is BACKUP again")
	sa.terminate()
	pa.terminate()

	// keepalived calls notify as `SCRIPT INSTANCE <name> <STATE> <priority>` and the seed's
	// notify_stop as written; the agent runs the stop hook after notify's STOP.
	wantPrimary := []string{
		"INSTANCE services BACKUP 150", "INSTANCE services MASTER 150", "INSTANCE services STOP 150", "0 VI_1 STOP",
		"INSTANCE services BACKUP 150", "INSTANCE services MASTER 150", "INSTANCE services STOP 150", "0 VI_1 STOP",
	}
	wantSecondary := []string{
		"INSTANCE services BACKUP 100", "INSTANCE services MASTER 100", "INSTANCE services BACKUP 100",
		"INSTANCE services STOP 100", "0 VI_1 STOP",
	}
	if got := ph.callLog(); !slices.Equal(got, wantPrimary) {
		t.Errorf("primary's notify script calls:\n got %q\nwant %q", got, wantPrimary)
	}
	if got := sh.callLog(); !slices.Equal(got, wantSecondary) {
		t.Errorf("secondary's notify script calls:\n got %q\nwant %q", got, wantSecondary)
	}
	for _, h := range []*seedHook{ph, sh} {
		if v := h.value(); v != "0" {
			t.Errorf("master flag %s after stop = %q, want 0", h.flag, v)
		}
	}
}

// waitFlag waits for the seed script's master flag to read want: hooks run after the transition,
// on a queue of their own.
func waitFlag(t testing.TB, h *seedHook, want, why string) {
	t.Helper()
	if !pollUntil(5*time.Second, func() bool { return h.value() == want }) {
		t.Fatalf("master flag %s = %q, want %q (%s); script calls: %q", h.flag, h.value(), want, why, h.callLog())
	}
}
