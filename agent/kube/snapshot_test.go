package kube

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

func TestSnapshot(t *testing.T) {
	yes := true
	in := desired.Inputs{
		VirtualIPs: []vrrpv1.VirtualIP{{
			ObjectMeta: metav1.ObjectMeta{Name: "services", Annotations: map[string]string{vrrpv1.PreferredNodeAnnotation: "secondary"},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
			Spec: vrrpv1.VirtualIPSpec{VirtualRouterID: 51, Version: 2, Addresses: []string{"198.51.100.252/24"},
				AdvertInterval: &metav1.Duration{Duration: time.Second}, Priority: 100, Preempt: &yes,
				NodePriorities: []vrrpv1.NodePriority{{Node: "primary", Priority: 150}},
				Authentication: &vrrpv1.Authentication{Type: vrrpv1.AuthenticationPass,
					SecretRef: vrrpv1.SecretKeyReference{Name: "vrrp-auth", Namespace: "vrrp-system", Key: "password"}}},
			Status: vrrpv1.VirtualIPStatus{Master: "primary"},
		}},
		Nodes: []corev1.Node{{
			ObjectMeta: metav1.ObjectMeta{Name: "primary", Labels: map[string]string{"zone": "a"}},
			Spec:       corev1.NodeSpec{Unschedulable: true},
			Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "198.51.100.253"}}},
		}},
		Secrets: []corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Name: "vrrp-auth", Namespace: "vrrp-system"},
			Data: map[string][]byte{"password": []byte("secret12")}}},
	}
	dir := t.TempDir()
	s := newSnapshot(dir)
	if _, _, ok, err := s.load(); ok || err != nil {
		t.Fatalf("load before any save = %v, %v; want nothing and no error", ok, err)
	}
	ifaces := []desired.Interface{{Name: "eth0", Up: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.253/24")}}}
	want := desired.Derive(desired.Inputs{NodeName: "primary", Nodes: in.Nodes, VirtualIPs: in.VirtualIPs, Secrets: in.Secrets, Interfaces: ifaces})
	if err := s.save(in, want); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600: it holds VRRP passwords", s.path, fi.Mode().Perm())
	}
	got, _, ok, err := newSnapshot(dir).load()
	if !ok || err != nil {
		t.Fatalf("load after save = %v, %v", ok, err)
	}
	// What a restarted agent derives from the file is what it derived from the API server.
	have := desired.Derive(desired.Inputs{NodeName: "primary", Nodes: got.Nodes, VirtualIPs: got.VirtualIPs, Secrets: got.Secrets, Interfaces: ifaces})
	if len(want.Routers) != 1 || len(want.Errors) != 0 {
		t.Fatalf("the inputs should give one router: %+v", want)
	}
	if diff := cmp.Diff(want, have, cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
		t.Errorf("routers derived from the snapshot (-want +got):\n%s", diff)
	}
	if len(got.VirtualIPs) != 1 || got.VirtualIPs[0].ManagedFields != nil || got.VirtualIPs[0].Status.Master != "" {
		t.Errorf("the snapshot keeps managed fields or status: %+v", got.VirtualIPs)
	}
	if !got.Nodes[0].Spec.Unschedulable || string(got.Secrets[0].Data["password"]) != "secret12" {
		t.Errorf("the snapshot lost the cordon or the password: %+v %+v", got.Nodes, got.Secrets)
	}
}

