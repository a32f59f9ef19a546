package helm

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// seedValues is the chart's example of the seed's keepalived setup.
var seedValues = filepath.Join(chartDir, "examples", "seed-values.yaml")

func TestLintStrict(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{
		"the default values lint clean":  nil,
		"the seed's example lints clean": {"-f", seedValues},
		"every optional part lints clean": {"--set", "prometheus.serviceMonitor.enabled=true,prometheus.podMonitor.enabled=true," +
			"hooks.configMap=my-hooks,crds.keep=false,controller.podDisruptionBudget.maxUnavailable=1"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, err := helm(t, append([]string{"lint", "--strict", chartDir, "--namespace", namespace}, args...)...)
			if err != nil {
				t.Fatalf("helm lint --strict: %v\n%s", err, out)
			}
		})
	}
}

func TestAgentDaemonSet(t *testing.T) {
	t.Parallel()
	ds := get[appsv1.DaemonSet](t, template(t), "DaemonSet", "vrrp-operator-agent")
	pod := ds.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]

	t.Run("it runs the agent on the host network with its flags", func(t *testing.T) {
		want := []string{"agent", "--node-name=$(NODE_NAME)", "--hook-dir=/etc/vrrp-operator/hooks",
			"--state-dir=/var/lib/vrrp-operator", "--metrics-bind-address=$(HOST_IP):9472", "--shutdown-timeout=25s",
			"--last-known-max-age=4h"}
		if diff := cmp.Diff(want, c.Args); diff != "" {
			t.Errorf("args (-want +got):\n%s", diff)
		}
		if len(c.Command) != 0 {
			t.Errorf("command = %q, want the image's entrypoint", c.Command)
		}
		if !pod.HostNetwork || pod.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
			t.Errorf("hostNetwork = %v, dnsPolicy = %q; want true, ClusterFirstWithHostNet", pod.HostNetwork, pod.DNSPolicy)
		}
		if pod.ServiceAccountName != "vrrp-operator-agent" {
			t.Errorf("serviceAccountName = %q", pod.ServiceAccountName)
		}
	})

	t.Run("NODE_NAME and HOST_IP come from the pod's node, POD_NAMESPACE and POD_NAME from the pod", func(t *testing.T) {
		want := []corev1.EnvVar{
			{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			{Name: "HOST_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		}
		if diff := cmp.Diff(want, c.Env); diff != "" {
			t.Errorf("env (-want +got):\n%s", diff)
		}
	})

	t.Run("it has exactly NET_ADMIN and NET_RAW, as root, on a read-only root", func(t *testing.T) {
		sc := c.SecurityContext
		if sc == nil || sc.Capabilities == nil {
			t.Fatal("no container securityContext with capabilities")
		}
		if diff := cmp.Diff([]corev1.Capability{"NET_ADMIN", "NET_RAW"}, sc.Capabilities.Add); diff != "" {
			t.Errorf("capabilities added (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]corev1.Capability{"ALL"}, sc.Capabilities.Drop); diff != "" {
			t.Errorf("capabilities dropped (-want +got):\n%s", diff)
		}
		if sc.RunAsUser == nil || *sc.RunAsUser != 0 {
			t.Errorf("runAsUser = %v, want 0 for netlink and raw sockets", sc.RunAsUser)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Error("the agent is privileged")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Error("allowPrivilegeEscalation is not false")
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Error("readOnlyRootFilesystem is not true")
		}
		if pod.HostPID || pod.HostIPC {
			t.Errorf("hostPID = %v, hostIPC = %v; the agent needs neither", pod.HostPID, pod.HostIPC)
		}
	})

	t.Run("it has CPU and memory requests but no CPU limit", func(t *testing.T) {
		if _, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
			t.Errorf("CPU limit %v: a throttled Master misses adverts and causes false failovers", c.Resources.Limits.Cpu())
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
				t.Errorf("no %s request", r)
			}
		}
	})

	t.Run("the state directory is the node's, so a restarted agent removes leftovers", func(t *testing.T) {
		v := volume(t, pod, "state")
		want := corev1.HostPathDirectoryOrCreate
		if v.HostPath == nil || v.HostPath.Path != "/var/lib/vrrp-operator" || v.HostPath.Type == nil || *v.HostPath.Type != want {
			t.Errorf("state volume = %+v, want hostPath /var/lib/vrrp-operator DirectoryOrCreate", v.VolumeSource)
		}
		if m := mount(t, c, "state"); m.MountPath != "/var/lib/vrrp-operator" || m.ReadOnly {
			t.Errorf("state mount = %+v", m)
		}
	})

	t.Run("the hook directory is empty and read-only by default", func(t *testing.T) {
		if v := volume(t, pod, "hooks"); v.EmptyDir == nil {
			t.Errorf("hooks volume = %+v, want an emptyDir", v.VolumeSource)
		}
		if m := mount(t, c, "hooks"); m.MountPath != "/etc/vrrp-operator/hooks" || !m.ReadOnly {
			t.Errorf("hooks mount = %+v, want /etc/vrrp-operator/hooks read-only", m)
		}
	})

	t.Run("it runs on every node, before user workloads, and stops gracefully", func(t *testing.T) {
		if pod.PriorityClassName != "system-node-critical" {
			t.Errorf("priorityClassName = %q", pod.PriorityClassName)
		}
		if diff := cmp.Diff([]corev1.Toleration{{Operator: corev1.TolerationOpExists}}, pod.Tolerations); diff != "" {
			t.Errorf("tolerations (-want +got):\n%s", diff)
		}
		if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds != 30 {
			t.Errorf("terminationGracePeriodSeconds = %v, want 30", pod.TerminationGracePeriodSeconds)
		}
	})

	t.Run("rolling updates replace one agent at a time", func(t *testing.T) {
		u := ds.Spec.UpdateStrategy
		one := intstr.FromInt32(1)
		if u.Type != appsv1.RollingUpdateDaemonSetStrategyType || u.RollingUpdate == nil ||
			u.RollingUpdate.MaxUnavailable == nil || *u.RollingUpdate.MaxUnavailable != one {
			t.Errorf("updateStrategy = %+v, want RollingUpdate with maxUnavailable 1", u)
		}
	})

	t.Run("liveness asks /healthz and readiness /readyz on the metrics port", func(t *testing.T) {
		if len(c.Ports) != 1 || c.Ports[0].Name != "metrics" || c.Ports[0].ContainerPort != 9472 {
			t.Fatalf("ports = %+v, want metrics 9472", c.Ports)
		}
		for name, want := range map[string]string{"liveness": "/healthz", "readiness": "/readyz"} {
			p := map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}[name]
			if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want || p.HTTPGet.Port != intstr.FromString("metrics") || p.HTTPGet.Host != "" {
				t.Errorf("%s probe = %+v, want GET %s on metrics at the pod's (the node's) address", name, p, want)
			}
		}
	})
}

