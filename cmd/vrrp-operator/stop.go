package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vrrp-dev/vrrp-operator/agent/kube"
)

// runStopAgents is the chart's pre-delete hook: every agent stops gracefully before Helm removes
// their permissions.
func runStopAgents(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("stop-agents", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the cluster (default: in-cluster, else $KUBECONFIG or ~/.kube/config)")
	namespace := fs.String("namespace", os.Getenv("POD_NAMESPACE"), "namespace of the agent DaemonSet (default $POD_NAMESPACE)")
	name := fs.String("daemonset", "vrrp-operator-agent", "name of the agent DaemonSet")
	release := fs.String("release", "", "Helm release whose DaemonSet this may delete (the chart passes its own; empty: any release, for the hooks of older charts)")
	releaseNamespace := fs.String("release-namespace", "", "namespace of that release (default --namespace)")
	selector := fs.String("selector", "app.kubernetes.io/component=agent", "label selector of the agent pods")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for the agents to stop")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *namespace == "" {
		return fmt.Errorf("no --namespace and no $POD_NAMESPACE")
	}
	if *releaseNamespace == "" {
		*releaseNamespace = *namespace
	}
	sel, err := labels.Parse(*selector)
	if err != nil {
		return fmt.Errorf("--selector %q: %w", *selector, err)
	}
	cfg, err := restConfig(*kubeconfig)
	if err != nil {
		return err
	}
	// The client's default scheme knows DaemonSets and Pods, all it touches.
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return fmt.Errorf("creating the client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	start := time.Now()
	log := logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, nil))
	err = kube.StopAgents(ctx, c, log, *namespace, *name, kube.Release{Name: *release, Namespace: *releaseNamespace}, sel, 500*time.Millisecond)
	if errors.Is(err, kube.ErrNotHelmManaged) {
		// Not a failure: rendered and applied without Helm, the hook runs right after the install,
		// and a failed Job would only be retried to the same answer.
		log.Info("stopped no agent and deleted nothing", "reason", err.Error())
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Printf("the agents of DaemonSet %s/%s stopped in %v\n", *namespace, *name, time.Since(start).Round(time.Millisecond))
	return nil
}
