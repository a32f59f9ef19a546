package main

import (
	"testing"
	"time"
)

// vrrp-operator agent takes vrrp-agent's flags (standalone.Flags, whose values and checks
// agent/standalone tests) beside the cluster's, and refuses what standalone.Flags refuses.
func TestAgentFlagsAreVrrpAgentsAndTheClusters(t *testing.T) {
	type parsed struct {
		name, config, metrics, kubeconfig, namespace, pod string
		shutdown, maxAge                                  time.Duration
	}
	args := []string{"--node-name=primary", "--config=/etc/vrrp/vips.yaml", "--metrics-bind-address=198.51.100.253:9472",
		"--shutdown-timeout=85s", "--kubeconfig=/etc/kubernetes/agent.conf", "--namespace=vrrp-system", "--pod-name=vrrp-agent-x7k2p", "--last-known-max-age=30m"}
	f, err := parseAgentFlags(args)
	if err != nil {
		t.Fatalf("parseAgentFlags(%q): %v", args, err)
	}
	want := parsed{name: "primary", config: "/etc/vrrp/vips.yaml", metrics: "198.51.100.253:9472", kubeconfig: "/etc/kubernetes/agent.conf",
		namespace: "vrrp-system", pod: "vrrp-agent-x7k2p", shutdown: 85 * time.Second, maxAge: 30 * time.Minute}
	got := parsed{name: f.Name, config: f.ConfigFile, metrics: f.MetricsAddr, kubeconfig: f.kubeconfig,
		namespace: f.namespace, pod: f.pod, shutdown: f.ShutdownTimeout, maxAge: f.lastKnownMaxAge}
	if got != want {
		t.Errorf("parseAgentFlags(%q) = %+v, want %+v", args, got, want)
	}
	for _, bad := range [][]string{{"--shutdown-timeout=0s"}, {"--metrics-bind-address=$(HOST_IP):9472"}, {"--address-lifetime=2s"}, {"extra"}} {
		if _, err := parseAgentFlags(append([]string{"--node-name=primary"}, bad...)); err == nil {
			t.Errorf("parseAgentFlags(%q) succeeded, want an error", bad)
		}
	}
}
