package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
	"github.com/vrrp-dev/vrrp-operator/agent/track"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/controllers"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// The benchmarks of this file simulate agents in one process against a real kube-apiserver
// (internal/testenv): per node the real reporter, fed by a fake speaker (the benchmark calls
// observe as a speaker would on a transition), beside the real controller. They measure the
// status path alone, without VRRP or network namespaces:
//
//	go test -run=NONE -bench='SimulatedHandover|Fleet' -benchtime=1x ./agent/kube
//
// The reporters share one informer cache and one HTTP client (each agent has its own in a cluster),
// and one Event broadcaster. Each still writes as its own field manager, as an agent does.

// simFleet is a real API server with simulated agents and the real controller.
type simFleet struct {
	cfg       *rest.Config
	scheme    *runtime.Scheme
	admin     client.Client
	ctx       context.Context
	agents    *requestCounter // the reporters' requests and Events
	ctrl      *requestCounter // the controller's requests
	client    client.Client   // the reporters': reads from the shared cache
	recorder  events.EventRecorder
	reporters map[string]*reporter
	watch     *statusWatch
}

func newSimFleet(b *testing.B) *simFleet {
	b.Helper()
	_, cfg := testenv.APIServer(b)
	ctrl.SetLogger(logr.Discard())
	f := &simFleet{cfg: cfg, agents: &requestCounter{}, ctrl: &requestCounter{}, reporters: map[string]*reporter{}}
	var cancel context.CancelFunc
	f.ctx, cancel = context.WithCancel(context.Background())
	b.Cleanup(cancel)
	f.scheme = runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, vrrpv1.AddToScheme} {
		benchMust(b, add(f.scheme))
	}
	var err error
	f.admin, err = client.New(cfg, client.Options{Scheme: f.scheme})
	benchMust(b, err)

	agentCfg := f.agents.wrap(clientConfig(cfg))
	informers, err := cache.New(agentCfg, cache.Options{Scheme: f.scheme, DefaultTransform: cache.TransformStripManagedFields()})
	benchMust(b, err)
	for _, obj := range []client.Object{&vrrpv1.VirtualIP{}, &corev1.Node{}} {
		_, err = informers.GetInformer(f.ctx, obj)
		benchMust(b, err)
	}
	go func() { _ = informers.Start(f.ctx) }()
	f.client, err = client.New(agentCfg, client.Options{Scheme: f.scheme, Cache: &client.CacheOptions{Reader: informers}})
	benchMust(b, err)
	cs, err := kubernetes.NewForConfig(agentCfg)
	benchMust(b, err)
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	benchMust(b, broadcaster.StartRecordingToSinkWithContext(f.ctx))
	b.Cleanup(broadcaster.Shutdown)
	f.recorder = broadcaster.NewRecorder(f.scheme, "vrrp-operator-agent")

	mgr, err := ctrl.NewManager(f.ctrl.wrap(cfg), ctrl.Options{Scheme: f.scheme, Logger: logr.Discard(),
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(true)}})
	benchMust(b, err)
	benchMust(b, controllers.Setup(mgr))
	go func() { _ = mgr.Start(f.ctx) }()
	f.watch = watchStatus(b, f)
	return f
}

// node creates a Node and the reporter of its simulated agent.
func (f *simFleet) node(b *testing.B, name string) *reporter {
	b.Helper()
	benchMust(b, f.admin.Create(f.ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}))
	r := newReporter(name, logr.Discard())
	r.connect(f.client, f.recorder, metrics.New(nil))
	f.reporters[name] = r
	go func() { _ = r.Start(f.ctx) }()
	return r
}

// status is what a fake speaker reports: the router's state as of now, with checks when given.
func status(vip string, state vrrp.State, priority uint8, checks int) speaker.Status {
	st := speaker.Status{Router: vip, State: state, Priority: priority, Since: time.Now(), Interface: "eth0"}
	for i := range checks {
		st.Checks = append(st.Checks, desired.CheckState{Name: fmt.Sprintf("check-%d", i), Weight: -20,
			Result: track.Result{State: track.Passing, Since: time.Now(), Message: "HTTP 200 from http://127.0.0.1:8080/healthz"}})
	}
	return st
}

