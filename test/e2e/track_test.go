package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// Health tracking (spec.track, issue 10) between two standalone agents, high (150) and low (100),
// and beside keepalived's vrrp_script. Every check here fails on purpose on the Master only.

// trackTolerance is what a move may take beyond the protocol's bound: the 10 ms polls of the test,
// a probe or a script's fork and exec, and the scheduling of two shared cores that other tests load.
const trackTolerance = 300 * time.Millisecond

// skewTime is RFC 9568 §6.1's Skew_Time of a VRRPv3 Backup of priority prio for adverts every
// interval: the time a preempting Backup waits once the Master it follows falls below it.
func skewTime(interval time.Duration, prio int) time.Duration {
	return time.Duration(256-prio) * interval / 256
}

// newHookDir is a hook directory of the test's own, for exec checks and vrrp_scripts.
func newHookDir(t testing.TB) *seedHook { return &seedHook{dir: t.TempDir()} }

// writeScript writes an executable script into dir and returns its path.
func writeScript(t testing.TB, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// setFlag creates (on) or removes the flag file a script tests.
func setFlag(t testing.TB, path string, on bool) {
	t.Helper()
	var err error
	if on {
		err = os.WriteFile(path, []byte("1\n"), 0o644)
	} else if err = os.Remove(path); os.IsNotExist(err) {
		err = nil
	}
	if err != nil {
		t.Fatal(err)
	}
}

// healthServer is a node's service as an HTTP check sees it: /healthz answers 200 while ok, 503
// otherwise. It listens on addr inside the node's namespace and is served by the test process.
type healthServer struct {
	ok   atomic.Bool
	hits atomic.Int64
}

func serveHealth(t testing.TB, n *node, addr string) *healthServer {
	t.Helper()
	h := &healthServer{}
	h.ok.Store(true)
	var ln net.Listener
	// A socket belongs to the namespace it was created in, whichever thread serves it later.
	if err := n.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("listening on %s in %s: %v", addr, n, err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.hits.Add(1)
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		if !h.ok.Load() {
			http.Error(w, "service broken", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return h
}

// routerPriority is the router's vrrp_operator_router_priority, -1 when absent.
func (s scrape) routerPriority(router string) int {
	for _, x := range s {
		if x.name == metrics.RouterPriority && x.labels["virtual_ip"] == router {
			return int(x.value)
		}
	}
	return -1
}

// waitPriority waits until the agent's router has priority want by its metrics.
func waitPriority(t testing.TB, a *agent, router string, want int, timeout time.Duration) {
	t.Helper()
	last := -1
	if !pollUntil(timeout, func() bool {
		s, err := a.metrics()
		if err != nil {
			return false
		}
		last = s.routerPriority(router)
		return last == want
	}) {
		t.Fatalf("agent %s: router %s has priority %d after %s, want %d", a.name, router, last, timeout, want)
	}
}

// checkMetric sums a vrrp_operator_track_* series of one check.
func checkMetric(t testing.TB, a *agent, name, router, check string, more map[string]string) float64 {
	t.Helper()
	labels := map[string]string{"virtual_ip": router, "check": check}
	for k, v := range more {
		labels[k] = v
	}
	return mustScrape(t, a).sum(name, labels)
}

// startPair starts high and lets it take the VIP alone before low starts: a standalone agent
// starts as Backup, and a low agent whose timer ran out first would be Master until high preempts.
func startPair(t testing.TB, high, low *node, highConfig, lowConfig string, highHooks, lowHooks *seedHook, interval time.Duration, vip string) (*agent, *agent) {
	t.Helper()
	agentBinary(t)
	mdi := masterDownInterval(3, interval, 100)
	ha := startAgent(t, high, "high", highConfig, agentOptions{hooks: highHooks})
	waitOwner(t, time.Now(), mdi+10*time.Second, seedVIP, high, low)
	la := startAgent(t, low, "low", lowConfig, agentOptions{hooks: lowHooks})
	waitState(t, la, vip, "BACKUP")
	waitState(t, ha, vip, "MASTER")
	return ha, la
}

// TestTrackHTTPCheckFailingOnTheMasterMovesTheVIP serves /healthz on each node's own address from
// the test and tracks it with weight -60, fall 2 and rise 2: when the Master's endpoint answers 503
// its priority falls from 150 to 90, below the Backup's 100, and the Backup takes the VIP within
// fall × interval (the failing probes) + Skew_Time (RFC 9568 §6.4.2 as issue 10 item 2 extends it)
// + one advert (should the lowered priority wait for the next one). When it answers 200 again, high
// preempts within rise × interval + Master_Down_Interval.
func TestTrackHTTPCheckFailingOnTheMasterMovesTheVIP(t *testing.T) {
	requireLab(t)
	t.Parallel()
	cases := map[string]struct{ advert, check time.Duration }{
		"adverts and checks every second":         {advert: time.Second, check: time.Second},
		"adverts every 100ms, checks every 200ms": {advert: fast, check: 200 * time.Millisecond},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const fall, rise, weight = 2, 2, -60
			lab := testenv.NewLab(t)
			high := newNode(t, lab, "ens3", seedPrimary)
			low := newNode(t, lab, "eth0", seedSecondary)
			client := newNode(t, lab, "eth0", seedClient)
			// Each node probes its own address: a spec per node, as standalone agents may have.
			configs, health := map[*node]string{}, map[*node]*healthServer{}
			for n, cidr := range map[*node]string{high: seedPrimary, low: seedSecondary} {
				addr := net.JoinHostPort(addrOf(cidr), "8404")
				health[n] = serveHealth(t, n, addr)
				configs[n] = writeManifests(t, []vipSpec{{
					name: "services", vrid: 51, version: 3, addresses: []string{"198.51.100.252/24"}, interval: c.advert.String(),
					priorities: map[string]int{"high": 150},
					track: []trackCheck{{name: "haproxy", weight: weight, interval: c.check.String(), timeout: (c.check / 2).String(),
						rise: rise, fall: fall, http: "http://" + addr + "/healthz"}},
				}}, nil)
			}
			ha, la := startPair(t, high, low, configs[high], configs[low], nil, nil, c.advert, "services")
			waitPriority(t, ha, "services", 150, 5*time.Second)
			waitPriority(t, la, "services", 100, 5*time.Second)
			if health[high].hits.Load() == 0 || health[low].hits.Load() == 0 {
				t.Fatalf("the endpoints were not probed: high %d, low %d requests", health[high].hits.Load(), health[low].hits.Load())
			}

			bound := fall*c.check + skewTime(c.advert, 100) + c.advert + trackTolerance
			broken := time.Now()
			health[high].ok.Store(false)
			moved := waitOwner(t, broken, bound+5*time.Second, seedVIP, low, high)
			recordTiming(t, fmt.Sprintf("track http (adverts %s, checks %s, fall %d) VIP moved off the failing Master", c.advert, c.check, fall), moved)
			if moved > bound {
				t.Errorf("the VIP moved %s after the Master's check began to fail, want within fall × interval + Skew_Time + one advert + %s = %s",
					moved.Round(time.Millisecond), trackTolerance, bound)
			}
			waitPriority(t, ha, "services", 150+weight, 5*time.Second)
			waitState(t, ha, "services", "BACKUP")
			if got := checkMetric(t, ha, metrics.TrackCheckPassing, "services", "haproxy", nil); got != 0 {
				t.Errorf("%s of high's check = %v while it fails, want 0", metrics.TrackCheckPassing, got)
			}
			if got := checkMetric(t, ha, metrics.TrackRuns, "services", "haproxy", map[string]string{"result": metrics.RunFailed}); got < fall {
				t.Errorf("%s{result=%q} of high's check = %v, want at least fall = %d", metrics.TrackRuns, metrics.RunFailed, got, fall)
			}
			holdsAlone(t, max(2*masterDownInterval(3, c.advert, 100), time.Second), seedVIP, client, low, high)

			mdi := masterDownInterval(3, c.advert, 150)
			backBound := rise*c.check + mdi + c.advert + trackTolerance
			fixed := time.Now()
			health[high].ok.Store(true)
			back := waitOwner(t, fixed, backBound+5*time.Second, seedVIP, high, low)
			recordTiming(t, fmt.Sprintf("track http (adverts %s, checks %s, rise %d) VIP back with preempt once the check passes", c.advert, c.check, rise), back)
			if back > backBound {
				t.Errorf("the VIP came back %s after the check passed again, want within rise × interval + Master_Down_Interval + one advert + %s = %s",
					back.Round(time.Millisecond), trackTolerance, backBound)
			}
			waitPriority(t, ha, "services", 150, 5*time.Second)
			waitState(t, ha, "services", "MASTER")
			holdsAlone(t, time.Second, seedVIP, client, high, low)
		})
	}
}

// hangMarker is the duration the hanging check sleeps, unusual enough to find its processes by.
const hangMarker = "3579.125"

// hangScript hangs, in two processes of its group, while its flag file exists, and passes at once
// otherwise.
const hangScript = `#!/bin/bash
# A health check that hangs while %[1]q exists: a background and a foreground sleep, both in
# the script's process group, neither of which ends before the test does.
if [ -e %[1]q ]; then
  /bin/sleep ` + hangMarker + ` &
  /bin/sleep ` + hangMarker + `
fi
exit 0
`

// hangProcs lists the processes of the hanging script: bash running it and its sleeps.
func hangProcs(script string) []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return []string{"cannot read /proc: " + err.Error()}
	}
	var found []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if bytes.Contains(cmdline, []byte(hangMarker)) || bytes.Contains(cmdline, []byte(script)) {
			found = append(found, e.Name()+" "+strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " "))
		}
	}
	return found
}

