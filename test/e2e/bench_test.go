package e2e

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// BenchmarkFailover measures, side by side in one run, how long the VIP takes to move to the
// Backup for this project's agent and for keepalived: a pair of one implementation (primary on
// ens3 at priority 150, secondary on eth0 at 100, VRID 51, one IPv4 VIP) is stopped gracefully
// (SIGTERM: the Master's priority-0 advert, RFC 9568 §6.4.3) or killed (SIGKILL: the Backup waits
// out Master_Down_Interval, §6.4.2), at 1 s adverts (VRRPv2, the seed) and at 100 ms and 10 ms
// (VRRPv3). Each b.N is one handover, timed from the signal to the kernel's notification that the
// secondary holds the VIP; the signal comes at a random point of the advert cycle. Restarting the
// Master between runs is not timed. `make bench` runs it BENCH_RUNS (7) times per case:
//
//	VRRP_BENCH_OUT=_output/bench.json go test -run=NONE -bench=Failover -benchtime=7x ./test/e2e
//
// and each case reports min, median and max in ms, also as a row of VRRP_BENCH_OUT.
func BenchmarkFailover(b *testing.B) {
	requireLab(b)
	testenv.RequireTool(b, "keepalived")
	for _, advert := range []struct {
		interval time.Duration
		version  int
	}{
		{time.Second, 2},
		{100 * time.Millisecond, 3},
		{10 * time.Millisecond, 3},
	} {
		for _, kill := range []bool{false, true} {
			// The two implementations one after the other, so that both see the same load.
			for _, impl := range []failoverImpl{agentPair{}, keepalivedPair{}} {
				name := fmt.Sprintf("advert=%s/v%d/%s/impl=%s", advert.interval, advert.version, failoverScenario(kill), impl.name())
				b.Run(strings.ReplaceAll(name, " ", "_"), func(b *testing.B) {
					benchmarkFailover(b, impl, advert.version, advert.interval, kill)
				})
			}
		}
	}
}

func failoverScenario(kill bool) string {
	if kill {
		return "failover unplanned"
	}
	return "failover graceful"
}

// benchVIP is the pair's virtual address, in the nodes' subnet.
var benchVIP = netip.MustParsePrefix("198.51.100.252/24")

func benchmarkFailover(b *testing.B, impl failoverImpl, version int, interval time.Duration, kill bool) {
	lab := testenv.NewLab(b)
	primary := newNode(b, lab, "ens3", seedPrimary)
	secondary := newNode(b, lab, "eth0", seedSecondary)
	vip := benchVIP.Addr()
	mdi := masterDownInterval(version, interval, 100)
	master := impl.start(b, primary, secondary, version, interval)
	added := watchAdded(b, secondary, vip)

	var ms []float64
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		// The first election waits for both daemons to start, which takes seconds more on a
		// loaded machine than a restart of the Master does.
		bound := 2*mdi + 10*time.Second
		if i == 0 {
			bound += 20 * time.Second
		}
		waitSteady(b, vip, primary, secondary, interval, bound)
		added.drain()
		signalled := time.Now()
		b.StartTimer()
		if kill {
			master.kill()
		} else {
			master.sigterm()
		}
		at := added.wait(b, mdi+5*time.Second, secondary)
		b.StopTimer()
		ms = append(ms, float64(at.Sub(signalled).Microseconds())/1000)
		if kill {
			// The killed Master's VIP stays behind (keepalived's for ever, the agent's until its
			// lifetime ends): removed, as a reboot would, so that both restart alike.
			if err := primary.nl.AddrDel(primary.link, &netlink.Addr{IPNet: prefixNet(benchVIP)}); err != nil && primary.has(vip) {
				b.Fatalf("removing the killed Master's VIP from %s: %v", primary, err)
			}
		} else {
			master.waitExit()
		}
		master.start()
	}
	b.StopTimer()

	row := testenv.NewBenchRow(failoverScenario(kill), impl.name(), impl.version(b), interval, 1, ms, "ms")
	row.VRRP = version
	b.ReportMetric(row.Min, "min-ms")
	b.ReportMetric(row.Median, "median-ms")
	b.ReportMetric(row.Max, "max-ms")
	testenv.WriteBenchRows(b, row)
}

// waitSteady waits, at most timeout, until the primary holds the VIP alone and the secondary has
// followed it for a few adverts, then for a random part of the advert cycle; it checks again after
// that wait, in case a loaded machine made the secondary take over meanwhile.
func waitSteady(b *testing.B, vip netip.Addr, primary, secondary *node, interval, timeout time.Duration) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if !pollUntil(time.Until(deadline), func() bool { return soleOwner(vip, primary, []*node{secondary}) }) {
			b.Fatalf("%s should hold %s alone within %s; holders are: %s", primary, vip, timeout,
				holders(vip, []*node{primary, secondary}))
		}
		time.Sleep(3*interval + 100*time.Millisecond + rand.N(interval))
		if soleOwner(vip, primary, []*node{secondary}) {
			return
		}
	}
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// addrWatch follows the kernel's address notifications in a node's namespace: the moment a VIP
// is added is then known to the notification's delivery, not to a poll's period, which would be
// as long as the 10 ms adverts.
type addrWatch struct {
	vip   netip.Addr
	index int
	ch    chan stampedUpdate
}

