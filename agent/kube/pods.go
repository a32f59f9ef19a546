package kube

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/vrrp-dev/vrrp-operator/agent/track"
)

// podSource is the agent's track.PodSource: it watches the pods of its own node, and nowhere else,
// and tells each pods check whether a Ready pod of its selector runs here.
//
// Its informer always runs, whether a VirtualIP has a pods check or not: it costs one watch per node
// on an index the API server keeps for the kubelets (pods by spec.nodeName), and the pods of one
// node, slimmed to a few hundred bytes each (slimPod); in return a pods check gets its answer from a
// synced cache the moment it appears, and nothing starts or stops informers as VirtualIPs change.
//
// Until the informer has synced it answers nothing, so the checks stay Unknown, which counts as
// passing: an agent restarted while the API server is away must not fault its routers for pods it
// cannot see. Once synced, an API server that goes away leaves the last state in place, and the
// answers with it.
type podSource struct {
	node string
	log  logr.Logger
	kick chan struct{}

	mu       sync.Mutex
	cache    cache.Cache
	synced   bool
	pods     map[string]map[string]*corev1.Pod // namespace -> name -> pod
	watchers map[*podWatcher]struct{}
	listErr  string // the last failed list or watch, as logged
}

// podWatcher is one pods check's Watch.
type podWatcher struct {
	namespace string
	selector  labels.Selector
	onChange  func(ready bool, detail string)

	// The answer last given; guarded by podSource.mu.
	answered  bool
	ready     bool
	detail    string
	pod       string // the Ready pod named in detail: kept while it stays Ready, so that the detail does not flap
	cancelled bool
}

var _ track.PodSource = (*podSource)(nil)

func newPodSource(node string, log logr.Logger) *podSource {
	return &podSource{node: node, log: log.WithName("pods"), kick: make(chan struct{}, 1),
		pods: map[string]map[string]*corev1.Pod{}, watchers: map[*podWatcher]struct{}{}}
}

// connect gives the source the cache that holds this node's pods (see newManager).
func (p *podSource) connect(c cache.Cache) {
	p.mu.Lock()
	p.cache = c
	p.mu.Unlock()
}

// Watch implements track.PodSource. onChange is called from one goroutine, in order, and only when
// the answer changes; a call already under way may still finish after cancel returns.
func (p *podSource) Watch(namespace string, selector labels.Selector, onChange func(ready bool, detail string)) (cancel func()) {
	if selector == nil {
		selector = labels.Nothing() // admission refuses empty selectors: never match by accident
	}
	w := &podWatcher{namespace: namespace, selector: selector, onChange: onChange}
	p.mu.Lock()
	p.watchers[w] = struct{}{}
	p.mu.Unlock()
	p.signal()
	return func() {
		p.mu.Lock()
		delete(p.watchers, w)
		w.cancelled = true
		p.mu.Unlock()
	}
}

func (p *podSource) signal() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Start is the manager runnable: it watches this node's pods and answers the watchers on every
// change once the first list has been delivered.
func (p *podSource) Start(ctx context.Context) error {
	p.mu.Lock()
	c := p.cache
	p.mu.Unlock()
	inf, err := retry(ctx, p.log, "watching this node's Pods", func() (cache.Informer, error) {
		return c.GetInformer(ctx, &corev1.Pod{}, cache.BlockUntilSynced(false))
	})
	if err != nil {
		return nil // ctx ended: shutting down
	}
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    p.store,
		UpdateFunc: func(_, obj any) { p.store(obj) },
		DeleteFunc: p.remove,
	})
	if err != nil {
		return fmt.Errorf("handling Pod events: %w", err)
	}
	// The registration has synced once the first list has reached p.store, not merely the
	// informer's store.
	select {
	case <-reg.HasSyncedChecker().Done():
	case <-ctx.Done():
		return nil
	}
	p.mu.Lock()
	p.synced = true
	n := 0
	for _, ns := range p.pods {
		n += len(ns)
	}
	p.listErr = ""
	p.mu.Unlock()
	p.log.V(1).Info("the pods of this node are listed; pods checks get answers", "pods", n)
	for {
		p.dispatch()
		select {
		case <-p.kick:
		case <-ctx.Done():
			return nil
		}
	}
}

