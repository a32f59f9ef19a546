package kube

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
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

// BenchmarkFleet measures how a VirtualIP's status scales with the number of nodes it selects
// (issue "performance", goal 4): one VirtualIP selecting N nodes, N = 50, 100, 200 and 500
// (VRRP_FLEET_NODES="50,500" picks others; VRRP_FLEET_RUNS the runs per N), each node a simulated
// agent, against a real kube-apiserver and etcd (internal/testenv):
//
//	go test -run=NONE -bench=Fleet -benchtime=1x -timeout 20m ./agent/kube
//
// A simulated agent is the real reporter (newReporter, connect, participate, observe, Start) with
// its own field manager, fed by a fake speaker: the benchmark calls participate and observe as the
// agent's sync and its speaker would, with two checks per entry. The real controller
// (controllers.Setup) runs in the same process. Each run creates the VirtualIP, has every agent
// report (node-000 MASTER, the others BACKUP) and reports:
//   - how long after the creation a watcher (as kubectl get -w) sees all the entries (and a
//     quarter, half, three quarters of them: whether writes slow down as the object grows), and
//     status.master; a run gives up after 60 s and reports how many entries were there. The
//     entries are those of the first vrrpv1.MaxListedNodes nodes: the nodes after them write none
//     while BACKUP;
//   - the agents' mutating requests per node (a wrapping round tripper counts them, by verb,
//     resource and answer), the controller's, and its 409 conflicts;
//   - the CPU the API server, etcd and this process spent meanwhile, and the API server's own mean
//     time per status apply (apiserver_request_duration_seconds);
//   - the object's size as read back, in JSON, with and without managedFields;
//   - a cordon-driven handover: node-000 is cordoned, its fake speaker steps down (BACKUP,
//     priority 1, Cordoned) and node-001's takes over; how long until the watcher sees each of
//     the two entries and status.master naming node-001;
//   - what each real agent pays per status update of the VirtualIP at this size (decoding the
//     object, and the reporter's check of its own entry, which kube.go's updated asks for), and
//     the watch bytes the API server sent per watcher, from which the fan-out to N agents is
//     estimated.
//
// What the simulation understates: the reporters share one informer cache (one watch of
// VirtualIPs) and one HTTP client (one HTTP/2 connection), where each real agent has its own watch
// and connection. The API server thus sends each status change to 3 watchers here (the agents'
// cache, the controller's, the benchmark's) instead of N+2, and decodes no more: its watch
// fan-out, and each agent's decoding of every change, are estimated from the measured bytes per
// watcher and the measured decode time, not measured. The reporters run as one ServiceAccount that
// the agents' admission policy (config/rbac/agent/node_scope_policy.yaml) does not match; a probe
// writes one entry as the agent's own ServiceAccount, bound to its node, to measure what the policy
// adds per write at size N. The Events of all reporters go through one broadcaster. BenchmarkFleet
// leaves no process or file behind: the API server and etcd stop with it.
func BenchmarkFleet(b *testing.B) {
	sizes := []int{50, 100, 200, 500}
	if v := os.Getenv("VRRP_FLEET_NODES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 3 {
				b.Fatalf("VRRP_FLEET_NODES=%q: want node counts of at least 3, separated by commas", v)
			}
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) { benchFleet(b, n) })
	}
}

// fleetGiveUp bounds each wait of a run: past it the run reports what it saw instead of hanging.
const fleetGiveUp = 60 * time.Second

// fleetHandoverGiveUp bounds the wait for a handover to show in status.
const fleetHandoverGiveUp = 30 * time.Second

// fleetBudget is how long a sub-benchmark starts new runs for, after its first.
const fleetBudget = 100 * time.Second

// fleetAgentSA is the ServiceAccount the simulated agents write as: the agent's ClusterRole, but
// a name the admission policy does not match (see BenchmarkFleet). fleetProbeSA is the agent's.
const (
	fleetAgentSA = "vrrp-fleet-sim"
	fleetProbeSA = "vrrp-operator-agent"
	fleetCtrlSA  = "vrrp-operator-controller"
	fleetNS      = "vrrp-system"
)

func benchFleet(b *testing.B, n int) {
	runs := 3
	if n > 200 {
		runs = 2
	}
	if v, err := strconv.Atoi(os.Getenv("VRRP_FLEET_RUNS")); err == nil && v > 0 {
		runs = v
	}
	runs = max(runs, b.N)
	setup := time.Now()
	f := newFleet(b, n)
	b.Logf("%d nodes: API server, %d Nodes and their agents up in %v", n, n, time.Since(setup).Round(time.Millisecond))

	b.ResetTimer()
	var res []fleetResult
	start := time.Now()
	for r := range runs {
		if r > 0 && time.Since(start) > fleetBudget {
			b.Logf("%d nodes: %d runs in %v; no more within the budget", n, r, time.Since(start).Round(time.Second))
			break
		}
		res = append(res, f.run(b, r))
		last := res[len(res)-1]
		b.Logf("%d nodes, run %d: %s", n, r, last)
		if !last.complete {
			break // a second run that cannot settle either only adds minutes
		}
	}
	b.StopTimer()
	f.report(b, res)
}

// fleet is a real API server with n simulated agents and the real controller.
type fleet struct {
	n         int
	listed    int // the entries a settled creation has: min(n, vrrpv1.MaxListedNodes)
	env       *envtest.Environment
	cfg       *rest.Config // the API server's administrator's, unthrottled
	scheme    *runtime.Scheme
	admin     client.Client
	raw       rest.Interface
	ctx       context.Context
	agents    *fleetCounter // the reporters' requests and Events
	ctrl      *fleetCounter // the controller's requests
	cache     cache.Cache   // the reporters' shared cache
	client    client.Client // the reporters': reads from cache
	probe     client.Client // as the agent's own ServiceAccount, bound to node-002
	recorder  events.EventRecorder
	names     []string
	reporters map[string]*reporter
	watch     *fleetWatch
}