// TestTrackExecCheckThatHangsIsKilledAndFails runs an unweighted exec check whose script hangs on
// the Master once a flag exists: each run is killed at its timeout (its whole process group), counts
// as failed (a timeout run), and after fall of them the router is FAULT with reason CheckFailed and
// a priority-0 advert hands the VIP to the Backup at once. Nothing of the script lives on: at most
// one run's processes exist at any time, and none once the check passes again.
func TestTrackExecCheckThatHangsIsKilledAndFails(t *testing.T) {
	requireLab(t)
	t.Parallel()
	const (
		interval = 500 * time.Millisecond
		timeout  = 200 * time.Millisecond
		fall     = 2
	)
	lab := testenv.NewLab(t)
	high := newNode(t, lab, "ens3", seedPrimary)
	low := newNode(t, lab, "eth0", seedSecondary)
	client := newNode(t, lab, "eth0", seedClient)
	hh, lh := newHookDir(t), newHookDir(t)
	flag := filepath.Join(t.TempDir(), "hang")
	script := writeScript(t, hh.dir, "hang-check.sh", fmt.Sprintf(hangScript, flag))
	writeScript(t, lh.dir, "hang-check.sh", fmt.Sprintf(hangScript, filepath.Join(t.TempDir(), "never")))
	config := writeManifests(t, []vipSpec{{
		name: "services", vrid: 51, version: 3, addresses: []string{"198.51.100.252/24"}, interval: fast.String(),
		priorities: map[string]int{"high": 150},
		track: []trackCheck{{name: "vpn", interval: interval.String(), timeout: timeout.String(), fall: fall, rise: 1,
			exec: []string{"hang-check.sh"}}},
	}}, nil)
	ha, _ := startPair(t, high, low, config, config, hh, lh, fast, "services")
	waitFor(t, time.Now(), 5*time.Second, "high's check passes", func() bool {
		return checkMetric(t, ha, metrics.TrackCheckPassing, "services", "vpn", nil) == 1
	})

	// From a flag set at any moment: the next run starts within an interval and is killed a
	// timeout later; fall runs an interval apart; then a priority-0 advert and Skew_Time.
	bound := fall*interval + timeout + skewTime(fast, 100) + fast + trackTolerance
	hang := time.Now()
	setFlag(t, flag, true)
	moved := waitOwner(t, hang, bound+5*time.Second, seedVIP, low, high)
	recordTiming(t, fmt.Sprintf("track exec hanging (interval %s, timeout %s, fall %d, unweighted) VIP moved off the Master", interval, timeout, fall), moved)
	if moved > bound {
		t.Errorf("the VIP moved %s after the check began to hang, want within fall × interval + timeout + Skew_Time + one advert + %s = %s",
			moved.Round(time.Millisecond), trackTolerance, bound)
	}
	waitState(t, ha, "services", "FAULT")
	if !pollUntil(5*time.Second, func() bool { return ha.logHas("reason=" + "CheckFailed") }) {
		t.Errorf("high's log has no router status with reason=CheckFailed")
	}
	if got := checkMetric(t, ha, metrics.TrackRuns, "services", "vpn", map[string]string{"result": metrics.RunTimeout}); got < fall {
		t.Errorf("%s{result=%q} = %v, want at least fall = %d", metrics.TrackRuns, metrics.RunTimeout, got, fall)
	}

	// While it keeps hanging, each run is killed before the next: never more than one run's
	// three processes (bash and two sleeps), and each run lives about its timeout.
	most, longest := 0, time.Duration(0)
	var firstSeen time.Time
	var seen []string
	for end := time.Now().Add(4 * interval); time.Now().Before(end); time.Sleep(poll) {
		p := hangProcs(script)
		if len(p) > most {
			most, seen = len(p), p
		}
		switch {
		case len(p) > 0 && firstSeen.IsZero():
			firstSeen = time.Now()
		case len(p) == 0 && !firstSeen.IsZero():
			longest = max(longest, time.Since(firstSeen))
			firstSeen = time.Time{}
		}
	}
	if most > 3 {
		t.Errorf("%d processes of the hanging check at once, want at most one run's 3: %q", most, seen)
	}
	if most == 0 {
		t.Errorf("no process of the hanging check was ever seen; is it run?")
	}
	t.Logf("a hanging run lived at most %s (timeout %s)", longest.Round(time.Millisecond), timeout)
	if longest > timeout+2*poll+trackTolerance {
		t.Errorf("a hanging run lived %s, want it killed at its timeout %s", longest.Round(time.Millisecond), timeout)
	}
	holdsAlone(t, time.Second, seedVIP, client, low, high)

	fixed := time.Now()
	setFlag(t, flag, false)
	back := waitOwner(t, fixed, interval+timeout+masterDownInterval(3, fast, 150)+10*time.Second, seedVIP, high, low)
	recordTiming(t, "track exec hanging: VIP back with preempt once the check passes", back)
	waitState(t, ha, "services", "MASTER")
	// The last hanging run may still be being killed; after a timeout and the kill grace, none.
	if !pollUntil(timeout+3*time.Second, func() bool { return len(hangProcs(script)) == 0 }) {
		t.Errorf("processes of the hanging check live on after it passes again: %q", hangProcs(script))
	}
}

