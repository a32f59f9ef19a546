package kube

import (
	"time"

	"k8s.io/client-go/rest"
)

// clientConfig is the agent's copy of the cluster's client configuration, for its manager: the
// informers' lists and watches, and the Events. It has no request timeout, whatever the
// kubeconfig says: client-go makes it the HTTP client's, which ends a watch's response too, and a
// timeout of 5 s had every agent open its four watches again every 5 s, about 800 requests a
// second from 1000 nodes while nothing changed. The writes that must not hang go through
// writeConfig.
func clientConfig(cluster *rest.Config) *rest.Config {
	cfg := rest.CopyConfig(cluster)
	cfg.Timeout = 0
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

// writeTimeout bounds each write of the reporter: status entries and master labels.
const writeTimeout = 5 * time.Second

// writeConfig is cfg (clientConfig's) for the reporter's writes: a request to an API server that
// went away must fail, not hang the status writer.
func writeConfig(cfg *rest.Config) *rest.Config {
	w := rest.CopyConfig(cfg)
	w.Timeout = writeTimeout
	return w
}