func newFleet(b *testing.B, n int) *fleet {
	b.Helper()
	env, cfg := testenv.APIServer(b)
	ctrl.SetLogger(logr.Discard())
	cfg = rest.CopyConfig(cfg)
	cfg.QPS = -1 // creating hundreds of Nodes must not wait for client-go's 5 a second
	f := &fleet{n: n, listed: min(n, vrrpv1.MaxListedNodes), env: env, cfg: cfg, agents: &fleetCounter{}, ctrl: &fleetCounter{}, reporters: map[string]*reporter{}}
	var cancel context.CancelFunc
	f.ctx, cancel = context.WithCancel(context.Background())
	b.Cleanup(cancel)
	f.scheme = runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, vrrpv1.AddToScheme} {
		fleetMust(b, add(f.scheme))
	}
	var err error
	f.admin, err = client.New(cfg, client.Options{Scheme: f.scheme})
	fleetMust(b, err)
	cs, err := kubernetes.NewForConfig(cfg)
	fleetMust(b, err)
	f.raw = cs.RESTClient()
	f.rbac(b)

	for i := range n {
		f.names = append(f.names, fmt.Sprintf("node-%03d", i))
	}
	f.parallel(b, func(name string) error {
		return f.admin.Create(f.ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}})
	})

	agentCfg := f.agents.wrap(clientConfig(impersonate(cfg, fleetAgentSA, "")))
	f.cache, err = cache.New(agentCfg, cache.Options{Scheme: f.scheme, DefaultTransform: cache.TransformStripManagedFields()})
	fleetMust(b, err)
	_, err = f.cache.GetInformer(f.ctx, &vrrpv1.VirtualIP{})
	fleetMust(b, err)
	go func() { _ = f.cache.Start(f.ctx) }()
	if !f.cache.WaitForCacheSync(f.ctx) {
		b.Fatal("the agents' cache did not sync")
	}
	f.client, err = client.New(agentCfg, client.Options{Scheme: f.scheme, Cache: &client.CacheOptions{Reader: f.cache}})
	fleetMust(b, err)
	f.probe, err = client.New(clientConfig(impersonate(cfg, fleetProbeSA, f.names[2])), client.Options{Scheme: f.scheme})
	fleetMust(b, err)
	acs, err := kubernetes.NewForConfig(agentCfg)
	fleetMust(b, err)
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: acs.EventsV1()})
	fleetMust(b, broadcaster.StartRecordingToSinkWithContext(f.ctx))
	b.Cleanup(broadcaster.Shutdown)
	f.recorder = broadcaster.NewRecorder(f.scheme, "vrrp-operator-agent")

	// The controller as it runs: its own ServiceAccount, client-go's rate limit off (GetConfig).
	ctrlCfg := f.ctrl.wrap(impersonate(cfg, fleetCtrlSA, ""))
	mgr, err := ctrl.NewManager(ctrlCfg, ctrl.Options{Scheme: f.scheme, Logger: logr.Discard(),
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(true)}})
	fleetMust(b, err)
	fleetMust(b, controllers.Setup(mgr))
	go func() { _ = mgr.Start(f.ctx) }()
	f.watch = watchFleet(b, f)

	// Each agent starts: its first write removes master labels a predecessor left on its Node.
	for _, name := range f.names {
		r := newReporter(name, logr.Discard())
		r.connect(f.client, f.recorder, metrics.New(nil))
		f.reporters[name] = r
		go func() { _ = r.Start(f.ctx) }()
		r.participate(desired.Result{})
	}
	// As each agent's informer does (kube.go's updated): a VirtualIP's status changed, each
	// reporter checks its entries, and a reporter whose first write waits for the node before it
	// sees that node's entry.
	inf, err := f.cache.GetInformer(f.ctx, &vrrpv1.VirtualIP{})
	fleetMust(b, err)
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{UpdateFunc: func(any, any) {
		for _, r := range f.reporters {
			r.verifySoon()
		}
	}})
	fleetMust(b, err)
	if _, ok, detail := fleetWait(fleetGiveUp, func() (bool, string) {
		c := f.agents.snapshot()["APPLY nodes 200"]
		return c >= n, fmt.Sprintf("%d of %d", c, n)
	}); !ok {
		b.Fatalf("the agents' first Node label writes: %s after %v", detail, fleetGiveUp)
	}
	return f
}

// rbac creates the agents' and the controller's ClusterRoles (config/rbac), binds them to their
// ServiceAccounts and the simulated agents', and installs the agents' admission policy.
func (f *fleet) rbac(b *testing.B) {
	b.Helper()
	fleetMust(b, f.admin.Create(f.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetNS}}))
	bind := map[string][]string{
		"agent/role.yaml":      {fleetAgentSA, fleetProbeSA},
		"controller/role.yaml": {fleetCtrlSA},
	}
	for file, accounts := range bind {
		objs := fleetDecode(b, filepath.Join(testenv.Root(), "config", "rbac", file))
		for _, u := range objs {
			if u["kind"] != "ClusterRole" {
				continue // the Roles of the agents' namespace: Secrets and leases, not measured here
			}
			var cr rbacv1.ClusterRole
			fleetConvert(b, u, &cr)
			fleetMust(b, f.admin.Create(f.ctx, &cr))
			var subjects []rbacv1.Subject
			for _, sa := range accounts {
				subjects = append(subjects, rbacv1.Subject{Kind: "ServiceAccount", Name: sa, Namespace: fleetNS})
			}
			fleetMust(b, f.admin.Create(f.ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: cr.Name},
				Subjects: subjects, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cr.Name}}))
		}
	}
	// The policy and its binding, as the chart installs them.
	cs, err := kubernetes.NewForConfig(f.cfg)
	fleetMust(b, err)
	for _, u := range fleetDecode(b, filepath.Join(testenv.Root(), "config", "rbac", "agent", "node_scope_policy.yaml")) {
		data, err := json.Marshal(u)
		fleetMust(b, err)
		resource := map[any]string{"ValidatingAdmissionPolicy": "validatingadmissionpolicies",
			"ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings"}[u["kind"]]
		if resource == "" {
			b.Fatalf("node_scope_policy.yaml: unexpected %v", u["kind"])
		}
		fleetMust(b, cs.AdmissionregistrationV1().RESTClient().Post().Resource(resource).Body(data).Do(f.ctx).Error())
	}
}

