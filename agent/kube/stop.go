package kube

import (
	"context"
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

// StopAgents deletes the agent DaemonSet namespace/name and waits until none of the pods selector
// picks is left, polling every poll. Each agent then stops as on any SIGTERM (priority-0 advert, VIPs
// removed, stop hooks, its master label removed and its entry marked STOPPED) while its
// ServiceAccount, RBAC and admission policy still exist. Helm runs it before it deletes a release
// (the chart's pre-delete hook): Helm removes a release's objects all at once, and agents stopping
// after their permissions are gone leave master labels behind.
//
// It waits for the pods, not for the DaemonSet, so that a second run (a retried hook, a second
// helm uninstall) still waits for agents the first one set stopping. Pods of nodes that stopped
// reporting are logged and not waited for past Overdue.
func StopAgents(ctx context.Context, c client.Client, log logr.Logger, namespace, name string, selector labels.Selector, poll time.Duration) error {
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if err := c.Delete(ctx, ds, client.PropagationPolicy(metav1.DeletePropagationForeground)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting DaemonSet %s/%s: %w", namespace, name, err)
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
