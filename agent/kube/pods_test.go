package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// answers records what a pods check is told.
type answers struct {
	mu  sync.Mutex
	got []string    // "true: pod vpn/a Ready"
	at  []time.Time // of each
}

func (a *answers) onChange(ready bool, detail string) {
	a.mu.Lock()
	a.got = append(a.got, fmt.Sprintf("%v: %s", ready, detail))
	a.at = append(a.at, time.Now())
	a.mu.Unlock()
}

// since is how long after start the last answer came.
func (a *answers) since(start time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.at[len(a.at)-1].Sub(start)
}

func (a *answers) all() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.got...)
}

func (a *answers) last() string {
	got := a.all()
	if len(got) == 0 {
		return "(none)"
	}
	return got[len(got)-1]
}

// is waits for the answer want.
func (a *answers) is(t *testing.T, want string) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, "the answer "+want, func() (bool, string) {
		got := a.last()
		return got == want, "answers " + strings.Join(a.all(), " | ")
	})
}

func testPod(ns, name string, lbls map[string]string, phase corev1.PodPhase, ready corev1.ConditionStatus, deleting bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		Status: corev1.PodStatus{Phase: phase}}
	if ready != "" {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: ready}}
	}
	if deleting {
		p.DeletionTimestamp = &metav1.Time{Time: time.Unix(1, 0)}
	}
	return p
}