func fleetDecode(b *testing.B, path string) []map[string]any {
	b.Helper()
	file, err := os.Open(path)
	fleetMust(b, err)
	defer file.Close()
	d := yaml.NewYAMLOrJSONDecoder(file, 4096)
	var out []map[string]any
	for {
		var u map[string]any
		if err := d.Decode(&u); err == io.EOF {
			return out
		} else if err != nil {
			b.Fatalf("%s: %v", path, err)
		}
		if u != nil {
			out = append(out, u)
		}
	}
}

func fleetConvert(b *testing.B, from map[string]any, to any) {
	b.Helper()
	data, err := json.Marshal(from)
	fleetMust(b, err)
	fleetMust(b, json.Unmarshal(data, to))
}

// impersonate is cfg acting as a ServiceAccount of fleetNS, bound to node when set, as a token
// of a pod of that node is: the API server's priority and fairness then treats the requests as
// it treats the agents' and the controller's (not as the administrator's, which are exempt).
func impersonate(cfg *rest.Config, sa, node string) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + fleetNS + ":" + sa,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + fleetNS, "system:authenticated"}}
	if node != "" {
		cfg.Impersonate.Extra = map[string][]string{"authentication.kubernetes.io/node-name": {node}}
	}
	cfg.QPS = -1
	return cfg
}

