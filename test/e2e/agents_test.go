package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// fast is the advert interval of the agent-only tests that do not mimic the seed: VRRPv3 at
// 100ms, so that a Master_Down_Interval is about 0.36s.
const fast = 100 * time.Millisecond

// TestAgentsElectOneMaster starts two or three agents on one bridge and checks that the right one
// becomes Master and keeps the VIP alone, answering ARP with its MAC only, for two
// Master_Down_Intervals.
func TestAgentsElectOneMaster(t *testing.T) {
	requireLab(t)
	t.Parallel()
	cases := map[string]struct {
		priorities []int // of the nodes 198.51.100.1, .2, .3
		// late: the last node starts once the others have elected a Master.
		late bool
		// partitioned: the nodes start unable to hear each other, so that each becomes Master,
		// and are then joined.
		partitioned bool
		want        int // index of the Master
	}{
		"two agents: the higher priority is Master":                                     {priorities: []int{100, 150}, want: 1},
		"three agents: the highest priority is Master":                                  {priorities: []int{150, 200, 100}, want: 1},
		"three agents: the highest priority joins last and takes over":                  {priorities: []int{100, 150, 200}, late: true, want: 2},
		"three Masters of one priority meet: the highest primary address keeps the VIP": {priorities: []int{100, 100, 100}, partitioned: true, want: 2},
		"three Masters meet: the highest priority keeps the VIP":                        {priorities: []int{200, 100, 150}, partitioned: true, want: 0},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			lab := testenv.NewLab(t)
			links := []string{"eth0", "ens3", "enp1s0"}
			spec := vipSpec{name: "services", vrid: 51, version: 3, addresses: []string{"198.51.100.252/24"}, interval: fast.String(), priorities: map[string]int{}}
			var nodes []*node
			for i, p := range c.priorities {
				nodes = append(nodes, newNode(t, lab, links[i], fmt.Sprintf("198.51.100.%d/24", i+1)))
				spec.priorities[fmt.Sprintf("node%d", i)] = p
			}
			if c.partitioned {
				isolatePorts(t, lab, true)
			}
			client := newNode(t, lab, "eth0", seedClient)
			config := writeManifests(t, []vipSpec{spec}, nil)
			agentBinary(t)

			lowest := 255
			for _, p := range c.priorities {
				lowest = min(lowest, p)
			}
			mdi := masterDownInterval(3, fast, lowest)
			others := func(i int) []*node {
				var o []*node
				for j, n := range nodes {
					if j != i {
						o = append(o, n)
					}
				}
				return o
			}
			first := len(nodes)
			if c.late {
				first--
			}
			for i := range first {
				startAgent(t, nodes[i], fmt.Sprintf("node%d", i), config, agentOptions{})
			}
			switch {
			case c.partitioned:
				// Every node is Master of its own segment before they meet.
				for _, n := range nodes {
					waitFor(t, time.Now(), mdi+10*time.Second, n.String()+" becomes Master alone", func() bool { return n.has(seedVIP) })
				}
				isolatePorts(t, lab, false)
			case c.late:
				best := 0
				for i := range first {
					if c.priorities[i] > c.priorities[best] {
						best = i
					}
				}
				waitOwner(t, time.Now(), mdi+10*time.Second, seedVIP, nodes[best], others(best)[:first-1]...)
				startAgent(t, nodes[first], fmt.Sprintf("node%d", first), config, agentOptions{})
			}
			winner := nodes[c.want]
			waitOwner(t, time.Now(), 2*mdi+10*time.Second, seedVIP, winner, others(c.want)...)
			holdsAlone(t, max(2*mdi, time.Second), seedVIP, client, winner, others(c.want)...)
		})
	}
}

// isolatePorts turns bridge port isolation on or off for every port of the lab's bridge: isolated
// ports do not hear each other, as if the network were partitioned.
func isolatePorts(t testing.TB, lab *testenv.Lab, on bool) {
	t.Helper()
	state := "off"
	if on {
		state = "on"
	}
	// The ports from ip's JSON on stdout alone: a warning on stderr (the netns of a veth's peer
	// going away as another test ends) once came out as a port named "Peer".
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "-j", "-n", lab.Switch, "link", "show", "master", "br0").Output()
	if err != nil {
		t.Fatalf("listing the ports of %s: %v", lab.Switch, err)
	}
	var ports []struct {
		Name string `json:"ifname"`
	}
	if err := json.Unmarshal(out, &ports); err != nil {
		t.Fatalf("listing the ports of %s: %v: %s", lab.Switch, err, out)
	}
	for _, p := range ports {
		runIP(t, "-n", lab.Switch, "link", "set", "dev", p.Name, "type", "bridge_slave", "isolated", state)
	}
}

