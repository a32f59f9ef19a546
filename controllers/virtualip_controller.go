package controllers

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/internal/dark"
)

const (
	// FieldManager owns status.master, status.observedGeneration and status.conditions. The agents
	// own their status.nodes entries as "vrrp.dev/agent-<node>".
	FieldManager = "vrrp.dev/controller"
	// RecorderName is the reportingController of the Events the controller records.
	RecorderName = "vrrp-operator-controller"
	// eventAction is the events.k8s.io action of every Event: the controller summarised the
	// agents' reports.
	eventAction = "Summarize"
	// conflictRetry is how soon a reconcile that lost a race with another writer runs again at the
	// latest. The watch event of that write requeues it at once: the cache held an older object
	// when the reconcile read it, so the newer one's event has not been handled yet.
	conflictRetry = 5 * time.Second
)

// VirtualIPReconciler summarises the agents' status entries of each VirtualIP into status.master,
// status.observedGeneration and the Ready and Degraded conditions, records an Event when a condition
// changes, and removes the entries of nodes that left or no longer match spec.nodeSelector.
type VirtualIPReconciler struct {
	Client   client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	// Cluster reads Nodes and, when Options.AgentPods is set, the agent pods.
	Cluster client.Reader
	// AgentPods tells whether Cluster holds the agent pods, which then decide a node's liveness too.
	AgentPods bool
	// Clock stamps conditions and times handovers.
	Clock clock.PassiveClock
	// ReportLatency: see Options.
	ReportLatency time.Duration

	handovers handovers
}

// Options tune the controller; the zero value is valid.
type Options struct {
	// AgentPods selects the pods of the agent DaemonSet (dark.DefaultAgentPodSelector for the chart and
	// config/agent). A node with no running agent pod has gone dark (dark.AgentGone). Nil: pods are
	// not read, for agents that do not run as pods; only a Node's Ready condition then tells.
	AgentPods labels.Selector
	// AgentNamespace is the namespace of the agent pods; empty: every namespace. The chart runs
	// them in the controller's own, where a Role lets the controller read pods.
	AgentNamespace string
	// Clock; nil: the real clock. Tests pass a fake one.
	Clock clock.PassiveClock
	// ReportLatency is how much longer than the protocol's bound a handover's state (no Master, two
	// Masters) must last before the controller reports it; zero: 1s. See handoverBound.
	ReportLatency time.Duration
}

// Setup registers a VirtualIPReconciler with mgr, with the zero Options: Nodes decide liveness,
// pods do not. See SetupWithOptions.
func Setup(mgr ctrl.Manager) error {
	return SetupWithOptions(mgr, Options{})
}

// SetupWithOptions registers a VirtualIPReconciler with mgr, using the manager's client and an
// events.k8s.io recorder named RecorderName. mgr's scheme must know vrrp.dev/v1alpha1 and core/v1.
//
// The manager's cache then holds every VirtualIP; a cache of the controller's own holds every Node
// and the agent pods, each cut down to what liveness needs (slimNode, slimPod): a Node's status is
// large and clusters have thousands. The controller needs the RBAC of the markers over Reconcile
// (config/rbac/controller/role.yaml), for the agent pods a Role in their namespace (the chart's
// controller-rbac.yaml, config/manager/agent_pods_role.yaml) and for leader election leases in its
// own namespace only (a Role), never cluster-wide. Run it leader-elected: two controllers would race
// on the same status.
func SetupWithOptions(mgr ctrl.Manager, opts Options) error {
	if !mgr.GetScheme().Recognizes(vrrpv1.GroupVersion.WithKind("VirtualIP")) {
		return fmt.Errorf("setting up the VirtualIP controller: the manager's scheme lacks %s", vrrpv1.GroupVersion)
	}
	byObject := map[client.Object]cache.ByObject{&corev1.Node{}: {Transform: slimNode}}
	if opts.AgentPods != nil {
		pods := cache.ByObject{Label: opts.AgentPods, Transform: slimPod}
		if opts.AgentNamespace != "" {
			pods.Namespaces = map[string]cache.Config{opts.AgentNamespace: {}}
		}
		byObject[&corev1.Pod{}] = pods
	}
	liveness, err := cache.New(mgr.GetConfig(), cache.Options{
		HTTPClient: mgr.GetHTTPClient(), Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), ByObject: byObject,
	})
	if err != nil {
		return fmt.Errorf("setting up the VirtualIP controller's cache of Nodes and agent pods: %w", err)
	}
	if err := mgr.Add(liveness); err != nil {
		return fmt.Errorf("setting up the VirtualIP controller: %w", err)
	}
	r := &VirtualIPReconciler{
		Client:        mgr.GetClient(),
		Scheme:        mgr.GetScheme(),
		Recorder:      mgr.GetEventRecorder(RecorderName),
		Cluster:       liveness,
		AgentPods:     opts.AgentPods != nil,
		Clock:         cmp.Or[clock.PassiveClock](opts.Clock, clock.RealClock{}),
		ReportLatency: opts.ReportLatency,
	}
	return r.setupWithManager(mgr, liveness)
}

