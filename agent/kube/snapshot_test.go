package kube

import (
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
