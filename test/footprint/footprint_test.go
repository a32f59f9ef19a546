package footprint

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// routers is the number of virtual routers both nodes run, VRIDs 1 to routers, one VIP each.
const routers = 250

// window is how long one run measures; settle is how long a pair runs in steady state (the
// Master holding every VIP, the Backup none) before the first run, so that startup work
// (announcement bursts, keepalived's second round of gratuitous ARP after 5 s) is over.
const (
	window = 15 * time.Second
	settle = 8 * time.Second
)

// BenchmarkFootprint runs a Master (priority 150) and a Backup (100) of 250 virtual routers,
// VRRPv3 over IPv4 on one interface, for this project's agent (cmd/vrrp-agent, one manifest file) and
// for keepalived with the same instances, at 1 s and 100 ms adverts. Each b.N is one window of
// steady state; it reports each node's CPU in percent of one core (the scheduler's run time of
// its process group's threads over the window, proc.cpu) and its resident memory at the end (VmRSS, summed over the
// group: keepalived's parent and VRRP child), and of that the anonymous part (RssAnon: heap and
// stacks; the rest is pages of the executable and libraries, which the page cache shares).
func BenchmarkFootprint(b *testing.B) {
	testenv.RequireRoot(b)
	for _, impl := range []implementation{agentImpl{}, keepalivedImpl{}} {
		for _, interval := range []time.Duration{time.Second, 100 * time.Millisecond} {
			b.Run(fmt.Sprintf("impl=%s/advert=%s", impl.name(), interval), func(b *testing.B) {
				if err := impl.available(); err != nil {
					testenv.Unavailable(b, err.Error())
				}
				benchmarkPair(b, impl, interval)
			})
		}
	}
}

// implementation is a VRRP daemon the benchmark can run on a node.
type implementation interface {
	name() string
	version(b *testing.B) string
	available() error
	// start runs the daemon on h as master (priority 150) or not (100) and returns its process.
	start(b *testing.B, h *testenv.Host, master bool, interval time.Duration) *proc
}

func benchmarkPair(b *testing.B, impl implementation, interval time.Duration) {
	lab := testenv.NewLab(b)
	mh := newNode(b, lab, "198.51.100.1/24")
	bh := newNode(b, lab, "198.51.100.2/24")
	master := impl.start(b, mh.Host, true, interval)
	backup := impl.start(b, bh.Host, false, interval)
	start := time.Now()
	// keepalived's 250 routers at 100 ms once took 1m37s to settle here, and once more than 2m.
	if err := waitSteady(mh, bh, master, backup, 4*time.Minute); err != nil {
		b.Fatalf("%s at %s: %v", impl.name(), interval, err)
	}
	b.Logf("%s at %s: steady after %s", impl.name(), interval, time.Since(start).Round(100*time.Millisecond))
	time.Sleep(settle)

	nodes := []struct {
		role string
		p    *proc
	}{{"master", master}, {"backup", backup}}
	cpu := map[string][]float64{}
	rss, anon := map[string][]float64{}, map[string][]float64{}
	b.ResetTimer()
	for range b.N {
		before := make([]time.Duration, len(nodes))
		for i, n := range nodes {
			before[i] = n.p.cpu(b)
		}
		t0 := time.Now()
		time.Sleep(window)
		elapsed := time.Since(t0)
		for i, n := range nodes {
			used := n.p.cpu(b) - before[i]
			cpu[n.role] = append(cpu[n.role], 100*used.Seconds()/elapsed.Seconds())
			rss[n.role] = append(rss[n.role], float64(n.p.rss(b, "VmRSS"))/(1<<20))
			anon[n.role] = append(anon[n.role], float64(n.p.rss(b, "RssAnon"))/(1<<20))
		}
		if master.exited() || backup.exited() {
			b.Fatalf("a daemon exited during the measurement")
		}
	}
	b.StopTimer()
	if err := checkSteady(mh, bh); err != nil {
		b.Fatalf("%s at %s after the measurement: %v", impl.name(), interval, err)
	}
	var rows []testenv.BenchRow
	for _, n := range nodes {
		b.ReportMetric(testenv.Median(cpu[n.role]), n.role+"-cpu-%")
		b.ReportMetric(testenv.Median(rss[n.role]), n.role+"-rss-MiB")
		b.ReportMetric(testenv.Median(anon[n.role]), n.role+"-anon-MiB")
		rows = append(rows,
			newRow("footprint cpu "+n.role, impl, b, interval, cpu[n.role], "%"),
			newRow("footprint rss "+n.role, impl, b, interval, rss[n.role], "MiB"),
			newRow("footprint rss-anon "+n.role, impl, b, interval, anon[n.role], "MiB"))
	}
	b.ReportMetric(0, "ns/op") // one op is a fixed window: its time says nothing
	testenv.WriteBenchRows(b, rows...)
}