func TestAPodsCheckCountsRunningReadyPodsThatAreNotBeingDeleted(t *testing.T) {
	vpn := map[string]string{"app": "vpn-client"}
	tests := []struct {
		name   string
		pods   []*corev1.Pod
		before string // the pod named by the answer before, if any
		want   string
	}{
		{"without pods no pod counts", nil, "",
			"false: no Ready pod of app=vpn-client in vpn on this node"},
		{"a Running Ready pod of the selector counts", []*corev1.Pod{testPod("vpn", "a", vpn, corev1.PodRunning, corev1.ConditionTrue, false)}, "",
			"true: pod vpn/a Ready"},
		{"a Running pod that is not Ready does not count, and the answer says why", []*corev1.Pod{testPod("vpn", "a", vpn, corev1.PodRunning, corev1.ConditionFalse, false)}, "",
			"false: no Ready pod of app=vpn-client in vpn on this node: a is not Ready"},
		{"a Pending pod does not count", []*corev1.Pod{testPod("vpn", "a", vpn, corev1.PodPending, "", false)}, "",
			"false: no Ready pod of app=vpn-client in vpn on this node: a is Pending"},
		{"a pod whose phase is not known yet counts as Pending", []*corev1.Pod{testPod("vpn", "a", vpn, "", "", false)}, "",
			"false: no Ready pod of app=vpn-client in vpn on this node: a is Pending"},
		{"a Ready pod that is being deleted does not count: its service is shutting down", []*corev1.Pod{testPod("vpn", "a", vpn, corev1.PodRunning, corev1.ConditionTrue, true)}, "",
			"false: no Ready pod of app=vpn-client in vpn on this node: a is terminating"},
		{"a Succeeded pod does not count", []*corev1.Pod{testPod("vpn", "a", vpn, corev1.PodSucceeded, corev1.ConditionFalse, false)}, "",
			"false: no Ready pod of app=vpn-client in vpn on this node: a is Succeeded"},
		{"a Ready pod of another namespace does not count", []*corev1.Pod{testPod("other", "a", vpn, corev1.PodRunning, corev1.ConditionTrue, false)}, "",
			"false: no Ready pod of app=vpn-client in vpn on this node"},
		{"a Ready pod with other labels does not count", []*corev1.Pod{testPod("vpn", "a", map[string]string{"app": "web"}, corev1.PodRunning, corev1.ConditionTrue, false)}, "",
			"false: no Ready pod of app=vpn-client in vpn on this node"},
		{"one Ready pod among others that are not is enough", []*corev1.Pod{
			testPod("vpn", "a", vpn, corev1.PodRunning, corev1.ConditionTrue, true),
			testPod("vpn", "b", vpn, corev1.PodRunning, corev1.ConditionTrue, false),
			testPod("vpn", "c", vpn, corev1.PodPending, "", false)}, "",
			"true: pod vpn/b Ready"},
		{"of several Ready pods the one named before stays named, so that the answer does not change", []*corev1.Pod{
			testPod("vpn", "a", vpn, corev1.PodRunning, corev1.ConditionTrue, false),
			testPod("vpn", "b", vpn, corev1.PodRunning, corev1.ConditionTrue, false)}, "b",
			"true: pod vpn/b Ready"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPodSource("primary", logr.Discard())
			for _, pod := range tc.pods {
				p.store(pod)
			}
			w := &podWatcher{namespace: "vpn", selector: labels.SelectorFromSet(vpn), pod: tc.before}
			ready, detail, _ := p.answer(w)
			if got := fmt.Sprintf("%v: %s", ready, detail); got != tc.want {
				t.Errorf("answer %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAPodsCheckHearsOnlyChangesOfItsAnswer(t *testing.T) {
	vpn := map[string]string{"app": "vpn-client"}
	p := newPodSource("primary", logr.Discard())
	var a answers
	p.Watch("vpn", labels.SelectorFromSet(vpn), a.onChange)
	p.store(testPod("vpn", "a", vpn, corev1.PodRunning, corev1.ConditionTrue, false))
	p.dispatch()
	if got := a.all(); len(got) != 0 {
		t.Fatalf("answers %q before the pods are listed, want none: the check stays Unknown", got)
	}
	p.synced = true
	steps := []struct {
		name   string
		change func()
		want   []string // answers so far
	}{
		{"the first answer comes once the pods are listed", func() {}, []string{"true: pod vpn/a Ready"}},
		{"a pod of another selector changes nothing", func() {
			p.store(testPod("vpn", "web", map[string]string{"app": "web"}, corev1.PodRunning, corev1.ConditionFalse, false))
		}, []string{"true: pod vpn/a Ready"}},
		{"a second Ready pod changes nothing", func() {
			p.store(testPod("vpn", "b", vpn, corev1.PodRunning, corev1.ConditionTrue, false))
		}, []string{"true: pod vpn/a Ready"}},
		{"the named pod going away names the other one", func() {
			p.remove(testPod("vpn", "a", vpn, "", "", false))
		}, []string{"true: pod vpn/a Ready", "true: pod vpn/b Ready"}},
		{"the last Ready pod going away fails the check", func() {
			p.remove(toolscache.DeletedFinalStateUnknown{Key: "vpn/b", Obj: testPod("vpn", "b", vpn, "", "", false)})
		}, []string{"true: pod vpn/a Ready", "true: pod vpn/b Ready", "false: no Ready pod of app=vpn-client in vpn on this node"}},
	}
	for _, s := range steps {
		s.change()
		p.dispatch()
		if got := a.all(); strings.Join(got, " | ") != strings.Join(s.want, " | ") {
			t.Errorf("%s: answers %q, want %q", s.name, got, s.want)
		}
	}
	t.Run("a cancelled watch hears nothing more", func(t *testing.T) {
		var b answers
		cancel := p.Watch("vpn", labels.SelectorFromSet(vpn), b.onChange)
		p.dispatch()
		cancel()
		p.store(testPod("vpn", "c", vpn, corev1.PodRunning, corev1.ConditionTrue, false))
		p.dispatch()
		if got := b.all(); len(got) != 1 {
			t.Errorf("answers %q, want only the one before cancel", got)
		}
	})
}

func TestTheCacheKeepsLittleOfAPod(t *testing.T) {
	now := metav1.Now()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "vpn", Name: "vpn-client-x7", UID: "u", ResourceVersion: "7",
			Labels:      map[string]string{"app": "vpn-client", "pod-template-hash": "5d8f"},
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("x", 2000)},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate,
				FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:status":{}}`)}}},
			OwnerReferences:   []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "vpn-client-5d8f", UID: "r"}},
			DeletionTimestamp: &now},
		Spec: corev1.PodSpec{NodeName: "primary", Containers: []corev1.Container{{Name: "vpn", Image: "example.invalid/vpn:1",
			Env: []corev1.EnvVar{{Name: "TOKEN", Value: "not-for-vrrp"}}, Args: []string{"--config", "/etc/vpn/client.conf"}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "198.51.100.7",
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now, Message: "all containers ready"},
			},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "vpn", Ready: true, Image: "example.invalid/vpn:1", ImageID: strings.Repeat("f", 64)}}},
	}
	out, err := slimPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Pod)
	want := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "vpn", Name: "vpn-client-x7", UID: "u", ResourceVersion: "7",
		Labels: pod.Labels, DeletionTimestamp: &now},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("slimPod kept %s, want %s", gj, wj)
	}
	full, _ := json.Marshal(pod)
	testenv.Report(t, "pods check cache: a pod kept as %d bytes of JSON instead of %d", len(gj), len(full))
	if other, _ := slimPod("not a pod"); other != "not a pod" {
		t.Errorf("slimPod changed a %T", other)
	}
}

