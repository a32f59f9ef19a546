// Package kube is the agent's Kubernetes glue: it watches VirtualIPs and Nodes, reads the Secrets
// they reference, feeds them to the node's data plane, and reports back: this node's entry of each
// VirtualIP's status (server-side apply under a field manager of its own), the master label on its
// own Node, and Events on transitions.
//
// The data plane never waits on the API server. With the API server unreachable the informers keep
// the last state they saw, the routers keep running on it, and status writes are retried until they
// land, latest state first.
package kube

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/node"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// Options configure the agent in a cluster.
// Resync (of node.Options) re-derives the routers this often even without events: Secrets are
// read, not watched, and interfaces change without the API server knowing.
type Options struct {
	node.Options
	Config *rest.Config
}

// managerShutdown bounds how long the manager's informers and writers may take to stop.
var managerShutdown = time.Second

// Run runs the agent until ctx ends, then leaves every router cleanly.
func Run(ctx context.Context, o Options) error {
	log := o.Log.WithValues("node", o.Name)
	ctrl.SetLogger(log)
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := vrrpv1.AddToScheme(scheme); err != nil {
		return err
	}
	rep := newReporter(o.Name, log)
	o.OnStatus = rep.observe
	n, err := node.Start(o.Options)
	if err != nil {
		return err
	}
	defer func() {
		log.Info("shutting down: releasing VIPs and running stop hooks")
		if err := n.Close(); err != nil {
			log.Error(err, "shutting down")
		}
		// The routers' last words (STOPPED, the master label gone) outlive the manager: write them
		// with a short deadline of their own, so that status does not keep a MASTER that left.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if rep.c != nil && !rep.flush(ctx) {
			log.Info("could not write the final status; the controller removes stale entries")
		}
	}()
	// Run on the last known configuration until the API server's view arrives: a node restarted
	// while the API server is away takes part at once, as keepalived would from its file.
	snap := newSnapshot(o.StateDir)
	secrets := newSecretStore(nil)
	secrets.log = log
	n.Waiting("waiting for the API server's VirtualIPs and Nodes")
	if in, ok, err := snap.load(); err != nil {
		log.Error(err, "ignoring the last known configuration")
	} else if ok {
		log.Info("running the last known configuration until the API server answers", "file", snap.path)
		if res, ok := n.Plan(in); ok {
			rep.participate(res)
			n.Run(res)
		}
		secrets.seed(in.Secrets)
	}

	cfg := rest.CopyConfig(o.Config)
	// A request to an API server that went away must fail, not hang the status writer.
	cfg.Timeout = 5 * time.Second
	mgr, err := retry(ctx, log, "creating the agent's manager", func() (ctrl.Manager, error) {
		return ctrl.NewManager(cfg, ctrl.Options{
			Scheme:                 scheme,
			Logger:                 log,
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			// The shutdown budget (--shutdown-timeout, then the final status) follows the pod's grace
			// period and starts once the manager has stopped: its informers must not eat into it.
			GracefulShutdownTimeout: &managerShutdown,
			Cache: cache.Options{
				DefaultTransform: cache.TransformStripManagedFields(),
				ByObject: map[client.Object]cache.ByObject{
					// Other nodes matter only for their labels, InternalIPs and cordon; keep no more.
					&corev1.Node{}: {Transform: slimNode},
				},
			},
		})
	})
	if err != nil {
		return err
	}
	rep.connect(mgr.GetClient(), mgr.GetEventRecorder("vrrp-operator-agent"), n.Metrics())
	secrets.reader = mgr.GetAPIReader()
	a := &agent{node: n, cache: mgr.GetCache(), rep: rep, name: o.Name, log: log, snapshot: snap,
		resync: max(o.Resync, time.Second), poke: make(chan struct{}, 1), secrets: secrets}
	if err := mgr.Add(a); err != nil {
		return err
	}
	if err := mgr.Add(rep); err != nil {
		return err
	}
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running the agent: %w", err)
	}
	return nil
}

// retry calls f until it succeeds or ctx ends: an agent started while the API server is away waits
// for it instead of exiting, running the last known configuration meanwhile.
func retry[T any](ctx context.Context, log logr.Logger, what string, f func() (T, error)) (T, error) {
	backoff := time.Second
	for {
		v, err := f()
		if err == nil {
			return v, nil
		}
		log.Error(err, what+"; retrying", "in", backoff)
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("%s: %w", what, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// agent derives the routers whenever a watched object changes.
type agent struct {
	node     *node.Node
	cache    cache.Cache
	rep      *reporter
	snapshot *snapshot
	secrets  *secretStore
	name     string
	log      logr.Logger
	resync   time.Duration
	poke     chan struct{}
}

// Start is the manager runnable: wait for the caches, then sync on every event and every resync.
func (a *agent) Start(ctx context.Context) error {
	for _, obj := range []client.Object{&vrrpv1.VirtualIP{}, &corev1.Node{}} {
		// With the API server away this fails at once; returning would stop the manager and with it
		// the routers running on the last known configuration.
		inf, err := retry(ctx, a.log, fmt.Sprintf("watching %T", obj), func() (cache.Informer, error) {
			return a.cache.GetInformer(ctx, obj)
		})
		if err != nil {
			return nil // ctx ended: shutting down
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { a.kick() },
			UpdateFunc: func(any, any) { a.kick() },
			DeleteFunc: func(any) { a.kick() },
		}); err != nil {
			return fmt.Errorf("handling %T events: %w", obj, err)
		}
	}
	if !a.cache.WaitForCacheSync(ctx) {
		return fmt.Errorf("waiting for the agent's caches: %w", ctx.Err())
	}
	tick := time.NewTicker(a.resync)
	defer tick.Stop()
	for {
		a.node.Heartbeat()
		a.sync(ctx)
		select {
		case <-a.poke:
		case <-tick.C:
		case <-ctx.Done():
			return nil
		}
	}
}

func (a *agent) kick() {
	select {
	case a.poke <- struct{}{}:
	default:
	}
}

// sync derives this node's routers from the cache and applies them.
func (a *agent) sync(ctx context.Context) {
	var vips vrrpv1.VirtualIPList
	if err := a.cache.List(ctx, &vips); err != nil {
		a.log.Error(err, "listing VirtualIPs from the cache")
		return
	}
	var nodes corev1.NodeList
	if err := a.cache.List(ctx, &nodes); err != nil {
		a.log.Error(err, "listing Nodes from the cache")
		return
	}
	in := desired.Inputs{Nodes: nodes.Items, VirtualIPs: vips.Items, Secrets: a.secrets.referenced(ctx, vips.Items)}
	for i := range nodes.Items {
		if nodes.Items[i].Name == a.name {
			in.Node = &nodes.Items[i]
		}
	}
	// The reporter learns first which routers exist, so that a router's last words after it was
	// removed do not recreate its status entry.
	res, ok := a.node.Plan(in)
	if !ok {
		return // the interfaces could not be read: keep the routers as they are
	}
	a.rep.participate(res)
	a.node.Run(res)
	if err := a.snapshot.save(in); err != nil {
		a.log.Error(err, "saving the last known configuration")
	}
}

// slimNode keeps what the agent uses of a Node: name, labels, annotations, cordon, addresses.
func slimNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	return &corev1.Node{
		TypeMeta: n.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion,
			Labels: n.Labels, Annotations: n.Annotations},
		Spec:   corev1.NodeSpec{Unschedulable: n.Spec.Unschedulable},
		Status: corev1.NodeStatus{Addresses: n.Status.Addresses},
	}, nil
}
