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
	"os/signal"
	"runtime/debug"
	"slices"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/manifests"
	"github.com/vrrp-dev/vrrp-operator/agent/node"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
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
	// SIGHUP is keepalived's reload (a unit's ExecReload=kill -HUP): the file is read at once,
	// where the signal's default would end the agent without leaving (no priority-0 advert, no
	// stop hook, the VIP held until its lifetime ran out).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			log.Info("SIGHUP: reading the configuration again")
			apply()
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
	// seen is when each VirtualIP was first loaded: a file has no creation times, and a router
	// that runs must keep its VRID and addresses against one added later (desired.Derive orders
	// them by creation time, then by name).
	seen map[string]time.Time
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
	if c.raw != nil {
		if err := regressed(c.objs, objs); err != nil {
			return manifests.Objects{}, fmt.Errorf("%s: %w", c.path, err)
		}
	}
	c.stamp(objs.VirtualIPs)
	c.raw, c.objs = raw, objs
	return objs, nil
}

// stamp gives the VirtualIPs without a creation time the time they were first loaded; those of
// the first load share one, and go by name.
func (c *configFile) stamp(vips []vrrpv1.VirtualIP) {
	if c.seen == nil {
		c.seen = map[string]time.Time{}
	}
	now, names := time.Now(), make(map[string]bool, len(vips))
	for i := range vips {
		v := &vips[i]
		names[v.Name] = true
		if !v.CreationTimestamp.IsZero() {
			continue
		}
		at, ok := c.seen[v.Name]
		if !ok {
			at = now
			c.seen[v.Name] = at
		}
		v.CreationTimestamp = metav1.NewTime(at)
	}
	for name := range c.seen {
		if !names[name] {
			delete(c.seen, name) // one removed and added again is new
		}
	}
}

// regressed refuses a file that would stop what the last good one runs by mistake rather than by
// intent: one with no VirtualIP at all where the last had some (a file being written: the shell
// empties it first, and a failed `convert > file` leaves it empty), and one whose VirtualIP no
// longer finds the password that it found (a key renamed, a Secret left out). The last good file
// goes on running, and the error is logged at each resync until the file is right.
func regressed(last, next manifests.Objects) error {
	if len(next.VirtualIPs) == 0 && len(last.VirtualIPs) > 0 {
		return fmt.Errorf("no VirtualIP, where the last good file had %d (remove them by listing none other than what stays, or stop the agent)", len(last.VirtualIPs))
	}
	for _, v := range next.VirtualIPs {
		i := slices.IndexFunc(last.VirtualIPs, func(o vrrpv1.VirtualIP) bool { return o.Name == v.Name })
		// No authentication at all is an intent (version 3, or PASS turned off), not a lost key.
		if i < 0 || !hasPassword(last, &last.VirtualIPs[i]) || v.Spec.Authentication == nil || hasPassword(next, &v) {
			continue
		}
		ref := v.Spec.Authentication.SecretRef
		return fmt.Errorf("VirtualIP %s: Secret %s/%s has no key %q in the file, where the last good file had it", v.Name, ref.Namespace, ref.Name, desired.SecretKey(ref))
	}
	return nil
}

// hasPassword says whether v authenticates with a password objs hold.
func hasPassword(objs manifests.Objects, v *vrrpv1.VirtualIP) bool {
	a := v.Spec.Authentication
	if a == nil {
		return false
	}
	i := slices.IndexFunc(objs.Secrets, func(s corev1.Secret) bool {
		return s.Namespace == a.SecretRef.Namespace && s.Name == a.SecretRef.Name
	})
	return i >= 0 && len(objs.Secrets[i].Data[desired.SecretKey(a.SecretRef)]) > 0
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
