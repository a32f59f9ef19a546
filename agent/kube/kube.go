// Package kube is the agent's Kubernetes glue: it watches VirtualIPs, Nodes, the Secrets of its
// own namespace and the pods of its own node, feeds the referenced passwords to the node's data
// plane and answers its pods checks, and reports back: this node's entry of each VirtualIP's
// status (server-side apply under a field manager of its own), the master label on its own Node,
// and Events on transitions and on checks that change.
//
// The data plane never waits on the API server. With the API server unreachable the informers keep
// the last state they saw, the routers keep running on it, and status writes are retried until they
// land, latest state first.
package kube

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/node"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// Options configure the agent in a cluster.
// Resync (of node.Options) re-derives the routers this often even without events: interfaces
// change without the API server knowing.
type Options struct {
	node.Options
	Config *rest.Config
	// Namespace is the agent's own namespace. Authentication Secrets are read there and nowhere
	// else, with a namespaced Role: the agent on every node cannot read every Secret of the cluster.
	// Empty: unknown, and every secretRef is refused.
	Namespace string
	// Pod is the name of the agent's pod in Namespace. An agent that stops because its DaemonSet
	// is deleted removes SnapshotFile; empty: unknown, and the file is kept.
	Pod string
	// LastKnownMaxAge bounds the age of the last known configuration (SnapshotFile) the agent runs
	// on while the API server is away; 0 never runs on it.
	LastKnownMaxAge time.Duration
}

// managerShutdown bounds how long the manager's informers and writers may take to stop.
var managerShutdown = time.Second

// finalStatusTimeout bounds the write of the routers' last words at exit. It is kept back from the
// shutdown timeout, so that leaving, the last words and the stop hooks together stay within it.
const finalStatusTimeout = 3 * time.Second

// secretSyncWait is how long the first derivation waits for the Secrets of the agent's namespace
// after the VirtualIPs and Nodes: enough for a Role that works, so that routers with a password do
// not start refused, and short, so that routers without one run when the Role is missing.
var secretSyncWait = 5 * time.Second

// Run runs the agent until ctx ends, then leaves every router cleanly.
func Run(ctx context.Context, o Options) error {
	log := o.Log.WithValues("node", o.Name)
	ctrl.SetLogger(log)
	if o.Namespace == "" {
		log.Info("the agent's namespace is unknown (set --namespace or $POD_NAMESPACE): VirtualIPs with authentication are refused, the others run")
	}
	scheme, err := newScheme()
	if err != nil {
		return err
	}
	rep := newReporter(o.Name, log)
	o.OnStatus = rep.observe
	// The pods checks get their answers once the manager below has listed this node's pods; the
	// routers start before that, on the last known configuration, with those checks Unknown.
	pods := newPodSource(o.Name, log)
	o.Pods = pods
	if o.StatusReserve == 0 {
		o.StatusReserve = finalStatusTimeout
	}
	n, err := node.Start(o.Options)
	if err != nil {
		return err
	}
	resync := max(o.Resync, time.Second)
	a := &agent{plane: n, rep: rep, name: o.Name, namespace: o.Namespace, pod: o.Pod, log: log, snapshot: newSnapshot(o.StateDir),
		resync: resync, poke: make(chan struct{}, 1), secrets: newSecretStore(o.Namespace, secretGrace*resync, log)}
	defer goodbye(n, rep, log, a.forgetIfUninstalled)
	n.Waiting("waiting for the API server's VirtualIPs and Nodes")
	// Run on the last known configuration until the API server's view arrives: a node restarted
	// while the API server is away takes part at once, as keepalived would from its file, though
	// never as Master before the API server confirms it.
	stop := a.bridge(o.LastKnownMaxAge)
	defer stop()

	cfg := clientConfig(o.Config)
	mgr, err := retry(ctx, log, "creating the agent's manager", func() (ctrl.Manager, error) {
		return newManager(cfg, scheme, log, o.Name, o.Namespace, func(ctx context.Context, r *toolscache.Reflector, err error) {
			pods.watchError(r, err)
			a.secrets.watchError(ctx, r, err)
		})
	})
	if err != nil {
		return err
	}
	// The reporter writes with a request timeout of its own and reads the manager's cache.
	w, err := client.New(writeConfig(cfg), client.Options{Scheme: scheme, Mapper: mgr.GetRESTMapper(),
		Cache: &client.CacheOptions{Reader: mgr.GetCache()}})
	if err != nil {
		return fmt.Errorf("creating the agent's status writer: %w", err)
	}
	rep.connect(w, mgr.GetEventRecorder(EventController), n.Metrics())
	a.connect(mgr)
	pods.connect(mgr.GetCache())
	if err := mgr.Add(a); err != nil {
		return err
	}
	if err := mgr.Add(pods); err != nil {
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

func newScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := vrrpv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return scheme, nil
}

// newManager returns the agent's manager: its cache holds the VirtualIPs, slim Nodes, slim Pods
// of this node (nodeName) only, and the Secrets of the agent's namespace only (none when that is
// unknown). onWatchError hears every failed list or watch.
func newManager(cfg *rest.Config, scheme *runtime.Scheme, log logr.Logger, nodeName, namespace string,
	onWatchError toolscache.WatchErrorHandlerWithContext) (ctrl.Manager, error) {
	byObject := map[client.Object]cache.ByObject{
		// Other nodes matter only for their labels, InternalIPs and cordon; keep no more.
		&corev1.Node{}: {Transform: slimNode},
		// The pods checks look at this node's pods only, as the kubelet does: the API server
		// serves this selector from an index.
		&corev1.Pod{}: {Field: fields.OneTermEqualSelector("spec.nodeName", nodeName), Transform: slimPod},
	}
	if namespace != "" {
		// Watched, not polled, so that a rotated password reaches every node at once; in the
		// agent's namespace only, which a namespaced Role allows.
		byObject[&corev1.Secret{}] = cache.ByObject{Namespaces: map[string]cache.Config{namespace: {}}, Transform: slimSecret}
	}
	return ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Logger:                 log,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// The shutdown budget (--shutdown-timeout, then the final status) follows the pod's grace
		// period and starts once the manager has stopped: its informers must not eat into it.
		GracefulShutdownTimeout: &managerShutdown,
		// Discovery, which the mapper does when it first meets a kind (an Event's at shutdown),
		// gets the writes' timeout: the manager's client has none (clientConfig).
		MapperProvider: func(c *rest.Config, _ *http.Client) (meta.RESTMapper, error) {
			hc, err := rest.HTTPClientFor(writeConfig(c))
			if err != nil {
				return nil, fmt.Errorf("creating the discovery client: %w", err)
			}
			return apiutil.NewDynamicRESTMapper(c, hc)
		},
		Cache: cache.Options{
			DefaultTransform:         cache.TransformStripManagedFields(),
			DefaultWatchErrorHandler: onWatchError,
			ByObject:                 byObject,
		},
	})
}