// wireAdvert is one VRRP advert as tshark dissected it on the wire.
type wireAdvert struct {
	at       time.Time
	src      string
	vrid     int
	priority int
}

// capture is tshark listening for VRRP in a node's namespace.
type capture struct{ *proc }

// startCapture runs tshark on n's interface and waits until it sees an advert.
func startCapture(t testing.TB, n *node) *capture {
	t.Helper()
	testenv.RequireTool(t, "tshark")
	c := &capture{startProc(t, n, "tshark on "+n.String(), "tshark", "-l", "-n", "-i", n.Link, "-f", "ip proto 112",
		"-T", "fields", "-E", "separator=/t", "-e", "frame.time_epoch", "-e", "ip.src", "-e", "vrrp.virt_rtr_id", "-e", "vrrp.prio")}
	waitFor(t, time.Now(), 30*time.Second, "tshark sees an advert on "+n.String(), func() bool { return len(c.adverts()) > 0 })
	return c
}

// adverts parses what tshark has printed so far.
func (c *capture) adverts() []wireAdvert {
	var out []wireAdvert
	sc := bufio.NewScanner(strings.NewReader(c.out.String()))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 4 {
			continue
		}
		epoch, err1 := strconv.ParseFloat(f[0], 64)
		vrid, err2 := strconv.Atoi(f[2])
		prio, err3 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		sec := int64(epoch)
		out = append(out, wireAdvert{at: time.Unix(sec, int64((epoch-float64(sec))*1e9)), src: f[1], vrid: vrid, priority: prio})
	}
	return out
}