// twoVIPs are a VirtualIP this node (primary, zone a) runs and one it does not (zone b only), each
// with a Secret of its own that holds a second key besides the password.
func twoVIPs() desired.Inputs {
	yes := true
	vip := func(name string, vrid int32, zone, secret string) vrrpv1.VirtualIP {
		return vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: vrrpv1.VirtualIPSpec{VirtualRouterID: vrid, Version: 2, Addresses: []string{"198.51.100.252/24"},
				AdvertInterval: &metav1.Duration{Duration: time.Second}, Priority: 100, Preempt: &yes,
				NodeSelector:   &metav1.LabelSelector{MatchLabels: map[string]string{"zone": zone}},
				NodePriorities: []vrrpv1.NodePriority{{Node: "primary", Priority: 150}},
				Authentication: &vrrpv1.Authentication{Type: vrrpv1.AuthenticationPass,
					SecretRef: vrrpv1.SecretKeyReference{Name: secret, Namespace: "vrrp-system", Key: "password"}}}}
	}
	node := func(name, zone, ip string) corev1.Node {
		return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"zone": zone}},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}}}
	}
	secret := func(name, password string) corev1.Secret {
		return corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "vrrp-system"},
			Data: map[string][]byte{"password": []byte(password), "api-token": []byte("not-for-vrrp")}}
	}
	return desired.Inputs{
		VirtualIPs: []vrrpv1.VirtualIP{vip("services", 51, "a", "vrrp-auth"), vip("elsewhere", 52, "b", "other-auth")},
		Nodes:      []corev1.Node{node("primary", "a", "198.51.100.253"), node("secondary", "a", "198.51.100.254")},
		Secrets:    []corev1.Secret{secret("vrrp-auth", "secret12"), secret("other-auth", "secret34")},
	}
}

var primaryInterfaces = []desired.Interface{{Name: "eth0", Up: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.253/24")}}}

// TestSnapshotKeepsOnlyThePasswordsThisNodeUses proves that last-known.yaml holds the referenced
// key of the Secrets of the VirtualIPs this node takes part in, and nothing of the others (issue 9
// item 12).
func TestSnapshotKeepsOnlyThePasswordsThisNodeUses(t *testing.T) {
	in := twoVIPs()
	res := desired.Derive(desired.Inputs{NodeName: "primary", Nodes: in.Nodes, VirtualIPs: in.VirtualIPs, Secrets: in.Secrets, Interfaces: primaryInterfaces})
	if len(res.Routers) != 1 || res.Routers[0].Name != "services" {
		t.Fatalf("primary should run services only: %+v", res)
	}
	s := newSnapshot(t.TempDir())
	if err := s.save(in, res); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(s.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"not-for-vrrp", "api-token", "secret34"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("%s holds %q:\n%s", SnapshotFile, secret, b)
		}
	}
	got, _, _, err := s.load()
	if err != nil {
		t.Fatal(err)
	}
	want := []corev1.Secret{{TypeMeta: secretTypeMeta, ObjectMeta: metav1.ObjectMeta{Name: "vrrp-auth", Namespace: "vrrp-system"},
		Data: map[string][]byte{"password": []byte("secret12")}, Type: corev1.SecretTypeOpaque}}
	if diff := cmp.Diff(want, got.Secrets); diff != "" {
		t.Errorf("Secrets of %s (-want +got):\n%s", SnapshotFile, diff)
	}
}

// recordingPlane is a data plane that derives as node primary would and records what it runs.
type recordingPlane struct {
	mu      sync.Mutex
	inputs  []desired.Inputs
	runs    []desired.Result
	at      []time.Time // of each run
	waiting string
}

func (p *recordingPlane) Plan(in desired.Inputs) (desired.Result, bool) {
	in.NodeName, in.Interfaces = "primary", primaryInterfaces
	p.mu.Lock()
	p.inputs = append(p.inputs, in)
	p.mu.Unlock()
	return desired.Derive(in), true
}

func (p *recordingPlane) Run(res desired.Result) {
	p.mu.Lock()
	p.runs = append(p.runs, res)
	p.at = append(p.at, time.Now())
	p.mu.Unlock()
}

func (p *recordingPlane) Heartbeat() {}

func (p *recordingPlane) Waiting(reason string) {
	p.mu.Lock()
	p.waiting = reason
	p.mu.Unlock()
}

func (p *recordingPlane) last() (desired.Result, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.runs) == 0 {
		return desired.Result{}, 0
	}
	return p.runs[len(p.runs)-1], len(p.runs)
}