func TestAgentListensAndStopsAsConfigured(t *testing.T) {
	t.Parallel()
	ds := get[appsv1.DaemonSet](t, template(t, "--set", "agent.metricsHost=127.0.0.1", "--set", "agent.terminationGracePeriodSeconds=120"),
		"DaemonSet", "vrrp-operator-agent")
	c := ds.Spec.Template.Spec.Containers[0]
	for _, want := range []string{"--metrics-bind-address=127.0.0.1:9472", "--shutdown-timeout=115s"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %q", c.Args, want)
		}
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Host != "127.0.0.1" {
			t.Errorf("%s probe = %+v, want it to ask 127.0.0.1, where the agent listens", name, p)
		}
	}
}

func TestControllerDeployment(t *testing.T) {
	t.Parallel()
	objs := template(t)
	d := get[appsv1.Deployment](t, objs, "Deployment", "vrrp-operator-controller")
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]

	t.Run("it runs two leader-elected replicas with its flags", func(t *testing.T) {
		want := []string{"controller", "--leader-elect", "--metrics-bind-address=:9473", "--health-probe-bind-address=:9474"}
		if diff := cmp.Diff(want, c.Args); diff != "" {
			t.Errorf("args (-want +got):\n%s", diff)
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
			t.Errorf("replicas = %v, want 2", d.Spec.Replicas)
		}
		want2 := []corev1.EnvVar{{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}
		if diff := cmp.Diff(want2, c.Env); diff != "" {
			t.Errorf("env (-want +got):\n%s", diff)
		}
		if pod.HostNetwork {
			t.Error("the controller is on the host network")
		}
	})

	t.Run("it runs as non-root with no capabilities on a read-only root", func(t *testing.T) {
		if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
			t.Error("runAsNonRoot is not true")
		}
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !cmp.Equal([]corev1.Capability{"ALL"}, sc.Capabilities.Drop) || len(sc.Capabilities.Add) != 0 {
			t.Errorf("securityContext = %+v", sc)
		}
	})

	t.Run("probes ask /healthz and /readyz on 9474", func(t *testing.T) {
		health := intstr.FromString("health")
		if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port != health {
			t.Errorf("liveness probe = %+v", p)
		}
		if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port != health {
			t.Errorf("readiness probe = %+v", p)
		}
		for _, p := range c.Ports {
			if p.Name == "health" && p.ContainerPort != 9474 {
				t.Errorf("health port = %d, want 9474", p.ContainerPort)
			}
		}
	})

	t.Run("a PodDisruptionBudget keeps one replica", func(t *testing.T) {
		pdb := get[policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget", "vrrp-operator-controller")
		one := intstr.FromInt32(1)
		if pdb.Spec.MinAvailable == nil || *pdb.Spec.MinAvailable != one || pdb.Spec.MaxUnavailable != nil {
			t.Errorf("PDB spec = %+v, want minAvailable 1", pdb.Spec)
		}
		if diff := cmp.Diff(d.Spec.Selector, pdb.Spec.Selector); diff != "" {
			t.Errorf("PDB selector differs from the Deployment's (-deployment +pdb):\n%s", diff)
		}
	})

	t.Run("it may manage its Lease in the release namespace", func(t *testing.T) {
		role := get[rbacv1.Role](t, objs, "Role", "vrrp-operator-controller-leader-election")
		if role.Namespace != namespace || len(role.Rules) == 0 || !cmp.Equal([]string{"coordination.k8s.io"}, role.Rules[0].APIGroups) ||
			!cmp.Equal([]string{"leases"}, role.Rules[0].Resources) {
			t.Errorf("leader election Role = %+v", role)
		}
		rb := get[rbacv1.RoleBinding](t, objs, "RoleBinding", "vrrp-operator-controller-leader-election")
		wantSubjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "vrrp-operator-controller", Namespace: namespace}}
		if diff := cmp.Diff(wantSubjects, rb.Subjects); diff != "" || rb.RoleRef.Name != role.Name {
			t.Errorf("leader election RoleBinding roleRef %q, subjects (-want +got):\n%s", rb.RoleRef.Name, diff)
		}
	})
}

