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
	"os"
	"time"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/manifests"
	"github.com/vrrp-dev/vrrp-operator/agent/node"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
)

// Options configure a standalone agent.
type Options struct {
	node.Options // Resync is how often the file and the interfaces are read again
	ConfigFile   string
}

// Run runs the routers of the file for this node until ctx ends, then leaves them cleanly.
func Run(ctx context.Context, o Options) error {
	objs, err := load(o.ConfigFile)
	if err != nil {
		return err
	}
	log := o.Log.WithValues("node", o.Name)
	o.OnStatus = func(st speaker.Status) {
		log.V(1).Info("router status", "virtualIP", st.Router, "state", st.State.String(), "priority", st.Priority, "reason", st.Reason)
	}
	n, err := node.Start(o.Options)
	if err != nil {
		return err
	}
	apply := func() {
		n.Heartbeat()
		if fresh, err := load(o.ConfigFile); err != nil {
			log.Error(err, "reading the configuration again; keeping the last good one")
		} else {
			objs = fresh
		}
		n.Apply(desired.Inputs{Nodes: objs.Nodes, VirtualIPs: objs.VirtualIPs, Secrets: objs.Secrets, Standalone: true})
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
			return n.Close()
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
