package cluster

import (
	"bufio"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// The status benchmarks run the lab of TestCluster (three agent processes in network namespaces,
// the controller in this process, a real kube-apiserver) with benchVIPs VirtualIPs at 100 ms
// adverts, primary preferred:
//
//	VRRP_REQUIRE_PRIVILEGED=1 go test -run=NONE -bench='Handover|SteadyState' -benchtime=1x ./test/cluster
//
// BenchmarkStatusHandover cordons and uncordons primary (max(b.N, 50) handovers, each moving
// every VirtualIP) and reports how long after a router's transition (its agent's log line, within
// a millisecond of the advert that the new state sends) a watcher of the VirtualIP sees the
// node's entry in the new state, and how long after the new Master's transition status.master
// names it. The latter includes the controller's deliberate hold-back of states without exactly
// one Master (controllers/handover.go), the former is the agents' own path. It also reports the
// mutating requests per handover, by agents and controller, and logs those the API server refused
// (the controller's applies that lost a race with an agent's entry: 409 Conflict). BenchmarkSteadyStateWrites counts the
// mutating requests of agents and controller over a minute in which nothing changes.
const (
	benchVIPs     = 10
	benchInterval = 100 * time.Millisecond
	minHandovers  = 50
)

// benchLab is a seedLab with benchVIPs VirtualIPs, a watcher of them and request counters.
type benchLab struct {
	*seedLab
	watch *vipWatch
	// testWrites counts the benchmark's own mutating requests (cordon, uncordon), which the
	// API server's counts include.
	testWrites *writeCounter
	tc         client.Client
	metrics    rest.Interface
}

func newBenchLab(b *testing.B) *benchLab {
	b.Helper()
	testenv.RequireRoot(b)
	// The controller in this process logs nothing in a benchmark (controller-runtime dumps a
	// stack when no logger is set).
	ctrllog.SetLogger(logr.Discard())
	s := newSeedLab(b)
	l := &benchLab{seedLab: s, testWrites: &writeCounter{}}
	var err error
	l.tc, err = client.New(l.testWrites.wrap(s.cfg), client.Options{Scheme: s.scheme})
	must(b, err)
	cs, err := kubernetes.NewForConfig(s.cfg)
	must(b, err)
	l.metrics = cs.CoreV1().RESTClient()
	l.watch = watchVIPs(b, s)
	for i := range benchVIPs {
		v := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: benchName(i)}, Spec: vrrpv1.VirtualIPSpec{
			VirtualRouterID: int32(101 + i), Addresses: []string{fmt.Sprintf("198.51.100.%d/24", 100+i)},
			AdvertInterval: &metav1.Duration{Duration: benchInterval},
			NodePriorities: []vrrpv1.NodePriority{{Node: "primary", Priority: 150}},
		}}
		must(b, s.c.Create(s.ctx, v))
	}
	l.settled(b, false, 30*time.Second)
	return l
}

func benchName(i int) string { return fmt.Sprintf("bench-%d", i) }