// waitAdvert waits for an advert from src with priority prio sent after since, and returns when
// it was on the wire.
func (c *capture) waitAdvert(t testing.TB, since time.Time, timeout time.Duration, src string, prio int) time.Time {
	t.Helper()
	var at time.Time
	if !pollUntil(timeout, func() bool {
		for _, a := range c.adverts() {
			if a.src == src && a.priority == prio && a.at.After(since) {
				at = a.at
				return true
			}
		}
		return false
	}) {
		var last []string
		ads := c.adverts()
		for _, a := range ads[max(len(ads)-8, 0):] {
			last = append(last, fmt.Sprintf("%s %s prio %d", a.at.Format("15:04:05.000"), a.src, a.priority))
		}
		t.Fatalf("no advert from %s with priority %d on the wire within %s; the last ones: %q", src, prio, timeout, last)
	}
	return at
}

// TestTrackInterfaceCheckChangesTheAdvertisedPriority tracks two more interfaces of each node, with
// weights -20 and -30, and reads the Master's adverts with tshark from a third node. The Backup has
// priority 125. One interface down on the Master: 130 on the wire, still above 125, so it stays
// Master. Both down: 100 on the wire and the Backup takes the VIP. Both up: 150 again, and the
// Master preempts.
func TestTrackInterfaceCheckChangesTheAdvertisedPriority(t *testing.T) {
	requireLab(t)
	testenv.RequireTool(t, "tshark")
	t.Parallel()
	lab := testenv.NewLab(t)
	high := newNode(t, lab, "ens3", seedPrimary)
	low := newNode(t, lab, "eth0", seedSecondary)
	client := newNode(t, lab, "eth0", seedClient)
	// Veth pairs rather than dummies: a veth end's link state follows its own up/down and its peer's
	// both, as an uplink's does.
	for _, n := range []*node{high, low} {
		for _, pair := range [][2]string{{"uplink0", "uplink0p"}, {"uplink1", "uplink1p"}} {
			n.IP("link", "add", pair[0], "type", "veth", "peer", "name", pair[1])
			n.IP("link", "set", pair[1], "up")
			n.IP("link", "set", pair[0], "up")
		}
	}
	config := writeManifests(t, []vipSpec{{
		name: "services", vrid: 51, version: 3, addresses: []string{"198.51.100.252/24"}, interval: fast.String(),
		priorities: map[string]int{"high": 150, "low": 125},
		track: []trackCheck{
			{name: "uplink0", weight: -20, iface: "uplink0"},
			{name: "uplink1", weight: -30, iface: "uplink1"},
		},
	}}, nil)
	highIP, lowIP := addrOf(seedPrimary), addrOf(seedSecondary)
	ha, la := startPair(t, high, low, config, config, nil, nil, fast, "services")
	waitPriority(t, ha, "services", 150, 5*time.Second)
	waitPriority(t, la, "services", 125, 5*time.Second)
	wire := startCapture(t, client)
	wire.waitAdvert(t, time.Now(), 5*time.Second, highIP, 150)

	down := time.Now()
	high.IP("link", "set", "uplink0", "down")
	at := wire.waitAdvert(t, down, 5*time.Second, highIP, 130)
	recordTiming(t, "track interface (weight -20) lowered priority on the wire after link down", at.Sub(down))
	if d := at.Sub(down); d > fast+trackTolerance {
		t.Errorf("the lowered priority was on the wire %s after the link went down, want within one advert (%s) + %s", d.Round(time.Millisecond), fast, trackTolerance)
	}
	waitPriority(t, ha, "services", 130, 5*time.Second)
	holdsAlone(t, max(2*masterDownInterval(3, fast, 125), time.Second), seedVIP, client, high, low)

	// tshark prints what it captured up to a second late: the move is watched first, and the
	// adverts' capture times are read after.
	down = time.Now()
	high.IP("link", "set", "uplink1", "down")
	moved := waitOwner(t, down, 5*time.Second, seedVIP, low, high)
	at = wire.waitAdvert(t, down, 5*time.Second, highIP, 100)
	recordTiming(t, "track interface (weights -20, -30) lowered priority on the wire after the second link down", at.Sub(down))
	recordTiming(t, "track interface (v3 100ms) VIP moved once the Master's priority fell below the Backup's", moved)
	if bound := fast + skewTime(fast, 125) + fast + trackTolerance; moved > bound {
		t.Errorf("the VIP moved %s after the Master's priority fell below the Backup's, want within one advert + Skew_Time + one advert + %s = %s",
			moved.Round(time.Millisecond), trackTolerance, bound)
	}
	wire.waitAdvert(t, down, 5*time.Second, lowIP, 125)
	waitState(t, ha, "services", "BACKUP")
	waitPriority(t, ha, "services", 100, 5*time.Second)
	holdsAlone(t, time.Second, seedVIP, client, low, high)

	up := time.Now()
	high.IP("link", "set", "uplink0", "up")
	high.IP("link", "set", "uplink1", "up")
	back := waitOwner(t, up, masterDownInterval(3, fast, 150)+5*time.Second, seedVIP, high, low)
	recordTiming(t, "track interface (v3 100ms) VIP back with preempt once the links are up", back)
	wire.waitAdvert(t, up, 5*time.Second, highIP, 150)
	waitState(t, ha, "services", "MASTER")
	holdsAlone(t, time.Second, seedVIP, client, high, low)
}

