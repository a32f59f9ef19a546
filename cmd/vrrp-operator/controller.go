package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/controllers"
	"github.com/vrrp-dev/vrrp-operator/internal/dark"
)

func runController(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the cluster (default: in-cluster, else $KUBECONFIG or ~/.kube/config)")
	metricsAddr := fs.String("metrics-bind-address", ":9473", "address of the Prometheus metrics endpoint; 0 turns it off")
	probeAddr := fs.String("health-probe-bind-address", ":9474", "address of /healthz and /readyz; 0 turns them off")
	leaderElect := fs.Bool("leader-elect", true, "elect one active controller among replicas")
	namespace := fs.String("leader-election-namespace", os.Getenv("POD_NAMESPACE"), "namespace of the leader election Lease (default $POD_NAMESPACE)")
	agentNamespace := fs.String("agent-namespace", os.Getenv("POD_NAMESPACE"), "namespace of the agent pods (default $POD_NAMESPACE; empty: every namespace)")
	agentSelector := fs.String("agent-selector", dark.DefaultAgentPodSelector, "label selector of the agent pods: a node without a running one has gone dark; empty: pods are not read, only whether a Node's kubelet still posts status (Ready Unknown: gone dark)")
	verbosity := fs.Int("v", 0, "log verbosity")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts := controllers.Options{AgentNamespace: *agentNamespace}
	if *agentSelector != "" {
		sel, err := labels.Parse(*agentSelector)
		if err != nil {
			return fmt.Errorf("--agent-selector: %w", err)
		}
		opts.AgentPods = sel
	}
	log := logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.Level(-*verbosity)}))
	ctrl.SetLogger(log)
	cfg, err := restConfig(*kubeconfig)
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := vrrpv1.AddToScheme(scheme); err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Logger:                  log,
		Cache:                   controllers.CacheOptions(),
		Metrics:                 metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress:  *probeAddr,
		LeaderElection:          *leaderElect,
		LeaderElectionID:        "vrrp-operator-controller.vrrp.dev",
		LeaderElectionNamespace: *namespace,
		// The status summary is rebuilt from scratch on every reconcile: a new leader needs nothing
		// from the old one, so it may release the lease at once on shutdown.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating the controller's manager: %w", err)
	}
	if err := controllers.SetupWithOptions(mgr, opts); err != nil {
		return err
	}
	if *probeAddr != "0" {
		if err := mgr.AddHealthzCheck("ping", func(*http.Request) error { return nil }); err != nil {
			return err
		}
		if err := mgr.AddReadyzCheck("ping", func(*http.Request) error { return nil }); err != nil {
			return err
		}
	}
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running the controller: %w", err)
	}
	return nil
}