// settled waits until every benchmark VirtualIP has one MASTER entry, the node status.master
// names, and two BACKUP ones; with primary cordoned the Master is any other node (the two left
// have the same priority, and a Backup keeps following a Master of its own priority, RFC 9568
// §6.4.2), else primary.
func (l *benchLab) settled(b *testing.B, cordoned bool, timeout time.Duration) {
	b.Helper()
	var detail string
	deadline := time.Now().Add(timeout)
	for ok := false; !ok; ok, detail = l.isSettled(cordoned) {
		if time.Now().After(deadline) {
			// What each agent was doing goes into its log, which the cleanup prints.
			for _, a := range l.agents {
				if a.cmd != nil && a.cmd.Process != nil {
					_ = a.cmd.Process.Signal(syscall.SIGQUIT)
				}
			}
			time.Sleep(time.Second)
			b.Fatalf("every VirtualIP settled (primary cordoned: %v): not within %v; last: %s", cordoned, timeout, detail)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (l *benchLab) isSettled(cordoned bool) (bool, string) {
	for i := range benchVIPs {
		o, ok := l.watch.latest(benchName(i))
		if !ok || o.master == "" || (o.master == "primary") == cordoned || len(o.states) != 3 {
			return false, fmt.Sprintf("%s: %v %v", benchName(i), o.master, o.states)
		}
		for n, st := range o.states {
			if (n == o.master) != (st == vrrpv1.StateMaster) || (n != o.master && st != vrrpv1.StateBackup) {
				return false, fmt.Sprintf("%s: %v %v", benchName(i), o.master, o.states)
			}
		}
	}
	return true, ""
}

// cordon sets primary's spec.unschedulable.
func (l *benchLab) cordon(b *testing.B, on bool) {
	b.Helper()
	var n corev1.Node
	must(b, l.tc.Get(l.ctx, client.ObjectKey{Name: "primary"}, &n))
	orig := n.DeepCopy()
	n.Spec.Unschedulable = on
	must(b, l.tc.Patch(l.ctx, &n, client.MergeFrom(orig)))
}

// BenchmarkStatusHandover: see the package's benchmark comment above.
func BenchmarkStatusHandover(b *testing.B) {
	l := newBenchLab(b)
	handovers := max(b.N, minHandovers)
	before, refusedBefore := l.apiWritesRefused(b)
	ctrlBefore, testBefore := l.controllerWrites.snapshot(), l.testWrites.snapshot()
	start := time.Now()
	b.ResetTimer()
	for i := range handovers {
		cordoned := i%2 == 0
		l.cordon(b, cordoned)
		l.settled(b, cordoned, 30*time.Second)
	}
	b.StopTimer()
	if handovers%2 == 1 {
		l.cordon(b, false)
		l.settled(b, false, 15*time.Second)
	}
	time.Sleep(time.Second) // late writes of the last handover (Events) count too
	after, refusedAfter := l.apiWritesRefused(b)
	refused := testenv.CountDiff(refusedAfter, refusedBefore)
	ctrl := testenv.CountDiff(l.controllerWrites.snapshot(), ctrlBefore)
	test := testenv.CountDiff(l.testWrites.snapshot(), testBefore)
	all := testenv.CountDiff(after, before)
	agents := testenv.CountTotal(all) - testenv.CountTotal(ctrl) - testenv.CountTotal(test)
	runs := handovers + handovers%2

	entries, masters, coalesced, shown := l.latencies(start)
	ms := func(d []time.Duration, q float64) float64 {
		return float64(testenv.Quantile(d, q)) / float64(time.Millisecond)
	}
	b.ReportMetric(ms(entries, 0.5), "entry-p50-ms")
	b.ReportMetric(ms(entries, 0.99), "entry-p99-ms")
	b.ReportMetric(ms(masters, 0.5), "master-p50-ms")
	b.ReportMetric(ms(masters, 0.99), "master-p99-ms")
	b.ReportMetric(float64(agents)/float64(runs), "agent-writes/handover")
	b.ReportMetric(float64(testenv.CountTotal(ctrl))/float64(runs), "controller-writes/handover")
	b.ReportMetric(float64(len(entries)), "transitions")
	b.Logf("%d handovers of %d VirtualIPs at %v: %d entry transitions (%d superseded before a watcher could see them, %d to the state status showed already), entry p50 %v p90 %v p99 %v max %v; status.master p50 %v p90 %v p99 %v max %v",
		runs, benchVIPs, benchInterval, len(entries), coalesced, shown,
		testenv.Quantile(entries, 0.5), testenv.Quantile(entries, 0.9), testenv.Quantile(entries, 0.99), testenv.Quantile(entries, 1),
		testenv.Quantile(masters, 0.5), testenv.Quantile(masters, 0.9), testenv.Quantile(masters, 0.99), testenv.Quantile(masters, 1))
	b.Logf("mutating requests: API server %v (of them refused: %v); controller %v; benchmark %v", all, refused, ctrl, test)
	report(b, "status: %d handovers × %d VirtualIPs: entry p50 %v p99 %v, status.master p50 %v p99 %v, %.1f agent and %.1f controller writes per handover",
		runs, benchVIPs, testenv.Quantile(entries, 0.5).Round(time.Millisecond), testenv.Quantile(entries, 0.99).Round(time.Millisecond),
		testenv.Quantile(masters, 0.5).Round(time.Millisecond), testenv.Quantile(masters, 0.99).Round(time.Millisecond),
		float64(agents)/float64(runs), float64(testenv.CountTotal(ctrl))/float64(runs))
	perHandover := float64(agents+testenv.CountTotal(ctrl)) / float64(runs)
	rows := append(latencyRows("status-entry-latency", entries), latencyRows("status-master-latency", masters)...)
	writeBenchRows(b, append(rows, testenv.BenchRow{Scenario: "status-writes-per-handover", Runs: runs,
		Min: perHandover, Median: perHandover, Max: perHandover, Unit: "requests"}))
}

// BenchmarkSteadyStateWrites counts the mutating requests of the agents and the controller over a
// minute (VRRP_STEADY_STATE overrides it) in which nothing changes, after every VirtualIP settled:
// there must be none.
func BenchmarkSteadyStateWrites(b *testing.B) {
	l := newBenchLab(b)
	span := time.Minute
	if d, err := time.ParseDuration(os.Getenv("VRRP_STEADY_STATE")); err == nil {
		span = d
	}
	// The settling writes (Events, the controller's last summary) land within a second or two.
	time.Sleep(3 * time.Second)
	before, ctrlBefore := l.apiWrites(b), l.controllerWrites.snapshot()
	b.ResetTimer()
	time.Sleep(span)
	b.StopTimer()
	all, ctrl := testenv.CountDiff(l.apiWrites(b), before), testenv.CountDiff(l.controllerWrites.snapshot(), ctrlBefore)
	agents := testenv.CountTotal(all) - testenv.CountTotal(ctrl)
	b.ReportMetric(float64(agents), "agent-writes")
	b.ReportMetric(float64(testenv.CountTotal(ctrl)), "controller-writes")
	b.Logf("steady state %v, 3 agents, %d VirtualIPs at %v: API server counted %v, the controller sent %v", span, benchVIPs, benchInterval, all, ctrl)
	report(b, "steady state %v with 3 agents and %d VirtualIPs: %d agent writes, %d controller writes", span, benchVIPs, agents, testenv.CountTotal(ctrl))
	writeBenchRows(b, []testenv.BenchRow{{Scenario: "steady-state-api-writes-per-minute", Runs: 1,
		Min: float64(testenv.CountTotal(all)) * float64(time.Minute) / float64(span), Median: float64(testenv.CountTotal(all)) * float64(time.Minute) / float64(span),
		Max: float64(testenv.CountTotal(all)) * float64(time.Minute) / float64(span), Unit: "requests"}})
	if testenv.CountTotal(all) != 0 {
		b.Fatalf("%d mutating requests in steady state, want 0: %v", testenv.CountTotal(all), all)
	}
}

// latencies pairs each transition the agents logged since start with the first observation of it
// by the watcher: the entry's latency. A transition superseded by the router's next one before
// any observation showed it is counted apart, as is one to the state status showed already (the
// step back of a takeover that was never written). For transitions to MASTER it also measures when
// status.master first named the node.
func (l *benchLab) latencies(start time.Time) (entries, masters []time.Duration, superseded, shown int) {
	type key struct{ node, vip string }
	byRouter := map[key][]logTransition{}
	var toMaster []logTransition
	for node, a := range l.agents {
		for _, t := range parseTransitions(node, a.log.String()) {
			if t.at.Before(start) || !strings.HasPrefix(t.vip, "bench-") {
				continue
			}
			k := key{node, t.vip}
			byRouter[k] = append(byRouter[k], t)
			if t.to == vrrpv1.StateMaster {
				toMaster = append(toMaster, t)
			}
		}
	}
	obs := l.watch.all()
	for k, ts := range byRouter {
		for i, t := range ts {
			end := time.Time{}
			if i+1 < len(ts) {
				end = ts[i+1].at
			}
			if alreadyShown(obs, k.vip, k.node, t.to, t.at, end) {
				// A takeover that ended before its entry went out, undone by this step back,
				// needs no change a watcher could wait for.
				shown++
				continue
			}
			o, ok := firstAfter(obs, k.vip, t.at, end, func(o observation) bool { return o.states[k.node] == t.to })
			if !ok {
				superseded++
				continue
			}
			entries = append(entries, o.at.Sub(t.at))
		}
	}
	slices.SortFunc(toMaster, func(a, b logTransition) int { return a.at.Compare(b.at) })
	for i, t := range toMaster {
		end := time.Time{}
		for _, n := range toMaster[i+1:] {
			if n.vip == t.vip {
				end = n.at
				break
			}
		}
		if o, ok := firstAfter(obs, t.vip, t.at, end, func(o observation) bool { return o.master == t.node }); ok {
			masters = append(masters, o.at.Sub(t.at))
		}
	}
	return entries, masters, superseded, shown
}

// alreadyShown reports whether status showed node in state to for vip at from and throughout
// until end (unless zero): the last observation before from shows it, and none after shows
// another. A step back whose takeover's MASTER entry went out is not: a watcher sees it late.
func alreadyShown(obs []observation, vip, node string, to vrrpv1.RouterState, from, end time.Time) bool {
	shown := false
	for _, o := range obs {
		if o.vip != vip {
			continue
		}
		if !end.IsZero() && o.at.After(end) {
			break
		}
		if !o.at.After(from) {
			shown = o.states[node] == to
		} else if o.states[node] != to {
			return false
		}
	}
	return shown
}

// firstAfter is the first observation of vip after from (and before end, unless zero) that ok.
func firstAfter(obs []observation, vip string, from, end time.Time, ok func(observation) bool) (observation, bool) {
	for _, o := range obs {
		if o.vip != vip || !o.at.After(from) {
			continue
		}
		if !end.IsZero() && o.at.After(end) {
			break
		}
		if ok(o) {
			return o, true
		}
	}
	return observation{}, false
}

// logTransition is a "state changed" line of an agent's log.
type logTransition struct {
	at       time.Time
	node     string
	vip      string
	to       vrrpv1.RouterState
	priority int
}

var (
	logTime = regexp.MustCompile(`(?:^|\s)time=(\S+)`)
	logVIP  = regexp.MustCompile(`\svirtualIP=(\S+)`)
	logTo   = regexp.MustCompile(`\sto=(\S+)`)
)

// parseTransitions reads the transitions of an agent's log (slog's text format: the time has
// millisecond resolution, so a latency may read up to a millisecond long).
func parseTransitions(node, log string) []logTransition {
	var out []logTransition
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `msg="state changed"`) {
			continue
		}
		tm, vip, to := logTime.FindStringSubmatch(line), logVIP.FindStringSubmatch(line), logTo.FindStringSubmatch(line)
		if tm == nil || vip == nil || to == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, tm[1])
		if err != nil {
			continue
		}
		out = append(out, logTransition{at: at, node: node, vip: vip[1], to: vrrpv1.RouterState(to[1])})
	}
	return out
}