// TestClusterRolesAreTheGeneratedOnes proves that the chart grants exactly what the code's RBAC
// markers ask for (config/rbac/*/role.yaml, made by make manifests), to the right ServiceAccount.
func TestClusterRolesAreTheGeneratedOnes(t *testing.T) {
	t.Parallel()
	objs := template(t)
	for _, component := range []string{"agent", "controller"} {
		t.Run(component, func(t *testing.T) {
			name := "vrrp-operator-" + component
			var want rbacv1.ClusterRole
			readYAML(t, filepath.Join("config", "rbac", component, "role.yaml"), &want)
			if want.Name != name || len(want.Rules) == 0 {
				t.Fatalf("config/rbac/%s/role.yaml: ClusterRole %q with %d rules", component, want.Name, len(want.Rules))
			}
			got := get[rbacv1.ClusterRole](t, objs, "ClusterRole", name)
			if diff := cmp.Diff(want.Rules, got.Rules); diff != "" {
				t.Errorf("chart ClusterRole %s rules (-generated +chart):\n%s\nrun make manifests", name, diff)
			}
			crb := get[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding", name)
			wantRef := rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name}
			wantSubjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: namespace}}
			if diff := cmp.Diff(wantRef, crb.RoleRef); diff != "" {
				t.Errorf("ClusterRoleBinding roleRef (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantSubjects, crb.Subjects); diff != "" {
				t.Errorf("ClusterRoleBinding subjects (-want +got):\n%s", diff)
			}
			if !objs.has("ServiceAccount", name) {
				t.Errorf("no ServiceAccount %s", name)
			}
		})
	}
}

