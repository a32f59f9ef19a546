package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// Exit codes of kubectl-vrrp (cmd/kubectl-vrrp).
const (
	pluginOK      = 0
	pluginError   = 1
	pluginTimeout = 3
)

// pluginRun is one run of the plugin as a process.
type pluginRun struct {
	args           []string
	stdout, stderr string
	code           int
	took           time.Duration
}

func (r pluginRun) String() string {
	return fmt.Sprintf("kubectl vrrp %s: exit %d after %v\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// TestKubectlVRRP runs the kubectl plugin as a process against a real kube-apiserver with real
// agents in node namespaces and the controller: what it says is checked against status and against
// which namespace holds the VIP on the wire side, and its errors against a server that refuses.
func TestKubectlVRRP(t *testing.T) {
	s := newSeedLab(t)
	hosts, agents, c, ctx, env, dir, admin, stopController := s.hosts, s.agents, s.c, s.ctx, s.env, s.dir, s.admin, s.stopController
	pluginDir := filepath.Join(dir, "path")
	must(t, os.MkdirAll(pluginDir, 0o755))
	must(t, testenv.BuildPlugin(filepath.Join(pluginDir, "kubectl-vrrp")))
	// The seed's VirtualIP, as in TestCluster.
	must(t, c.Create(ctx, seedVirtualIP()))
	eventually(t, 10*time.Second, "primary MASTER in status, Ready, every node's hook run", func() (bool, string) {
		v := get(ctx, t, c)
		for _, e := range v.Status.Nodes {
			if e.LastHook == nil {
				return false, fmt.Sprintf("%s has no hook result yet", e.Node)
			}
		}
		return v.Status.Master == "primary" && ready(v) == metav1.ConditionTrue && len(v.Status.Nodes) == 3, fmt.Sprint(states(ctx, c))
	})
	sole(t, hosts, "primary")

	// run runs the plugin through kubectl itself, found on PATH as a plugin is once copied there.
	kubectl := filepath.Join(testenv.Root(), "bin", "kubectl")
	run := func(t *testing.T, kubeconfig string, args ...string) pluginRun {
		t.Helper()
		runCtx, stop := context.WithTimeout(ctx, 2*time.Minute)
		defer stop()
		cmd := exec.CommandContext(runCtx, kubectl, append([]string{"vrrp"}, args...)...)
		cmd.Env = append(os.Environ(), "PATH="+pluginDir+string(os.PathListSeparator)+os.Getenv("PATH"), "KUBECONFIG="+kubeconfig)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		err := cmd.Run()
		r := pluginRun{args: args, stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			r.code = exit.ExitCode()
		case err != nil:
			t.Fatalf("running kubectl vrrp %v: %v", args, err)
		}
		return r
	}
	expect := func(t *testing.T, r pluginRun, code int, stdout ...string) {
		t.Helper()
		if r.code != code {
			t.Fatalf("want exit %d; %v", code, r)
		}
		for _, s := range stdout {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("stdout lacks %q; %v", s, r)
			}
		}
	}
	decode := func(t *testing.T, r pluginRun, v any) {
		t.Helper()
		if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
			t.Fatalf("decoding the output: %v; %v", err, r)
		}
	}
	type statusNode struct {
		Node, State, Reason, Why, Interface string
		Priority                            int32
		LastHook                            *vrrpv1.HookResult
	}
	type statusOut struct {
		Master   string
		Problems []struct{ Kind, Message string }
		Nodes    []statusNode
	}
	type explainOut struct {
		Master, ExpectedMaster, Conclusion string
		Node                               *struct {
			Node              string
			EffectivePriority uint8
			Reason            string
			Steps             []struct {
				Rule    string
				Applied bool
			}
		}
	}
	pluginNode := func(s statusOut, name string) statusNode {
		for _, x := range s.Nodes {
			if x.Node == name {
				return x
			}
		}
		return statusNode{}
	}

	t.Run("status shows each node's state, priority and why, interface and last hook", func(t *testing.T) {
		r := run(t, admin, "status", "services")
		expect(t, r, pluginOK, "master primary  ready True", "WHY", "nodePriorities", "spec.priority", "ens3", "notify exit 0")
		t.Logf("kubectl vrrp status services:\n%s", r.stdout)
		var s statusOut
		decode(t, run(t, admin, "status", "services", "-o", "json", "-n", "default"), &s)
		p, sec := pluginNode(s, "primary"), pluginNode(s, "secondary")
		if s.Master != "primary" || p.State != "MASTER" || p.Priority != 150 || p.Why != "nodePriorities" || p.Interface != "ens3" ||
			sec.State != "BACKUP" || sec.Why != "spec.priority" || sec.Interface != "eth0" || p.LastHook == nil || p.LastHook.Kind != "notify" || len(s.Problems) != 0 {
			t.Errorf("status -o json: %+v", s)
		}
	})

	t.Run("explain says primary is Master by its nodePriorities entry, as status does", func(t *testing.T) {
		r := run(t, admin, "explain", "services")
		expect(t, r, pluginOK, "primary should be Master", "Status: primary is Master.", "nodePriorities[0] (node primary) sets 150", "tracking")
		var e explainOut
		decode(t, run(t, admin, "explain", "services", "--node", "third", "-o", "json"), &e)
		if e.ExpectedMaster != "primary" || e.Master != "primary" || e.Node == nil || e.Node.EffectivePriority != 100 || len(e.Node.Steps) != 7 {
			t.Errorf("explain --node third -o json: %+v", e)
		}
	})

	t.Run("failover --to moves the VIP to the node and says how long it took", func(t *testing.T) {
		r := run(t, admin, "failover", "services", "--to", "third", "-o", "json")
		expect(t, r, pluginOK)
		var res struct {
			Master, PreviousMaster string
			Converged              bool
			TookSeconds            float64
		}
		decode(t, r, &res)
		if res.Master != "third" || res.PreviousMaster != "primary" || !res.Converged {
			t.Errorf("failover --to third: %+v", res)
		}
		report(t, "kubectl vrrp failover services --to third: status.master third after %.3fs (process %v)", res.TookSeconds, r.took.Round(time.Millisecond))
		eventually(t, 2*time.Second, "third alone holds the VIP", func() (bool, string) {
			return holds(hosts["third"], vip) && !holds(hosts["primary"], vip) && !holds(hosts["secondary"], vip), ""
		})
		var s statusOut
		decode(t, run(t, admin, "status", "services", "-o", "json"), &s)
		if th := pluginNode(s, "third"); s.Master != "third" || th.State != "MASTER" || th.Priority != 254 || th.Reason != "Preferred" {
			t.Errorf("status after failover: %+v", s)
		}
		var e explainOut
		decode(t, run(t, admin, "explain", "services", "-o", "json"), &e)
		if e.ExpectedMaster != "third" || e.Master != "third" || e.Node == nil || e.Node.Node != "third" || e.Node.EffectivePriority != 254 || !e.Node.Steps[2].Applied {
			t.Errorf("explain after failover: %+v", e)
		}

		r = run(t, admin, "failover", "services", "--clear")
		expect(t, r, pluginOK, "VirtualIP services: preference for third cleared; primary is Master after ")
		report(t, "kubectl vrrp failover services --clear: %s", strings.TrimSpace(r.stdout))
		eventually(t, 2*time.Second, "primary alone holds the VIP", func() (bool, string) {
			return holds(hosts["primary"], vip) && !holds(hosts["third"], vip) && !holds(hosts["secondary"], vip), ""
		})
		if _, ok := get(ctx, t, c).Annotations[vrrpv1.PreferredNodeAnnotation]; ok {
			t.Errorf("failover --clear left the annotation")
		}
	})

	t.Run("failover that cannot finish in time exits with 3", func(t *testing.T) {
		// secondary's agent is frozen, so it never takes over: the change is made and the wait
		// runs out. (A preferred Backup takes over after Skew_Time, which at 254 a live one could
		// do within the timeout.)
		r := func() pluginRun {
			pid := agents["secondary"].cmd.Process.Pid
			must(t, syscall.Kill(pid, syscall.SIGSTOP))
			defer func() { must(t, syscall.Kill(pid, syscall.SIGCONT)) }()
			return run(t, admin, "failover", "services", "--to", "secondary", "--timeout", "500ms")
		}()
		expect(t, r, pluginTimeout)
		if !strings.Contains(r.stderr, "not converged within 500ms") {
			t.Errorf("stderr: %v", r)
		}
		expect(t, run(t, admin, "failover", "services", "--clear"), pluginOK)
		eventually(t, 2*time.Second, "primary alone holds the VIP", func() (bool, string) {
			return holds(hosts["primary"], vip) && !holds(hosts["secondary"], vip), ""
		})
	})

	t.Run("drain releases the node's VIPs and undrain takes them back", func(t *testing.T) {
		r := run(t, admin, "drain", "primary")
		expect(t, r, pluginOK, "services", "done", "node primary drained")
		t.Logf("kubectl vrrp drain primary:\n%s", r.stdout)
		report(t, "kubectl vrrp drain primary: another node holds services after %s (process %v)", tookColumn(t, r), r.took.Round(time.Millisecond))
		if holds(hosts["primary"], vip) || !(holds(hosts["secondary"], vip) || holds(hosts["third"], vip)) {
			t.Errorf("after drain: primary %v secondary %v third %v", holds(hosts["primary"], vip), holds(hosts["secondary"], vip), holds(hosts["third"], vip))
		}
		var n corev1.Node
		must(t, c.Get(ctx, client.ObjectKey{Name: "primary"}, &n))
		if n.Annotations[vrrpv1.MaintenanceAnnotation] != "true" {
			t.Errorf("drain did not annotate the Node: %v", n.Annotations)
		}
		if e := entry(ctx, c, "primary"); e == nil || e.State != vrrpv1.StateStopped || e.Reason != "Maintenance" {
			t.Errorf("primary's entry after drain: %+v", e)
		}
		expect(t, run(t, admin, "explain", "services", "--node", "primary"), pluginOK, "primary takes no part now: Maintenance")

		r = run(t, admin, "undrain", "primary")
		expect(t, r, pluginOK, "node primary undrained")
		t.Logf("kubectl vrrp undrain primary:\n%s", r.stdout)
		report(t, "kubectl vrrp undrain primary: primary holds services again after %s (process %v)", tookColumn(t, r), r.took.Round(time.Millisecond))
		eventually(t, 2*time.Second, "primary alone holds the VIP", func() (bool, string) {
			return holds(hosts["primary"], vip) && !holds(hosts["secondary"], vip) && !holds(hosts["third"], vip), ""
		})
		must(t, c.Get(ctx, client.ObjectKey{Name: "primary"}, &n))
		if _, ok := n.Annotations[vrrpv1.MaintenanceAnnotation]; ok {
			t.Errorf("undrain left the annotation: %v", n.Annotations)
		}
	})

	t.Run("undrain of a node that keeps the exclude label ends: it stays released by design", func(t *testing.T) {
		label := func(on bool) {
			var n corev1.Node
			must(t, c.Get(ctx, client.ObjectKey{Name: "third"}, &n))
			if on {
				n.Labels = map[string]string{vrrpv1.ExcludeLabel: ""}
			} else {
				delete(n.Labels, vrrpv1.ExcludeLabel)
			}
			must(t, c.Update(ctx, &n))
		}
		expect(t, run(t, admin, "drain", "third"), pluginOK, "node third drained")
		label(true)
		r := run(t, admin, "undrain", "third", "--timeout", "20s")
		expect(t, r, pluginOK, "third stays released: Excluded", "node third undrained")
		report(t, "kubectl vrrp undrain third with the exclude label: done after %s (process %v)", tookColumn(t, r), r.took.Round(time.Millisecond))
		if e := entry(ctx, c, "third"); e == nil || e.State != vrrpv1.StateStopped || e.Reason != "Excluded" {
			t.Errorf("third's entry after undrain: %+v", e)
		}
		label(false)
		eventually(t, 10*time.Second, "third runs the router again", func() (bool, string) {
			e := entry(ctx, c, "third")
			return e != nil && e.State == vrrpv1.StateBackup, fmt.Sprintf("%+v", e)
		})
	})

	t.Run("a missing VirtualIP and an unknown node are errors that say so", func(t *testing.T) {
		cases := map[string]struct {
			args []string
			want string
		}{
			"status of a VirtualIP that does not exist":  {[]string{"status", "ghost"}, `VirtualIP "ghost" not found`},
			"explain of a VirtualIP that does not exist": {[]string{"explain", "ghost"}, `VirtualIP "ghost" not found`},
			"failover to an unknown node":                {[]string{"failover", "services", "--to", "ghost"}, `node "ghost" not found`},
			"drain of an unknown node":                   {[]string{"drain", "ghost"}, `node "ghost" not found`},
			"explain of an unknown node":                 {[]string{"explain", "services", "--node", "ghost"}, `node "ghost" not found`},
		}
		for name, tc := range cases {
			r := run(t, admin, tc.args...)
			if r.code != pluginError || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%s: want exit 1 and %q; %v", name, tc.want, r)
			}
		}
	})

	t.Run("a user without permission is told so", func(t *testing.T) {
		nobody := userKubeconfig(t, env, "nobody")
		r := run(t, nobody, "status")
		if r.code != pluginError || !strings.Contains(r.stderr, "no permission") || !strings.Contains(r.stderr, `User "nobody" cannot list resource "virtualips"`) {
			t.Errorf("status as a user without any role: %v", r)
		}
		// A viewer may read VirtualIPs and Nodes but change neither.
		role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "vrrp-viewer"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"vrrp.dev"}, Resources: []string{"virtualips"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch"}},
		}}
		must(t, c.Create(ctx, role))
		must(t, c.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "vrrp-viewer"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
			Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "viewer"}}}))
		viewer := userKubeconfig(t, env, "viewer")
		eventually(t, 5*time.Second, "the viewer reads status", func() (bool, string) {
			r := run(t, viewer, "status", "services")
			return r.code == pluginOK, r.String()
		})
		cases := map[string]struct {
			args []string
			want string
		}{
			"failover": {[]string{"failover", "services", "--to", "third"}, `User "viewer" cannot patch resource "virtualips"`},
			"drain":    {[]string{"drain", "primary"}, `User "viewer" cannot patch resource "nodes"`},
		}
		for name, tc := range cases {
			r := run(t, viewer, tc.args...)
			if r.code != pluginError || !strings.Contains(r.stderr, "no permission") || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%s as a viewer: want exit 1, no permission and %q; %v", name, tc.want, r)
			}
		}
		if _, ok := get(ctx, t, c).Annotations[vrrpv1.PreferredNodeAnnotation]; ok {
			t.Errorf("a refused failover left an annotation")
		}
	})

	t.Run("without the CRD every command says it is not installed", func(t *testing.T) {
		// The agents and the controller first, so that they leave while they still can.
		for _, a := range agents {
			a.stop()
		}
		stopController()
		crd := &unstructured.Unstructured{}
		crd.SetAPIVersion("apiextensions.k8s.io/v1")
		crd.SetKind("CustomResourceDefinition")
		crd.SetName("virtualips.vrrp.dev")
		must(t, c.Delete(ctx, crd))
		eventually(t, 30*time.Second, "the CRD is gone", func() (bool, string) {
			err := c.Get(ctx, client.ObjectKey{Name: "virtualips.vrrp.dev"}, crd)
			return client.IgnoreNotFound(err) == nil && err != nil, fmt.Sprint(err)
		})
		for _, args := range [][]string{{"status"}, {"status", "services"}, {"failover", "services", "--to", "third"}, {"drain", "primary"}, {"explain", "services"}} {
			r := run(t, admin, args...)
			if r.code != pluginError || !strings.Contains(r.stderr, "the VirtualIP CRD is not installed") {
				t.Errorf("want exit 1 and the CRD named; %v", r)
			}
		}
		report(t, "kubectl vrrp status without the CRD: %s", strings.TrimSpace(run(t, admin, "status").stderr))
	})
}

// tookColumn is the TOOK of the VirtualIP services in drain's table.
func tookColumn(t *testing.T, r pluginRun) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^services\s+\S+\s+\S+\s+done\s+(\S+)`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no TOOK for services; %v", r)
	}
	return m[1]
}

// userKubeconfig is a kubeconfig of a user of env with no group beyond system:authenticated.
func userKubeconfig(t *testing.T, env *envtest.Environment, name string) string {
	t.Helper()
	u, err := env.AddUser(envtest.User{Name: name}, nil)
	must(t, err)
	kc, err := u.KubeConfig()
	must(t, err)
	p := filepath.Join(t.TempDir(), name+".kubeconfig")
	must(t, os.WriteFile(p, kc, 0o600))
	return p
}