func newTestAgent(dir string, plane dataPlane) *agent {
	return &agent{plane: plane, rep: newReporter("primary", logr.Discard()), snapshot: newSnapshot(dir), name: "primary",
		namespace: "vrrp-system", log: logr.Discard(), resync: time.Second, poke: make(chan struct{}, 1),
		secrets: newSecretStore("vrrp-system", time.Minute, logr.Discard())}
}

// writeSnapshot saves in as primary derives it, confirmed by the API server age ago.
func writeSnapshot(t *testing.T, dir string, in desired.Inputs, age time.Duration) {
	t.Helper()
	s := newSnapshot(dir)
	res := desired.Derive(desired.Inputs{NodeName: "primary", Nodes: in.Nodes, VirtualIPs: in.VirtualIPs, Secrets: in.Secrets, Interfaces: primaryInterfaces})
	if err := s.save(in, res); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-age)
	if err := os.Chtimes(s.path, at, at); err != nil {
		t.Fatal(err)
	}
}

// TestLastKnownConfiguration proves that the snapshot is only a bridge over an API server outage
// (issue 9 item 17): it runs only while younger than --last-known-max-age, stops when it grows
// older before the caches sync, and never starts a router as Master or lets it preempt, although
// the node has the highest priority and preempt is on.
func TestLastKnownConfiguration(t *testing.T) {
	const maxAge = 4 * time.Hour
	tests := map[string]struct {
		age, maxAge  time.Duration
		syncedAfter  time.Duration // 0: never
		wait         time.Duration // after the start
		wantRuns     int
		wantServices bool // the last run has the services router
	}{
		"a fresh snapshot runs its routers": {
			age: time.Minute, maxAge: maxAge, wait: time.Hour, wantRuns: 1, wantServices: true,
		},
		"a snapshot older than the limit does not run": {
			age: maxAge + time.Minute, maxAge: maxAge, wait: time.Hour, wantRuns: 0,
		},
		"a snapshot dated in the future does not run: the clock went back, its age is unknown": {
			age: -time.Hour, maxAge: maxAge, wait: time.Hour, wantRuns: 0,
		},
		"a snapshot dated seconds in the future, a clock stepped back a little, runs": {
			age: -30 * time.Second, maxAge: maxAge, wait: time.Hour, wantRuns: 1, wantServices: true,
		},
		"a limit of 0 never runs the snapshot": {
			age: time.Minute, maxAge: 0, wait: time.Hour, wantRuns: 0,
		},
		"the snapshot's routers stop once it grows older than the limit with the caches not synced": {
			age: maxAge - time.Hour, maxAge: maxAge, wait: time.Hour + time.Second, wantRuns: 2, wantServices: false,
		},
		"the routers keep running past the limit once the caches synced": {
			age: maxAge - time.Hour, maxAge: maxAge, syncedAfter: time.Minute, wait: 2 * time.Hour, wantRuns: 1, wantServices: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dir := t.TempDir()
				writeSnapshot(t, dir, twoVIPs(), tc.age)
				plane := &recordingPlane{}
				a := newTestAgent(dir, plane)
				stop := a.bridge(tc.maxAge)
				defer stop()
				if tc.syncedAfter > 0 {
					time.Sleep(tc.syncedAfter)
					a.mu.Lock()
					a.synced = true // what the first sync does; its own run is not this test's
					a.mu.Unlock()
				}
				time.Sleep(tc.wait)
				synctest.Wait()
				res, runs := plane.last()
				if runs != tc.wantRuns {
					t.Fatalf("the routers were applied %d times, want %d: %+v", runs, tc.wantRuns, plane.runs)
				}
				if runs == 0 {
					return
				}
				if has := len(res.Routers) == 1 && res.Routers[0].Name == "services"; has != tc.wantServices {
					t.Fatalf("last run %+v: services running = %v, want %v", res, has, tc.wantServices)
				}
				first := plane.runs[0].Routers[0]
				if first.Config.StartAsMaster || first.Config.Preempt {
					t.Errorf("a router from the snapshot has StartAsMaster %v, Preempt %v; want both false before the caches sync",
						first.Config.StartAsMaster, first.Config.Preempt)
				}
				if d := desired.Derive(plane.inputs[0]); !d.Routers[0].Config.StartAsMaster || !d.Routers[0].Config.Preempt {
					t.Errorf("the test's snapshot should make primary start as Master with preempt: %+v", d.Routers[0].Config)
				}
			})
		})
	}
}

