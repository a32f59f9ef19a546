package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/vrrp-dev/vrrp-operator/agent/kube"
	"github.com/vrrp-dev/vrrp-operator/agent/node"
	"github.com/vrrp-dev/vrrp-operator/agent/standalone"
)

// defaultAgentMetricsAddr keeps the metrics and health endpoints of a hostNetwork agent off the
// node's other addresses, the VIPs included; the chart passes the node's own IP instead.
const defaultAgentMetricsAddr = "127.0.0.1:9472"

// agentFlags are the agent's command line.
type agentFlags struct {
	standalone.Options
	kubeconfig      string
	namespace       string
	lastKnownMaxAge time.Duration
	verbosity       int
}

// defaultLastKnownMaxAge bounds the last known configuration: a bridge over an API server outage,
// not a configuration of its own.
const defaultLastKnownMaxAge = 4 * time.Hour

// serviceAccountNamespace is where a pod's own namespace is mounted with its token.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

func parseAgentFlags(args []string) (agentFlags, error) {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	var f agentFlags
	o := &f.Options
	fs.StringVar(&o.ConfigFile, "config", "", "run standalone from this YAML stream of VirtualIPs, Secrets and Nodes instead of a cluster")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: in-cluster, else $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&f.namespace, "namespace", os.Getenv("POD_NAMESPACE"),
		"the agent's own namespace, the only one whose Secrets it reads (default $POD_NAMESPACE, else the pod's service account namespace; none: VirtualIPs with authentication are refused)")
	fs.DurationVar(&f.lastKnownMaxAge, "last-known-max-age", defaultLastKnownMaxAge,
		"run the last known configuration (state-dir/"+kube.SnapshotFile+") while the API server is away only if the API server answered within this; 0 never runs it and keeps no such file")
	fs.StringVar(&o.Name, "node-name", os.Getenv("NODE_NAME"), "this node's name (default $NODE_NAME, else the host name)")
	fs.StringVar(&o.HookDir, "hook-dir", "/etc/vrrp-operator/hooks", "directory of the programs hooks may run; nothing outside it runs")
	fs.StringVar(&o.StateDir, "state-dir", "/var/lib/vrrp-operator", "directory that records the VIPs this agent added, so a restart removes leftovers")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", defaultAgentMetricsAddr,
		"address of /metrics, /healthz and /readyz: IP:PORT (IPv6 with or without brackets: the last colon starts the port), :PORT for every address, 0 for none")
	fs.DurationVar(&o.AddressLifetime, "address-lifetime", 6*time.Second, "valid lifetime of VIPs, refreshed by the Master: a killed agent's VIP disappears after it")
	fs.DurationVar(&o.Resync, "resync", 10*time.Second, "how often the routers are derived again without an event (interfaces, Secrets, the --config file)")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", node.DefaultShutdownTimeout,
		"how long leaving at exit (priority-0 adverts, VIPs removed, the final status, stop hooks) may take; keep it below the pod's terminationGracePeriodSeconds")
	fs.IntVar(&f.verbosity, "v", 0, "log verbosity: 0 transitions, 1 details, 4 every packet")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.AddressLifetime != 0 && o.AddressLifetime < 3*time.Second {
		// The Master refreshes at a third of it, and the kernel counts lifetimes in whole seconds.
		return f, fmt.Errorf("--address-lifetime %v: want 0 (forever) or at least 3s", o.AddressLifetime)
	}
	if o.ShutdownTimeout <= 0 {
		return f, fmt.Errorf("--shutdown-timeout %v: want more than 0", o.ShutdownTimeout)
	}
	if f.lastKnownMaxAge < 0 {
		return f, fmt.Errorf("--last-known-max-age %v: want 0 (never) or more", f.lastKnownMaxAge)
	}
	if f.namespace == "" && o.ConfigFile == "" {
		// In a pod without $POD_NAMESPACE (an older manifest), the token's mount says it.
		if b, err := os.ReadFile(serviceAccountNamespace); err == nil {
			f.namespace = strings.TrimSpace(string(b))
		}
	}
	if _, err := node.ParseBindAddress(o.MetricsAddr); err != nil {
		return f, fmt.Errorf("--metrics-bind-address: %w", err)
	}
	if o.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return f, fmt.Errorf("no --node-name and no host name: %w", err)
		}
		o.Name = h
	}
	return f, nil
}

func runAgent(ctx context.Context, args []string) error {
	f, err := parseAgentFlags(args)
	if err != nil {
		return err
	}
	o := f.Options
	o.Log = logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.Level(-f.verbosity)}))
	if o.ConfigFile != "" {
		return standalone.Run(ctx, o)
	}
	cfg, err := restConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	return kube.Run(ctx, kube.Options{Options: o.Options, Config: cfg, Namespace: f.namespace, LastKnownMaxAge: f.lastKnownMaxAge})
}