// TestLeasesOnlyInTheReleaseNamespace proves that the controller may write Leases only in the
// release namespace, where its leader election Lease lives: a ClusterRole granting leases would let
// it rewrite every Lease of the cluster, node heartbeats and other controllers' leader election
// included (issue "Truth and safety under failure", item 14).
func TestLeasesOnlyInTheReleaseNamespace(t *testing.T) {
	t.Parallel()
	grants := func(r rbacv1.PolicyRule, verb string) bool {
		return (slices.Contains(r.APIGroups, "coordination.k8s.io") || slices.Contains(r.APIGroups, "*")) &&
			(slices.Contains(r.Resources, "leases") || slices.Contains(r.Resources, "*")) &&
			(verb == "" || slices.Contains(r.Verbs, verb) || slices.Contains(r.Verbs, "*"))
	}
	for source, objs := range map[string]objects{
		"the chart":      template(t),
		"config/default": kustomize(t, "default"),
	} {
		t.Run(source+" grants leases in no ClusterRole", func(t *testing.T) {
			for _, o := range objs.find("ClusterRole") {
				role := get[rbacv1.ClusterRole](t, objs, "ClusterRole", o.Name)
				for _, r := range role.Rules {
					if grants(r, "") {
						t.Errorf("ClusterRole %s grants %v on leases cluster-wide", o.Name, r.Verbs)
					}
				}
			}
		})

		t.Run(source+" lets the controller manage Leases in the release namespace", func(t *testing.T) {
			sa := rbacv1.Subject{Kind: "ServiceAccount", Name: "vrrp-operator-controller", Namespace: namespace}
			bound := false
			for _, o := range objs.find("RoleBinding") {
				rb := get[rbacv1.RoleBinding](t, objs, "RoleBinding", o.Name)
				if rb.Namespace != namespace || rb.RoleRef.Kind != "Role" || !slices.Contains(rb.Subjects, sa) {
					continue
				}
				role := get[rbacv1.Role](t, objs, "Role", rb.RoleRef.Name)
				if role.Namespace != namespace {
					continue
				}
				// What controller-runtime's Lease lock does: read, create, renew.
				ok := true
				for _, verb := range []string{"get", "create", "update"} {
					ok = ok && slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool { return grants(r, verb) })
				}
				bound = bound || ok
			}
			if !bound {
				t.Errorf("no Role in namespace %s bound to the controller's ServiceAccount lets it get, create and update leases", namespace)
			}
		})
	}
}

// TestGeneratedFilesAreCurrent proves that the chart's copies of generated files are those of
// config/, so that the chart cannot lag behind the API or the RBAC markers.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	t.Parallel()
	root := testenv.Root()
	for chartFile, source := range map[string]string{
		"files/crds/vrrp.dev_virtualips.yaml":     "config/crd/bases/vrrp.dev_virtualips.yaml",
		"files/rbac/agent/role.yaml":              "config/rbac/agent/role.yaml",
		"files/rbac/controller/role.yaml":         "config/rbac/controller/role.yaml",
		"files/rbac/agent/node_scope_policy.yaml": "config/rbac/agent/node_scope_policy.yaml",
	} {
		want, err := os.ReadFile(filepath.Join(root, source))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(chartDir, chartFile))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(want, got) {
			t.Errorf("charts/vrrp-operator/%s differs from %s: run make manifests", chartFile, source)
		}
	}
	// Helm installs crds/ before the templates and never upgrades or deletes it: a CRD there would
	// clash with the templated one (crds.enabled, crds.keep).
	if _, err := os.Stat(filepath.Join(chartDir, "crds")); err == nil {
		t.Error("charts/vrrp-operator/crds/ exists: the CRD is templated from files/crds/, see templates/crds.yaml")
	}
}

