// Package standalone runs the agent from a file of manifests instead of a cluster: for static pods
// that must hold a control-plane VIP before any API server exists, for hosts outside Kubernetes, and
// for tests. The file holds what a user would kubectl apply: VirtualIPs, the Secrets they reference
// and optionally Node objects (labels for nodeSelector, InternalIPs for unicast peers). Behaviour is
// the cluster's, minus status writes.
package standalone

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
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

// gcPercent is the standalone agent's GOGC unless the environment sets one. With 250 routers a
// Master allocates about 1 MiB at each resync (the routers derived again, the interfaces listed;
// 11 KiB a second without resyncs, measured through go_memstats_alloc_bytes_total) and keeps about
// 5 MiB of heap live: at Go's default of 100 the garbage grew toward the live heap's size between
// collections, and BenchmarkFootprint saw the Master's resident memory swing by 3 MiB (22.8 to
// 26.1 MiB). At 50 a collection, about a millisecond of CPU, comes every three resyncs or so. The
// cluster agent keeps the default: its informers allocate with every watch event.
const gcPercent = 50

// Run runs the routers of the file for this node until ctx ends, then leaves them cleanly. It sets
// the process's GOGC to gcPercent unless the environment names one.
func Run(ctx context.Context, o Options) error {
	if _, set := os.LookupEnv("GOGC"); !set {
		defer debug.SetGCPercent(debug.SetGCPercent(gcPercent))
	}
	cfg := &configFile{path: o.ConfigFile}
	objs, err := cfg.load()
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
		if fresh, err := cfg.load(); err != nil {
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

// configFile is the --config file as last loaded. Every resync reads it again, but parses it only
// when its bytes changed: parsing 250 VirtualIPs every resync was a quarter of a steady Backup's CPU.
type configFile struct {
	path string
	raw  []byte
	objs manifests.Objects
}

// load returns the file's objects, defaulted and validated; unchanged bytes return the objects of
// the last load, which nothing modifies (deriving reads them, as it reads an informer's cache).
func (c *configFile) load() (manifests.Objects, error) {
	raw, err := os.ReadFile(c.path)
	if err != nil {
		return manifests.Objects{}, fmt.Errorf("reading configuration: %w", err)
	}
	if c.raw != nil && bytes.Equal(raw, c.raw) {
		return c.objs, nil
	}
	objs, err := parse(c.path, raw)
	if err != nil {
		return manifests.Objects{}, err
	}
	c.raw, c.objs = raw, objs
	return objs, nil
}

func parse(path string, raw []byte) (manifests.Objects, error) {
	objs, err := manifests.Load(bytes.NewReader(raw))
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
