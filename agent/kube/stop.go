package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Overdue is how long past its deletion time (which includes its grace period) a pod may still be
// listed before StopAgents stops waiting for it: its kubelet is not reporting (the node is off), and
// nothing waiting longer could change that.
const Overdue = 15 * time.Second

// Helm sets these annotations on every object it installs or upgrades for a release; `helm template`
// output applied by kubectl, kustomize's helmCharts or Argo CD carries neither.
const (
	HelmReleaseNameAnnotation      = "meta.helm.sh/release-name"
	HelmReleaseNamespaceAnnotation = "meta.helm.sh/release-namespace"
)

// ErrNotHelmManaged is StopAgents' answer when the DaemonSet is not Helm's for the release: it then
// deleted nothing and waited for nothing.
var ErrNotHelmManaged = errors.New("the agent DaemonSet is not managed by Helm for this release")

// Release is the Helm release whose agent DaemonSet StopAgents may delete. An empty Name accepts
// any release, for a hook of an older chart that passes none; the DaemonSet must still carry Helm's
// annotations, with Namespace as the release namespace.
type Release struct {
	Name, Namespace string
}

// owns returns nil when Helm installed ds for r, else why not, wrapping ErrNotHelmManaged.
func (r Release) owns(ds *appsv1.DaemonSet) error {
	name, hasName := ds.Annotations[HelmReleaseNameAnnotation]
	ns, hasNS := ds.Annotations[HelmReleaseNamespaceAnnotation]
	switch {
	case !hasName || !hasNS:
		// The chart was rendered and applied without Helm: the pre-delete hook Job is then an
		// ordinary Job that runs right after the install, when deleting the DaemonSet would leave
		// the cluster without agents.
		return fmt.Errorf("%w: DaemonSet %s/%s lacks the annotations %s and %s that helm install sets (the chart was rendered with helm template and applied without Helm, which runs the pre-delete hook right after the install)",
			ErrNotHelmManaged, ds.Namespace, ds.Name, HelmReleaseNameAnnotation, HelmReleaseNamespaceAnnotation)
	case r.Name != "" && name != r.Name, ns != r.Namespace:
		want := r.Name
		if want == "" {
			want = "(any)"
		}
		return fmt.Errorf("%w: DaemonSet %s/%s belongs to release %s in namespace %s, not to release %s in namespace %s",
			ErrNotHelmManaged, ds.Namespace, ds.Name, name, ns, want, r.Namespace)
	}
	return nil
}

// StopAgents deletes the agent DaemonSet namespace/name and waits until none of the pods selector
// picks is left, polling every poll. Each agent then stops as on any SIGTERM (priority-0 advert, VIPs
// removed, stop hooks, its master label removed and its entry marked STOPPED) while its
// ServiceAccount, RBAC and admission policy still exist. Helm runs it before it deletes a release
// (the chart's pre-delete hook): Helm removes a release's objects all at once, and agents stopping
// after their permissions are gone leave master labels behind.
//
// It deletes the DaemonSet only if Helm manages it for release (see Release), and else returns an
// error wrapping ErrNotHelmManaged at once.
//
// It waits for the pods, not for the DaemonSet, so that a second run (a retried hook, a second
// helm uninstall) still waits for agents the first one set stopping. Pods of nodes that stopped
// reporting are logged and not waited for past Overdue.
func StopAgents(ctx context.Context, c client.Client, log logr.Logger, namespace, name string, release Release, selector labels.Selector, poll time.Duration) error {
	var ds appsv1.DaemonSet
	switch err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &ds); {
	case apierrors.IsNotFound(err):
		// A second run: the first one deleted it and may have left agents stopping.
	case err != nil:
		return fmt.Errorf("getting DaemonSet %s/%s: %w", namespace, name, err)
	default:
		if err := release.owns(&ds); err != nil {
			return err
		}
		// The UID precondition deletes only the DaemonSet whose annotations were just checked.
		uid := ds.UID
		err := c.Delete(ctx, &ds, client.PropagationPolicy(metav1.DeletePropagationForeground), client.Preconditions{UID: &uid})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting DaemonSet %s/%s: %w", namespace, name, err)
		}
	}
	reported := map[string]bool{}
	for {
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: selector}); err != nil {
			return fmt.Errorf("listing the agent pods: %w", err)
		}
		waiting := 0
		for _, p := range pods.Items {
			if d := p.DeletionTimestamp; d != nil && time.Since(d.Time) > Overdue {
				if !reported[p.Name] {
					log.Info("not waiting for an agent whose node does not report", "pod", p.Name, "node", p.Spec.NodeName,
						"deletionTimestamp", d.Time)
					reported[p.Name] = true
				}
				continue
			}
			waiting++
		}
		if waiting == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d agent pods to stop: %w", waiting, ctx.Err())
		case <-time.After(poll):
		}
	}
}