func TestCRDs(t *testing.T) {
	t.Parallel()
	var generated map[string]any
	readYAML(t, filepath.Join("config", "crd", "bases", "vrrp.dev_virtualips.yaml"), &generated)

	t.Run("the chart renders the generated CRD with only labels and the keep annotation added", func(t *testing.T) {
		crds := template(t).find("CustomResourceDefinition")
		if len(crds) != 1 || crds[0].Name != "virtualips.vrrp.dev" {
			t.Fatalf("want the CRD virtualips.vrrp.dev, got %+v", crds)
		}
		var got map[string]any
		readJSON(t, crds[0].JSON, &got)
		meta := got["metadata"].(map[string]any)
		if a := meta["annotations"].(map[string]any); a["helm.sh/resource-policy"] != "keep" {
			t.Errorf("annotations = %v, want helm.sh/resource-policy: keep", a)
		}
		delete(meta["annotations"].(map[string]any), "helm.sh/resource-policy")
		delete(meta, "labels")
		if diff := cmp.Diff(generated, got); diff != "" {
			t.Errorf("rendered CRD (-generated +chart):\n%s", diff)
		}
	})

	t.Run("crds.keep=false leaves the CRD to helm uninstall", func(t *testing.T) {
		crds := template(t, "--set", "crds.keep=false").find("CustomResourceDefinition")
		if len(crds) != 1 {
			t.Fatalf("want one CRD, got %d", len(crds))
		}
		if strings.Contains(string(crds[0].JSON), "resource-policy") {
			t.Errorf("the CRD has helm.sh/resource-policy: %s", crds[0].JSON)
		}
	})

	t.Run("crds.enabled=false renders no CRD", func(t *testing.T) {
		if crds := template(t, "--set", "crds.enabled=false").find("CustomResourceDefinition"); len(crds) != 0 {
			t.Errorf("got %d CRDs", len(crds))
		}
	})
}

func TestOptionalParts(t *testing.T) {
	t.Parallel()

	t.Run("the seed's example renders its VirtualIP and a 0755 hook ConfigMap", func(t *testing.T) {
		objs := template(t, "-f", seedValues)
		vips := objs.find("VirtualIP")
		if len(vips) != 1 || vips[0].Name != "services" || vips[0].Namespace != "" {
			t.Fatalf("want the cluster-scoped VirtualIP services, got %+v", vips)
		}
		var vip struct {
			APIVersion string         `json:"apiVersion"`
			Spec       map[string]any `json:"spec"`
		}
		readJSON(t, vips[0].JSON, &vip)
		if vip.APIVersion != "vrrp.dev/v1alpha1" || vip.Spec["virtualRouterID"] != float64(51) {
			t.Errorf("VirtualIP = %+v", vip)
		}
		cm := get[corev1.ConfigMap](t, objs, "ConfigMap", "vrrp-operator-hooks")
		if !strings.HasPrefix(cm.Data["keepalived.sh"], "#!") {
			t.Errorf("hook ConfigMap data = %q, want keepalived.sh", cm.Data)
		}
		ds := get[appsv1.DaemonSet](t, objs, "DaemonSet", "vrrp-operator-agent")
		v := volume(t, ds.Spec.Template.Spec, "hooks")
		if v.ConfigMap == nil || v.ConfigMap.Name != "vrrp-operator-hooks" || v.ConfigMap.DefaultMode == nil || *v.ConfigMap.DefaultMode != 0o755 {
			t.Errorf("hooks volume = %+v, want ConfigMap vrrp-operator-hooks with mode 0755", v.VolumeSource)
		}
		if len(ds.Spec.Template.Annotations) != 0 {
			t.Errorf("pod annotations %v: a hook change must not roll the agents (each roll is a failover)", ds.Spec.Template.Annotations)
		}
	})

	t.Run("hook script names that YAML takes for numbers or booleans or null keep their names", func(t *testing.T) {
		want := map[string]string{"1.10": "#!/bin/sh\n# 1.10", "true": "#!/bin/sh\n# true", "on": "#!/bin/sh\n# on",
			"null": "#!/bin/sh\n# null", "010": "#!/bin/sh\n# 010"}
		values, err := json.Marshal(map[string]any{"hookScripts": want})
		if err != nil {
			t.Fatal(err)
		}
		objs := template(t, "-f", writeValues(t, string(values)))
		cm := get[corev1.ConfigMap](t, objs, "ConfigMap", "vrrp-operator-hooks")
		if diff := cmp.Diff(want, cm.Data); diff != "" {
			t.Errorf("hook ConfigMap data (-want +got):\n%s", diff)
		}
	})

	t.Run("hooks.configMap mounts an existing ConfigMap, optional", func(t *testing.T) {
		objs := template(t, "--set", "hooks.configMap=site-hooks")
		if objs.has("ConfigMap", "vrrp-operator-hooks") {
			t.Error("the chart rendered its own hook ConfigMap")
		}
		ds := get[appsv1.DaemonSet](t, objs, "DaemonSet", "vrrp-operator-agent")
		v := volume(t, ds.Spec.Template.Spec, "hooks")
		if v.ConfigMap == nil || v.ConfigMap.Name != "site-hooks" || v.ConfigMap.Optional == nil || !*v.ConfigMap.Optional ||
			v.ConfigMap.DefaultMode == nil || *v.ConfigMap.DefaultMode != 0o755 {
			t.Errorf("hooks volume = %+v, want optional ConfigMap site-hooks with mode 0755", v.VolumeSource)
		}
	})

	t.Run("monitors cover the agent and the controller", func(t *testing.T) {
		objs := template(t, "--set", "prometheus.serviceMonitor.enabled=true,prometheus.podMonitor.enabled=true")
		for _, kind := range []string{"ServiceMonitor", "PodMonitor"} {
			for _, name := range []string{"vrrp-operator-agent", "vrrp-operator-controller"} {
				if !objs.has(kind, name) {
					t.Errorf("no %s %s", kind, name)
				}
			}
		}
		svc := get[corev1.Service](t, objs, "Service", "vrrp-operator-agent-metrics")
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 9472 || svc.Spec.Ports[0].Name != "metrics" {
			t.Errorf("agent metrics Service ports = %+v", svc.Spec.Ports)
		}
	})

	t.Run("monitors are off by default", func(t *testing.T) {
		objs := template(t)
		if n := len(objs.find("ServiceMonitor")) + len(objs.find("PodMonitor")) + len(objs.find("Service")); n != 0 {
			t.Errorf("%d monitors or Services rendered", n)
		}
	})

	t.Run("a CPU limit set by the user is kept", func(t *testing.T) {
		objs := template(t, "--set", "agent.resources.limits.cpu=2")
		ds := get[appsv1.DaemonSet](t, objs, "DaemonSet", "vrrp-operator-agent")
		if got := ds.Spec.Template.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU]; got.Cmp(resource.MustParse("2")) != 0 {
			t.Errorf("CPU limit = %v, want 2", got.String())
		}
	})
}

