package helm

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// kustomize renders a directory of config/ with kubectl kustomize.
func kustomize(t *testing.T, dir string) objects {
	t.Helper()
	out, err := kubectl(t, "", "kustomize", filepath.Join(testenv.Root(), "config", dir))
	if err != nil {
		t.Fatalf("kubectl kustomize config/%s: %v\n%s", dir, err, out)
	}
	return parse(t, out)
}

// TestKustomizeMatchesTheChart proves that `kubectl apply -k config/default` runs the same pods as
// the chart with its default values: the two install paths cannot drift apart.
func TestKustomizeMatchesTheChart(t *testing.T) {
	t.Parallel()
	chart := template(t)

	t.Run("the agent's pod is the chart's", func(t *testing.T) {
		k := kustomize(t, "agent")
		want := get[appsv1.DaemonSet](t, chart, "DaemonSet", "vrrp-operator-agent")
		got := get[appsv1.DaemonSet](t, k, "DaemonSet", "vrrp-operator-agent")
		if diff := cmp.Diff(want.Spec.Template.Spec, got.Spec.Template.Spec); diff != "" {
			t.Errorf("agent pod spec (-chart +kustomize):\n%s", diff)
		}
		if diff := cmp.Diff(want.Spec.UpdateStrategy, got.Spec.UpdateStrategy); diff != "" || want.Spec.MinReadySeconds != got.Spec.MinReadySeconds {
			t.Errorf("minReadySeconds chart %d, kustomize %d; update strategy (-chart +kustomize):\n%s",
				want.Spec.MinReadySeconds, got.Spec.MinReadySeconds, diff)
		}
		sameBinding(t, chart, k, "vrrp-operator-agent")
	})

	t.Run("the controller's pod, PDB and leader election Role are the chart's", func(t *testing.T) {
		k := kustomize(t, "manager")
		want := get[appsv1.Deployment](t, chart, "Deployment", "vrrp-operator-controller")
		got := get[appsv1.Deployment](t, k, "Deployment", "vrrp-operator-controller")
		if diff := cmp.Diff(want.Spec.Template.Spec, got.Spec.Template.Spec); diff != "" {
			t.Errorf("controller pod spec (-chart +kustomize):\n%s", diff)
		}
		if *want.Spec.Replicas != *got.Spec.Replicas {
			t.Errorf("replicas: chart %d, kustomize %d", *want.Spec.Replicas, *got.Spec.Replicas)
		}
		wantPDB := get[policyv1.PodDisruptionBudget](t, chart, "PodDisruptionBudget", "vrrp-operator-controller")
		gotPDB := get[policyv1.PodDisruptionBudget](t, k, "PodDisruptionBudget", "vrrp-operator-controller")
		if !cmp.Equal(wantPDB.Spec.MinAvailable, gotPDB.Spec.MinAvailable) || !cmp.Equal(wantPDB.Spec.MaxUnavailable, gotPDB.Spec.MaxUnavailable) {
			t.Errorf("PDB: chart %+v, kustomize %+v", wantPDB.Spec, gotPDB.Spec)
		}
		const role = "vrrp-operator-controller-leader-election"
		if diff := cmp.Diff(get[rbacv1.Role](t, chart, "Role", role).Rules, get[rbacv1.Role](t, k, "Role", role).Rules); diff != "" {
			t.Errorf("leader election Role rules (-chart +kustomize):\n%s", diff)
		}
		sameBinding(t, chart, k, "vrrp-operator-controller")
	})

	t.Run("config/default holds the namespace, the CRD, the generated roles, the controller and the agent", func(t *testing.T) {
		k := kustomize(t, "default")
		for _, want := range []struct{ kind, name string }{
			{"Namespace", namespace},
			{"CustomResourceDefinition", "virtualips.vrrp.dev"},
			{"ClusterRole", "vrrp-operator-agent"},
			{"ClusterRole", "vrrp-operator-controller"},
			{"ValidatingAdmissionPolicy", "vrrp-operator-agent-node-scope"},
			{"DaemonSet", "vrrp-operator-agent"},
			{"Deployment", "vrrp-operator-controller"},
		} {
			if !k.has(want.kind, want.name) {
				t.Errorf("no %s %s in config/default", want.kind, want.name)
			}
		}
		for _, o := range k {
			switch o.Kind {
			case "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding":
			default:
				if o.Namespace != namespace {
					t.Errorf("%s %s is in namespace %q, want %s", o.Kind, o.Name, o.Namespace, namespace)
				}
			}
		}
	})
}

// sameBinding checks that the chart and kustomize bind the same ServiceAccount to the same ClusterRole.
func sameBinding(t *testing.T, chart, k objects, name string) {
	t.Helper()
	want := get[rbacv1.ClusterRoleBinding](t, chart, "ClusterRoleBinding", name)
	got := get[rbacv1.ClusterRoleBinding](t, k, "ClusterRoleBinding", name)
	if diff := cmp.Diff(want.RoleRef, got.RoleRef); diff != "" {
		t.Errorf("ClusterRoleBinding %s roleRef (-chart +kustomize):\n%s", name, diff)
	}
	if diff := cmp.Diff(want.Subjects, got.Subjects); diff != "" {
		t.Errorf("ClusterRoleBinding %s subjects (-chart +kustomize):\n%s", name, diff)
	}
	if !k.has("ServiceAccount", name) {
		t.Errorf("no ServiceAccount %s in kustomize", name)
	}
}