// leaver is the part of the data plane that goodbye drives.
type leaver interface {
	Leave() error
	Deadline() time.Time
	Close() error
}

// goodbye leaves every router, writes their last words (STOPPED, the master label gone), and only
// then waits for the stop hooks: a stop hook that hangs must not use up the grace period before
// status says the node left, or status keeps a MASTER that is gone. All of it ends by the shutdown
// timeout's deadline: Leave ends finalStatusTimeout before it (node.Options.StatusReserve). also,
// when not nil, runs beside the last words, within their deadline.
func goodbye(n leaver, rep *reporter, log logr.Logger, also func(context.Context)) {
	log.Info("shutting down: releasing VIPs and running stop hooks")
	_ = n.Leave() // Close returns its error as well
	// The routers' last words outlive the manager: write them with a short deadline of their own,
	// within the shutdown timeout.
	deadline := time.Now().Add(finalStatusTimeout)
	if d := n.Deadline(); !d.IsZero() && d.Before(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	var wg sync.WaitGroup
	if also != nil {
		wg.Go(func() { also(ctx) })
	}
	if rep.c != nil && !rep.lastWords(ctx) {
		log.Info("could not write the final status; the controller removes stale entries")
	}
	wg.Wait()
	cancel()
	if err := n.Close(); err != nil {
		log.Error(err, "shutting down")
	}
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

// dataPlane is what the agent drives: node.Node.
type dataPlane interface {
	Plan(desired.Inputs) (desired.Result, bool)
	Run(desired.Result)
	Heartbeat()
	Waiting(reason string)
}

// agent derives the routers whenever a watched object changes.
type agent struct {
	plane     dataPlane
	cache     cache.Cache
	api       client.Reader // reads from the API server itself, not the cache
	rep       *reporter
	snapshot  *snapshot
	secrets   *secretStore
	name      string
	namespace string
	pod       string
	log       logr.Logger
	resync    time.Duration
	poke      chan struct{}

	// mu orders the derivations from the caches against the expiry of the last known
	// configuration, and guards the snapshot.
	mu     sync.Mutex
	synced bool // the routers were derived from synced caches once
}

// connect makes the agent read from mgr's cache and API reader.
func (a *agent) connect(mgr ctrl.Manager) {
	a.cache, a.api, a.secrets.reader = mgr.GetCache(), mgr.GetAPIReader(), mgr.GetCache()
}

// Start is the manager runnable: wait for the caches, then sync on every event and every resync.
func (a *agent) Start(ctx context.Context) error {
	// The Secrets are not among the caches that derivation waits for: routers without a password
	// must run even when the Role that lets the agent read Secrets is missing; the store tells the
	// others why they wait.
	var synced []toolscache.InformerSynced
	for _, obj := range []client.Object{&vrrpv1.VirtualIP{}, &corev1.Node{}} {
		inf, err := a.watch(ctx, obj)
		if err != nil || inf == nil {
			return err // nil: ctx ended, shutting down
		}
		synced = append(synced, inf.HasSynced)
	}
	if !toolscache.WaitForCacheSync(ctx.Done(), synced...) {
		return nil // shutting down
	}
	// The caches have just listed from the API server: what they hold is confirmed now.
	a.contact(time.Now())
	if a.namespace != "" {
		secrets, err := a.watch(ctx, &corev1.Secret{})
		if err != nil || secrets == nil {
			return err
		}
		a.secrets.setSynced(secrets.HasSynced)
		wait, cancel := context.WithTimeout(ctx, secretSyncWait)
		if !toolscache.WaitForCacheSync(wait.Done(), secrets.HasSynced) && ctx.Err() == nil {
			a.log.Info("the Secrets are not listed yet; deriving without them", "namespace", a.namespace, "error", a.secrets.listError())
		}
		cancel()
	}
	if a.api != nil {
		go a.confirmLoop(ctx)
	}
	tick := time.NewTicker(a.resync)
	defer tick.Stop()
	for {
		a.plane.Heartbeat()
		a.sync(ctx)
		select {
		case <-a.poke:
		case <-tick.C:
		case <-ctx.Done():
			return nil
		}
	}
}

// watch makes every change of obj's kind kick a derivation. It returns a nil informer when ctx
// ends first.
func (a *agent) watch(ctx context.Context, obj client.Object) (cache.Informer, error) {
	// With the API server away this fails at once; returning an error would stop the manager and
	// with it the routers running on the last known configuration.
	inf, err := retry(ctx, a.log, fmt.Sprintf("watching %T", obj), func() (cache.Informer, error) {
		return a.cache.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
	})
	if err != nil {
		return nil, nil
	}
	if err := a.handle(inf); err != nil {
		return nil, fmt.Errorf("handling %T events: %w", obj, err)
	}
	return inf, nil
}

func (a *agent) handle(inf cache.Informer) error {
	_, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { a.kick() },
		UpdateFunc: a.updated,
		DeleteFunc: func(any) { a.kick() },
	})
	return err
}