// TestKilledMaster kills the Master agent of the seed's setup with SIGKILL: the Backup takes
// over after a Master_Down_Interval, the killed node's VIP disappears by itself within the address
// lifetime plus a second (keepalived's would stay until someone restarts it), and an agent
// restarted right after a kill removes the VIP its predecessor left and rejoins as Master.
func TestKilledMaster(t *testing.T) {
	requireLab(t)
	t.Parallel()
	const lifetime = 6 * time.Second
	lab := testenv.NewLab(t)
	primary := newNode(t, lab, "ens3", seedPrimary)
	secondary := newNode(t, lab, "eth0", seedSecondary)
	client := newNode(t, lab, "eth0", seedClient)
	config := writeManifests(t, []vipSpec{{
		name: "services", vrid: 51, version: 2, addresses: []string{"198.51.100.252/24"}, interval: "1s",
		priorities: map[string]int{"primary": 150}, password: "secret12",
	}}, nil)
	opts := agentOptions{extra: []string{"--address-lifetime", lifetime.String()}}
	pa := startAgent(t, primary, "primary", config, opts)
	startAgent(t, secondary, "secondary", config, opts)
	mdi := masterDownInterval(2, time.Second, 100)
	waitOwner(t, time.Now(), mdi+10*time.Second, seedVIP, primary, secondary)

	kill := time.Now()
	pa.kill()
	recordTiming(t, "seed takeover after SIGKILL of the Master agent", waitFor(t, kill, mdi+5*time.Second, "secondary takes the VIP", func() bool { return secondary.has(seedVIP) }))
	gone := waitFor(t, kill, lifetime+time.Second, fmt.Sprintf("the killed agent's VIP expires within its lifetime (%s) plus 1s", lifetime),
		func() bool { return !primary.has(seedVIP) })
	recordTiming(t, "seed killed Master's VIP gone by itself after", gone)
	holdsAlone(t, time.Second, seedVIP, client, secondary, primary)

	// Restarted, the primary takes the VIP back; killed and restarted at once, it first removes
	// the VIP the killed agent left, long before the lifetime would.
	pa.start()
	waitOwner(t, time.Now(), 2*mdi+10*time.Second, seedVIP, primary, secondary)
	pa.kill()
	if !primary.has(seedVIP) {
		t.Fatal("the VIP left the killed agent's node at once; the cleanup check needs it still there")
	}
	restart := time.Now()
	pa.start()
	cleaned := waitFor(t, restart, time.Second, "the restarted agent removes the VIP its predecessor left", func() bool { return !primary.has(seedVIP) })
	t.Logf("leftover VIP removed %s after the restart", cleaned)
	if !pollUntil(2*time.Second, func() bool { return pa.logHas("removed VIP left by a previous agent") }) {
		t.Errorf("the restarted agent did not log that it removed the leftover VIP")
	}
	recordTiming(t, "seed restarted agent rejoins as Master", waitOwner(t, restart, 2*mdi+10*time.Second, seedVIP, primary, secondary))
	holdsAlone(t, time.Second, seedVIP, client, primary, secondary)
}

