package kube

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// agentUser is the agent's ServiceAccount as the API server sees it.
const agentUser = "system:serviceaccount:vrrp-system:vrrp-operator-agent"

// asTheAgent creates the agent's generated RBAC (config/rbac/agent/role.yaml: the ClusterRole and
// the Role of vrrp-system), binds it to the agent's ServiceAccount as the chart does, and returns a
// config that acts as that ServiceAccount.
func asTheAgent(t *testing.T, c client.Client, cfg *rest.Config) *rest.Config {
	t.Helper()
	ctx := context.Background()
	f, err := os.Open(filepath.Join(testenv.Root(), "config", "rbac", "agent", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := yaml.NewYAMLOrJSONDecoder(f, 4096)
	cr, role := &rbacv1.ClusterRole{}, &rbacv1.Role{}
	for _, obj := range []client.Object{cr, role} {
		if err := d.Decode(obj); err != nil {
			t.Fatalf("decoding config/rbac/agent/role.yaml: %v", err)
		}
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	sa := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "vrrp-operator-agent", Namespace: "vrrp-system"}}
	for _, obj := range []client.Object{
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: cr.Name}, Subjects: sa,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cr.Name}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role.Name, Namespace: role.Namespace}, Subjects: sa,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name}},
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	agent := rest.CopyConfig(cfg)
	agent.Impersonate = rest.ImpersonationConfig{UserName: agentUser,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:vrrp-system", "system:authenticated"}}
	return agent
}