// parallel does do for every node, 16 at a time.
func (f *fleet) parallel(b *testing.B, do func(name string) error) {
	b.Helper()
	work := make(chan string)
	errs := make(chan error, len(f.names))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for name := range work {
				if err := do(name); err != nil {
					errs <- err
				}
			}
		})
	}
	for _, name := range f.names {
		work <- name
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// fleetStatus is what a fake speaker reports: the router's state as of now, with two checks.
func fleetStatus(vip string, state vrrp.State, priority uint8, reason string) speaker.Status {
	st := speaker.Status{Router: vip, State: state, Priority: priority, Reason: reason, Since: time.Now(), Interface: "eth0"}
	for i := range 2 {
		st.Checks = append(st.Checks, desired.CheckState{Name: fmt.Sprintf("check-%d", i), Weight: -20,
			Result: track.Result{State: track.Passing, Since: time.Now(), Message: "HTTP 200 from http://198.51.100.10:8080/healthz"}})
	}
	return st
}

// fleetResult is what one run measured.
type fleetResult struct {
	n, want  int           // the nodes, and the entries a settled creation has
	complete bool          // every entry was seen within fleetGiveUp
	present  time.Duration // until the watcher saw every entry, or gave up
	entries  int           // the entries seen by then
	at10     int           // the entries seen 10 s after the creation
	quarters [4]time.Duration
	master   time.Duration // until status.master named node-000; 0: not within fleetGiveUp
	// The creation's requests (until every entry and status.master were seen, and a second more).
	agentReqs, ctrlReqs   map[string]int
	applyTook             [4]time.Duration // the agents' status applies' mean round trip, by quarter of their start
	cpuAPI, cpuEtcd, cpuM float64          // seconds of CPU: the API server, etcd, this process
	serverApply           float64          // the API server's mean seconds per status APPLY
	timeouts              float64          // status APPLYs the API server ended with 504 (the agents' 5 s timeout)
	etcdUpdates           float64          // the API server's etcd updates of VirtualIPs: attempts, conflicts included
	etcdUpdate            float64          // their mean seconds
	apfWait, apfRejected  float64          // mean seconds queued in workload-low, requests it rejected (429)
	watchEvents           float64          // VirtualIP watch events the API server sent, all watchers
	watchBytes            float64          // and their bytes
	updates               int              // the VirtualIP's versions the watcher saw
	// The object as read back once settled.
	size, slim, managers int
	listed               int           // its entries
	deleted              bool          // the deletion of the VirtualIP went through within fleetGiveUp
	deleting             time.Duration // and took this long
	decode, check        time.Duration // an agent's cost of one status update: decoding it, checking its entry
	probe, plain         time.Duration // one entry's apply at this size, as the real agent and as the simulated one
	probeErr             string
	// The cordon-driven handover.
	handover                 bool
	stepDown, takeOver, next time.Duration // until the watcher saw node-000 BACKUP, node-001 MASTER, status.master node-001
	handoverReqs             map[string]int
	handoverCtrl             map[string]int
	// With more nodes than vrrpv1.MaxListedNodes, a second handover, from node-001 to the last
	// node, which is unlisted: until the watcher saw its MASTER entry, and status.master name it.
	far                  bool
	farTakeOver, farNext time.Duration
}

func (r fleetResult) String() string {
	done := "all entries"
	if !r.complete {
		done = fmt.Sprintf("GAVE UP with %d of %d entries", r.entries, r.want)
	}
	return fmt.Sprintf("%s %v after creation (%d at 10 s; quarters %v), status.master %v; agents %v, controller %v; status apply mean round trip by quarter %v, API server %.1f ms, %.0f ended by the timeout; %.0f etcd updates (%.1f per status write that landed), %.1f ms each; priority and fairness queued them %.0f ms on average and rejected %.0f; CPU API server %.1fs etcd %.1fs simulation %.1fs; %d versions seen, %.0f watch events %.1f MiB sent; object %d bytes, %d without managedFields, %d managers; per update an agent decodes %v, checks %v; one apply %v as the agent (policy), %v without%s; handover: node-000 BACKUP %v, node-001 MASTER %v, status.master %v (settled %v), agents %v, controller %v; deleting the VirtualIP took %v",
		done, r.present.Round(time.Millisecond), r.at10, fleetRound(r.quarters[:]), r.master.Round(time.Millisecond), r.agentReqs, r.ctrlReqs,
		fleetRound(r.applyTook[:]), 1000*r.serverApply, r.timeouts, r.etcdUpdates, r.etcdUpdates/float64(max(1, r.agentReqs["APPLY virtualips/status 200"]+r.ctrlReqs["APPLY virtualips/status 200"])),
		1000*r.etcdUpdate, 1000*r.apfWait, r.apfRejected, r.cpuAPI, r.cpuEtcd, r.cpuM, r.updates, r.watchEvents, r.watchBytes/(1<<20),
		r.size, r.slim, r.managers, r.decode, r.check, r.probe.Round(time.Microsecond*100), r.plain.Round(time.Microsecond*100), r.probeErr,
		r.stepDown.Round(time.Millisecond), r.takeOver.Round(time.Millisecond), r.next.Round(time.Millisecond), r.handover, r.handoverReqs, r.handoverCtrl, r.deleting.Round(time.Millisecond))
}

func fleetRound(d []time.Duration) []time.Duration {
	out := make([]time.Duration, len(d))
	for i, v := range d {
		out[i] = v.Round(time.Millisecond)
	}
	return out
}

// run creates VirtualIP fleet-<r>, has every agent report, hands it over from node-000 to
// node-001, measures, and deletes it again.
func (f *fleet) run(b *testing.B, r int) fleetResult {
	b.Helper()
	name := fmt.Sprintf("fleet-%d", r)
	res := fleetResult{n: f.n, want: f.listed}
	agents0, ctrl0 := f.agents.snapshot(), f.ctrl.snapshot()
	applies0 := f.agents.count("APPLY virtualips/status")
	s0 := f.snap(b)
	seen0 := f.watch.len()

	profiled := f.profile(b, r)
	defer profiled()
	created := time.Now()
	fleetMust(b, f.admin.Create(f.ctx, fleetVIP(name, int32(1+r%255))))
	// Each agent learns of the VirtualIP from its cache, as it reads it there.
	if _, ok, _ := fleetWait(fleetGiveUp, func() (bool, string) {
		return f.client.Get(f.ctx, client.ObjectKey{Name: name}, &vrrpv1.VirtualIP{}) == nil, ""
	}); !ok {
		b.Fatalf("%s did not reach the agents' cache within %v", name, fleetGiveUp)
	}
	// Each agent's sync starts the router, whose speaker reports: node-000 MASTER, the others BACKUP.
	// The VirtualIP selects every node, so each node's rank (desired.Derive) is its index and the
	// node before it the one before in f.names: the names sort as f.names lists them.
	for i, node := range f.names {
		rep := f.reporters[node]
		d := desired.Router{Name: name, Rank: i, Unlisted: desired.Unlisted(&vrrpv1.VirtualIPSpec{}, i)}
		if i > 0 {
			d.Previous = f.names[i-1]
		}
		rep.participate(desired.Result{Routers: []desired.Router{d}})
		state := vrrp.StateBackup
		if i == 0 {
			state = vrrp.StateMaster
		}
		rep.observe(fleetStatus(name, state, 100, ""))
	}
	for q := range 4 {
		want := (q + 1) * f.listed / 4
		_, ok, detail := fleetWait(fleetGiveUp-time.Since(created), func() (bool, string) {
			o, ok := f.watch.latest(name)
			return ok && len(o.states) >= want, fmt.Sprint(len(o.states))
		})
		if !ok {
			res.present = time.Since(created)
			res.entries, _ = strconv.Atoi(detail)
			break
		}
		res.quarters[q] = time.Since(created)
		if q == 3 {
			res.complete, res.present, res.entries = true, time.Since(created), f.listed
		}
	}
	res.at10 = f.watch.entriesAt(name, created.Add(10*time.Second))
	if _, ok, _ := fleetWait(fleetGiveUp-time.Since(created), func() (bool, string) {
		o, ok := f.watch.latest(name)
		return ok && o.master == f.names[0], ""
	}); ok {
		res.master = f.watch.firstMaster(name, f.names[0], created).Sub(created)
	}
	time.Sleep(time.Second) // the last Events and controller writes of the creation
	res.agentReqs, res.ctrlReqs = testenv.CountDiff(f.agents.snapshot(), agents0), testenv.CountDiff(f.ctrl.snapshot(), ctrl0)
	res.applyTook = f.agents.quarters("APPLY virtualips/status", applies0)
	s1 := f.snap(b)
	if dir := os.Getenv("VRRP_FLEET_PPROF"); dir != "" && r == 0 {
		fleetMust(b, os.WriteFile(filepath.Join(dir, fmt.Sprintf("metrics-apiserver-n%d.txt", f.n)), s1.api, 0o644))
		fleetMust(b, os.WriteFile(filepath.Join(dir, fmt.Sprintf("metrics-etcd-n%d.txt", f.n)), s1.etcd, 0o644))
	}
	res.cpuAPI = s1.apiDiff(s0, "process_cpu_seconds_total")
	res.cpuEtcd = s1.etcdDiff(s0, "process_cpu_seconds_total")
	res.cpuM = s1.self - s0.self
	status := []string{`resource="virtualips"`, `subresource="status"`, `verb="APPLY"`}
	if c := s1.apiDiff(s0, "apiserver_request_duration_seconds_count", status...); c > 0 {
		res.serverApply = s1.apiDiff(s0, "apiserver_request_duration_seconds_sum", status...) / c
	}
	res.timeouts = s1.apiDiff(s0, "apiserver_request_total", append(status, `code="504"`)...)
	update := []string{`operation="update"`, `resource="virtualips"`}
	res.etcdUpdates = s1.apiDiff(s0, "etcd_request_duration_seconds_count", update...)
	if res.etcdUpdates > 0 {
		res.etcdUpdate = s1.apiDiff(s0, "etcd_request_duration_seconds_sum", update...) / res.etcdUpdates
	}
	// The agents' and the controller's requests wait in priority and fairness' workload-low.
	low := []string{`priority_level="workload-low"`, `execute="true"`}
	if c := s1.apiDiff(s0, "apiserver_flowcontrol_request_wait_duration_seconds_count", low...); c > 0 {
		res.apfWait = s1.apiDiff(s0, "apiserver_flowcontrol_request_wait_duration_seconds_sum", low...) / c
	}
	res.apfRejected = s1.apiDiff(s0, "apiserver_flowcontrol_rejected_requests_total", `priority_level="workload-low"`)
	vips := []string{`group="vrrp.dev"`, `resource="virtualips"`}
	res.watchEvents = s1.apiDiff(s0, "apiserver_watch_events_total", vips...)
	res.watchBytes = s1.apiDiff(s0, "apiserver_watch_events_sizes_sum", vips...)
	res.updates = f.watch.len() - seen0

	f.measureObject(b, name, &res)

	// The cordon: node-000's speaker steps down (priority 1, Cordoned), node-001's takes over;
	// after a creation that did not settle, amid its retries.
	{
		f.cordon(b, f.names[0], true)
		agents1, ctrl1 := f.agents.snapshot(), f.ctrl.snapshot()
		sent := time.Now()
		f.reporters[f.names[0]].observe(fleetStatus(name, vrrp.StateBackup, 1, "Cordoned"))
		f.reporters[f.names[1]].observe(fleetStatus(name, vrrp.StateMaster, 100, ""))
		_, res.handover, _ = fleetWait(fleetHandoverGiveUp, func() (bool, string) {
			o, ok := f.watch.latest(name)
			return ok && o.master == f.names[1] && o.states[f.names[0]] == vrrpv1.StateBackup && o.states[f.names[1]] == vrrpv1.StateMaster, ""
		})
		res.stepDown = f.watch.firstState(name, f.names[0], vrrpv1.StateBackup, sent).Sub(sent)
		res.takeOver = f.watch.firstState(name, f.names[1], vrrpv1.StateMaster, sent).Sub(sent)
		res.next = f.watch.firstMaster(name, f.names[1], sent).Sub(sent)
		time.Sleep(time.Second) // its Events
		res.handoverReqs, res.handoverCtrl = testenv.CountDiff(f.agents.snapshot(), agents1), testenv.CountDiff(f.ctrl.snapshot(), ctrl1)
		f.cordon(b, f.names[0], false)
	}
	if far := f.names[f.n-1]; f.n > f.listed {
		sent := time.Now()
		f.reporters[f.names[1]].observe(fleetStatus(name, vrrp.StateBackup, 1, "Cordoned"))
		f.reporters[far].observe(fleetStatus(name, vrrp.StateMaster, 100, ""))
		_, res.far, _ = fleetWait(fleetHandoverGiveUp, func() (bool, string) {
			o, ok := f.watch.latest(name)
			return ok && o.master == far && o.states[f.names[1]] == vrrpv1.StateBackup, ""
		})
		res.farTakeOver = f.watch.firstState(name, far, vrrpv1.StateMaster, sent).Sub(sent)
		res.farNext = f.watch.firstMaster(name, far, sent).Sub(sent)
	}

	// Clean up: the VirtualIP goes, each agent's sync forgets its router and writes the removal
	// of its entry, which finds the object gone; an unlisted node has none to remove.
	// Amid a write storm the deletion contends for the object too: it is retried, and how long it
	// took is reported.
	deleting := time.Now()
	var delErr error
	// After a creation that did not settle one attempt tells enough, and bounds the
	// sub-benchmark's time: the API server goes with it.
	deleteGiveUp := fleetGiveUp
	if !res.complete {
		deleteGiveUp = 0
	}
	_, res.deleted, _ = fleetWait(deleteGiveUp, func() (bool, string) {
		ctx, cancel := context.WithTimeout(f.ctx, 20*time.Second)
		defer cancel()
		delErr = client.IgnoreNotFound(f.admin.Delete(ctx, fleetVIP(name, 1)))
		return delErr == nil, ""
	})
	res.deleting = time.Since(deleting)
	if !res.deleted {
		b.Logf("deleting %s: not within %v: %v", name, res.deleting.Round(time.Second), delErr)
		return res // the API server goes with the sub-benchmark
	}
	fleetWait(fleetGiveUp, func() (bool, string) {
		return apierrors.IsNotFound(f.client.Get(f.ctx, client.ObjectKey{Name: name}, &vrrpv1.VirtualIP{})), ""
	})
	before := f.agents.count("APPLY virtualips/status")
	for _, node := range f.names {
		f.reporters[node].participate(desired.Result{})
	}
	fleetWait(fleetGiveUp, func() (bool, string) {
		return f.agents.count("APPLY virtualips/status")-before >= f.listed, ""
	})
	time.Sleep(200 * time.Millisecond)
	return res
}

// measureObject reads the settled object back and measures its size and what one update of it
// costs an agent and the API server.
func (f *fleet) measureObject(b *testing.B, name string, res *fleetResult) {
	b.Helper()
	raw, err := f.raw.Get().AbsPath("/apis/vrrp.dev/v1alpha1/virtualips/" + name).DoRaw(f.ctx)
	if err != nil {
		b.Logf("reading %s back: %v", name, err)
		return
	}
	var u map[string]any
	fleetMust(b, json.Unmarshal(raw, &u))
	meta, _ := u["metadata"].(map[string]any)
	managed, _ := meta["managedFields"].([]any)
	res.managers = len(managed)
	if st, ok := u["status"].(map[string]any); ok {
		nodes, _ := st["nodes"].([]any)
		res.listed = len(nodes)
	}
	delete(meta, "managedFields")
	slim, err := json.Marshal(u)
	fleetMust(b, err)
	res.size, res.slim = len(raw), len(slim)

	// An agent's informer decodes every version of the object (with managedFields, which the
	// transform drops only then) and its reporter checks its entry in it (kube.go's updated asks).
	var decodes, checks []time.Duration
	rep := f.reporters[f.names[f.n-1]]
	for range 5 {
		t := time.Now()
		var v vrrpv1.VirtualIP
		fleetMust(b, json.Unmarshal(raw, &v))
		decodes = append(decodes, time.Since(t))
		rep.mu.Lock()
		rep.verify = true
		rep.mu.Unlock()
		t = time.Now()
		rep.reassert(f.ctx)
		checks = append(checks, time.Since(t))
	}
	// The fastest of each: what the work costs, not how long this busy process waited for a core.
	res.decode, res.check = testenv.Quantile(decodes, 0).Round(time.Microsecond), testenv.Quantile(checks, 0).Round(time.Microsecond)

	// One entry's apply at this size: node-002's, as the agent's own ServiceAccount bound to
	// node-002 (the admission policy compares every other entry) and as the simulated agents write.
	probe := newReporter(f.names[2], logr.Discard())
	probe.connect(f.probe, nil, metrics.New(nil))
	plain := f.reporters[f.names[2]]
	var withPolicy, without []time.Duration
	for i := range 3 {
		checks := fleetStatus(name, vrrp.StateBackup, uint8(90-i), "").Checks
		entry := &vrrpv1.NodeStatus{Node: f.names[2], State: vrrpv1.StateBackup, Priority: int32(90 - i), Interface: "eth0", Checks: checkStatuses(checks)}
		t := time.Now()
		if err := probe.writeEntry(f.ctx, name, entry); err != nil {
			res.probeErr = "; as the agent: " + err.Error()
			break
		}
		withPolicy = append(withPolicy, time.Since(t))
		entry.Priority--
		t = time.Now()
		if err := plain.writeEntry(f.ctx, name, entry); err != nil {
			res.probeErr = "; as the simulated agent: " + err.Error()
			break
		}
		without = append(without, time.Since(t))
	}
	res.probe, res.plain = testenv.Quantile(withPolicy, 0.5), testenv.Quantile(without, 0.5)
	// node-002's reporter writes its entry as it last observed it when it next flushes.
	plain.observe(fleetStatus(name, vrrp.StateBackup, 100, ""))
}

// profile takes a CPU profile of the API server during the first run's creation when
// VRRP_FLEET_PPROF names a directory (as pprof-apiserver-n<N>.pb.gz there); the function it
// returns waits for it.
func (f *fleet) profile(b *testing.B, run int) func() {
	b.Helper()
	dir := os.Getenv("VRRP_FLEET_PPROF")
	if dir == "" || run > 0 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		data, err := f.raw.Get().AbsPath("/debug/pprof/profile").Param("seconds", "10").Timeout(time.Minute).DoRaw(f.ctx)
		if err != nil {
			b.Logf("profiling the API server: %v", err)
			return
		}
		path := filepath.Join(dir, fmt.Sprintf("pprof-apiserver-n%d.pb.gz", f.n))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			b.Logf("profiling the API server: %v", err)
		}
	}()
	return func() { <-done }
}