// CacheOptions are the options of the manager's cache that the controller needs: its VirtualIPs
// without their managedFields, which it never reads. With an entry per node, each of its own field
// manager, they are most of a large VirtualIP, and every reconcile lists every VirtualIP.
func CacheOptions() cache.Options {
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&vrrpv1.VirtualIP{}: {Transform: cache.TransformStripManagedFields()},
	}}
}

// setupWithManager watches VirtualIPs, Nodes and agent pods. A Node's arrival, departure, label or
// readiness change, and an agent pod's start or end, may change which entries are stale or dark
// and which routers share a node, so each requeues every VirtualIP; so does a change of one
// VirtualIP that can start or end a router ID conflict with another. Clusters have tens of
// VirtualIPs, not thousands, so this stays cheap and obviously correct.
func (r *VirtualIPReconciler) setupWithManager(mgr ctrl.Manager, liveness cache.Cache) error {
	all := handler.EnqueueRequestsFromMapFunc(r.allVirtualIPs)
	b := ctrl.NewControllerManagedBy(mgr).
		Named("virtualip").
		For(&vrrpv1.VirtualIP{}).
		Watches(&vrrpv1.VirtualIP{}, all, builder.WithPredicates(conflictFieldsChanged())).
		// Creations and deletions pass the predicates too; heartbeats and other status updates do not.
		WatchesRawSource(source.Kind(liveness, &corev1.Node{}, handler.TypedEnqueueRequestsFromMapFunc(allFor[*corev1.Node](r)), nodeChanged))
	if r.AgentPods {
		b = b.WatchesRawSource(source.Kind(liveness, &corev1.Pod{}, handler.TypedEnqueueRequestsFromMapFunc(allFor[*corev1.Pod](r)), podChanged))
	}
	if err := b.Complete(r); err != nil {
		return fmt.Errorf("setting up the VirtualIP controller: %w", err)
	}
	return nil
}

// nodeChanged and podChanged are the predicates of the Node and agent pod watches: they pass what
// can change nodeLabels, nodeSteering or dark.Nodes, and nothing else (a kubelet's heartbeat, a
// pod's IP). A cordon requeues every VirtualIP, so that the gap it causes is known to be asked for.
var (
	nodeChanged = viewChanged(func(n *corev1.Node) any {
		return nodeView{Labels: n.Labels, Ready: dark.ReadyStatus(n), Unschedulable: n.Spec.Unschedulable,
			Maintenance: n.Annotations[vrrpv1.MaintenanceAnnotation]}
	})
	podChanged = viewChanged(func(p *corev1.Pod) any { return podView{Node: p.Spec.NodeName, Runs: dark.PodRuns(p)} })
)

type nodeView struct {
	Labels        map[string]string
	Ready         corev1.ConditionStatus
	Unschedulable bool
	Maintenance   string
}