// observation is a VirtualIP as a watcher received it.
type observation struct {
	at     time.Time
	vip    string
	master string
	states map[string]vrrpv1.RouterState
}

// vipWatch records every VirtualIP a watch delivers, with the time it arrived.
type vipWatch struct {
	mu  sync.Mutex
	obs []observation
}

func watchVIPs(b *testing.B, s *seedLab) *vipWatch {
	b.Helper()
	wc, err := client.NewWithWatch(s.cfg, client.Options{Scheme: s.scheme})
	must(b, err)
	w, err := wc.Watch(s.ctx, &vrrpv1.VirtualIPList{})
	must(b, err)
	b.Cleanup(w.Stop)
	vw := &vipWatch{}
	go func() {
		for ev := range w.ResultChan() {
			at := time.Now()
			v, ok := ev.Object.(*vrrpv1.VirtualIP)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			o := observation{at: at, vip: v.Name, master: v.Status.Master, states: map[string]vrrpv1.RouterState{}}
			for _, e := range v.Status.Nodes {
				o.states[e.Node] = e.State
			}
			vw.mu.Lock()
			vw.obs = append(vw.obs, o)
			vw.mu.Unlock()
		}
	}()
	return vw
}

func (w *vipWatch) latest(vip string) (observation, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.obs) - 1; i >= 0; i-- {
		if w.obs[i].vip == vip {
			return w.obs[i], true
		}
	}
	return observation{}, false
}