func (f *fleet) cordon(b *testing.B, node string, on bool) {
	b.Helper()
	var n corev1.Node
	err := f.admin.Get(f.ctx, client.ObjectKey{Name: node}, &n)
	if err == nil {
		orig := n.DeepCopy()
		n.Spec.Unschedulable = on
		err = f.admin.Patch(f.ctx, &n, client.MergeFrom(orig))
	}
	if err != nil {
		b.Logf("cordon %s: %v", node, err) // the fake speakers step down all the same
	}
}

// fleetSnap is the API server's and etcd's metrics and this process's CPU seconds at a time.
type fleetSnap struct {
	api, etcd fleetMetrics
	self      float64
}

func (s fleetSnap) apiDiff(before fleetSnap, name string, labels ...string) float64 {
	return s.api.sum(name, labels...) - before.api.sum(name, labels...)
}

func (s fleetSnap) etcdDiff(before fleetSnap, name string, labels ...string) float64 {
	return s.etcd.sum(name, labels...) - before.etcd.sum(name, labels...)
}

func (f *fleet) snap(b *testing.B) fleetSnap {
	b.Helper()
	s := fleetSnap{api: f.apiMetrics(b)}
	resp, err := http.Get(f.env.ControlPlane.Etcd.URL.String() + "/metrics")
	fleetMust(b, err)
	defer resp.Body.Close()
	s.etcd, err = io.ReadAll(resp.Body)
	fleetMust(b, err)
	var ru syscall.Rusage
	fleetMust(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	s.self = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	return s
}

func (f *fleet) apiMetrics(b *testing.B) fleetMetrics {
	b.Helper()
	data, err := f.raw.Get().AbsPath("/metrics").DoRaw(f.ctx)
	fleetMust(b, err)
	return fleetMetrics(data)
}

// fleetMetrics is a Prometheus text exposition.
type fleetMetrics []byte

// sum adds the samples of name whose labels contain every one of labels (`key="value"`).
func (m fleetMetrics) sum(name string, labels ...string) float64 {
	total := 0.0
	s := bufio.NewScanner(strings.NewReader(string(m)))
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		line := s.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		if !fleetAll(rest, labels) {
			continue
		}
		fields := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(fields) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(fields[0], 64); err == nil {
			total += v
		}
	}
	return total
}

func fleetAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// report summarises the runs: metrics, a log line and the rows of `make bench`.
func (f *fleet) report(b *testing.B, res []fleetResult) {
	b.Helper()
	n := f.n
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	var farEntry, farMaster []float64
	var present, handoverEntry, handoverMaster, writes, statusWrites, apiCPU, conflicts, serverApply, attempts, timeouts, at10 []float64
	incomplete, handoverFailed := 0, 0
	last := res[len(res)-1]
	for _, r := range res {
		if r.complete {
			present = append(present, ms(r.present))
		} else {
			incomplete++
		}
		writes = append(writes, float64(testenv.CountTotal(r.agentReqs))/float64(n))
		statusWrites = append(statusWrites, float64(r.agentReqs["APPLY virtualips/status 200"])/float64(n))
		apiCPU = append(apiCPU, r.cpuAPI)
		conflicts = append(conflicts, float64(fleetConflicts(r.ctrlReqs)+fleetConflicts(r.agentReqs)))
		serverApply = append(serverApply, 1000*r.serverApply)
		landed := r.agentReqs["APPLY virtualips/status 200"] + r.ctrlReqs["APPLY virtualips/status 200"]
		attempts = append(attempts, r.etcdUpdates/float64(max(landed, 1)))
		timeouts = append(timeouts, r.timeouts)
		at10 = append(at10, float64(r.at10))
		if r.handover {
			handoverEntry = append(handoverEntry, ms(r.stepDown), ms(r.takeOver))
			handoverMaster = append(handoverMaster, ms(r.next))
		} else {
			handoverFailed++
		}
		switch {
		case r.far:
			farEntry, farMaster = append(farEntry, ms(r.farTakeOver)), append(farMaster, ms(r.farNext))
		case f.n > f.listed:
			handoverFailed++
		}
	}
	if len(present) > 0 {
		b.ReportMetric(testenv.Median(present), "entries-p50-ms")
		b.ReportMetric(slices.Max(present), "entries-max-ms")
	}
	if len(handoverEntry) > 0 {
		b.ReportMetric(slices.Max(handoverEntry), "handover-entry-max-ms")
		b.ReportMetric(slices.Max(handoverMaster), "handover-master-max-ms")
	}
	b.ReportMetric(testenv.Median(writes), "writes/node")
	b.ReportMetric(float64(last.size), "object-bytes")
	b.ReportMetric(float64(last.slim), "object-bytes-no-managedfields")
	b.ReportMetric(testenv.Median(apiCPU), "apiserver-cpu-s")
	b.ReportMetric(testenv.Median(conflicts), "conflicts")
	b.ReportMetric(testenv.Median(attempts), "etcd-updates/write")
	b.ReportMetric(testenv.Median(timeouts), "apply-timeouts")

	// A real fleet's watch fan-out: every version of the object goes to each agent's watch. A
	// creation writes L versions, of 1 to L entries (L = f.listed): L²/2 entries' bytes per
	// watcher, and each agent decodes and checks L versions of half the settled size on average.
	watchers := 3.0 // the agents' shared cache, the controller's, the benchmark's watcher
	perWatcher := last.watchBytes / watchers
	perEntry := float64(last.size) / float64(max(last.listed, 1))
	L := f.listed
	fanout := perEntry * float64(L) * float64(L) / 2 * float64(n+2)
	agentCPU := time.Duration(L) * (last.decode + last.check) / 2 * time.Duration(L) / time.Duration(max(last.listed, 1))
	settled := "none settled"
	if len(present) > 0 {
		settled = fmt.Sprintf("p50 %.0f ms max %.0f ms", testenv.Median(present), slices.Max(present))
	}
	summary := fmt.Sprintf("fleet of %d nodes, %d runs: all %d entries seen after %s (%d runs gave up after %v; the last saw %d, %d at 10 s), within 10 s: %v; %.2f agent requests per node (%.2f status applies); object %d bytes for %d entries, %d without managedFields (%.0f and %.0f per entry); cordon handover: entries max %.0f ms, status.master max %.0f ms (%d not within %v); handover to an unlisted node: its entry %v ms, status.master %v ms; API server %.1f CPU-s per creation, %.1f ms per status apply, %.1f etcd updates per status write that landed, %.0f applies ended by the 5 s timeout, %.0f conflicts (409); watch %.1f MiB per watcher measured; a settled creation would send ~%.0f MiB to %d agents' watches, and each agent would spend ~%v decoding and checking its %d versions",
		n, len(res), L, settled, incomplete, fleetGiveUp, last.entries, last.at10, incomplete == 0 && fleetMax(present) <= 10000,
		testenv.Median(writes), testenv.Median(statusWrites), last.size, last.listed, last.slim, perEntry, float64(last.slim)/float64(max(last.listed, 1)),
		fleetMax(handoverEntry), fleetMax(handoverMaster), handoverFailed, fleetHandoverGiveUp, farEntry, farMaster, testenv.Median(apiCPU), testenv.Median(serverApply), testenv.Median(attempts), testenv.Median(timeouts), testenv.Median(conflicts),
		perWatcher/(1<<20), fanout/(1<<20), n, agentCPU.Round(time.Millisecond), L)
	testenv.Report(b, "%s", summary)

	version := "unknown"
	if out, err := exec.Command("git", "-C", testenv.Root(), "describe", "--always", "--dirty").Output(); err == nil {
		version = strings.TrimSpace(string(out))
	}
	row := func(what string, values []float64, unit string) testenv.BenchRow {
		return testenv.NewBenchRow(fmt.Sprintf("fleet %s n=%d", what, n), "vrrp-operator", version, 100*time.Millisecond, 1, values, unit)
	}
	var rows []testenv.BenchRow
	if len(present) > 0 {
		rows = append(rows, row("entries-present", present, "ms"))
	}
	if incomplete > 0 {
		rows = append(rows, row("entries-present-at-give-up", []float64{float64(last.entries)}, "entries"))
	}
	if len(handoverEntry) > 0 {
		rows = append(rows, row("handover-entry", handoverEntry, "ms"), row("handover-master", handoverMaster, "ms"))
	}
	if handoverFailed > 0 {
		rows = append(rows, row("handovers-not-in-status-within-30s", []float64{float64(handoverFailed)}, "runs"))
	}
	if len(farEntry) > 0 {
		rows = append(rows, row("handover-to-unlisted-entry", farEntry, "ms"), row("handover-to-unlisted-master", farMaster, "ms"))
	}
	rows = append(rows,
		row("entries-at-10s", at10, "entries"),
		row("writes-per-node", writes, "requests"),
		row("status-writes-per-node", statusWrites, "requests"),
		row("object-size", []float64{float64(last.size)}, "bytes"),
		row("object-size-without-managedfields", []float64{float64(last.slim)}, "bytes"),
		row("apiserver-cpu", apiCPU, "s"),
		row("apiserver-status-apply", serverApply, "ms"),
		row("conflicts", conflicts, "requests"),
		row("etcd-updates-per-status-write", attempts, "requests"),
		row("status-apply-timeouts", timeouts, "requests"),
		row("watch-fanout-estimate", []float64{fanout / (1 << 20)}, "MiB"),
	)
	testenv.WriteBenchRows(b, rows...)
}