// BenchmarkSimulatedHandover hands ten VirtualIPs over between two of three simulated agents,
// max(b.N, 50) times, all at once as a cordon does, and reports how long after the fake speakers'
// transitions a watcher sees each entry changed, and status.master (which the controller holds
// back while a handover may still settle: controllers/handover.go), and the requests per handover.
func BenchmarkSimulatedHandover(b *testing.B) {
	const vips = 10
	f := newSimFleet(b)
	nodes := []string{"primary", "secondary", "third"}
	var res desired.Result
	for i := range vips {
		name := fmt.Sprintf("vip-%d", i)
		benchMust(b, f.admin.Create(f.ctx, simVIP(name, int32(1+i))))
		res.Routers = append(res.Routers, desired.Router{Name: name})
	}
	for _, n := range nodes {
		r := f.node(b, n)
		r.participate(res)
		for i := range vips {
			state := vrrp.StateBackup
			if n == "primary" {
				state = vrrp.StateMaster
			}
			r.observe(status(fmt.Sprintf("vip-%d", i), state, 100, 0))
		}
	}
	f.waitMaster(b, "primary", vips, 30*time.Second)
	handovers := max(b.N, 50)
	agents0, ctrl0 := f.agents.snapshot(), f.ctrl.snapshot()
	var sent []sentStatus
	b.ResetTimer()
	for i := range handovers {
		from, to := "primary", "secondary"
		if i%2 == 1 {
			from, to = to, from
		}
		// The old Master steps down first, as a cordoned one does; the Backup takes over.
		for v := range vips {
			name := fmt.Sprintf("vip-%d", v)
			sent = append(sent, sentStatus{at: time.Now(), node: from, vip: name, state: vrrpv1.StateBackup})
			f.reporters[from].observe(status(name, vrrp.StateBackup, 1, 0))
		}
		for v := range vips {
			name := fmt.Sprintf("vip-%d", v)
			sent = append(sent, sentStatus{at: time.Now(), node: to, vip: name, state: vrrpv1.StateMaster})
			f.reporters[to].observe(status(name, vrrp.StateMaster, 100, 0))
		}
		f.waitMaster(b, to, vips, 10*time.Second)
	}
	b.StopTimer()
	time.Sleep(time.Second) // the Events of the last handover
	agentWrites, ctrlWrites := diffCounts(f.agents.snapshot(), agents0), diffCounts(f.ctrl.snapshot(), ctrl0)
	entries, masters := f.watch.latencies(sent)
	reportLatencies(b, "simulated", handovers, vips, entries, masters, agentWrites, ctrlWrites)
	b.Logf("mean round trips: agents %v, controller %v", f.agents.mean(), f.ctrl.mean())
}

