// Package standalone runs the agent from a file of manifests instead of a cluster: for static pods
// that must hold a control-plane VIP before any API server exists, for hosts outside Kubernetes, and
// for tests. The file holds what a user would kubectl apply: VirtualIPs, the Secrets they reference
// and optionally Node objects (labels for nodeSelector, InternalIPs for unicast peers). Behaviour is
// the cluster's, minus status writes.
package standalone

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vrrp-dev/vrrp-operator/agent/addresses"
	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/hooks"
	"github.com/vrrp-dev/vrrp-operator/agent/host"
	"github.com/vrrp-dev/vrrp-operator/agent/manifests"
	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/agent/netif"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
)

// ShutdownTimeout bounds the goodbye at exit (priority-0 adverts, address removal, stop hooks): well
// inside Kubernetes' default 30 s grace period.
const ShutdownTimeout = 25 * time.Second

// Options configure a standalone agent.
type Options struct {
	ConfigFile      string
	NodeName        string
	HookDir         string
	StateDir        string
	MetricsAddr     string // "" or "0": no metrics endpoint
	AddressLifetime time.Duration
	Resync          time.Duration // how often the file and the interfaces are read again
	Log             logr.Logger
}

// Run runs the routers of the file for this node until ctx ends, then leaves them cleanly.
func Run(ctx context.Context, o Options) error {
	log := o.Log.WithValues("node", o.NodeName)
	objs, err := load(o.ConfigFile)
	if err != nil {
		return err
	}
	addrs, err := addresses.NewManager(o.StateDir, log)
	if err != nil {
		return fmt.Errorf("opening the address record: %w", err)
	}
	defer addrs.Close()
	// A previous agent that was killed may have left VIPs behind: remove them before joining, so
	// this node never answers for a VIP it does not hold.
	left, err := addrs.RemoveLeftovers()
	if err != nil {
		return fmt.Errorf("removing VIPs a previous agent left: %w", err)
	}
	for _, e := range left {
		log.Info("removed VIP left by a previous agent", "address", e.Prefix, "interface", e.Interface)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	stopMetrics, err := serveMetrics(o.MetricsAddr, reg, log)
	if err != nil {
		return err
	}
	defer stopMetrics()

	exclude := func(a netip.Addr) bool {
		for _, e := range addrs.Held() {
			if e.Prefix.Addr() == a {
				return true
			}
		}
		return false
	}
	ann := &host.Announcers{}
	defer ann.Close()
	var sp *speaker.Speaker
	runner := hooks.NewRunner(o.HookDir, log, func(r hooks.Result) { sp.HookDone(r) })
	sp = speaker.New(speaker.Options{
		Node: o.NodeName, Addresses: addrs, Announcer: ann, Hooks: runner,
		Network: &host.Network{Exclude: exclude, Log: log}, Metrics: m, Log: log,
		AddressLifetime: o.AddressLifetime,
		OnStatus: func(st speaker.Status) {
			log.V(1).Info("router status", "virtualIP", st.Router, "state", st.State.String(), "priority", st.Priority, "reason", st.Reason)
		},
	})

	reported := map[string]string{}
	apply := func() {
		if fresh, err := load(o.ConfigFile); err != nil {
			log.Error(err, "reading the configuration again; keeping the last good one")
		} else {
			objs = fresh
		}
		ifaces, err := netif.Interfaces(exclude)
		if err != nil {
			log.Error(err, "listing interfaces")
		}
		in := desired.Inputs{NodeName: o.NodeName, Nodes: objs.Nodes, VirtualIPs: objs.VirtualIPs, Secrets: objs.Secrets}
		for _, i := range ifaces {
			in.Interfaces = append(in.Interfaces, desired.Interface{Name: i.Name, Up: i.Up, Prefixes: i.Prefixes})
		}
		res := desired.Derive(in)
		now := map[string]string{}
		for _, e := range res.Errors {
			now[e.Name] = e.Error()
			if reported[e.Name] != e.Error() {
				log.Error(e.Err, "VirtualIP cannot run on this node", "virtualIP", e.Name, "reason", e.Reason())
			}
		}
		reported = now
		sp.Apply(res.Routers)
	}
	apply()
	log.Info("agent running standalone", "config", o.ConfigFile, "virtualIPs", len(objs.VirtualIPs))
	tick := time.NewTicker(max(o.Resync, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			apply()
		case <-ctx.Done():
			log.Info("shutting down: releasing VIPs and running stop hooks")
			sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
			defer cancel()
			if err := sp.Shutdown(sctx); err != nil {
				return fmt.Errorf("shutting down: %w", err)
			}
			return nil
		}
	}
}

func load(path string) (manifests.Objects, error) {
	f, err := os.Open(path)
	if err != nil {
		return manifests.Objects{}, fmt.Errorf("reading configuration: %w", err)
	}
	defer f.Close()
	objs, err := manifests.Load(f)
	if err != nil {
		return manifests.Objects{}, fmt.Errorf("loading %s: %w", path, err)
	}
	var errs []error
	for i := range objs.VirtualIPs {
		manifests.Default(&objs.VirtualIPs[i])
		if err := manifests.Validate(&objs.VirtualIPs[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return manifests.Objects{}, fmt.Errorf("%s: %w", path, err)
	}
	return objs, nil
}

// serveMetrics serves /metrics and /healthz on addr until the returned function is called.
func serveMetrics(addr string, reg *prometheus.Registry, log logr.Logger) (func(), error) {
	if addr == "" || addr == "0" {
		return func() {}, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(err, "serving metrics")
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