// TestSnapshotRunsTheRoutersTheAPIServerGave proves that a node restarted during an API server
// outage runs, from last-known.yaml, the routers it ran from the API server: the VirtualIP that
// came first keeps a reused VRID, and unicast adverts go to the addresses the peers published.
// Before, the file kept neither creation times nor status: the newer VirtualIP ran, and adverts
// went to InternalIPs where no peer listens, which made two Masters for the outage.
func TestSnapshotRunsTheRoutersTheAPIServerGave(t *testing.T) {
	yes := true
	at := func(day int) metav1.Time { return metav1.NewTime(time.Date(2030, 1, day, 0, 0, 0, 0, time.UTC)) }
	vip := func(name string, created metav1.Time, vrid int32, addr string) vrrpv1.VirtualIP {
		return vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: created, ResourceVersion: "7"},
			Spec: vrrpv1.VirtualIPSpec{VirtualRouterID: vrid, Version: 3, Addresses: []string{addr},
				AdvertInterval: &metav1.Duration{Duration: time.Second}, Priority: 100, Preempt: &yes}}
	}
	unicast := vip("unicast", at(1), 60, "203.0.113.10/24")
	unicast.Spec.Unicast = true
	unicast.Status.Nodes = []vrrpv1.NodeStatus{
		{Node: "secondary", State: vrrpv1.StateMaster, Priority: 100, Reason: "Preferred", Message: "changes", Address: "203.0.113.254"},
		{Node: "primary", State: vrrpv1.StateBackup, Priority: 100, Address: "203.0.113.253"},
		{Node: "tertiary", State: vrrpv1.StateFault, Reason: "NoInterface"},
	}
	node := func(name, ip string) corev1.Node {
		return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}}}
	}
	live := desired.Inputs{
		// The newer one sorts first by name: only the creation time says which came first.
		VirtualIPs: []vrrpv1.VirtualIP{vip("aaa-newer", at(2), 51, "198.51.100.251/24"), vip("zzz-older", at(1), 51, "198.51.100.252/24"), unicast},
		Nodes:      []corev1.Node{node("primary", "198.51.100.253"), node("secondary", "198.51.100.254"), node("tertiary", "198.51.100.250")},
	}
	// The unicast VirtualIP runs on eth1, which is not the InternalIPs' interface.
	ifaces := []desired.Interface{
		{Name: "eth0", Up: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.253/24")}},
		{Name: "eth1", Up: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.253/24")}},
	}
	derive := func(in desired.Inputs) desired.Result {
		in.NodeName, in.Interfaces = "primary", ifaces
		return desired.Derive(in)
	}
	want := derive(live)
	type router struct {
		Name               string
		Source             netip.Addr
		Peers, PeerSources []netip.Addr
	}
	summary := func(res desired.Result) (routers []router, refused map[string]string) {
		refused = map[string]string{}
		for _, r := range res.Routers {
			routers = append(routers, router{r.Name, r.Source, r.Peers, r.PeerSources})
		}
		for _, e := range res.Errors {
			refused[e.Name] = e.Reason()
		}
		return routers, refused
	}
	wantRouters, wantRefused := summary(want)
	if diff := cmp.Diff([]router{
		{Name: "unicast", Source: netip.MustParseAddr("203.0.113.253"),
			Peers:       []netip.Addr{netip.MustParseAddr("198.51.100.250"), netip.MustParseAddr("203.0.113.254")},
			PeerSources: []netip.Addr{netip.MustParseAddr("198.51.100.250"), netip.MustParseAddr("198.51.100.254"), netip.MustParseAddr("203.0.113.254")}},
		{Name: "zzz-older"},
	}, wantRouters, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Fatalf("the test's live inputs should run the older VirtualIP and send to the published address (-want +got):\n%s", diff)
	}

	s := newSnapshot(t.TempDir())
	if err := s.save(live, want); err != nil {
		t.Fatal(err)
	}
	loaded, _, ok, err := newSnapshot(filepath.Dir(s.path)).load()
	if !ok || err != nil {
		t.Fatalf("load after save = %v, %v", ok, err)
	}
	gotRouters, gotRefused := summary(derive(loaded))
	if diff := cmp.Diff(wantRouters, gotRouters, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("routers derived from %s (-from the API server +from the file):\n%s", SnapshotFile, diff)
	}
	if diff := cmp.Diff(wantRefused, gotRefused); diff != "" {
		t.Errorf("VirtualIPs refused from %s (-from the API server +from the file):\n%s", SnapshotFile, diff)
	}
	// Of status, only what does not change with the routers' state: the file is not rewritten on
	// every transition anywhere in the cluster.
	var entries []vrrpv1.NodeStatus
	for _, v := range loaded.VirtualIPs {
		entries = append(entries, v.Status.Nodes...)
	}
	if diff := cmp.Diff([]vrrpv1.NodeStatus{{Node: "primary", Address: "203.0.113.253"}, {Node: "secondary", Address: "203.0.113.254"}}, entries); diff != "" {
		t.Errorf("status entries kept in %s (-want +got):\n%s", SnapshotFile, diff)
	}
}

// listCache is the manager's cache once synced, as sync reads it: lists from a client.
type listCache struct {
	cache.Cache
	c client.Client
}

func (l listCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return l.c.List(ctx, list, opts...)
}

// TestSnapshotAgeIsTheAPIServersLastAnswer proves that the last known configuration's age counts
// from the API server's last answer, not from the last derivation: the cache goes on serving its
// last state through an outage. Before, every resync refreshed the file's modification time, and
// an agent that ran through a 10 h outage, then restarted, ran the file as if it were fresh.
func TestSnapshotAgeIsTheAPIServersLastAnswer(t *testing.T) {
	const (
		run    = 10 * time.Hour
		maxAge = 4 * time.Hour
	)
	tests := map[string]struct {
		downFrom, downUntil time.Duration // since the start, off the minute; 0, 0: never down; run: to the end
		wantAge             time.Duration // of the file when the agent stops, within confirmEvery
		wantRuns            bool          // a restarted agent runs the file
	}{
		"an agent whose API server answers keeps the file young": {
			wantAge: 0, wantRuns: true,
		},
		"an agent that ran through a 10 h outage leaves a file 10 h old": {
			downFrom: 90 * time.Second, downUntil: run, wantAge: run - time.Minute, wantRuns: false,
		},
		"an outage 3 h before the restart leaves a file 3 h old, which still runs": {
			downFrom: 7*time.Hour + 30*time.Second, downUntil: run, wantAge: 3 * time.Hour, wantRuns: true,
		},
		"an outage that ended brings the file's age back to the API server's last answer": {
			downFrom: 90 * time.Second, downUntil: 8 * time.Hour, wantAge: 0, wantRuns: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				scheme, err := newScheme()
				if err != nil {
					t.Fatal(err)
				}
				in := twoVIPs()
				var objs []client.Object
				for i := range in.VirtualIPs {
					objs = append(objs, &in.VirtualIPs[i])
				}
				for i := range in.Nodes {
					objs = append(objs, &in.Nodes[i])
				}
				for i := range in.Secrets {
					objs = append(objs, &in.Secrets[i])
				}
				c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
				var down atomic.Bool
				api := interceptor.NewClient(fake.NewClientBuilder().WithScheme(scheme).WithObjects(&in.Nodes[0]).Build(), interceptor.Funcs{
					Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
						if down.Load() {
							return errors.New("dial tcp 203.0.113.1:6443: connect: connection refused")
						}
						return c.Get(ctx, key, obj, opts...)
					},
				})
				dir := t.TempDir()
				a := newTestAgent(dir, &recordingPlane{})
				a.cache, a.api, a.secrets.reader = listCache{c: c}, api, c
				ctx, cancel := context.WithCancel(context.Background())
				start := time.Now()
				a.contact(start) // what Start does once the caches have synced
				go a.confirmLoop(ctx)
				if tc.downUntil > 0 {
					time.AfterFunc(tc.downFrom, func() { down.Store(true) })
				}
				if tc.downUntil < run {
					time.AfterFunc(tc.downUntil, func() { down.Store(false) })
				}
				for time.Since(start) < run {
					a.sync(ctx) // the cache still serves what it saw
					time.Sleep(5 * time.Minute)
				}
				cancel()
				synctest.Wait()
				fi, err := os.Stat(filepath.Join(dir, SnapshotFile))
				if err != nil {
					t.Fatal(err)
				}
				if age := time.Since(fi.ModTime()); age < tc.wantAge-confirmEvery || age > tc.wantAge+confirmEvery {
					t.Errorf("after %v, %s is %v old, want %v", run, SnapshotFile, age, tc.wantAge)
				}
				plane := &recordingPlane{}
				stop := newTestAgent(dir, plane).bridge(maxAge)
				defer stop()
				if _, runs := plane.last(); (runs > 0) != tc.wantRuns {
					t.Errorf("restarted with --last-known-max-age=%v: ran the file %d times, want running %v", maxAge, runs, tc.wantRuns)
				}
			})
		})
	}
}