type podView struct {
	Node string
	Runs bool
}

// viewChanged passes creations, deletions and the updates that change view.
func viewChanged[T client.Object](view func(T) any) predicate.TypedFuncs[T] {
	return predicate.TypedFuncs[T]{
		UpdateFunc: func(e event.TypedUpdateEvent[T]) bool {
			return !equality.Semantic.DeepEqual(view(e.ObjectOld), view(e.ObjectNew))
		},
		GenericFunc: func(event.TypedGenericEvent[T]) bool { return false },
	}
}

func allFor[T client.Object](r *VirtualIPReconciler) handler.TypedMapFunc[T, reconcile.Request] {
	return func(ctx context.Context, o T) []reconcile.Request { return r.allVirtualIPs(ctx, o) }
}

// allVirtualIPs maps any event to a request for every VirtualIP.
func (r *VirtualIPReconciler) allVirtualIPs(ctx context.Context, _ client.Object) []reconcile.Request {
	var list vrrpv1.VirtualIPList
	if err := r.Client.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "Listing VirtualIPs to requeue them")
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, v := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: v.Name}})
	}
	return reqs
}

// conflictFieldsChanged passes creations, deletions and the updates that change what
// routerIDConflicts reads of a VirtualIP: VRID, family, interface, nodeSelector and the interfaces
// the agents report. Agents' state changes alone do not requeue every other VirtualIP.
func conflictFieldsChanged() predicate.Funcs {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*vrrpv1.VirtualIP)
			n, ok2 := e.ObjectNew.(*vrrpv1.VirtualIP)
			return !ok1 || !ok2 || !equality.Semantic.DeepEqual(conflictFields(o), conflictFields(n))
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

type conflictView struct {
	VRID       int32
	IPv6       bool
	Interface  string
	Selector   *metav1.LabelSelector
	Interfaces map[string]string
}

func conflictFields(v *vrrpv1.VirtualIP) conflictView {
	c := conflictView{VRID: v.Spec.VirtualRouterID, IPv6: ipv6(v), Interface: v.Spec.Interface,
		Selector: v.Spec.NodeSelector, Interfaces: map[string]string{}}
	for _, e := range v.Status.Nodes {
		c.Interfaces[e.Node] = e.Interface
	}
	return c
}