func TestValuesAreValidated(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		values string
		want   string
	}{
		"agent.resources as a string is refused":     {values: "agent: {resources: big}", want: "/agent/resources"},
		"controller.replicas as a word is refused":   {values: "controller: {replicas: two}", want: "/controller/replicas"},
		"a misspelled value is refused":              {values: "agnet: {logLevel: 1}", want: "agnet"},
		"a misspelled agent value is refused":        {values: "agent: {tolerration: []}", want: "tolerration"},
		"an unknown pull policy is refused":          {values: "image: {pullPolicy: Sometimes}", want: "/image/pullPolicy"},
		"a VirtualIP without a spec is refused":      {values: "virtualIPs: [{name: services}]", want: "spec"},
		"a VirtualIP named in capitals is refused":   {values: "virtualIPs: [{name: Services, spec: {}}]", want: "/virtualIPs/0/name"},
		"a hook script name with a slash is refused": {values: `hookScripts: {"../x": "#!/bin/sh"}`, want: "'../x' does not match pattern"},
		"a port out of range is refused":             {values: "agent: {metricsPort: 70000}", want: "/agent/metricsPort"},
		"metricsHost 0.0.0.0 (every IPv4 address of the node and so the VIPs) is refused": {
			values: `agent: {metricsHost: "0.0.0.0"}`, want: "/agent/metricsHost"},
		"metricsHost of the IPv6 unspecified address is refused": {values: `agent: {metricsHost: "::"}`, want: "/agent/metricsHost"},
		"metricsHost of the unspecified address written out in full is refused": {
			values: `agent: {metricsHost: "0:0:0:0:0:0:0:0"}`, want: "/agent/metricsHost"},
		"metricsHost of the IPv4-mapped unspecified address is refused": {
			values: `agent: {metricsHost: "::ffff:0.0.0.0"}`, want: "/agent/metricsHost"},
		"metricsHost 999.1 (no IP address) is refused":  {values: `agent: {metricsHost: "999.1"}`, want: "/agent/metricsHost"},
		"metricsHost with an octet over 255 is refused": {values: `agent: {metricsHost: "203.0.113.256"}`, want: "/agent/metricsHost"},
		"a host name as metricsHost is refused":         {values: `agent: {metricsHost: "node.example"}`, want: "/agent/metricsHost"},
		"maxUnavailable 0 (the API refuses it with maxSurge 0) is refused": {
			values: "agent: {updateStrategy: {rollingUpdate: {maxUnavailable: 0}}}", want: "/agent/updateStrategy/rollingUpdate/maxUnavailable"},
		"maxUnavailable of 0 percent is refused": {
			values: `agent: {updateStrategy: {rollingUpdate: {maxUnavailable: "0%"}}}`, want: "/agent/updateStrategy/rollingUpdate/maxUnavailable"},
		"a surge of agents is refused": {
			values: "agent: {updateStrategy: {rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}}", want: "/agent/updateStrategy/rollingUpdate/maxSurge"},
		"both hookScripts and hooks.configMap are refused": {
			values: "hooks: {configMap: site}\nhookScripts: {a.sh: '#!/bin/sh'}", want: "set hookScripts or hooks.configMap, not both"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, err := helm(t, "template", "vrrp-operator", chartDir, "-f", writeValues(t, tc.values))
			if err == nil {
				t.Fatalf("helm template accepted %q", tc.values)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("helm template refused %q, but its message does not contain %q:\n%s", tc.values, tc.want, out)
			}
		})
	}
}

