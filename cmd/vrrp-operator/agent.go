package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/vrrp-dev/vrrp-operator/agent/kube"
	"github.com/vrrp-dev/vrrp-operator/agent/standalone"
)

// agentFlags are the agent's command line: cmd/vrrp-agent's, which standalone.Flags registers, and
// the cluster's.
type agentFlags struct {
	standalone.Options
	kubeconfig      string
	namespace       string
	pod             string
	lastKnownMaxAge time.Duration
}

// defaultLastKnownMaxAge bounds the last known configuration: a bridge over an API server outage,
// not a configuration of its own.
const defaultLastKnownMaxAge = 4 * time.Hour

// serviceAccountNamespace is where a pod's own namespace is mounted with its token.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

func parseAgentFlags(args []string) (agentFlags, error) {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	var f agentFlags
	options := standalone.Flags(fs)
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: in-cluster, else $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&f.namespace, "namespace", os.Getenv("POD_NAMESPACE"),
		"the agent's own namespace, the only one whose Secrets it reads (default $POD_NAMESPACE, else the pod's service account namespace; none: VirtualIPs with authentication are refused)")
	fs.StringVar(&f.pod, "pod-name", os.Getenv("POD_NAME"),
		"the agent's own pod, in --namespace (default $POD_NAME): an agent that stops because its DaemonSet is deleted removes state-dir/"+kube.SnapshotFile+", which holds VRRP passwords; none: the file is kept")
	fs.DurationVar(&f.lastKnownMaxAge, "last-known-max-age", defaultLastKnownMaxAge,
		"run the last known configuration (state-dir/"+kube.SnapshotFile+") while the API server is away only if the API server answered within this; 0 never runs it and keeps no such file")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	o, err := options()
	if err != nil {
		return f, err
	}
	f.Options = o
	if f.lastKnownMaxAge < 0 {
		return f, fmt.Errorf("--last-known-max-age %v: want 0 (never) or more", f.lastKnownMaxAge)
	}
	if f.namespace == "" && o.ConfigFile == "" {
		// In a pod without $POD_NAMESPACE (an older manifest), the token's mount says it.
		if b, err := os.ReadFile(serviceAccountNamespace); err == nil {
			f.namespace = strings.TrimSpace(string(b))
		}
	}
	return f, nil
}

func runAgent(ctx context.Context, args []string) error {
	f, err := parseAgentFlags(args)
	if err != nil {
		return err
	}
	o := f.Options
	if o.ConfigFile != "" {
		return standalone.Run(ctx, o)
	}
	cfg, err := restConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	return kube.Run(ctx, kube.Options{Options: o.Options, Config: cfg, Namespace: f.namespace, Pod: f.pod, LastKnownMaxAge: f.lastKnownMaxAge})
}
