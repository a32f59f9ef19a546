package kube

import (
	"time"

	"k8s.io/client-go/rest"
)

// clientConfig is the agent's copy of the cluster's client configuration.
func clientConfig(cluster *rest.Config) *rest.Config {
	cfg := rest.CopyConfig(cluster)
	// A request to an API server that went away must fail, not hang the status writer.
	cfg.Timeout = 5 * time.Second
	// A handover writes one entry and one Event per VirtualIP at once: client-go's default limit
	// (5 requests a second after a burst of 10, per resource), which a configuration read from a
	// kubeconfig file gets, held them back for seconds. The API server's priority and fairness
	// limits the agents instead, as it does with the in-cluster configuration, which
	// controller-runtime's GetConfig loads with the client's limit off.
	if cfg.QPS == 0 && cfg.RateLimiter == nil {
		cfg.QPS = -1
	}
	return cfg
}