// BenchmarkFleet: one VirtualIP selecting 500 nodes (VRRP_FLEET_NODES overrides it), a simulated
// agent on each, each entry with two checks. It reports how long after the VirtualIP's creation a
// watcher sees every entry, the agents' writes per node, the object's size (with and without
// managedFields, in JSON as etcd stores a custom resource) and bytes per entry, and how long after
// a cordon-driven handover (the cordoned Master's fake speaker steps down, another node's takes
// over) status.master names the new Master.
func BenchmarkFleet(b *testing.B) {
	n := 500
	if v, err := fmt.Sscan(os.Getenv("VRRP_FLEET_NODES"), &n); v != 1 || err != nil {
		n = 500
	}
	f := newSimFleet(b)
	b.Cleanup(func() {
		if b.Failed() {
			b.Logf("requests: agents %v (mean %v), controller %v (mean %v)", f.agents.snapshot(), f.agents.mean(), f.ctrl.snapshot(), f.ctrl.mean())
		}
	})
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("node-%03d", i)
		f.node(b, names[i])
	}
	b.ResetTimer()
	created := time.Now()
	benchMust(b, f.admin.Create(f.ctx, simVIP("fleet", 1)))
	// Each agent learns of the VirtualIP from its cache, as the reporter then reads it.
	testenv.Eventually(b, 10*time.Second, "the VirtualIP in the agents' cache", func() (bool, string) {
		return f.client.Get(f.ctx, client.ObjectKey{Name: "fleet"}, &vrrpv1.VirtualIP{}) == nil, ""
	})
	// Each agent sees the VirtualIP and starts its router: a Backup, node-000 the Master.
	res := desired.Result{Routers: []desired.Router{{Name: "fleet"}}}
	for i, name := range names {
		r := f.reporters[name]
		r.participate(res)
		state := vrrp.StateBackup
		if i == 0 {
			state = vrrp.StateMaster
		}
		r.observe(status("fleet", state, 100, 2))
	}
	// Beyond maxListedNodes the Backups leave status.nodes: the Master's entry is all there is.
	listed := n
	if n > maxListedNodes {
		listed = 1
	}
	testenv.Eventually(b, 60*time.Second, fmt.Sprintf("all %d entries present", listed), func() (bool, string) {
		o, ok := f.watch.latest("fleet")
		return ok && len(o.states) == listed, fmt.Sprintf("%d entries", len(o.states))
	})
	all := time.Since(created)
	writesAtCreation := f.agents.snapshot()
	f.waitMaster(b, names[0], 1, 30*time.Second)
	master := time.Since(created)

	// The cordon: node-000's speaker steps down (priority 1), node-001's takes over.
	var n0 corev1.Node
	benchMust(b, f.admin.Get(f.ctx, client.ObjectKey{Name: names[0]}, &n0))
	orig := n0.DeepCopy()
	n0.Spec.Unschedulable = true
	benchMust(b, f.admin.Patch(f.ctx, &n0, client.MergeFrom(orig)))
	handover := time.Now()
	f.reporters[names[0]].observe(status("fleet", vrrp.StateBackup, 1, 2))
	f.reporters[names[1]].observe(status("fleet", vrrp.StateMaster, 100, 2))
	f.waitMaster(b, names[1], 1, 30*time.Second)
	moved := time.Since(handover)
	b.StopTimer()

	rc, err := kubernetes.NewForConfig(f.cfg)
	benchMust(b, err)
	raw, err := rc.RESTClient().Get().AbsPath("/apis/vrrp.dev/v1alpha1/virtualips/fleet").DoRaw(f.ctx)
	benchMust(b, err)
	var v vrrpv1.VirtualIP
	benchMust(b, json.Unmarshal(raw, &v))
	v.ManagedFields = nil
	slim, err := json.Marshal(&v)
	benchMust(b, err)
	entry, err := json.Marshal(v.Status.Nodes[len(v.Status.Nodes)/2])
	benchMust(b, err)
	writes := total(writesAtCreation)
	b.ReportMetric(float64(all.Milliseconds()), "all-entries-ms")
	b.ReportMetric(float64(moved.Milliseconds()), "handover-master-ms")
	b.ReportMetric(float64(writes)/float64(n), "writes/node")
	b.ReportMetric(float64(len(raw)), "object-bytes")
	b.ReportMetric(float64(len(raw))/float64(len(v.Status.Nodes)), "bytes/entry")
	b.Logf("%d nodes, %d entries listed: every entry seen %v after creation, status.master %v after; handover to status.master %v; requests at creation %v (%.2f per node); object %d bytes (%d without managedFields), %.0f bytes per entry with managedFields, one entry %d bytes",
		n, listed, all.Round(time.Millisecond), master.Round(time.Millisecond), moved.Round(time.Millisecond), writesAtCreation,
		float64(writes)/float64(n), len(raw), len(slim), float64(len(raw))/float64(len(v.Status.Nodes)), len(entry))
	testenv.Report(b, "fleet: %d simulated nodes, %d listed: every entry %v after creation, cordon handover in status.master %v, %.2f writes per node, object %d bytes (%.0f per entry)",
		n, listed, all.Round(time.Millisecond), moved.Round(time.Millisecond), float64(writes)/float64(n), len(raw), float64(len(raw))/float64(len(v.Status.Nodes)))
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	writeRows(b, n, []benchRow{
		one("fleet-all-entries", ms(all), "ms"), one("fleet-handover-master", ms(moved), "ms"),
		one("fleet-writes-per-node", float64(writes)/float64(n), "requests"),
		one("fleet-object-size", float64(len(raw)), "bytes"), one("fleet-bytes-per-entry", float64(len(raw))/float64(len(v.Status.Nodes)), "bytes"),
	})
}

func simVIP(name string, vrid int32) *vrrpv1.VirtualIP {
	return &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: vrrpv1.VirtualIPSpec{
		VirtualRouterID: vrid, Addresses: []string{fmt.Sprintf("198.51.100.%d/24", 100+vrid)},
		AdvertInterval: &metav1.Duration{Duration: 100 * time.Millisecond},
	}}
}

// waitMaster waits until vips VirtualIPs (all of them) name master in status.master and show it
// MASTER, the others not.
func (f *simFleet) waitMaster(b *testing.B, master string, vips int, timeout time.Duration) {
	b.Helper()
	testenv.Eventually(b, timeout, "status.master "+master, func() (bool, string) {
		seen := 0
		for _, o := range f.watch.latestAll() {
			if o.master != master || o.states[master] != vrrpv1.StateMaster {
				return false, fmt.Sprintf("%s: master %q", o.vip, o.master)
			}
			for n, s := range o.states {
				if n != master && s == vrrpv1.StateMaster {
					return false, fmt.Sprintf("%s: %s MASTER too", o.vip, n)
				}
			}
			seen++
		}
		return seen == vips, fmt.Sprintf("%d VirtualIPs", seen)
	})
}

