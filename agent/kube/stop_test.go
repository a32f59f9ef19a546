package kube

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// The real proof is test/localcluster (helm uninstall on real kubelets); these pin the decisions.
func TestStopAgents(t *testing.T) {
	agentLabels := map[string]string{"app.kubernetes.io/component": "agent"}
	selector := labels.SelectorFromSet(agentLabels)
	release := Release{Name: "vrrp-operator", Namespace: "vrrp-system"}
	// helmDS is the agent DaemonSet as helm install leaves it: annotated with the release.
	helmDS := func(name, namespace string) *appsv1.DaemonSet {
		ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "vrrp-system", Name: "vrrp-operator-agent"},
			Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: agentLabels}}}
		if name != "" {
			ds.Annotations = map[string]string{HelmReleaseNameAnnotation: name, HelmReleaseNamespaceAnnotation: namespace}
		}
		return ds
	}
	ds := helmDS(release.Name, release.Namespace)
	pod := func(name string, l map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "vrrp-system", Name: name, Labels: l}}
	}
	// stopping is an agent pod the kubelet is stopping, deleted at the given time.
	stopping := func(name string, at time.Time) *corev1.Pod {
		p := pod(name, agentLabels)
		p.DeletionTimestamp = &metav1.Time{Time: at}
		p.Finalizers = []string{"test/keep"}
		return p
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	// goneAt makes the agent pods disappear while the pods are listed the n-th time, as the kubelets
	// finish stopping them; lists counts the lists.
	goneAt := func(n int, lists *int) interceptor.Funcs {
		return interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if *lists++; *lists == n {
				var pods corev1.PodList
				if err := c.List(ctx, &pods, client.MatchingLabels(agentLabels)); err != nil {
					return err
				}
				for i := range pods.Items {
					p := &pods.Items[i]
					p.Finalizers = nil
					if err := c.Update(ctx, p); err != nil {
						return err
					}
					if err := c.Delete(ctx, p); err != nil && !apierrors.IsNotFound(err) {
						return err
					}
				}
			}
			return c.List(ctx, list, opts...)
		}}
	}
	stop := func(ctx context.Context, c client.Client) error {
		return StopAgents(ctx, c, logr.Discard(), "vrrp-system", "vrrp-operator-agent", release, selector, time.Millisecond)
	}

	t.Run("without a DaemonSet or agent pods there is nothing to wait for", func(t *testing.T) {
		if err := stop(context.Background(), fake.NewClientBuilder().WithScheme(scheme).Build()); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("it deletes the DaemonSet and returns once its pods are gone, not before", func(t *testing.T) {
		lists := 0
		c := fake.NewClientBuilder().WithScheme(scheme).
			WithObjects(ds.DeepCopy(), pod("agent-a", agentLabels), pod("agent-b", agentLabels),
				pod("controller", map[string]string{"app.kubernetes.io/component": "controller"})).
			WithInterceptorFuncs(goneAt(2, &lists)).Build()
		if err := stop(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		if lists != 2 {
			t.Errorf("listed the pods %d times, want 2: it returned before the agents were gone", lists)
		}
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(ds), &appsv1.DaemonSet{}); !apierrors.IsNotFound(err) {
			t.Errorf("the DaemonSet is still there: %v", err)
		}
	})

	t.Run("a second run, the DaemonSet gone, still waits for the agents the first one set stopping", func(t *testing.T) {
		lists := 0
		c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(stopping("agent-a", time.Now())).
			WithInterceptorFuncs(goneAt(3, &lists)).Build()
		if err := stop(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		if lists != 3 {
			t.Errorf("listed the pods %d times, want 3: it returned while an agent was stopping", lists)
		}
	})

	t.Run("an agent whose node stopped reporting is not waited for", func(t *testing.T) {
		c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(stopping("agent-dead", time.Now().Add(-time.Minute))).Build()
		if err := stop(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("agents that never stop end in an error when the time is up", func(t *testing.T) {
		c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(ds.DeepCopy(), pod("agent-a", agentLabels)).Build()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := StopAgents(ctx, c, logr.Discard(), "vrrp-system", "vrrp-operator-agent", release, selector, time.Hour); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want the context's error", err)
		}
	})

	for name, tc := range map[string]struct {
		ds      *appsv1.DaemonSet
		release Release
		deleted bool
	}{
		"a DaemonSet applied without Helm (helm template | kubectl apply) is left alone, its agents running": {
			ds: helmDS("", ""), release: release,
		},
		"a DaemonSet of another release is left alone": {
			ds: helmDS("other", "vrrp-system"), release: release,
		},
		"a DaemonSet of a release of that name in another namespace is left alone": {
			ds: helmDS("vrrp-operator", "network-system"), release: release,
		},
		"without a release named, as from an older chart's hook, any release's DaemonSet is deleted": {
			ds: helmDS("renamed", "vrrp-system"), release: Release{Namespace: "vrrp-system"}, deleted: true,
		},
		"without a release named, a DaemonSet applied without Helm is still left alone": {
			ds: helmDS("", ""), release: Release{Namespace: "vrrp-system"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			lists := 0
			c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(tc.ds, pod("agent-a", agentLabels)).
				WithInterceptorFuncs(goneAt(1, &lists)).Build()
			err := StopAgents(context.Background(), c, logr.Discard(), "vrrp-system", "vrrp-operator-agent", tc.release, selector, time.Millisecond)
			getErr := c.Get(context.Background(), client.ObjectKeyFromObject(tc.ds), &appsv1.DaemonSet{})
			if tc.deleted {
				if err != nil || !apierrors.IsNotFound(getErr) {
					t.Errorf("StopAgents: %v; the DaemonSet after it: %v; want it deleted", err, getErr)
				}
				return
			}
			if !errors.Is(err, ErrNotHelmManaged) {
				t.Errorf("StopAgents: %v, want ErrNotHelmManaged", err)
			}
			if getErr != nil {
				t.Errorf("the DaemonSet is gone (%v): the agents stopped", getErr)
			}
			if lists != 0 {
				t.Errorf("listed the agent pods %d times, want 0: it waited for agents it did not stop", lists)
			}
		})
	}
}