// The controller's ClusterRole (config/rbac/controller/role.yaml, made by make manifests). The
// markers stand in a comment of their own: controller-gen reads none from a function's doc comment.
// No leases here: leader election needs them only in the controller's own namespace, which a Role
// grants (config/manager/leader_election_role.yaml, the chart's controller-rbac.yaml). No pods
// either: the agent pods live in one namespace, and a Role there lets the controller read them
// (config/manager/agent_pods_role.yaml, the chart's controller-rbac.yaml); a marker with a
// namespace would put a Role of a fixed namespace into the ClusterRole's file.
//
// +kubebuilder:rbac:groups=vrrp.dev,resources=virtualips,verbs=get;list;watch
// +kubebuilder:rbac:groups=vrrp.dev,resources=virtualips/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile summarises one VirtualIP. It removes stale entries first, then applies the summary:
// both writes are conditional on the object not having changed since it was read, so conditions are
// always compared with what is stored and each transition is announced by one Event. A reconcile
// that loses a race runs again on the newer object. A summary that a handover may still settle is
// held back, neither written nor announced, until it has lasted longer than the protocol's bound;
// such gaps that keep recurring make Degraded Flapping (handovers.hold).
func (r *VirtualIPReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	vip := &vrrpv1.VirtualIP{}
	if err := r.Client.Get(ctx, req.NamespacedName, vip); err != nil {
		if apierrors.IsNotFound(err) {
			r.handovers.forget(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !vip.DeletionTimestamp.IsZero() {
		r.handovers.forget(req.Name)
		return ctrl.Result{}, nil
	}
	// The lists are only read: the cache's objects themselves, not copies.
	var others vrrpv1.VirtualIPList
	if err := r.Client.List(ctx, &others, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing VirtualIPs: %w", err)
	}
	var nodeList corev1.NodeList
	if err := r.Cluster.List(ctx, &nodeList, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing Nodes: %w", err)
	}
	var pods []corev1.Pod
	if r.AgentPods {
		var podList corev1.PodList
		if err := r.Cluster.List(ctx, &podList, client.UnsafeDisableDeepCopy); err != nil {
			return ctrl.Result{}, fmt.Errorf("listing agent pods: %w", err)
		}
		pods = podList.Items
		if pods == nil {
			pods = []corev1.Pod{} // read, and none: every node's agent is gone
		}
	}
	nodes, darkNodes := nodeLabels(nodeList.Items), dark.Nodes(nodeList.Items, pods)
	withAgentsOfGoneNodes(nodes, darkNodes, pods)

	// A spec no agent can run is summarised too (InvalidSpec), never left with the conditions of
	// the spec before it; only a spec change helps, and that requeues the VirtualIP by itself.
	sum := Summarize(vip, others.Items, nodes, darkNodes, r.now())
	retryRemoval := false
	if len(sum.StaleNodes) > 0 {
		switch err := r.removeEntries(ctx, vip, sum.StaleNodes); {
		case err != nil && !lostRace(err):
			return ctrl.Result{}, err
		case err != nil:
			// The object changed (the summary's apply then fails too, and this runs again), or
			// something refuses the removal for good (a policy of the cluster's answers 422 too):
			// the summary, which does not count stale entries, is applied all the same rather than
			// held back for as long as that lasts, and the removal is tried again.
			logger.V(1).Info("Removing stale status entries failed; summarising without them and retrying",
				"virtualIP", vip.Name, "nodes", sum.StaleNodes, "error", err.Error())
			retryRemoval = true
		default:
			logger.Info("Removed status entries of nodes that left or no longer match nodeSelector",
				"virtualIP", vip.Name, "nodes", sum.StaleNodes)
			// vip is now the stored object, without those entries: summarise what is stored, so
			// that the Events below compare with the stored conditions.
			sum = Summarize(vip, others.Items, nodes, darkNodes, r.now())
		}
	}

	latency := cmp.Or(r.ReportLatency, reportLatency)
	now := r.now()
	wait, flap := r.handovers.hold(vip.Name, lookAt(vip, nodes, nodeSteering(nodeList.Items)), sum, now.Time, latency)
	if wait > 0 {
		logger.V(1).Info("VirtualIP may be handing over; holding its summary", "virtualIP", vip.Name,
			"reason", readyReason(sum), "bound", sum.Settling+latency, "wait", wait)
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	sum.flapping(vip, now, flap.note)
	if err := r.applyStatus(ctx, vip, sum); err != nil {
		if apierrors.IsConflict(err) {
			logger.V(1).Info("VirtualIP changed while applying its status; retrying", "virtualIP", vip.Name, "error", err.Error())
			return ctrl.Result{RequeueAfter: conflictRetry}, nil
		}
		return ctrl.Result{}, err
	}
	for _, e := range sum.Events {
		logger.Info("VirtualIP condition changed", "virtualIP", vip.Name, "reason", e.Reason, "message", e.Note)
		r.Recorder.Eventf(vip, nil, e.Type, e.Reason, eventAction, "%s", truncate(e.Note, 1024))
	}
	var requeue time.Duration
	if !flap.until.IsZero() {
		// Flapping ends a window after the last gap began, if none begins before: it is cleared then.
		requeue = flap.until.Sub(now.Time)
	}
	if retryRemoval && (requeue <= 0 || requeue > conflictRetry) {
		requeue = conflictRetry
	}
	return ctrl.Result{RequeueAfter: requeue}, nil
}

func (r *VirtualIPReconciler) now() metav1.Time {
	if r.Clock == nil {
		return metav1.Now()
	}
	return metav1.NewTime(r.Clock.Now())
}

// removeEntries deletes the status.nodes entries of nodes with a JSON patch of the status
// subresource: per entry a test of its node name at its index, then its removal, highest index first
// so that earlier indices stay valid. If an agent added, moved or removed an entry since vip was
// read, a test fails, the apiserver refuses the whole patch (422) and nothing changes.
//
// Server-side apply cannot do this: an apply removes only fields its own manager owned, and the
// entries belong to the agents' managers ("vrrp.dev/agent-<node>"); applying a list without an entry,
// even with force, leaves it in place (TestController proves it against a real apiserver). A JSON
// patch is an update, which may remove any field; the apiserver then drops the removed entry from
// its manager's managedFields, so an agent that applies its entry again simply owns it again.
//
// On success vip holds the stored object.
func (r *VirtualIPReconciler) removeEntries(ctx context.Context, vip *vrrpv1.VirtualIP, nodes []string) error {
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value,omitempty"`
	}
	var ops []op
	for i := len(vip.Status.Nodes) - 1; i >= 0; i-- {
		n := vip.Status.Nodes[i].Node
		if !slices.Contains(nodes, n) {
			continue
		}
		path := fmt.Sprintf("/status/nodes/%d", i)
		ops = append(ops, op{Op: "test", Path: path + "/node", Value: n}, op{Op: "remove", Path: path})
	}
	data, err := json.Marshal(ops)
	if err != nil {
		return fmt.Errorf("encoding the patch that removes stale entries of %s: %w", vip.Name, err)
	}
	if err := r.Client.Status().Patch(ctx, vip, client.RawPatch(types.JSONPatchType, data), client.FieldOwner(FieldManager)); err != nil {
		return fmt.Errorf("removing stale status entries of %s: %w", vip.Name, err)
	}
	return nil
}

// applyStatus server-side applies status.master, status.observedGeneration and status.conditions
// as FieldManager. The apply names nothing under status.nodes, so it neither takes nor drops any
// agent's entry; it carries vip's resourceVersion, so it fails with a conflict rather than write a
// summary of an object that has changed since. Nothing is sent when the status already says it.
func (r *VirtualIPReconciler) applyStatus(ctx context.Context, vip *vrrpv1.VirtualIP, sum Summary) error {
	st := vip.Status
	if st.Master == sum.Master && st.ObservedGeneration == vip.Generation && equality.Semantic.DeepEqual(ours(st.Conditions), sum.Conditions) {
		return nil
	}
	status := map[string]any{"observedGeneration": vip.Generation}
	if sum.Master != "" {
		// Left out when empty: the apply then removes the master this manager set before.
		status["master"] = sum.Master
	}
	conds := make([]any, 0, len(sum.Conditions))
	for i := range sum.Conditions {
		c, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&sum.Conditions[i])
		if err != nil {
			return fmt.Errorf("encoding condition %s of %s: %w", sum.Conditions[i].Type, vip.Name, err)
		}
		conds = append(conds, c)
	}
	status["conditions"] = conds
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": vrrpv1.GroupVersion.String(),
		"kind":       "VirtualIP",
		"metadata":   map[string]any{"name": vip.Name, "resourceVersion": vip.ResourceVersion},
		"status":     status,
	}}
	if err := r.Client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying the status of %s: %w", vip.Name, err)
	}
	return nil
}

// ours picks the conditions the controller owns, in Summary order.
func ours(conds []metav1.Condition) []metav1.Condition {
	var out []metav1.Condition
	for _, t := range []string{vrrpv1.ConditionReady, vrrpv1.ConditionDegraded} {
		for _, c := range conds {
			if c.Type == t {
				out = append(out, c)
			}
		}
	}
	return out
}

// lostRace reports an error of removeEntries that a newer read fixes: a failed test (422, "the
// server rejected our request due to an error in our request"), or a conflict. Removing entries
// cannot make a valid object invalid, so a 422 there means the list moved.
func lostRace(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsInvalid(err)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