// sentStatus is a status a fake speaker reported.
type sentStatus struct {
	at    time.Time
	node  string
	vip   string
	state vrrpv1.RouterState
}

// statusWatch records each VirtualIP a watch delivers, with the time it arrived.
type statusWatch struct {
	mu  sync.Mutex
	obs []observed
}

type observed struct {
	at     time.Time
	vip    string
	master string
	states map[string]vrrpv1.RouterState
}

func watchStatus(b *testing.B, f *simFleet) *statusWatch {
	b.Helper()
	wc, err := client.NewWithWatch(f.cfg, client.Options{Scheme: f.scheme})
	benchMust(b, err)
	w, err := wc.Watch(f.ctx, &vrrpv1.VirtualIPList{})
	benchMust(b, err)
	b.Cleanup(w.Stop)
	sw := &statusWatch{}
	go func() {
		for ev := range w.ResultChan() {
			at := time.Now()
			v, ok := ev.Object.(*vrrpv1.VirtualIP)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			o := observed{at: at, vip: v.Name, master: v.Status.Master, states: make(map[string]vrrpv1.RouterState, len(v.Status.Nodes))}
			for _, e := range v.Status.Nodes {
				o.states[e.Node] = e.State
			}
			sw.mu.Lock()
			sw.obs = append(sw.obs, o)
			sw.mu.Unlock()
		}
	}()
	return sw
}

func (w *statusWatch) latest(vip string) (observed, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.obs) - 1; i >= 0; i-- {
		if w.obs[i].vip == vip {
			return w.obs[i], true
		}
	}
	return observed{}, false
}

func (w *statusWatch) latestAll() map[string]observed {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]observed{}
	for _, o := range w.obs {
		out[o.vip] = o
	}
	return out
}

// latencies pairs each sent status with the first observation after it that shows it: the entry's
// latency; for MASTER ones also the first that names the node in status.master.
func (w *statusWatch) latencies(sent []sentStatus) (entries, masters []time.Duration) {
	w.mu.Lock()
	obs := slices.Clone(w.obs)
	w.mu.Unlock()
	first := func(s sentStatus, ok func(observed) bool) (time.Duration, bool) {
		for _, o := range obs {
			if o.vip == s.vip && o.at.After(s.at) && ok(o) {
				return o.at.Sub(s.at), true
			}
		}
		return 0, false
	}
	for _, s := range sent {
		if d, ok := first(s, func(o observed) bool { return o.states[s.node] == s.state }); ok {
			entries = append(entries, d)
		}
		if s.state != vrrpv1.StateMaster {
			continue
		}
		if d, ok := first(s, func(o observed) bool { return o.master == s.node }); ok {
			masters = append(masters, d)
		}
	}
	return entries, masters
}

// reportLatencies reports the latencies and the requests per handover of a handover benchmark.
func reportLatencies(b *testing.B, kind string, handovers, vips int, entries, masters []time.Duration, agentWrites, ctrlWrites map[string]int) {
	b.Helper()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(quantile(entries, 0.5)), "entry-p50-ms")
	b.ReportMetric(ms(quantile(entries, 0.99)), "entry-p99-ms")
	b.ReportMetric(ms(quantile(masters, 0.5)), "master-p50-ms")
	b.ReportMetric(ms(quantile(masters, 0.99)), "master-p99-ms")
	b.ReportMetric(float64(total(agentWrites))/float64(handovers), "agent-writes/handover")
	b.ReportMetric(float64(total(ctrlWrites))/float64(handovers), "controller-writes/handover")
	b.Logf("%s: %d handovers of %d VirtualIPs: %d entries, p50 %v p90 %v p99 %v max %v; status.master p50 %v p90 %v p99 %v max %v; agents %v, controller %v",
		kind, handovers, vips, len(entries), quantile(entries, 0.5), quantile(entries, 0.9), quantile(entries, 0.99), quantile(entries, 1),
		quantile(masters, 0.5), quantile(masters, 0.9), quantile(masters, 0.99), quantile(masters, 1), agentWrites, ctrlWrites)
	testenv.Report(b, "status (%s agents): %d handovers × %d VirtualIPs: entry p50 %v p99 %v, status.master p50 %v p99 %v, %.1f agent and %.1f controller writes per handover",
		kind, handovers, vips, quantile(entries, 0.5).Round(time.Millisecond), quantile(entries, 0.99).Round(time.Millisecond),
		quantile(masters, 0.5).Round(time.Millisecond), quantile(masters, 0.99).Round(time.Millisecond),
		float64(total(agentWrites))/float64(handovers), float64(total(ctrlWrites))/float64(handovers))
	perHandover := float64(total(agentWrites)+total(ctrlWrites)) / float64(handovers)
	rows := []benchRow{
		{Scenario: kind + "-status-entry-latency", Runs: len(entries), Min: ms(quantile(entries, 0)), Median: ms(quantile(entries, 0.5)), Max: ms(quantile(entries, 1)), Unit: "ms"},
		one(kind+"-status-entry-latency-p99", ms(quantile(entries, 0.99)), "ms"),
		{Scenario: kind + "-status-master-latency", Runs: len(masters), Min: ms(quantile(masters, 0)), Median: ms(quantile(masters, 0.5)), Max: ms(quantile(masters, 1)), Unit: "ms"},
		one(kind+"-status-master-latency-p99", ms(quantile(masters, 0.99)), "ms"),
		one(kind+"-status-writes-per-handover", perHandover, "requests"),
	}
	writeRows(b, vips, rows)
}