// flagCheckScript fails while its flag file exists. It tests the flag before it logs the run, so
// that a flag set after the log line shows up first in the next run: the test aligns the failure
// with the checks' schedule that way, the same for both implementations.
const flagCheckScript = `#!/bin/bash
if [ -e %[1]q ]; then r=1; else r=0; fi
echo "$r" >> %[2]q
exit "$r"
`

// flagCheck is a node's flag-file check and the log of its runs.
type flagCheck struct {
	flag, runs string
}

func newFlagCheck(t testing.TB, dir, name string) flagCheck {
	t.Helper()
	data := t.TempDir()
	c := flagCheck{flag: filepath.Join(data, "broken"), runs: filepath.Join(data, "runs")}
	writeScript(t, dir, name, fmt.Sprintf(flagCheckScript, c.flag, c.runs))
	return c
}

func (c flagCheck) count() int {
	b, _ := os.ReadFile(c.runs)
	return bytes.Count(b, []byte("\n"))
}

// afterRun waits for the next run of the check to log itself and calls f at once: the change f
// makes is then seen first by the run one interval later, whichever implementation runs it.
func (c flagCheck) afterRun(t testing.TB, f func()) time.Time {
	t.Helper()
	n := c.count()
	deadline := time.Now().Add(10 * time.Second)
	for c.count() == n {
		if time.Now().After(deadline) {
			t.Fatalf("the check script logged no run in 10s (%d runs so far)", n)
		}
		time.Sleep(time.Millisecond)
	}
	f()
	return time.Now()
}