// updated kicks a derivation when an update changed what derivation reads. Most updates do not:
// every status write of every agent and of the controller, the kubelets' Node heartbeats. A
// derivation on each of them (cache lists, an interface dump, the snapshot's encoding) took a
// third of a core per agent through a handover of ten VirtualIPs, on the cores that the API server
// needed to write their status. A VirtualIP's status change still has the reporter check this
// node's entry, which someone may have removed.
func (a *agent) updated(old, obj any) {
	switch o := old.(type) {
	case *vrrpv1.VirtualIP:
		if n, ok := obj.(*vrrpv1.VirtualIP); ok && equality.Semantic.DeepEqual(derivedVirtualIP(*o), derivedVirtualIP(*n)) {
			a.rep.verifySoon()
			return
		}
	case *corev1.Node:
		if n, ok := obj.(*corev1.Node); ok && equality.Semantic.DeepEqual(derivedNode(*o), derivedNode(*n)) {
			return
		}
	}
	a.kick()
}

func (a *agent) kick() {
	select {
	case a.poke <- struct{}{}:
	default:
	}
}

// confirmLoop asks the API server for this node's Node every confirmEvery and, when it answers,
// confirms the last known configuration: a cache keeps serving its last state through an outage,
// so a derivation from it is no evidence that the API server is there.
func (a *agent) confirmLoop(ctx context.Context) {
	tick := time.NewTicker(confirmEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		at := time.Now()
		if err := a.askAPIServer(ctx); err != nil {
			a.log.V(1).Info("the API server does not answer; the last known configuration keeps its age", "error", err.Error())
			continue
		}
		a.contact(at)
	}
}

// confirmTimeout bounds askAPIServer's request.
const confirmTimeout = 5 * time.Second