// TestLinkDownOnTheMaster takes the Master's interface down: it goes to FAULT and drops the VIP,
// runs the seed's script with FAULT, and the Backup takes over; when the link returns the node
// recovers to BACKUP and, with preempt, takes the VIP back.
func TestLinkDownOnTheMaster(t *testing.T) {
	requireLab(t)
	t.Parallel()
	cases := map[string]struct{ preempt bool }{
		"with preempt the Master takes the VIP back when its link returns": {preempt: true},
		"without preempt the VIP stays with the node that took it":         {preempt: false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			lab := testenv.NewLab(t)
			high := newNode(t, lab, "ens3", seedPrimary)
			low := newNode(t, lab, "eth0", seedSecondary)
			client := newNode(t, lab, "eth0", seedClient)
			config := writeManifests(t, []vipSpec{{
				name: "services", vrid: 51, version: 3, addresses: []string{"198.51.100.252/24"}, interval: fast.String(),
				priorities: map[string]int{"high": 150}, noPreempt: !c.preempt, seedHooks: true,
			}}, nil)
			hh := newSeedHook(t)
			mdi := masterDownInterval(3, fast, 100)
			ha := startAgent(t, high, "high", config, agentOptions{hooks: hh})
			// Without preempt both nodes start as Backup and whichever timer runs out first wins
			// (RFC 9568 §6.4.2), so low starts only once high holds the VIP.
			waitOwner(t, time.Now(), mdi+10*time.Second, seedVIP, high, low)
			startAgent(t, low, "low", config, agentOptions{hooks: newSeedHook(t)})
			holdsAlone(t, max(2*mdi, time.Second), seedVIP, client, high, low)
			waitFlag(t, hh, "1", "high is MASTER")

			down := time.Now()
			high.IP("link", "set", high.Link, "down")
			recordTiming(t, "v3 100ms takeover after link down on the Master", waitOwner(t, down, mdi+5*time.Second, seedVIP, low, high))
			waitState(t, ha, "services", "FAULT")
			waitFlag(t, hh, "0", "high is in FAULT")
			if calls := hh.callLog(); !slices.Contains(calls, "INSTANCE services FAULT 150") {
				t.Errorf("the notify script was not called with FAULT; calls: %q", calls)
			}

			up := time.Now()
			high.IP("link", "set", high.Link, "up")
			if c.preempt {
				recordTiming(t, "v3 100ms preempt back after link up", waitOwner(t, up, mdi+10*time.Second, seedVIP, high, low))
				waitState(t, ha, "services", "MASTER")
				waitFlag(t, hh, "1", "high is MASTER again")
				holdsAlone(t, max(2*mdi, time.Second), seedVIP, client, high, low)
				return
			}
			waitState(t, ha, "services", "BACKUP")
			// Hooks run after the transition, on a queue of their own.
			if !pollUntil(5*time.Second, func() bool { c := hh.callLog(); return c[len(c)-1] == "INSTANCE services BACKUP 150" }) {
				t.Errorf("the notify script was not called with BACKUP after the recovery; calls: %q", hh.callLog())
			}
			holdsAlone(t, max(2*mdi, time.Second), seedVIP, client, low, high)
		})
	}
}

// waitState waits until the agent's vrrp_operator_router_state says router is in state.
func waitState(t testing.TB, a *agent, router, state string) {
	t.Helper()
	var last string
	var err error
	if !pollUntil(5*time.Second, func() bool {
		var s scrape
		s, err = a.metrics()
		if err != nil {
			return false
		}
		last = s.state(router)
		return last == state
	}) {
		t.Fatalf("agent %s: router %s is in state %q, want %s (last scrape error: %v)", a.name, router, last, state, err)
	}
}

// runIP runs ip with args in the test's namespace and fails the test on error.
func runIP(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestSIGHUPRereadsTheConfiguration sends a standalone agent keepalived's reload signal: it reads
// its file at once and goes on running, where the signal's default ended it without leaving (no
// priority-0 advert, no stop hook, the VIP held until its lifetime ran out).
func TestSIGHUPRereadsTheConfiguration(t *testing.T) {
	requireLab(t)
	t.Parallel()
	lab := testenv.NewLab(t)
	n := newNode(t, lab, "eth0", "198.51.100.1/24")
	first := vipSpec{name: "services", vrid: 51, version: 3, addresses: []string{"198.51.100.252/24"}, interval: fast.String(), priorities: map[string]int{}}
	config := writeManifests(t, []vipSpec{first}, nil)
	a := startAgent(t, n, "node0", config, agentOptions{extra: []string{"--resync", "1h"}})
	waitState(t, a, "services", "MASTER")

	second := vipSpec{name: "other", vrid: 52, version: 3, addresses: []string{"198.51.100.253/24"}, interval: fast.String(), priorities: map[string]int{}}
	raw, err := os.ReadFile(writeManifests(t, []vipSpec{first, second}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	a.signal(syscall.SIGHUP)
	// The resync is an hour away: only the signal can have read the file.
	waitState(t, a, "other", "MASTER")
	if a.exited() {
		t.Fatalf("the agent exited on SIGHUP:\n%s", a.out.String())
	}
	waitState(t, a, "services", "MASTER")
}