func (w *vipWatch) all() []observation {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.obs)
}

// writeCounter counts the mutating requests sent through a rest.Config, by verb and resource.
type writeCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (w *writeCounter) wrap(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			if req.Method != http.MethodGet && req.Method != http.MethodHead && req.Method != http.MethodOptions {
				verb := req.Method
				if req.Method == http.MethodPatch && req.Header.Get("Content-Type") == "application/apply-patch+yaml" {
					verb = "APPLY"
				}
				w.mu.Lock()
				if w.n == nil {
					w.n = map[string]int{}
				}
				w.n[verb+" "+resourceOf(req.URL.Path)]++
				w.mu.Unlock()
			}
			return rt.RoundTrip(req)
		})
	})
	return c
}

func (w *writeCounter) snapshot() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.n)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// resourceOf names the resource of an API path as the API server's metrics do: "virtualips/status",
// "nodes", "events".
func resourceOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return path
	}
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) > 2 {
		parts = parts[2:]
	}
	switch len(parts) {
	case 0:
		return path
	case 1, 2:
		return parts[0]
	default:
		return parts[0] + "/" + parts[2]
	}
}

// countedResources are the resources whose writes the benchmarks count in the API server's
// metrics: what agents and controller write. The API server's own writes (its identity leases,
// the kubernetes Service's endpoints) are not theirs.
var countedResources = []string{"virtualips", "virtualips/status", "nodes", "events"}

