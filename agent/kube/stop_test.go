package kube

import (
	"context"
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// The real proof is test/localcluster (helm uninstall on real kubelets); these pin the decisions.
func TestStopAgents(t *testing.T) {
	labels := map[string]string{"app.kubernetes.io/component": "agent"}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "vrrp-system", Name: "vrrp-operator-agent"},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}}}
	pod := func(name string, l map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "vrrp-system", Name: name, Labels: l}}
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}

	t.Run("without a DaemonSet there is nothing to stop", func(t *testing.T) {
		c := fake.NewClientBuilder().WithScheme(scheme).Build()
		if err := StopAgents(context.Background(), c, "vrrp-system", "vrrp-operator-agent", time.Millisecond); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("it deletes the DaemonSet and returns once its pods are gone, not before", func(t *testing.T) {
		lists := 0
		c := fake.NewClientBuilder().WithScheme(scheme).
			WithObjects(ds.DeepCopy(), pod("agent-a", labels), pod("agent-b", labels), pod("controller", map[string]string{"app.kubernetes.io/component": "controller"})).
			WithInterceptorFuncs(interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
				// The kubelets finish stopping the agents while the second list is made.
				if lists++; lists == 2 {
					for _, n := range []string{"agent-a", "agent-b"} {
						if err := c.Delete(ctx, pod(n, nil)); err != nil {
							return err
						}
					}
				}
				return c.List(ctx, list, opts...)
			}}).Build()
		if err := StopAgents(context.Background(), c, "vrrp-system", "vrrp-operator-agent", time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if lists != 2 {
			t.Errorf("listed the pods %d times, want 2: it returned before the agents were gone", lists)
		}
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(ds), &appsv1.DaemonSet{}); !apierrors.IsNotFound(err) {
			t.Errorf("the DaemonSet is still there: %v", err)
		}
	})

	t.Run("agents that never stop end in an error when the time is up", func(t *testing.T) {
		c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(ds.DeepCopy(), pod("agent-a", labels)).Build()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := StopAgents(ctx, c, "vrrp-system", "vrrp-operator-agent", time.Hour)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want the context's error", err)
		}
	})
}
