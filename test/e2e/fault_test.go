package e2e

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// TestAMasterThatCannotRecordItsVIPGivesWay makes the address record of the high-priority node
// unwritable (its state directory is a tmpfs remounted read-only): as Master it cannot add the
// VIP, so after a Master_Down_Interval it goes FAULT with a priority-0 advert and the low node
// takes the VIP (issue 9 item 2). With the record writable again it comes back and preempts.
func TestAMasterThatCannotRecordItsVIPGivesWay(t *testing.T) {
	requireLab(t)
	t.Parallel()
	lab := testenv.NewLab(t)
	high := newNode(t, lab, "ens3", seedPrimary)
	low := newNode(t, lab, "eth0", seedSecondary)
	client := newNode(t, lab, "eth0", seedClient)
	config := writeManifests(t, []vipSpec{{
		name: "services", vrid: 51, version: 3, addresses: []string{"198.51.100.252/24"}, interval: fast.String(),
		priorities: map[string]int{"high": 150},
	}}, nil)
	stateDir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", stateDir, "tmpfs", 0, "size=1m"); err != nil {
		testenv.Unavailable(t, "test needs to mount a tmpfs: "+err.Error())
	}
	t.Cleanup(func() { _ = unix.Unmount(stateDir, unix.MNT_DETACH) })
	remount := func(flags uintptr) {
		t.Helper()
		if err := unix.Mount("", stateDir, "", unix.MS_REMOUNT|flags, ""); err != nil {
			t.Fatalf("remounting the state directory: %v", err)
		}
	}

	mdi := masterDownInterval(3, fast, 100)
	startAgent(t, low, "low", config, agentOptions{})
	waitOwner(t, time.Now(), mdi+10*time.Second, seedVIP, low, high)

	// The high agent starts with its link down, so that it writes its record at start and is FAULT
	// (InterfaceDown) until the record has become read-only.
	high.IP("link", "set", high.Link, "down")
	ha := &agent{t: t, node: high, name: "high", config: config, stateDir: stateDir}
	ha.start()
	waitState(t, ha, "services", "FAULT")
	remount(unix.MS_RDONLY)
	up := time.Now()
	high.IP("link", "set", high.Link, "up")

	// High preempts, fails to add the VIP, and gives way within its Master_Down_Interval.
	transitions := func(from, to string) float64 {
		s, err := ha.metrics()
		if err != nil {
			return 0
		}
		return s.sum(metrics.Transitions, map[string]string{"virtual_ip": "services", "from": from, "to": to})
	}
	waitFor(t, up, 10*time.Second, "the high agent preempts", func() bool { return transitions("BACKUP", "MASTER") > 0 })
	waitFor(t, up, mdi+10*time.Second, "the high agent, without its VIP, goes FAULT", func() bool { return transitions("MASTER", "FAULT") > 0 })
	waitOwner(t, up, mdi+10*time.Second, seedVIP, low, high)
	if got := mustScrape(t, ha).sum(metrics.AddressErrors, map[string]string{"operation": metrics.OpAdd}); got == 0 {
		t.Errorf("the high agent counted no failed add in %s", metrics.AddressErrors)
	}
	if !ha.logHas("cannot hold the VIP") {
		t.Error("the high agent did not log why it went FAULT")
	}
	holdsAlone(t, max(2*mdi, time.Second), seedVIP, client, low, high)
	waitState(t, ha, "services", "FAULT")

	// The record is writable again: within the check interval high starts as Backup and preempts.
	remount(0)
	back := time.Now()
	recordTiming(t, "v3 100ms Master back once its address record is writable",
		waitOwner(t, back, 5*time.Second+mdi+10*time.Second, seedVIP, high, low))
	waitState(t, ha, "services", "MASTER")
	holdsAlone(t, max(2*mdi, time.Second), seedVIP, client, high, low)
}

// TestAnAdvertForNoneOfOurAddressesIsDropped sends a Master adverts of priority 254 on its VRID
// that list another address: it drops and counts them (address_mismatch) and stays Master, as RFC
// 9568 §7.1 and RFC 3768 §7.1 say for a sender that is not the address owner. The same list at
// priority 255 is dropped too, as keepalived drops it: another router on the VRID that owns its
// own address, or a forged advert, must not leave our VIP unheld. An owner's list that includes
// ours is processed: the Master steps down.
func TestAnAdvertForNoneOfOurAddressesIsDropped(t *testing.T) {
	requireLab(t)
	t.Parallel()
	lab := testenv.NewLab(t)
	target := newNode(t, lab, "eth0", wireV4.String()+"/24")
	attacker := newNode(t, lab, "eth0", attackerV4.String()+"/24")
	config := writeManifests(t, []vipSpec{
		{name: "seed", vrid: 51, version: 2, addresses: []string{"198.51.100.252/24"}, interval: "1s", priority: 150, password: "secret12"},
	}, nil)
	a := startAgent(t, target, "target", config, agentOptions{})
	waitState(t, a, "seed", "MASTER")
	waitFor(t, time.Now(), 5*time.Second, "the target holds the VIP", func() bool { return target.has(seedVIP) })

	other := with(goodV2, func(a *advert) { a.addrs = []netip.Addr{netip.MustParseAddr("198.51.100.99")} })
	labels := map[string]string{"virtual_ip": "seed", "reason": "address_mismatch"}
	was := mustScrape(t, a).sum(metrics.PacketsDropped, labels)
	const copies = 3
	for range copies {
		if err := sendVRRP(attacker, attackerV4, groupV4, 255, other.encode(attackerV4, groupV4)); err != nil {
			t.Fatalf("sending: %v", err)
		}
	}
	var now scrape
	if !pollUntil(3*time.Second, func() bool {
		now = mustScrape(t, a)
		return now.sum(metrics.PacketsDropped, labels)-was >= copies
	}) {
		t.Fatalf("%d adverts for other addresses sent, address_mismatch drops rose by %v; drops: %v",
			copies, now.sum(metrics.PacketsDropped, labels)-was, drops(now))
	}
	if s := now.state("seed"); s != "MASTER" || !target.has(seedVIP) {
		t.Fatalf("the target is %s (holds the VIP: %v) after adverts for other addresses, want MASTER with the VIP", s, target.has(seedVIP))
	}

	owner := with(other, func(a *advert) { a.priority = 255 })
	for range copies {
		if err := sendVRRP(attacker, attackerV4, groupV4, 255, owner.encode(attackerV4, groupV4)); err != nil {
			t.Fatalf("sending: %v", err)
		}
	}
	if !pollUntil(3*time.Second, func() bool {
		now = mustScrape(t, a)
		return now.sum(metrics.PacketsDropped, labels)-was >= 2*copies
	}) {
		t.Fatalf("%d adverts at 255 for other addresses sent, address_mismatch drops rose by %v in all; drops: %v",
			copies, now.sum(metrics.PacketsDropped, labels)-was, drops(now))
	}
	if s := now.state("seed"); s != "MASTER" || !target.has(seedVIP) {
		t.Fatalf("the target is %s (holds the VIP: %v) after adverts at 255 for other addresses, want MASTER with the VIP", s, target.has(seedVIP))
	}

	ours := with(owner, func(a *advert) { a.addrs = []netip.Addr{seedVIP, netip.MustParseAddr("198.51.100.99")} })
	if err := sendVRRP(attacker, attackerV4, groupV4, 255, ours.encode(attackerV4, groupV4)); err != nil {
		t.Fatalf("sending: %v", err)
	}
	waitState(t, a, "seed", "BACKUP")
}