// stampedUpdate is a notification with the time it arrived, taken as it arrives: the benchmark may
// be busy (waiting for a killed process to exit) when the VIP is added.
type stampedUpdate struct {
	netlink.AddrUpdate
	at time.Time
}

func watchAdded(b *testing.B, n *node, vip netip.Addr) *addrWatch {
	b.Helper()
	ns, err := netns.GetFromName(n.Name)
	if err != nil {
		b.Fatalf("opening namespace %s: %v", n.Name, err)
	}
	defer ns.Close() // the subscription's socket lives in the namespace without it
	w := &addrWatch{vip: vip, index: n.link.Attrs().Index, ch: make(chan stampedUpdate, 256)}
	updates := make(chan netlink.AddrUpdate, 256)
	done := make(chan struct{})
	if err := netlink.AddrSubscribeWithOptions(updates, done, netlink.AddrSubscribeOptions{Namespace: &ns}); err != nil {
		b.Fatalf("subscribing to the addresses of %s: %v", n, err)
	}
	go func() {
		defer close(w.ch)
		for u := range updates { // until the subscription's socket closes
			select {
			case w.ch <- stampedUpdate{AddrUpdate: u, at: time.Now()}:
			default: // nobody waits for it: dropped rather than block the subscription
			}
		}
	}()
	b.Cleanup(func() { close(done) })
	return w
}

// drain drops the notifications so far.
func (w *addrWatch) drain() {
	for {
		select {
		case <-w.ch:
		default:
			return
		}
	}
}

// wait returns when the VIP was added to the node's link, at most timeout from now.
func (w *addrWatch) wait(b *testing.B, timeout time.Duration, n *node) time.Time {
	b.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case u, ok := <-w.ch:
			if !ok {
				b.Fatalf("the address notifications of %s ended", n)
			}
			if a, _ := netip.AddrFromSlice(u.LinkAddress.IP); u.NewAddr && u.LinkIndex == w.index && a.Unmap() == w.vip {
				return u.at
			}
		case <-deadline:
			b.Fatalf("%s: no notification that %s was added within %s (holds it: %t)", n, w.vip, timeout, n.has(w.vip))
		}
	}
}

// failoverImpl is a VRRP implementation the benchmark runs as a pair.
type failoverImpl interface {
	name() string
	version(b *testing.B) string
	// start runs the pair: primary at priority 150, secondary at 100.
	// It returns the primary, which the benchmark stops and restarts.
	start(b *testing.B, primary, secondary *node, version int, interval time.Duration) router
}

type agentPair struct{}

func (agentPair) name() string { return "vrrp-operator" }

var (
	describeOnce sync.Once
	described    string
)

// version is `git describe` of the tree the agent was built from.
func (agentPair) version(*testing.B) string {
	describeOnce.Do(func() {
		out, err := exec.Command("git", "-C", testenv.Root(), "describe", "--always", "--dirty").Output()
		described = strings.TrimSpace(string(out))
		if err != nil || described == "" {
			described = "unknown"
		}
	})
	return described
}

func (agentPair) start(b *testing.B, primary, secondary *node, version int, interval time.Duration) router {
	config := writeManifests(b, []vipSpec{{name: "services", vrid: 51, version: version, addresses: []string{benchVIP.String()},
		interval: interval.String(), priorities: map[string]int{"primary": 150}}}, nil)
	pa := startAgent(b, primary, "primary", config, agentOptions{})
	startAgent(b, secondary, "secondary", config, agentOptions{})
	return pa
}

type keepalivedPair struct{}

func (keepalivedPair) name() string { return "keepalived" }

var (
	keepalivedVersionOnce sync.Once
	keepalivedVersion     string
)

// version is keepalived's, "2.2.7" from "Keepalived v2.2.7 (01/16,2022)".
func (keepalivedPair) version(*testing.B) string {
	keepalivedVersionOnce.Do(func() {
		keepalivedVersion = "unknown"
		out, _ := exec.Command("keepalived", "--version").CombinedOutput()
		for _, f := range strings.Fields(string(out)) {
			if v, ok := strings.CutPrefix(f, "v"); ok && strings.Count(v, ".") >= 1 {
				keepalivedVersion = v
				return
			}
		}
	})
	return keepalivedVersion
}

func (keepalivedPair) start(b *testing.B, primary, secondary *node, version int, interval time.Duration) router {
	ka := kaSpec{version: version, vrid: 51, interval: kaInterval(interval), vip: benchVIP.String()}
	ka.state, ka.iface, ka.priority = "MASTER", primary.Link, 150
	k := startKeepalived(b, primary, keepalivedConfig(ka))
	ka.state, ka.iface, ka.priority = "BACKUP", secondary.Link, 100
	startKeepalived(b, secondary, keepalivedConfig(ka))
	return k
}