// TestPodsChecksOnARealAPIServer watches the pods of node primary as the agent's ServiceAccount
// with the generated RBAC, on a real kube-apiserver (no kubelet: the test sets the pods' status
// itself), and proves that a pods check
//   - gets no answer before the pods are listed, so it stays Unknown (passing);
//   - passes with a Ready pod of its selector on this node, and only on this node;
//   - fails at once when the pod is deleted, and when it is no longer Ready;
//   - keeps its answer while the API server is away.
func TestPodsChecksOnARealAPIServer(t *testing.T) {
	_, cfg := testenv.APIServer(t)
	ctrl.SetLogger(logr.Discard())
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range []string{"vrrp-system", "vpn"} {
		must(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
		must(c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}}))
	}
	agentCfg := asTheAgent(t, c, cfg)
	vpn := map[string]string{"app": "vpn-client"}
	selector := labels.SelectorFromSet(vpn)

	// create makes a pod on node with the given readiness, as a kubelet would report it.
	create := func(name, node string, ready corev1.ConditionStatus) *corev1.Pod {
		t.Helper()
		no := false
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "vpn", Name: name, Labels: vpn},
			Spec: corev1.PodSpec{NodeName: node, AutomountServiceAccountToken: &no,
				Containers: []corev1.Container{{Name: "vpn", Image: "example.invalid/vpn:1"}}}}
		must(c.Create(ctx, p))
		setReady(t, c, p, ready)
		return p
	}

	// start runs the agent's pods source for node primary as cfg's user until the test ends.
	start := func(t *testing.T, cfg *rest.Config) (*podSource, *funcrLog) {
		t.Helper()
		logs := &funcrLog{}
		p := newPodSource("primary", logs.logger())
		mgr, err := newManager(cfg, scheme, logr.Discard(), "primary", "vrrp-system",
			func(ctx context.Context, r *toolscache.Reflector, err error) { p.watchError(r, err) })
		must(err)
		p.connect(mgr.GetCache())
		must(mgr.Add(p))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- mgr.Start(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("the pods source's manager: %v", err)
			}
		})
		return p, logs
	}

	t.Run("before the pods are listed a pods check hears nothing, and the refusal is logged", func(t *testing.T) {
		// A user the API server lets discover but not list pods: the informer never syncs, as
		// with an API server away or a ClusterRole without the pods rule.
		nobody := rest.CopyConfig(cfg)
		nobody.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:vpn:nobody",
			Groups: []string{"system:serviceaccounts", "system:authenticated"}}
		create("ready-before", "primary", corev1.ConditionTrue)
		p, logs := start(t, nobody)
		var a answers
		p.Watch("vpn", selector, a.onChange)
		testenv.Eventually(t, 10*time.Second, "the refused list is logged", func() (bool, string) {
			return logs.contains("cannot list or watch the pods of this node"), strings.Join(logs.lines(), " | ")
		})
		if !logs.contains("forbidden") {
			t.Errorf("logged %q, want the refusal's reason", logs.lines())
		}
		// The Watch was registered before the refusal: had the source answered, it would have by now.
		if synced, _ := p.listed(); synced || len(a.all()) != 0 {
			t.Errorf("listed %v, answers %q; want no answer before the pods are listed", synced, a.all())
		}
		must(c.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "vpn", Name: "ready-before"}}, client.GracePeriodSeconds(0)))
	})

	// The agent reaches the API server across a link the test can cut.
	link := newCuttableLink(t, agentCfg.Host)
	linked := rest.CopyConfig(agentCfg)
	linked.Host = link.url
	p, _ := start(t, linked)
	var a answers
	p.Watch("vpn", selector, a.onChange)
	a.is(t, "false: no Ready pod of app=vpn-client in vpn on this node")

	t.Run("a Ready pod on another node does not count", func(t *testing.T) {
		create("elsewhere", "secondary", corev1.ConditionTrue)
		// A pod of this node created after it is heard: events come in order, so the other one
		// would have been heard first.
		create("vpn-client-x7", "primary", corev1.ConditionFalse)
		a.is(t, "false: no Ready pod of app=vpn-client in vpn on this node: vpn-client-x7 is not Ready")
	})

	t.Run("the cache holds the pods of this node only", func(t *testing.T) {
		var pods corev1.PodList
		if err := p.cache.List(ctx, &pods); err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) != 1 || pods.Items[0].Name != "vpn-client-x7" || pods.Items[0].Spec.Containers != nil {
			t.Errorf("cached pods %+v, want vpn-client-x7 alone and slim", pods.Items)
		}
	})

	t.Run("the pod turning Ready passes the check", func(t *testing.T) {
		start := time.Now()
		setReady(t, c, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "vpn", Name: "vpn-client-x7"}}, corev1.ConditionTrue)
		a.is(t, "true: pod vpn/vpn-client-x7 Ready")
		testenv.Report(t, "pods check: Ready status written to the check told it passes in %v", a.since(start).Round(100*time.Microsecond))
	})

	t.Run("a new watch of a listed node gets its answer at once", func(t *testing.T) {
		var b answers
		cancel := p.Watch("vpn", selector, b.onChange)
		defer cancel()
		b.is(t, "true: pod vpn/vpn-client-x7 Ready")
	})

	t.Run("the pod no longer Ready fails the check, Ready again passes it", func(t *testing.T) {
		setReady(t, c, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "vpn", Name: "vpn-client-x7"}}, corev1.ConditionFalse)
		a.is(t, "false: no Ready pod of app=vpn-client in vpn on this node: vpn-client-x7 is not Ready")
		setReady(t, c, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "vpn", Name: "vpn-client-x7"}}, corev1.ConditionTrue)
		a.is(t, "true: pod vpn/vpn-client-x7 Ready")
	})

	t.Run("deleting the pod fails the check when the deletion starts, not when the pod is gone", func(t *testing.T) {
		n := len(a.all())
		// Bound to a node, the pod waits for its kubelet to confirm the deletion: it stays,
		// terminating, until the grace period would end. There is no kubelet here.
		start := time.Now()
		must(c.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "vpn", Name: "vpn-client-x7"}}))
		a.is(t, "false: no Ready pod of app=vpn-client in vpn on this node: vpn-client-x7 is terminating")
		testenv.Report(t, "pods check: pod deletion to the check told it fails in %v", a.since(start).Round(100*time.Microsecond))
		must(c.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "vpn", Name: "vpn-client-x7"}}, client.GracePeriodSeconds(0)))
		a.is(t, "false: no Ready pod of app=vpn-client in vpn on this node")
		if got := a.all()[n:]; len(got) != 2 {
			t.Errorf("answers after the deletion %q, want one when it starts and one when the pod is gone", got)
		}
	})

	t.Run("with the API server away the check keeps its answer", func(t *testing.T) {
		create("vpn-client-k2", "primary", corev1.ConditionTrue)
		a.is(t, "true: pod vpn/vpn-client-k2 Ready")
		n := len(a.all())
		link.cut()
		testenv.Eventually(t, 30*time.Second, "the informer tries the API server again, twice, in vain", func() (bool, string) {
			n := link.refused.Load()
			return n >= 2, fmt.Sprintf("%d connections refused", n)
		})
		var b answers
		cancel := p.Watch("vpn", selector, b.onChange)
		defer cancel()
		b.is(t, "true: pod vpn/vpn-client-k2 Ready")
		if got := a.all()[n:]; len(got) != 0 {
			t.Errorf("answers with the API server away %q, want none", got)
		}
	})
}