func fleetMedian(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return testenv.Median(v)
}

func fleetMax(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return slices.Max(v)
}

func fleetConflicts(reqs map[string]int) int {
	c := 0
	for k, v := range reqs {
		if strings.HasSuffix(k, " 409") {
			c += v
		}
	}
	return c
}

func fleetVIP(name string, vrid int32) *vrrpv1.VirtualIP {
	return &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: vrrpv1.VirtualIPSpec{
		VirtualRouterID: vrid, Addresses: []string{fmt.Sprintf("198.51.100.%d/24", 1+vrid%250)},
		AdvertInterval: &metav1.Duration{Duration: 100 * time.Millisecond},
	}}
}

// fleetWait polls cond every 20 ms until it holds or timeout passes: it reports how long it took,
// whether cond held, and cond's last detail. Unlike testenv.Eventually it does not fail: a fleet
// that does not settle is a finding to report.
func fleetWait(timeout time.Duration, cond func() (bool, string)) (time.Duration, bool, string) {
	start := time.Now()
	for {
		ok, detail := cond()
		if ok || time.Since(start) > timeout {
			return time.Since(start), ok, detail
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fleetWatch records each version of a VirtualIP a watch delivers, with the time it arrived.
type fleetWatch struct {
	mu  sync.Mutex
	obs []fleetSeen
}

type fleetSeen struct {
	at     time.Time
	vip    string
	master string
	states map[string]vrrpv1.RouterState
}

func watchFleet(b *testing.B, f *fleet) *fleetWatch {
	b.Helper()
	wc, err := client.NewWithWatch(f.cfg, client.Options{Scheme: f.scheme})
	fleetMust(b, err)
	w, err := wc.Watch(f.ctx, &vrrpv1.VirtualIPList{})
	fleetMust(b, err)
	b.Cleanup(w.Stop)
	fw := &fleetWatch{}
	go func() {
		for ev := range w.ResultChan() {
			at := time.Now()
			v, ok := ev.Object.(*vrrpv1.VirtualIP)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			o := fleetSeen{at: at, vip: v.Name, master: v.Status.Master, states: make(map[string]vrrpv1.RouterState, len(v.Status.Nodes))}
			for _, e := range v.Status.Nodes {
				o.states[e.Node] = e.State
			}
			fw.mu.Lock()
			fw.obs = append(fw.obs, o)
			fw.mu.Unlock()
		}
	}()
	return fw
}

func (w *fleetWatch) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.obs)
}

func (w *fleetWatch) latest(vip string) (fleetSeen, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.obs) - 1; i >= 0; i-- {
		if w.obs[i].vip == vip {
			return w.obs[i], true
		}
	}
	return fleetSeen{}, false
}

