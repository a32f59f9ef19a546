package kube

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// An agent that stops because it is uninstalled removes SnapshotFile: it holds the VRRP passwords
// of the node's routers, and nothing would ever read it again. An agent that stops to be restarted
// (a rolling update, a deleted pod, a node shutting down) keeps it, for it is what the next agent
// runs while the API server is away. The difference is the agent's DaemonSet: an uninstall deletes
// it (Helm's pre-delete hook and `kubectl delete` alike), a restart does not.

// uninstalled reports why the DaemonSet that runs the agent's pod (namespace/pod) is deleted, being
// deleted, or replaced by another of its name; "" when it is not, or when the pod is not run by a
// DaemonSet. An error means it could not tell.
func uninstalled(ctx context.Context, c client.Reader, namespace, pod string) (string, error) {
	var p corev1.Pod
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: pod}, &p); err != nil {
		return "", fmt.Errorf("reading the agent's pod %s/%s: %w", namespace, pod, err)
	}
	ref := metav1.GetControllerOf(&p)
	if ref == nil || ref.Kind != "DaemonSet" || ref.APIVersion != appsv1.SchemeGroupVersion.String() {
		return "", nil
	}
	var ds appsv1.DaemonSet
	switch err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, &ds); {
	case apierrors.IsNotFound(err):
		return fmt.Sprintf("DaemonSet %s/%s is deleted", namespace, ref.Name), nil
	case err != nil:
		return "", fmt.Errorf("reading the agent's DaemonSet %s/%s: %w", namespace, ref.Name, err)
	case ds.UID != ref.UID:
		return fmt.Sprintf("DaemonSet %s/%s is not the one that ran this pod", namespace, ref.Name), nil
	case ds.DeletionTimestamp != nil:
		return fmt.Sprintf("DaemonSet %s/%s is being deleted", namespace, ref.Name), nil
	}
	return "", nil
}

// forgetIfUninstalled removes SnapshotFile when the agent's DaemonSet is deleted (see uninstalled).
// It keeps the file when it cannot tell: the pod's name or namespace is unknown, the API server was
// never reached, or it does not answer before ctx ends. An uninstall that removes the agent's RBAC
// with its DaemonSet (kubectl delete -k, a deleted namespace, helm uninstall --no-hooks) is one it
// cannot tell, which the README says.
func (a *agent) forgetIfUninstalled(ctx context.Context) {
	var unknown string
	switch {
	case a.pod == "":
		unknown = "the agent's pod is unknown (set --pod-name or $POD_NAME)"
	case a.namespace == "":
		unknown = "the agent's namespace is unknown (set --namespace or $POD_NAMESPACE)"
	case a.api == nil:
		unknown = "the API server was never reached"
	}
	if unknown != "" {
		a.log.Info("keeping the last known configuration: cannot tell whether the agent is uninstalled",
			"file", a.snapshot.path, "why", unknown)
		return
	}
	// The answer is waited for until ctx ends only: the REST mapper may first discover the apps
	// group here, with a timeout of its own longer than what is left of the shutdown.
	type answer struct {
		why string
		err error
	}
	answered := make(chan answer, 1)
	go func() {
		why, err := uninstalled(ctx, a.api, a.namespace, a.pod)
		answered <- answer{why, err}
	}()
	var got answer
	select {
	case got = <-answered:
	case <-ctx.Done():
		got.err = fmt.Errorf("no answer from the API server: %w", ctx.Err())
	}
	why, err := got.why, got.err
	switch {
	case err != nil:
		a.log.Info("keeping the last known configuration: cannot tell whether the agent is uninstalled",
			"file", a.snapshot.path, "error", err.Error())
		return
	case why == "":
		return
	}
	a.mu.Lock()
	err = a.snapshot.disable()
	a.mu.Unlock()
	if err != nil {
		a.log.Error(err, "the agent is uninstalled, and its last known configuration holds VRRP passwords", "why", why)
		return
	}
	a.log.Info("the agent is uninstalled: removed the last known configuration, which holds VRRP passwords",
		"file", a.snapshot.path, "why", why)
}