// waitSteady waits until the Master holds every VIP and the Backup none.
func waitSteady(mh, bh *node, master, backup *proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := checkSteady(mh, bh)
		if err == nil {
			return nil
		}
		if master.exited() || backup.exited() {
			return fmt.Errorf("a daemon exited before steady state:\nmaster:\n%s\nbackup:\n%s", master.out, backup.out)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no steady state within %s: %w", timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func checkSteady(mh, bh *node) error {
	m, err := vips(mh)
	if err != nil {
		return err
	}
	if m != routers {
		return fmt.Errorf("the Master holds %d VIPs, want %d", m, routers)
	}
	n, err := vips(bh)
	if err != nil {
		return err
	}
	if n != 0 {
		return fmt.Errorf("the Backup holds %d VIPs, want none", n)
	}
	return nil
}

// vips counts the VIPs on n's eth0: its IPv4 addresses but its own (.1 or .2). It asks netlink
// rather than run ip(8), which a daemon adding 250 addresses can hold up past Lab's deadline.
func vips(n *node) (int, error) {
	addrs, err := n.nl.AddrList(n.link, netlink.FAMILY_V4)
	if err != nil {
		return 0, fmt.Errorf("listing the addresses of %s: %w", n.Name, err)
	}
	return len(addrs) - 1, nil
}

// node is a lab host with a netlink handle in its namespace.
type node struct {
	*testenv.Host
	nl   *netlink.Handle
	link netlink.Link
}

func newNode(b *testing.B, lab *testenv.Lab, addr string) *node {
	h := lab.Host("eth0", addr)
	ns, err := netns.GetFromName(h.Name)
	if err != nil {
		b.Fatalf("opening namespace %s: %v", h.Name, err)
	}
	defer ns.Close()
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		b.Fatalf("opening netlink in %s: %v", h.Name, err)
	}
	b.Cleanup(nl.Close)
	link, err := nl.LinkByName("eth0")
	if err != nil {
		b.Fatalf("finding eth0 in %s: %v", h.Name, err)
	}
	return &node{Host: h, nl: nl, link: link}
}

// vip is router i's VIP, in the nodes' subnet, where the agent finds the interface for it:
// 198.51.100.3 to .252.
func vip(i int) string { return fmt.Sprintf("198.51.100.%d/24", i+2) }

// agentImpl is this project's agent in standalone mode as a standalone user runs it: cmd/vrrp-agent,
// without the Kubernetes client that `vrrp-operator agent --config` links. The row keeps the
// project's name, which hack/benchreport and docs/benchmarks.md pair with keepalived's.
type agentImpl struct{}

func (agentImpl) name() string     { return "vrrp-operator" }
func (agentImpl) available() error { return nil }

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func agentBinary(b *testing.B) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vrrp-footprint-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "vrrp-agent")
		buildErr = testenv.BuildStandaloneAgent(binPath)
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return binPath
}

