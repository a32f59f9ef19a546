package main

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// TestStopAgentsActsOnlyOnItsRelease runs the chart's pre-delete hook command, with the arguments
// the chart renders, on a real kube-apiserver: applied without Helm (helm template | kubectl apply),
// the hook Job runs right after the install and must succeed without deleting the agents.
func TestStopAgentsActsOnlyOnItsRelease(t *testing.T) {
	env, cfg := testenv.APIServer(t)
	kc := testenv.AdminKubeconfig(t, env)
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "vrrp-system"}}); err != nil {
		t.Fatal(err)
	}
	args := []string{"--kubeconfig=" + kc, "--namespace=vrrp-system", "--daemonset=vrrp-operator-agent",
		"--release=vrrp-operator", "--release-namespace=vrrp-system", "--timeout=20s"}

	for name, tc := range map[string]struct {
		annotations map[string]string
		deleted     bool
	}{
		"a DaemonSet applied with kubectl from helm template output is left alone": {},
		"a DaemonSet of another release is left alone": {
			annotations: map[string]string{"meta.helm.sh/release-name": "other", "meta.helm.sh/release-namespace": "vrrp-system"},
		},
		"the release's own DaemonSet, as helm install annotates it, is deleted": {
			annotations: map[string]string{"meta.helm.sh/release-name": "vrrp-operator", "meta.helm.sh/release-namespace": "vrrp-system"},
			deleted:     true,
		},
	} {
		t.Run(name, func(t *testing.T) {
			labels := map[string]string{"app.kubernetes.io/component": "agent"}
			ds := &appsv1.DaemonSet{
				ObjectMeta: metav1.ObjectMeta{Namespace: "vrrp-system", Name: "vrrp-operator-agent", Annotations: tc.annotations},
				Spec: appsv1.DaemonSetSpec{
					Selector: &metav1.LabelSelector{MatchLabels: labels},
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: labels},
						Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "vrrp-operator"}}},
					},
				},
			}
			if err := c.Create(ctx, ds); err != nil {
				t.Fatal(err)
			}
			// Without a garbage collector, a foreground deletion leaves the DaemonSet with its
			// finalizer: the next case needs the name free.
			t.Cleanup(func() {
				var left appsv1.DaemonSet
				if err := c.Get(ctx, client.ObjectKeyFromObject(ds), &left); err == nil {
					left.Finalizers = nil
					_ = c.Update(ctx, &left)
					_ = c.Delete(ctx, &left)
				}
			})
			if err := runStopAgents(ctx, args); err != nil {
				t.Fatalf("stop-agents %q: %v, want success either way", args, err)
			}
			var got appsv1.DaemonSet
			err := c.Get(ctx, client.ObjectKeyFromObject(ds), &got)
			switch {
			case err != nil && !apierrors.IsNotFound(err):
				t.Fatal(err)
			case tc.deleted && err == nil && got.DeletionTimestamp == nil:
				t.Error("the release's DaemonSet was not deleted")
			case !tc.deleted && (err != nil || got.DeletionTimestamp != nil):
				t.Errorf("the DaemonSet was deleted (%v): no agent would run", err)
			}
		})
	}
}