// pairTimes are one implementation's measured moves.
type pairTimes struct{ moved, back []time.Duration }

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(max(len(ds), 1))
}

// TestTrackCheckSideBySideWithKeepalived runs the same failing check, a script from the hook
// directory that exits 1 while a flag file exists, with the same settings (interval 1 s, timeout
// 1 s, weight -60, rise 2, fall 2; VRRPv3 adverts every second; priorities 150 and 100), on a
// keepalived pair (vrrp_script, track_script) and on an agent pair, each in a lab of its own, one
// after the other. The flag is set right after a run of the Master's check, so both implementations
// see it at the same point of their schedule and the times compare what they do with a failing
// check, not where the flag fell between two runs. The agents must move the VIP in no more time
// than keepalived, within max(100 ms, 10 %): two 10 ms polls, a script's fork and exec and the
// scheduling of shared cores are what two equal implementations differ by here.
func TestTrackCheckSideBySideWithKeepalived(t *testing.T) {
	requireLab(t)
	testenv.RequireTool(t, "keepalived")
	t.Parallel()
	const (
		rounds   = 2
		weight   = -60
		fall     = 2
		rise     = 2
		interval = time.Second
	)
	agentBinary(t)
	run := func(t *testing.T, keepalivedPair bool, vrid int) pairTimes {
		lab := testenv.NewLab(t)
		high := newNode(t, lab, "ens3", seedPrimary)
		low := newNode(t, lab, "eth0", seedSecondary)
		client := newNode(t, lab, "eth0", seedClient)
		hh, lh := newHookDir(t), newHookDir(t)
		hc, _ := newFlagCheck(t, hh.dir, "service-check.sh"), newFlagCheck(t, lh.dir, "service-check.sh")
		mdi := masterDownInterval(3, interval, 100)
		label := "agents"
		if keepalivedPair {
			label = "keepalived"
			ka := kaSpec{version: 3, vrid: vrid, interval: kaInterval(interval), vip: "198.51.100.252/24"}
			script := func(h *seedHook) []kaScript {
				return []kaScript{{name: "chk_service", script: filepath.Join(h.dir, "service-check.sh"),
					interval: int(interval / time.Second), timeout: int(interval / time.Second), weight: weight, rise: rise, fall: fall}}
			}
			hk, lk := ka, ka
			hk.state, hk.iface, hk.priority, hk.scripts = "MASTER", high.Link, 150, script(hh)
			lk.state, lk.iface, lk.priority, lk.scripts = "BACKUP", low.Link, 100, script(lh)
			startKeepalived(t, high, keepalivedConfig(hk))
			waitOwner(t, time.Now(), mdi+10*time.Second, seedVIP, high, low)
			startKeepalived(t, low, keepalivedConfig(lk))
		} else {
			config := writeManifests(t, []vipSpec{{
				name: "services", vrid: vrid, version: 3, addresses: []string{"198.51.100.252/24"}, interval: interval.String(),
				priorities: map[string]int{"high": 150},
				track: []trackCheck{{name: "service", weight: weight, interval: interval.String(), timeout: interval.String(),
					rise: rise, fall: fall, exec: []string{"service-check.sh"}}},
			}}, nil)
			startPair(t, high, low, config, config, hh, lh, interval, "services")
		}
		// Both routers run and the checks pass before the first round.
		waitOwner(t, time.Now(), mdi+10*time.Second, seedVIP, high, low)
		holdsAlone(t, time.Second, seedVIP, client, high, low)
		var times pairTimes
		for i := range rounds {
			broken := hc.afterRun(t, func() { setFlag(t, hc.flag, true) })
			moved := waitOwner(t, broken, fall*interval+mdi+10*time.Second, seedVIP, low, high)
			recordTiming(t, fmt.Sprintf("track side by side: %s (vrrp_script, interval 1s, fall 2, weight -60) VIP moved, round %d", label, i+1), moved)
			times.moved = append(times.moved, moved)
			holdsAlone(t, time.Second, seedVIP, client, low, high)

			fixed := hc.afterRun(t, func() { setFlag(t, hc.flag, false) })
			back := waitOwner(t, fixed, rise*interval+2*mdi+10*time.Second, seedVIP, high, low)
			recordTiming(t, fmt.Sprintf("track side by side: %s VIP back with preempt (rise 2), round %d", label, i+1), back)
			times.back = append(times.back, back)
			holdsAlone(t, time.Second, seedVIP, client, high, low)
		}
		return times
	}
	// One after the other, so that neither pair's processes slow the other's measurement.
	var ka, ours pairTimes
	t.Run("keepalived pair", func(t *testing.T) { ka = run(t, true, 61) })
	t.Run("agent pair", func(t *testing.T) { ours = run(t, false, 62) })
	if len(ka.moved) != rounds || len(ours.moved) != rounds {
		t.Fatal("a pair did not finish its rounds")
	}
	km, om := mean(ka.moved), mean(ours.moved)
	recordTiming(t, "track side by side: keepalived mean VIP move", km)
	recordTiming(t, "track side by side: agents mean VIP move", om)
	recordTiming(t, "track side by side: keepalived mean VIP back", mean(ka.back))
	recordTiming(t, "track side by side: agents mean VIP back", mean(ours.back))
	if tol := max(100*time.Millisecond, km/10); om > km+tol {
		t.Errorf("the agents moved the VIP in %s on average, keepalived in %s: more than %s slower (moves: agents %v, keepalived %v)",
			om.Round(time.Millisecond), km.Round(time.Millisecond), tol, ours.moved, ka.moved)
	}
}