func (p *podSource) store(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	p.mu.Lock()
	ns := p.pods[pod.Namespace]
	if ns == nil {
		ns = map[string]*corev1.Pod{}
		p.pods[pod.Namespace] = ns
	}
	ns[pod.Name] = pod
	p.mu.Unlock()
	p.signal()
}

func (p *podSource) remove(obj any) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	p.mu.Lock()
	if ns := p.pods[pod.Namespace]; ns != nil {
		delete(ns, pod.Name)
		if len(ns) == 0 {
			delete(p.pods, pod.Namespace)
		}
	}
	p.mu.Unlock()
	p.signal()
}

// dispatch answers every watcher whose answer changed. It runs on Start's goroutine only, which
// keeps each watcher's calls in order; onChange is called without the lock held.
func (p *podSource) dispatch() {
	type call struct {
		w      *podWatcher
		ready  bool
		detail string
	}
	var calls []call
	p.mu.Lock()
	if !p.synced {
		p.mu.Unlock()
		return
	}
	for w := range p.watchers {
		ready, detail, pod := p.answer(w)
		if w.answered && ready == w.ready && detail == w.detail {
			continue
		}
		w.answered, w.ready, w.detail, w.pod = true, ready, detail, pod
		calls = append(calls, call{w, ready, detail})
	}
	p.mu.Unlock()
	for _, c := range calls {
		p.mu.Lock()
		cancelled := c.w.cancelled
		p.mu.Unlock()
		if !cancelled {
			c.w.onChange(c.ready, c.detail)
		}
	}
}

// answer is w's answer from the pods known now, and the Ready pod it names; p.mu is held. A pod
// counts when it is Running, Ready and not being deleted (a terminating pod may still say Ready
// while its service shuts down).
func (p *podSource) answer(w *podWatcher) (ready bool, detail, pod string) {
	ns := p.pods[w.namespace]
	var names []string
	for name, pod := range ns {
		if w.selector.Matches(labels.Set(pod.Labels)) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var first string // why the first pod that matches does not count
	for _, name := range names {
		why := notReady(ns[name])
		if why == "" && (w.pod == name || pod == "") {
			pod = name
		}
		if why != "" && first == "" {
			first = name + " " + why
		}
	}
	if pod != "" {
		return true, fmt.Sprintf("pod %s/%s Ready", w.namespace, pod), pod
	}
	detail = fmt.Sprintf("no Ready pod of %s in %s on this node", w.selector, w.namespace)
	if first != "" {
		detail += ": " + first
	}
	return false, detail, ""
}

// notReady says why pod does not count, "" when it does.
func notReady(pod *corev1.Pod) string {
	switch {
	case pod.DeletionTimestamp != nil:
		return "is terminating"
	case pod.Status.Phase != corev1.PodRunning:
		return "is " + cmp.Or(string(pod.Status.Phase), string(corev1.PodPending))
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return ""
		}
	}
	return "is not Ready"
}

// watchError hears the cache's failed lists and watches: one of the Pods' is logged once per
// message, since a pods check cannot say it (it stays Unknown, counted as passing, until the pods
// are listed) and a ClusterRole without the pods rule needs a person.
func (p *podSource) watchError(r *toolscache.Reflector, err error) {
	if r.TypeDescription() != podType {
		return
	}
	p.mu.Lock()
	news := p.listErr != err.Error()
	p.listErr = err.Error()
	synced := p.synced
	p.mu.Unlock()
	if news {
		p.log.Info("cannot list or watch the pods of this node; pods checks keep their last answer, or stay Unknown (passing) until listed",
			"synced", synced, "error", err.Error())
	}
}

// podType is how client-go's reflector names the Pods' type.
var podType = fmt.Sprintf("%T", &corev1.Pod{})

// listed reports whether the pods of this node are listed, and how many watchers there are.
func (p *podSource) listed() (bool, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.synced, len(p.watchers)
}

// slimPod keeps what a pods check looks at: name, namespace, labels, deletion, phase and the Ready
// condition. The kubelet updates a pod's status often; the rest of it is not kept.
func slimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	out := &corev1.Pod{
		TypeMeta: pod.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID,
			ResourceVersion: pod.ResourceVersion, Labels: pod.Labels, DeletionTimestamp: pod.DeletionTimestamp},
		Status: corev1.PodStatus{Phase: pod.Status.Phase},
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			out.Status.Conditions = []corev1.PodCondition{{Type: c.Type, Status: c.Status}}
			break
		}
	}
	return out, nil
}