// TestValuesBesideTheRefusedOnesAreAdmitted keeps the schema's patterns from refusing what the
// agent and the API server take.
func TestValuesBesideTheRefusedOnesAreAdmitted(t *testing.T) {
	t.Parallel()
	for name, values := range map[string]string{
		"metricsHost on loopback":                      `agent: {metricsHost: "127.0.0.1"}`,
		"metricsHost 255.255.255.254":                  `agent: {metricsHost: "255.255.255.254"}`,
		"metricsHost of IPv6 loopback":                 `agent: {metricsHost: "::1"}`,
		"metricsHost of an IPv6 documentation address": `agent: {metricsHost: "2001:db8::10"}`,
		"metricsHost of an IPv4-mapped IPv6 address":   `agent: {metricsHost: "::ffff:192.0.2.1"}`,
		"maxUnavailable 2":                             "agent: {updateStrategy: {rollingUpdate: {maxUnavailable: 2}}}",
		"maxUnavailable of 10 percent":                 `agent: {updateStrategy: {rollingUpdate: {maxUnavailable: "10%"}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if out, err := helm(t, "lint", "--strict", chartDir, "-f", writeValues(t, values)); err != nil {
				t.Errorf("helm lint refused %q: %v\n%s", values, err, out)
			}
		})
	}
}

func volume(t *testing.T, pod corev1.PodSpec, name string) corev1.Volume {
	t.Helper()
	for _, v := range pod.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no volume %q in %+v", name, pod.Volumes)
	return corev1.Volume{}
}

func mount(t *testing.T, c corev1.Container, name string) corev1.VolumeMount {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no volume mount %q in %+v", name, c.VolumeMounts)
	return corev1.VolumeMount{}
}

func TestAgentsStopBeforeUninstall(t *testing.T) {
	t.Parallel()
	objs := template(t)
	job := get[batchv1.Job](t, objs, "Job", "vrrp-operator-agent-stop")
	if job.Annotations["helm.sh/hook"] != "pre-delete" {
		t.Errorf("the stop Job's hook is %q, want pre-delete", job.Annotations["helm.sh/hook"])
	}
	c := job.Spec.Template.Spec.Containers[0]
	want := []string{"stop-agents", "--namespace=vrrp-system", "--daemonset=vrrp-operator-agent",
		"--release=vrrp-operator", "--release-namespace=vrrp-system",
		"--selector=app.kubernetes.io/name=vrrp-operator,app.kubernetes.io/instance=vrrp-operator,app.kubernetes.io/component=agent",
		"--timeout=60s"}
	if diff := cmp.Diff(want, c.Args); diff != "" {
		t.Errorf("stop Job args (-want +got):\n%s", diff)
	}
	role := get[rbacv1.Role](t, objs, "Role", "vrrp-operator-agent-stop")
	if role.Annotations["helm.sh/hook"] != "pre-delete" || role.Annotations["helm.sh/hook-weight"] != "-10" {
		t.Errorf("the stop Job's Role must exist before the Job: annotations %v", role.Annotations)
	}
	if objs := template(t, "--set", "agent.stopBeforeUninstall=false"); objs.has("Job", "vrrp-operator-agent-stop") {
		t.Error("agent.stopBeforeUninstall=false still renders the stop Job")
	}
}