// first is when the watcher first saw a version of vip, after after, that ok accepts; after
// itself when none.
func (w *fleetWatch) first(vip string, after time.Time, ok func(fleetSeen) bool) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, o := range w.obs {
		if o.vip == vip && o.at.After(after) && ok(o) {
			return o.at
		}
	}
	return after
}

// entriesAt is how many entries of vip the last version seen by at listed.
func (w *fleetWatch) entriesAt(vip string, at time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, o := range w.obs {
		if o.vip == vip && !o.at.After(at) {
			n = len(o.states)
		}
	}
	return n
}

func (w *fleetWatch) firstMaster(vip, node string, after time.Time) time.Time {
	return w.first(vip, after, func(o fleetSeen) bool { return o.master == node })
}

func (w *fleetWatch) firstState(vip, node string, state vrrpv1.RouterState, after time.Time) time.Time {
	return w.first(vip, after, func(o fleetSeen) bool { return o.states[node] == state })
}

// fleetCounter counts the mutating requests sent through a rest.Config, by verb, resource and
// HTTP status ("APPLY virtualips/status 200"), and keeps each one's start and round trip.
type fleetCounter struct {
	mu   sync.Mutex
	n    map[string]int
	reqs []fleetRequest
}

type fleetRequest struct {
	key   string // verb and resource
	start time.Time
	took  time.Duration
}

func (c *fleetCounter) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return fleetRoundTrip(func(req *http.Request) (*http.Response, error) {
			switch req.Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
				return rt.RoundTrip(req)
			}
			verb := req.Method
			if strings.HasPrefix(req.Header.Get("Content-Type"), "application/apply-patch") {
				verb = "APPLY"
			}
			key := verb + " " + fleetResource(req.URL.Path)
			start := time.Now()
			resp, err := rt.RoundTrip(req)
			code := "error"
			if err == nil {
				code = strconv.Itoa(resp.StatusCode)
			}
			c.mu.Lock()
			if c.n == nil {
				c.n = map[string]int{}
			}
			c.n[key+" "+code]++
			c.reqs = append(c.reqs, fleetRequest{key: key, start: start, took: time.Since(start)})
			c.mu.Unlock()
			return resp, err
		})
	})
	return cfg
}

func (c *fleetCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

// count is the requests of key (verb and resource) so far, whatever their answer.
func (c *fleetCounter) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.reqs {
		if r.key == key {
			n++
		}
	}
	return n
}

// quarters is the mean round trip of the requests of key after the first skip of them, by
// quarter of their order of start.
func (c *fleetCounter) quarters(key string, skip int) [4]time.Duration {
	c.mu.Lock()
	var took []time.Duration
	for _, r := range c.reqs {
		if r.key == key {
			if skip > 0 {
				skip--
				continue
			}
			took = append(took, r.took)
		}
	}
	c.mu.Unlock()
	var out [4]time.Duration
	for q := range 4 {
		part := took[q*len(took)/4 : (q+1)*len(took)/4]
		var sum time.Duration
		for _, d := range part {
			sum += d
		}
		if len(part) > 0 {
			out[q] = sum / time.Duration(len(part))
		}
	}
	return out
}

type fleetRoundTrip func(*http.Request) (*http.Response, error)

func (f fleetRoundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// fleetResource names the resource of an API path: "virtualips/status", "nodes", "events".
func fleetResource(path string) string {
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

func fleetMust(b testing.TB, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}