// requestCounter counts the mutating requests sent through a rest.Config, by verb and resource.
type requestCounter struct {
	mu   sync.Mutex
	n    map[string]int
	took map[string]time.Duration // their round trips, summed
}

func (c *requestCounter) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			switch req.Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
			default:
				verb := req.Method
				if strings.HasPrefix(req.Header.Get("Content-Type"), "application/apply-patch") {
					verb = "APPLY"
				}
				key := verb + " " + apiResource(req.URL.Path)
				start := time.Now()
				resp, err := rt.RoundTrip(req)
				c.mu.Lock()
				if c.n == nil {
					c.n, c.took = map[string]int{}, map[string]time.Duration{}
				}
				c.n[key]++
				c.took[key] += time.Since(start)
				c.mu.Unlock()
				return resp, err
			}
			return rt.RoundTrip(req)
		})
	})
	return cfg
}

// mean is the mean round trip of each kind of request so far.
func (c *requestCounter) mean() map[string]time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]time.Duration{}
	for k, n := range c.n {
		out[k] = (c.took[k] / time.Duration(n)).Round(time.Millisecond / 10)
	}
	return out
}

func (c *requestCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// apiResource names the resource of an API path: "virtualips/status", "nodes", "events".
func apiResource(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return path
	}
	if len(parts) > 2 && parts[0] == "namespaces" {
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

func diffCounts(after, before map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// quantile is the q-quantile of d by the nearest-rank method; 0 for none.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// benchRow is one number of `make bench` (_output/bench.json), as test/footprint writes them.
type benchRow struct {
	Scenario string  `json:"scenario"`
	Impl     string  `json:"impl"`
	Version  string  `json:"version"`
	AdvertMS int64   `json:"advert_ms"`
	Routers  int     `json:"routers"`
	Runs     int     `json:"runs"`
	Min      float64 `json:"min"`
	Median   float64 `json:"median"`
	Max      float64 `json:"max"`
	Unit     string  `json:"unit"`
}

func one(scenario string, v float64, unit string) benchRow {
	return benchRow{Scenario: scenario, Runs: 1, Min: v, Median: v, Max: v, Unit: unit}
}

// writeRows adds rows to the JSON array in the file VRRP_BENCH_OUT names, if set; routers is the
// VirtualIPs (or, for the fleet, the nodes) of the scenario.
func writeRows(b *testing.B, routers int, rows []benchRow) {
	path := os.Getenv("VRRP_BENCH_OUT")
	if path == "" {
		return
	}
	version := "unknown"
	if out, err := exec.Command("git", "-C", testenv.Root(), "describe", "--always", "--dirty").Output(); err == nil {
		version = strings.TrimSpace(string(out))
	}
	var all []json.RawMessage
	if old, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(old))) > 0 {
		if err := json.Unmarshal(old, &all); err != nil {
			b.Fatalf("VRRP_BENCH_OUT=%s: not a JSON array: %v", path, err)
		}
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		b.Fatal(err)
	}
	for _, r := range rows {
		r.Impl, r.Version, r.AdvertMS, r.Routers = "vrrp-operator", version, 100, routers
		j, err := json.Marshal(r)
		benchMust(b, err)
		all = append(all, j)
	}
	out, err := json.MarshalIndent(all, "", "  ")
	benchMust(b, err)
	benchMust(b, os.MkdirAll(filepath.Dir(path), 0o755))
	benchMust(b, os.WriteFile(path, append(out, '\n'), 0o644))
}

func benchMust(b testing.TB, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}