func (agentImpl) version(*testing.B) string {
	out, err := exec.Command("git", "-C", testenv.Root(), "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func (agentImpl) start(b *testing.B, h *testenv.Host, master bool, interval time.Duration) *proc {
	dir := b.TempDir()
	config := filepath.Join(dir, "vrrp.yaml")
	var m strings.Builder
	for i := 1; i <= routers; i++ {
		fmt.Fprintf(&m, "---\napiVersion: vrrp.dev/v1alpha1\nkind: VirtualIP\nmetadata: {name: vip-%03d}\nspec:\n", i)
		fmt.Fprintf(&m, "  virtualRouterID: %d\n  version: 3\n  addresses: [%q]\n  advertInterval: %s\n", i, vip(i), interval)
		m.WriteString("  nodePriorities:\n  - {node: backup, priority: 100}\n  - {node: master, priority: 150}\n")
	}
	if err := os.WriteFile(config, []byte(m.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	name := "backup"
	if master {
		name = "master"
	}
	hooks := filepath.Join(dir, "hooks")
	if err := os.Mkdir(hooks, 0o755); err != nil {
		b.Fatal(err)
	}
	return startProc(b, h, "agent "+name, agentBinary(b), "--config", config, "--node-name", name,
		"--hook-dir", hooks, "--state-dir", filepath.Join(dir, "state"), "--metrics-bind-address", "127.0.0.1:9472")
}

// keepalivedImpl is keepalived from the distribution, VRRP only (-P), as test/e2e runs it.
type keepalivedImpl struct{}

const keepalivedPath = "/usr/sbin/keepalived"

func (keepalivedImpl) name() string { return "keepalived" }

func (keepalivedImpl) available() error {
	if _, err := os.Stat(keepalivedPath); err != nil {
		return fmt.Errorf("the benchmark compares with keepalived (%s): %w", keepalivedPath, err)
	}
	return nil
}

func (keepalivedImpl) version(*testing.B) string {
	out, _ := exec.Command(keepalivedPath, "--version").CombinedOutput()
	// "Keepalived v2.2.7 (01/16,2022)"
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "v") && strings.Count(f, ".") >= 1 {
			return strings.TrimPrefix(f, "v")
		}
	}
	return "unknown"
}

func (keepalivedImpl) start(b *testing.B, h *testenv.Host, master bool, interval time.Duration) *proc {
	dir := b.TempDir()
	state, prio := "BACKUP", 100
	if master {
		state, prio = "MASTER", 150
	}
	var c strings.Builder
	c.WriteString("global_defs {\n  vrrp_version 3\n}\n")
	for i := 1; i <= routers; i++ {
		fmt.Fprintf(&c, "vrrp_instance VI_%d {\n  state %s\n  interface eth0\n  virtual_router_id %d\n  priority %d\n  advert_int %s\n  virtual_ipaddress {\n    %s\n  }\n}\n",
			i, state, i, prio, strconv.FormatFloat(interval.Seconds(), 'f', -1, 64), vip(i))
	}
	config := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(config, []byte(c.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return startProc(b, h, "keepalived "+strings.ToLower(state), keepalivedPath, "-f", config,
		"-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"), "-l", "-D", "-n", "-P")
}

// proc is a daemon running in a node's namespace, in a process group of its own.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *testenv.Buffer
	done chan struct{}
}

// startProc starts argv in h's namespace; it is killed, group and all, when the benchmark ends,
// and its output logged if the benchmark failed.
func startProc(b *testing.B, h *testenv.Host, name string, argv ...string) *proc {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := h.Command(ctx, argv[0], argv[1:]...)
	// `ip netns exec` execs the program, so the pid is the daemon's and its group holds its children.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	p := &proc{name: name, cmd: cmd, out: &testenv.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		cancel()
		b.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	b.Cleanup(func() {
		cancel()
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		if b.Failed() {
			b.Logf("output of %s:\n%s", name, tail(p.out.String(), 4000))
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// group returns the pids of p's process group.
func (p *proc) group(b *testing.B) []int {
	pgid := p.cmd.Process.Pid
	entries, err := os.ReadDir("/proc")
	if err != nil {
		b.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		pgrp, err := pgrpOf(pid)
		if err != nil {
			continue // gone meanwhile
		}
		if pgrp == pgid {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cpu is the CPU time the group has used so far, user and system, as the scheduler counts it
// (testenv.CPUTime).
func (p *proc) cpu(b *testing.B) time.Duration {
	var total time.Duration
	for _, pid := range p.group(b) {
		used, err := testenv.CPUTime(pid)
		if errors.Is(err, testenv.ErrNoProcess) {
			continue // gone meanwhile
		}
		if err != nil {
			b.Fatal(err)
		}
		total += used
	}
	return total
}

// rss is the group's resident memory, field (VmRSS, RssAnon) of /proc/PID/status summed, in bytes.
func (p *proc) rss(b *testing.B, field string) int64 {
	var total int64
	for _, pid := range p.group(b) {
		kb, err := statusKB(pid, field)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			b.Fatal(err)
		}
		total += kb << 10
	}
	return total
}

// pgrpOf reads the process group of pid from /proc/PID/stat.
func pgrpOf(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces: count after the last ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// f[0] is field 3 (state): pgrp is field 5.
	if len(f) < 3 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return pgrp, nil
}

// statusKB reads field of /proc/PID/status, in KiB.
func statusKB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

func newRow(scenario string, impl implementation, b *testing.B, interval time.Duration, v []float64, unit string) testenv.BenchRow {
	return testenv.NewBenchRow(scenario, impl.name(), impl.version(b), interval, routers, v, unit)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