// TestTheAgentOnARealAPIServer runs the agent's Kubernetes side, as its ServiceAccount with the
// generated RBAC, against a real kube-apiserver, with a data plane that records what it is told
// to run. It proves that:
//   - the Role of its namespace is all it needs to read the authentication Secret, and a
//     secretRef to another namespace is refused with a reason that says so (issue 9 item 12);
//   - a rotated password reaches the derived routers with the watch event, without a resync, and
//     a Secret deleted and created again does not stop the router (item 13);
//   - routers started from the last known configuration as Backups without preempt get both back
//     from the first derivation from synced caches (item 17).
func TestTheAgentOnARealAPIServer(t *testing.T) {
	_, cfg := testenv.APIServer(t)
	ctrl.SetLogger(logr.Discard())
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range []string{"vrrp-system", "tenant"} {
		must(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	agentCfg := asTheAgent(t, c, cfg)

	in := twoVIPs()
	for i := range in.Nodes {
		n := in.Nodes[i].DeepCopy()
		must(c.Create(ctx, n))
		n.Status = in.Nodes[i].Status
		must(c.Status().Update(ctx, n))
	}
	secret := authSecret("vrrp-system", "vrrp-auth", "password", "secret12", "api-token", "not-for-vrrp")
	must(c.Create(ctx, secret))
	must(c.Create(ctx, authSecret("tenant", "their-auth", "password", "secret34")))
	services := in.VirtualIPs[0].DeepCopy()
	theirs := in.VirtualIPs[0].DeepCopy()
	theirs.Name, theirs.Spec.VirtualRouterID = "theirs", 53
	theirs.Spec.Authentication.SecretRef = vrrpv1.SecretKeyReference{Namespace: "tenant", Name: "their-auth", Key: "password"}
	plain := in.VirtualIPs[0].DeepCopy()
	plain.Name, plain.Spec.VirtualRouterID, plain.Spec.Authentication = "plain", 54, nil
	// Each its own address: the older of two VirtualIPs that share one keeps it (AddressConflict).
	theirs.Spec.Addresses, plain.Spec.Addresses = []string{"198.51.100.250/24"}, []string{"198.51.100.251/24"}
	must(c.Create(ctx, services))
	must(c.Create(ctx, theirs))
	must(c.Create(ctx, plain))

	// The node restarts while the API server is away: it runs its last known configuration first.
	dir := t.TempDir()
	writeSnapshot(t, dir, in, time.Minute)
	plane := &recordingPlane{}
	a := newTestAgent(dir, plane)
	a.resync = time.Hour // every derivation below comes from a watch event
	a.secrets.grace = time.Hour
	stop := a.bridge(4 * time.Hour)
	defer stop()
	if res, _ := plane.last(); len(res.Routers) != 1 || res.Routers[0].Config.Preempt || res.Routers[0].Config.StartAsMaster {
		t.Fatalf("from the snapshot: %+v, want services held back", res)
	}

	mgr, err := newManager(agentCfg, scheme, logr.Discard(), "primary", "vrrp-system", a.secrets.watchError)
	must(err)
	a.connect(mgr)
	must(mgr.Add(a))
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the agent's manager: %v", err)
		}
	}()

	router := func(res desired.Result) (desired.Router, bool) {
		for _, r := range res.Routers {
			if r.Name == "services" {
				return r, true
			}
		}
		return desired.Router{}, false
	}
	password := func(want string) func() (bool, string) {
		return func() (bool, string) {
			res, _ := plane.last()
			r, ok := router(res)
			return ok && r.Config.Password == want, fmt.Sprintf("%+v", res)
		}
	}
	// The snapshot knows nothing of theirs: its refusal marks a derivation from the caches.
	testenv.Eventually(t, 30*time.Second, "the agent derives from synced caches", func() (bool, string) {
		res, _ := plane.last()
		_, ok := router(res)
		return ok && len(res.Errors) > 0, fmt.Sprintf("%+v", res)
	})
	if ok, detail := password("secret12")(); !ok {
		t.Fatalf("services from synced caches: %s", detail)
	}

	t.Run("the first derivation from synced caches lets the router start as Master and preempt", func(t *testing.T) {
		res, _ := plane.last()
		r, _ := router(res)
		if !r.Config.Preempt || !r.Config.StartAsMaster {
			t.Errorf("services after the caches synced: Preempt %v, StartAsMaster %v; want both true", r.Config.Preempt, r.Config.StartAsMaster)
		}
	})

	t.Run("the agent's ServiceAccount may ask the API server whether it answers, which dates the last known configuration", func(t *testing.T) {
		if err := a.askAPIServer(ctx); err != nil {
			t.Error(err)
		}
	})

	t.Run("a secretRef to another namespace is refused with a reason that says so", func(t *testing.T) {
		res, _ := plane.last()
		if len(res.Errors) != 1 || res.Errors[0].Name != "theirs" || res.Errors[0].Reason() != "SecretUnavailable" ||
			!strings.Contains(res.Errors[0].Error(), "the agent reads Secrets only in its own namespace vrrp-system") {
			t.Errorf("errors %v, want theirs refused for its namespace", res.Errors)
		}
	})

	t.Run("only the referenced key of the agent's namespace reaches the data plane", func(t *testing.T) {
		plane.mu.Lock()
		last := plane.inputs[len(plane.inputs)-1]
		plane.mu.Unlock()
		if len(last.Secrets) != 1 || last.Secrets[0].Name != "vrrp-auth" || len(last.Secrets[0].Data) != 1 {
			t.Errorf("Secrets handed to Derive: %+v, want vrrp-auth's password only", last.Secrets)
		}
	})

	t.Run("a rotated password reaches the routers with the watch event", func(t *testing.T) {
		secret.Data["password"] = []byte("rotated1")
		start := time.Now()
		must(c.Update(ctx, secret))
		testenv.Eventually(t, 10*time.Second, "the rotated password is derived", password("rotated1"))
		plane.mu.Lock()
		took := plane.at[len(plane.at)-1].Sub(start)
		plane.mu.Unlock()
		testenv.Report(t, "password rotation: Secret update to the agent's routers in %v (resync 1h: by the watch)", took.Round(100*time.Microsecond))
	})

	t.Run("a Secret deleted and created again does not stop the router", func(t *testing.T) {
		plane.mu.Lock()
		before := len(plane.inputs)
		plane.mu.Unlock()
		must(c.Delete(ctx, secret))
		testenv.Eventually(t, 10*time.Second, "the deletion is derived", func() (bool, string) {
			plane.mu.Lock()
			defer plane.mu.Unlock()
			return len(plane.inputs) > before, "no derivation after the deletion"
		})
		if ok, detail := password("rotated1")(); !ok {
			t.Errorf("with the Secret missing for a moment, the router stopped or lost its password: %s", detail)
		}
		must(c.Create(ctx, authSecret("vrrp-system", "vrrp-auth", "password", "rotated2")))
		testenv.Eventually(t, 10*time.Second, "the recreated Secret's password is derived", password("rotated2"))
	})

	t.Run("an agent stopped because its DaemonSet is deleted removes the last known configuration, and one stopped to restart keeps it", func(t *testing.T) {
		// The main agent reads as its ServiceAccount: the generated Role must let it read its DaemonSet.
		file := filepath.Join(dir, SnapshotFile)
		ds := agentDaemonSet("vrrp-operator-agent")
		must(c.Create(ctx, ds))
		pod := func(name string, owner *appsv1.DaemonSet, uid types.UID) *corev1.Pod {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "vrrp-system", Name: name},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "vrrp-operator:test"}}}}
			if owner != nil {
				p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(owner, appsv1.SchemeGroupVersion.WithKind("DaemonSet"))}
				p.OwnerReferences[0].UID = uid
			}
			must(c.Create(ctx, p))
			return p
		}
		pod("agent-primary", ds, ds.UID)
		pod("by-hand", nil, "")
		pod("of-a-replaced-daemonset", ds, "0b6c5bd0-0000-4000-8000-000000000001")
		pod("of-a-deleted-daemonset", agentDaemonSet("gone"), "0b6c5bd0-0000-4000-8000-000000000002")
		for _, tc := range []struct {
			name, pod, want string
			wantErr         bool
		}{
			{name: "the pod's DaemonSet is there: a restart", pod: "agent-primary"},
			{name: "a pod no DaemonSet runs", pod: "by-hand"},
			{name: "a DaemonSet of the same name with another UID", pod: "of-a-replaced-daemonset",
				want: "DaemonSet vrrp-system/vrrp-operator-agent is not the one that ran this pod"},
			{name: "the DaemonSet is gone", pod: "of-a-deleted-daemonset", want: "DaemonSet vrrp-system/gone is deleted"},
			{name: "the pod is gone: cannot tell", pod: "never-created", wantErr: true},
		} {
			why, err := uninstalled(ctx, a.api, "vrrp-system", tc.pod)
			if why != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("%s: uninstalled = %q, %v; want %q, error %v", tc.name, why, err, tc.want, tc.wantErr)
			}
		}

		a.pod = "agent-primary"
		a.forgetIfUninstalled(ctx)
		if _, err := os.Stat(file); err != nil {
			t.Fatalf("after a stop with the DaemonSet there: %v, want the last known configuration kept", err)
		}
		// As Helm's pre-delete hook deletes it: the DaemonSet stays, being deleted, until its pods
		// are gone (and for good here, with no garbage collector).
		must(c.Delete(ctx, ds, client.PropagationPolicy(metav1.DeletePropagationForeground)))
		a.forgetIfUninstalled(ctx)
		if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after a stop with the DaemonSet being deleted: %v, want the last known configuration removed", err)
		}
		// A derivation still under way as the agent stops does not write it again.
		plane.mu.Lock()
		before := len(plane.inputs)
		plane.mu.Unlock()
		a.kick()
		testenv.Eventually(t, 10*time.Second, "a derivation after the removal", func() (bool, string) {
			plane.mu.Lock()
			defer plane.mu.Unlock()
			return len(plane.inputs) > before, "no derivation"
		})
		if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after a derivation that followed the removal: %v, want no last known configuration", err)
		}
	})

	// Agents of other namespaces: the ServiceAccount tenant/vrrp-operator-agent has the agent's
	// ClusterRole but no Role for the Secrets of tenant.
	must(c.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenant-agent"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "vrrp-operator-agent", Namespace: "tenant"}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "vrrp-operator-agent"}}))
	tenantCfg := rest.CopyConfig(cfg)
	tenantCfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:tenant:vrrp-operator-agent",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:tenant", "system:authenticated"}}

	t.Run("without the Role for the Secrets of its namespace, the agent runs the VirtualIPs without authentication and says why the others wait", func(t *testing.T) {
		plane := runAgent(t, scheme, tenantCfg, "tenant")
		took := testenv.Eventually(t, 30*time.Second, "plain runs", func() (bool, string) {
			res, _ := plane.last()
			return len(res.Routers) == 1 && res.Routers[0].Name == "plain", fmt.Sprintf("%+v", res)
		})
		res, _ := plane.last()
		refused := map[string]string{}
		for _, e := range res.Errors {
			refused[e.Name] = e.Reason() + ": " + e.Error()
		}
		if r := refused["theirs"]; !strings.Contains(r, "SecretUnavailable") || !strings.Contains(r, "cannot list Secrets in namespace tenant: forbidden") {
			t.Errorf("theirs: %q, want SecretUnavailable saying the Secrets of tenant cannot be listed", r)
		}
		if r := refused["services"]; !strings.Contains(r, "SecretUnavailable") || !strings.Contains(r, "reads Secrets only in its own namespace tenant") {
			t.Errorf("services: %q, want SecretUnavailable saying where the Secret must be", r)
		}
		testenv.Report(t, "without the Secret Role: agent start to the first routers in %v (waits %v for the Secrets)",
			took.Round(10*time.Millisecond), secretSyncWait)
	})

	t.Run("with its namespace unknown, the agent runs the VirtualIPs without authentication and refuses every secretRef saying so", func(t *testing.T) {
		plane := runAgent(t, scheme, tenantCfg, "")
		testenv.Eventually(t, 30*time.Second, "plain runs and both secretRefs are refused", func() (bool, string) {
			res, _ := plane.last()
			return len(res.Routers) == 1 && res.Routers[0].Name == "plain" && len(res.Errors) == 2, fmt.Sprintf("%+v", res)
		})
		res, _ := plane.last()
		for _, e := range res.Errors {
			if e.Reason() != "SecretUnavailable" || !strings.Contains(e.Error(), "the agent's namespace is unknown") {
				t.Errorf("%s refused: %s: %v; want SecretUnavailable saying the namespace is unknown", e.Name, e.Reason(), e)
			}
		}
	})
}

// agentDaemonSet is a DaemonSet of the agent's namespace, valid for the API server.
func agentDaemonSet(name string) *appsv1.DaemonSet {
	labels := map[string]string{"app.kubernetes.io/component": "agent"}
	return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "vrrp-system", Name: name},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "vrrp-operator:test"}}}}}}
}

// runAgent runs the agent's Kubernetes side as cfg's user in namespace until the test ends, with
// a data plane that records what it is told to run.
func runAgent(t *testing.T, scheme *runtime.Scheme, cfg *rest.Config, namespace string) *recordingPlane {
	t.Helper()
	plane := &recordingPlane{}
	a := newTestAgent(t.TempDir(), plane)
	a.namespace, a.secrets = namespace, newSecretStore(namespace, time.Hour, logr.Discard())
	mgr, err := newManager(cfg, scheme, logr.Discard(), "primary", namespace, a.secrets.watchError)
	if err != nil {
		t.Fatal(err)
	}
	a.connect(mgr)
	if err := mgr.Add(a); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the agent's manager: %v", err)
		}
	})
	return plane
}
