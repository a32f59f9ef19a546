package standalone

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/go-logr/logr"

	"github.com/vrrp-dev/vrrp-operator/agent/node"
)

// DefaultMetricsAddr keeps the metrics and health endpoints of a hostNetwork agent off the node's
// other addresses, the VIPs included; the chart passes the node's own IP instead.
const DefaultMetricsAddr = "127.0.0.1:9472"

// Flags registers on fs the flags that vrrp-agent and `vrrp-operator agent` share: --config and
// those of the data plane. Once fs is parsed, the returned function checks them and returns the
// Options, with a logger to stderr at --v. Whether --config is required is the caller's to say:
// without it, `vrrp-operator agent` runs in a cluster.
func Flags(fs *flag.FlagSet) func() (Options, error) {
	var o Options
	var verbosity int
	fs.StringVar(&o.ConfigFile, "config", "", "run standalone from this YAML stream of VirtualIPs, Secrets and Nodes instead of a cluster")
	fs.StringVar(&o.Name, "node-name", os.Getenv("NODE_NAME"), "this node's name (default $NODE_NAME, else the host name)")
	fs.StringVar(&o.HookDir, "hook-dir", "/etc/vrrp-operator/hooks", "directory of the programs hooks may run; nothing outside it runs")
	fs.StringVar(&o.StateDir, "state-dir", "/var/lib/vrrp-operator", "directory that records the VIPs this agent added, so a restart removes leftovers")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", DefaultMetricsAddr,
		"address of /metrics, /healthz and /readyz: IP:PORT (IPv6 with or without brackets: the last colon starts the port), :PORT for every address, 0 for none")
	fs.DurationVar(&o.AddressLifetime, "address-lifetime", 6*time.Second, "valid lifetime of VIPs, refreshed by the Master: a killed agent's VIP disappears after it")
	fs.DurationVar(&o.Resync, "resync", 10*time.Second, "how often the routers are derived again without an event (interfaces, Secrets, the --config file)")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", node.DefaultShutdownTimeout,
		"how long leaving at exit (priority-0 adverts, VIPs removed, the final status, stop hooks) may take; keep it below the pod's terminationGracePeriodSeconds")
	fs.IntVar(&verbosity, "v", 0, "log verbosity: 0 transitions, 1 details, 4 every packet")
	return func() (Options, error) {
		if fs.NArg() > 0 {
			return o, fmt.Errorf("unexpected arguments %q", fs.Args())
		}
		if o.AddressLifetime != 0 && o.AddressLifetime < 3*time.Second {
			// The Master refreshes at a third of it, and the kernel counts lifetimes in whole seconds.
			return o, fmt.Errorf("--address-lifetime %v: want 0 (forever) or at least 3s", o.AddressLifetime)
		}
		if o.ShutdownTimeout <= 0 {
			return o, fmt.Errorf("--shutdown-timeout %v: want more than 0", o.ShutdownTimeout)
		}
		if _, err := node.ParseBindAddress(o.MetricsAddr); err != nil {
			return o, fmt.Errorf("--metrics-bind-address: %w", err)
		}
		if o.Name == "" {
			h, err := os.Hostname()
			if err != nil {
				return o, fmt.Errorf("no --node-name and no host name: %w", err)
			}
			o.Name = h
		}
		o.Log = logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.Level(-verbosity)}))
		return o, nil
	}
}
