package kube

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// StopAgents deletes the agent DaemonSet namespace/name and waits until none of its pods is left,
// polling every poll. Each agent then stops as on any SIGTERM (priority-0 advert, VIPs removed, stop
// hooks, its master label removed and its entry marked STOPPED) while its ServiceAccount, RBAC and
// admission policy still exist. Helm runs it before it deletes a release (the chart's pre-delete
// hook): Helm removes a release's objects all at once, and agents stopping after their permissions
// are gone leave master labels behind. A DaemonSet that does not exist is no error.
func StopAgents(ctx context.Context, c client.Client, namespace, name string, poll time.Duration) error {
	var ds appsv1.DaemonSet
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &ds); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("getting DaemonSet %s/%s: %w", namespace, name, err)
	}
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return fmt.Errorf("DaemonSet %s/%s: selector: %w", namespace, name, err)
	}
	if err := c.Delete(ctx, &ds, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting DaemonSet %s/%s: %w", namespace, name, err)
	}
	for {
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: selector}); err != nil {
			return fmt.Errorf("listing the agent pods: %w", err)
		}
		if len(pods.Items) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d agent pods to stop (%s first): %w", len(pods.Items), pods.Items[0].Name, ctx.Err())
		case <-time.After(poll):
		}
	}
}