// askAPIServer reads this node's Node's metadata from the API server itself: a small request the
// agent's ClusterRole allows. NotFound is an answer too.
func (a *agent) askAPIServer(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, confirmTimeout)
	defer cancel()
	err := a.api.Get(ctx, client.ObjectKey{Name: a.name}, &metav1.PartialObjectMetadata{TypeMeta: nodeTypeMeta})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading Node %s from the API server: %w", a.name, err)
	}
	return nil
}

// contact records that the API server answered at.
func (a *agent) contact(at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.snapshot.confirm(at); err != nil {
		a.log.Error(err, "confirming the last known configuration")
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
	in := desired.Inputs{Nodes: nodes.Items, VirtualIPs: vips.Items, Secrets: a.secrets.referenced(ctx, vips.Items),
		SecretNamespace: a.namespace}
	for i := range nodes.Items {
		if nodes.Items[i].Name == a.name {
			in.Node = &nodes.Items[i]
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.synced = true
	// The reporter learns first which routers exist, so that a router's last words after it was
	// removed do not recreate its status entry.
	res, ok := a.plane.Plan(in)
	if !ok {
		return // the interfaces could not be read: keep the routers as they are
	}
	res = a.secrets.explain(in, res)
	a.rep.participate(res)
	a.plane.Run(res)
	if err := a.snapshot.save(in, res); err != nil {
		a.log.Error(err, "saving the last known configuration")
	}
}

// clockSkew is how far in the future the last known configuration's modification time may be
// (a clock stepped back a little at boot) and still count as just confirmed.
const clockSkew = time.Minute

// bridge runs the last known configuration until the caches sync, if it is younger than maxAge,
// and stops its routers once it grows older than that with the caches still not synced. The
// returned func cancels the expiry. A maxAge of 0 never runs it: the file is removed and not
// written again, as it would keep passwords on disk for nothing.
func (a *agent) bridge(maxAge time.Duration) (stop func()) {
	stop = func() {}
	if maxAge <= 0 {
		if err := a.snapshot.disable(); err != nil {
			a.log.Error(err, "--last-known-max-age=0")
		}
		return stop
	}
	in, saved, ok, err := a.snapshot.load()
	switch {
	case err != nil:
		a.log.Error(err, "ignoring the last known configuration")
		return stop
	case !ok:
		return stop
	}
	now := time.Now()
	if saved.After(now.Add(clockSkew)) {
		// The clock went back, or the file was dated by hand: its age is unknown.
		a.log.Info("ignoring the last known configuration: dated in the future, its age is unknown", "file", a.snapshot.path,
			"modified", saved.UTC().Format(time.RFC3339), "now", now.UTC().Format(time.RFC3339))
		return stop
	}
	age := max(now.Sub(saved), 0)
	if age > maxAge {
		a.log.Info("ignoring the last known configuration: older than --last-known-max-age", "file", a.snapshot.path,
			"age", age.Round(time.Second).String(), "maxAge", maxAge.String())
		return stop
	}
	a.log.Info("running the last known configuration until the API server answers", "file", a.snapshot.path,
		"age", age.Round(time.Second).String())
	in.SecretNamespace = a.namespace
	a.mu.Lock()
	if res, ok := a.plane.Plan(in); ok {
		res = holdBack(a.secrets.explain(in, res))
		a.rep.participate(res)
		a.plane.Run(res)
	}
	a.secrets.seed(in.Secrets)
	a.mu.Unlock()
	t := time.AfterFunc(maxAge-age, func() { a.expire(maxAge) })
	return func() { t.Stop() }
}

// expire stops the routers of the last known configuration once it is too old, unless the caches
// have synced meanwhile.
func (a *agent) expire(maxAge time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.synced {
		return
	}
	a.log.Info("the last known configuration is now older than --last-known-max-age; stopping its routers until the API server answers",
		"maxAge", maxAge.String())
	a.rep.participate(desired.Result{})
	a.plane.Run(desired.Result{})
	a.plane.Waiting("waiting for the API server: the last known configuration expired")
}

// holdBack makes the routers of the last known configuration wait as Backups (RFC 9568 §6.4.1)
// and never preempt until the caches have synced: the snapshot may be hours old, and a node that
// was the best one then must not take the VIP from a live Master on its word. The first derivation
// from synced caches reconfigures the running routers in place.
func holdBack(res desired.Result) desired.Result {
	routers := slices.Clone(res.Routers)
	for i := range routers {
		routers[i].Config.StartAsMaster = false
		routers[i].Config.Preempt = false
	}
	res.Routers = routers
	return res
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
