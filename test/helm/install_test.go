package helm

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

const crdName = "customresourcedefinition.apiextensions.k8s.io/virtualips.vrrp.dev"

// TestInstall installs, upgrades and uninstalls the chart on one real kube-apiserver (no nodes, so
// no pod ever runs, but every object is created and the CRD is served), then installs the kustomize
// tree where the release was.
func TestInstall(t *testing.T) {
	t.Parallel()
	tool(t, "helm")
	tool(t, "kubectl")
	env, _ := testenv.APIServer(t)
	kc := testenv.AdminKubeconfig(t, env)
	k := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := kubectl(t, kc, args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	h := func(t *testing.T, args ...string) string {
		t.Helper()
		start := time.Now()
		out, err := helm(t, append(args, "--kubeconfig", kc, "--namespace", namespace)...)
		if err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("helm %s took %v", args[0], time.Since(start).Round(time.Millisecond))
		return out
	}

	// This API server has no nodes, so the chart's pre-delete Job that stops the agents first could
	// never run: the uninstalls here skip hooks (test/localcluster runs the hook on real kubelets).
	uninstall := []string{"uninstall", "vrrp-operator", "--wait", "--timeout=30s", "--no-hooks"}

	// Each step builds on the cluster the previous one left.
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	// testenv installs the CRD from config/crd/bases; the chart must install it itself, as on a new
	// cluster.
	k(t, "delete", crdName, "--wait", "--timeout=30s")

	step("helm install refuses a namespace whose Pod Security level refuses the agent, and says how to fix it", func(t *testing.T) {
		k(t, "create", "namespace", "vrrp-baseline")
		k(t, "label", "namespace", "vrrp-baseline", "pod-security.kubernetes.io/enforce=baseline")
		out, err := helm(t, "install", "vrrp-operator", chartDir, "--kubeconfig", kc, "--namespace", "vrrp-baseline")
		if err == nil {
			t.Fatalf("helm install into a baseline namespace succeeded:\n%s", out)
		}
		if !strings.Contains(out, "pod-security.kubernetes.io/enforce=privileged --overwrite") {
			t.Errorf("the refusal does not say how to fix it:\n%s", out)
		}
		k(t, "delete", "namespace", "vrrp-baseline", "--wait=false")
	})

	step("helm install creates every object and a served, kept CRD", func(t *testing.T) {
		out := h(t, "install", "vrrp-operator", chartDir, "--create-namespace")
		if !strings.Contains(out, "kubectl get vip -o wide") {
			t.Errorf("NOTES do not tell how to watch the routers:\n%s", out)
		}
		k(t, "wait", "--for=condition=Established", crdName, "--timeout=30s")
		if got := k(t, "get", crdName, "-o", "jsonpath={.metadata.annotations.helm\\.sh/resource-policy}"); got != "keep" {
			t.Errorf("CRD resource policy = %q, want keep", got)
		}
		k(t, "get", "-n", namespace, "daemonset/vrrp-operator-agent", "deployment/vrrp-operator-controller",
			"poddisruptionbudget/vrrp-operator-controller", "serviceaccount/vrrp-operator-agent", "serviceaccount/vrrp-operator-controller",
			"role/vrrp-operator-controller-leader-election", "rolebinding/vrrp-operator-controller-leader-election")
		k(t, "get", "clusterrole/vrrp-operator-agent", "clusterrole/vrrp-operator-controller",
			"clusterrolebinding/vrrp-operator-agent", "clusterrolebinding/vrrp-operator-controller",
			"validatingadmissionpolicy/vrrp-operator-agent-node-scope", "validatingadmissionpolicybinding/vrrp-operator-agent-node-scope")
		// The pre-delete hook's stop-agents deletes the agents only where Helm set these.
		got := k(t, "get", "-n", namespace, "daemonset/vrrp-operator-agent", "-o",
			`jsonpath={.metadata.annotations.meta\.helm\.sh/release-name} {.metadata.annotations.meta\.helm\.sh/release-namespace}`)
		if want := "vrrp-operator " + namespace; got != want {
			t.Errorf("the agent DaemonSet's Helm release annotations are %q, want %q", got, want)
		}
		// The bindings reach the ServiceAccounts the pods run as.
		for _, c := range []struct {
			sa, verb, resource, subresource string
			want                            string
		}{
			{"vrrp-operator-agent", "patch", "virtualips.vrrp.dev", "status", "yes"},
			{"vrrp-operator-agent", "patch", "nodes", "", "yes"},
			{"vrrp-operator-agent", "update", "virtualips.vrrp.dev", "", "no"},
			{"vrrp-operator-controller", "update", "virtualips.vrrp.dev", "status", "yes"},
			{"vrrp-operator-controller", "patch", "nodes", "", "no"},
		} {
			args := []string{"auth", "can-i", c.verb, c.resource, "--as", "system:serviceaccount:" + namespace + ":" + c.sa}
			if c.subresource != "" {
				args = append(args, "--subresource", c.subresource)
			}
			// can-i exits 1 for "no": the answer is the first line either way.
			out, _ := kubectl(t, kc, args...)
			if got, _, _ := strings.Cut(out, "\n"); got != c.want {
				t.Errorf("may %s %s %s %s? got %q, want %s", c.sa, c.verb, c.resource, c.subresource, out, c.want)
			}
		}
		if got := k(t, "auth", "can-i", "update", "leases.coordination.k8s.io", "-n", namespace,
			"--as", "system:serviceaccount:"+namespace+":vrrp-operator-controller"); strings.TrimSpace(got) != "yes" {
			t.Errorf("the controller may not update its Lease: %s", got)
		}
	})

	step("helm upgrade with the seed's example creates its VirtualIP and hooks", func(t *testing.T) {
		h(t, "upgrade", "vrrp-operator", chartDir, "-f", seedValues)
		out := k(t, "get", "vip", "-o", "wide")
		for _, want := range []string{"NAME", "VRID", "services", "51", "198.51.100.252/24"} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl get vip -o wide does not show %q:\n%s", want, out)
			}
		}
		if got := k(t, "get", "-n", namespace, "configmap/vrrp-operator-hooks", "-o", "jsonpath={.data.keepalived\\.sh}"); !strings.HasPrefix(got, "#!") {
			t.Errorf("hook ConfigMap keepalived.sh = %q", got)
		}
	})

	step("the agent may write its own status entry only, not the controller's status", func(t *testing.T) {
		// As a DaemonSet pod's token on node primary: the agent's ServiceAccount, with the node the
		// token is bound to.
		asAgent := []string{"--as", "system:serviceaccount:" + namespace + ":vrrp-operator-agent",
			"--as-group", "system:serviceaccounts", "--as-group", "system:authenticated",
			"--as-user-extra", "authentication.kubernetes.io/node-name=primary"}
		patch := func(status string) (string, error) {
			return kubectl(t, kc, append([]string{"patch", "vip", "services", "--subresource=status", "--type=merge",
				"-p", `{"status":` + status + `}`}, asAgent...)...)
		}
		for name, status := range map[string]string{
			"status.observedGeneration":   `{"observedGeneration":99}`,
			"status.master":               `{"master":"primary"}`,
			"another node's status entry": `{"nodes":[{"node":"secondary","state":"MASTER"}]}`,
		} {
			out, err := patch(status)
			if err == nil || !strings.Contains(out, "ValidatingAdmissionPolicy 'vrrp-operator-agent-node-scope'") {
				t.Errorf("the agent of primary changing %s: err = %v, want the node scope policy's refusal:\n%s", name, err, out)
			}
		}
		if out, err := patch(`{"nodes":[{"node":"primary","state":"BACKUP"}]}`); err != nil {
			t.Errorf("the agent of primary writing its own status entry: %v\n%s", err, out)
		}
	})

	step("helm uninstall removes the release but keeps the CRD", func(t *testing.T) {
		h(t, uninstall...)
		k(t, "get", crdName)
		if out := k(t, "get", "vip"); strings.Contains(out, "services") {
			t.Errorf("the release's VirtualIP survived the uninstall:\n%s", out)
		}
		if out, err := kubectl(t, kc, "get", "-n", namespace, "daemonset/vrrp-operator-agent"); err == nil {
			t.Errorf("the agent DaemonSet survived the uninstall:\n%s", out)
		}
		if out, err := kubectl(t, kc, "get", "clusterrole/vrrp-operator-agent"); err == nil {
			t.Errorf("the agent ClusterRole survived the uninstall:\n%s", out)
		}
	})

	step("a new release adopts the kept CRD, and with crds.keep=false takes it on uninstall", func(t *testing.T) {
		h(t, "install", "vrrp-operator", chartDir, "--set", "crds.keep=false")
		k(t, "wait", "--for=condition=Established", crdName, "--timeout=30s")
		h(t, uninstall...)
		k(t, "wait", "--for=delete", crdName, "--timeout=30s")
	})

	step("with virtualIPs, a first install needs the CRD applied first and --take-ownership", func(t *testing.T) {
		// Helm maps every object of a release before it creates any: VirtualIPs cannot come in the
		// release that creates their CRD. values.yaml says so.
		out, err := helm(t, "install", "vrrp-operator", chartDir, "-f", seedValues, "--kubeconfig", kc, "--namespace", namespace)
		if err == nil || !strings.Contains(out, "ensure CRDs are installed first") {
			t.Fatalf("helm install with virtualIPs and no CRD: err = %v, want Helm's \"ensure CRDs are installed first\":\n%s", err, out)
		}
		k(t, "apply", "--server-side", "-f", filepath.Join(testenv.Root(), "config", "crd", "bases"))
		k(t, "wait", "--for=condition=Established", crdName, "--timeout=30s")
		h(t, "install", "vrrp-operator", chartDir, "-f", seedValues, "--take-ownership")
		if out := k(t, "get", "vip"); !strings.Contains(out, "services") {
			t.Errorf("no VirtualIP services after the install:\n%s", out)
		}
		h(t, uninstall...)
		k(t, "get", crdName)
	})

	step("another release adopts the kept CRD only with --take-ownership, as the README says", func(t *testing.T) {
		out, err := helm(t, "install", "vrrp-edge", chartDir, "--kubeconfig", kc, "--namespace", namespace)
		if err == nil || !strings.Contains(out, "meta.helm.sh/release-name") {
			t.Fatalf("helm install of another release beside the kept CRD: err = %v, want Helm's refusal naming the CRD's release:\n%s", err, out)
		}
		h(t, "install", "vrrp-edge", chartDir, "--take-ownership")
		h(t, "uninstall", "vrrp-edge", "--wait", "--timeout=30s", "--no-hooks")
		k(t, "get", crdName)
	})

	step("kubectl apply -k config/default installs where the release was", func(t *testing.T) {
		root := testenv.Root()
		k(t, "apply", "--server-side", "-k", filepath.Join(root, "config", "default"))
		k(t, "wait", "--for=condition=Established", crdName, "--timeout=30s")
		k(t, "get", "-n", namespace, "daemonset/vrrp-operator-agent", "deployment/vrrp-operator-controller")
		k(t, "get", "validatingadmissionpolicy/vrrp-operator-agent-node-scope")
		k(t, "get", "vip", "-o", "wide") // fails the test unless the CRD serves VirtualIPs
	})
}