// apiWrites reads the API server's count of mutating requests (apiserver_request_total) of the
// countedResources, by verb and resource.
func (l *benchLab) apiWrites(b *testing.B) map[string]int {
	b.Helper()
	all, _ := l.apiWritesRefused(b)
	return all
}

// apiWritesRefused is apiWrites, and apart the part of them the API server refused (a status of
// 400 or more: a conflict with a newer object, mostly), by status, verb and resource.
func (l *benchLab) apiWritesRefused(b *testing.B) (all, refused map[string]int) {
	b.Helper()
	raw, err := l.metrics.Get().AbsPath("/metrics").DoRaw(l.ctx)
	must(b, err)
	all, refused = map[string]int{}, map[string]int{}
	labels := regexp.MustCompile(`(\w+)="([^"]*)"`)
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m := map[string]string{}
		for _, kv := range labels.FindAllStringSubmatch(line[:i], -1) {
			m[kv[1]] = kv[2]
		}
		res := m["resource"]
		if m["subresource"] != "" {
			res += "/" + m["subresource"]
		}
		switch m["verb"] {
		case "POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION":
		default:
			continue
		}
		if !slices.Contains(countedResources, res) {
			continue
		}
		all[m["verb"]+" "+res] += int(v)
		if code, err := strconv.Atoi(m["code"]); err == nil && code >= 400 {
			refused[m["code"]+" "+m["verb"]+" "+res] += int(v)
		}
	}
	return all, refused
}

// latencyRows summarise latencies in milliseconds: min, median (p50) and max, and the p99 in a
// row of its own (scenario + "-p99"), since a row has no field for it.
func latencyRows(scenario string, d []time.Duration) []testenv.BenchRow {
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	p99 := ms(testenv.Quantile(d, 0.99))
	return []testenv.BenchRow{
		{Scenario: scenario, Runs: len(d), Min: ms(testenv.Quantile(d, 0)), Median: ms(testenv.Quantile(d, 0.5)), Max: ms(testenv.Quantile(d, 1)), Unit: "ms"},
		{Scenario: scenario + "-p99", Runs: len(d), Min: p99, Median: p99, Max: p99, Unit: "ms"},
	}
}

// writeBenchRows adds rows of this project's measurements at the benchmark's interval and size
// to the file VRRP_BENCH_OUT names, if set.
func writeBenchRows(b *testing.B, rows []testenv.BenchRow) {
	version := projectVersion()
	for i := range rows {
		rows[i].Impl, rows[i].Version, rows[i].AdvertMS, rows[i].Routers = "vrrp-operator", version, benchInterval.Milliseconds(), benchVIPs
	}
	testenv.WriteBenchRows(b, rows...)
}

// projectVersion is `git describe` of the tree the benchmark runs.
func projectVersion() string {
	out, err := exec.Command("git", "-C", testenv.Root(), "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