// TestNoLastKnownConfigurationWithoutAnAgeLimit proves that --last-known-max-age=0, which never
// runs the file, does not keep one either: it holds passwords. Before, it was written all the same.
func TestNoLastKnownConfigurationWithoutAnAgeLimit(t *testing.T) {
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	in := twoVIPs()
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(&in.VirtualIPs[0], &in.Nodes[0], &in.Nodes[1], &in.Secrets[0]).Build()
	dir := t.TempDir()
	writeSnapshot(t, dir, in, time.Minute) // left by a run with a limit
	plane := &recordingPlane{}
	a := newTestAgent(dir, plane)
	a.cache, a.secrets.reader = listCache{c: c}, c
	a.bridge(0)
	a.contact(time.Now())
	a.sync(context.Background())
	if res, _ := plane.last(); len(res.Routers) != 1 || res.Routers[0].Config.Password != "secret12" {
		t.Fatalf("the agent should run services from the caches: %+v", res)
	}
	if _, err := os.Stat(filepath.Join(dir, SnapshotFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("with --last-known-max-age=0, %s: %v; want it removed and not written again", SnapshotFile, err)
	}
}

// A cache lists in no order of its own: the same configuration in another order is not written
// again (tmp file, rename) at every derivation.
func TestSnapshotIsNotRewrittenForAnotherOrder(t *testing.T) {
	in := twoVIPs()
	res := desired.Derive(desired.Inputs{NodeName: "primary", Nodes: in.Nodes, VirtualIPs: in.VirtualIPs, Secrets: in.Secrets, Interfaces: primaryInterfaces})
	s := newSnapshot(t.TempDir())
	if err := s.save(in, res); err != nil {
		t.Fatal(err)
	}
	inode := func() uint64 {
		fi, err := os.Stat(s.path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	before := inode()
	slices.Reverse(in.VirtualIPs)
	slices.Reverse(in.Nodes)
	slices.Reverse(in.Secrets)
	if err := s.save(in, res); err != nil {
		t.Fatal(err)
	}
	if inode() != before {
		t.Error("the same configuration in another order was written again")
	}
}