// setReady writes pod's status as a kubelet would: Running, with the Ready condition.
func setReady(t *testing.T, c client.Client, pod *corev1.Pod, ready corev1.ConditionStatus) {
	t.Helper()
	ctx := context.Background()
	if err := c.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: ready, LastTransitionTime: now}}}
	if err := c.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
}

// funcrLog collects level-0 log lines.
type funcrLog struct {
	mu  sync.Mutex
	got []string
}

func (l *funcrLog) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		l.got = append(l.got, args)
		l.mu.Unlock()
	}, funcr.Options{})
}

func (l *funcrLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.got...)
}

func (l *funcrLog) contains(s string) bool {
	for _, line := range l.lines() {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

// cuttableLink forwards TCP connections to an API server until cut, then closes the connections it
// has and every new one at once: the API server as an agent sees it across a network that fails.
type cuttableLink struct {
	url     string
	l       net.Listener
	refused atomic.Int32 // connections closed at once since the cut

	mu    sync.Mutex
	isCut bool
	conns []net.Conn
}

func newCuttableLink(t *testing.T, host string) *cuttableLink {
	t.Helper()
	u, err := url.Parse(host)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	link := &cuttableLink{url: u.Scheme + "://" + l.Addr().String(), l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return // the test ended
			}
			link.mu.Lock()
			cut := link.isCut
			link.mu.Unlock()
			if cut {
				link.refused.Add(1)
				_ = c.Close()
				continue
			}
			d, err := net.Dial("tcp", u.Host)
			if err != nil {
				_ = c.Close()
				continue
			}
			link.mu.Lock()
			link.conns = append(link.conns, c, d)
			link.mu.Unlock()
			go func() { _, _ = io.Copy(d, c); _ = d.Close() }()
			go func() { _, _ = io.Copy(c, d); _ = c.Close() }()
		}
	}()
	t.Cleanup(func() {
		link.cut()
		_ = l.Close()
	})
	return link
}

func (l *cuttableLink) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.isCut = true
	for _, c := range l.conns {
		_ = c.Close()
	}
	l.conns = nil
}
