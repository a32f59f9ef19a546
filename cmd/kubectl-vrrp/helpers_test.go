package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/internal/dark"
)

// t0 is the fake clock's start.
var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// jumpClock is a fake clock that jumps ahead by the time waited for: waits take no real time and
// every duration the plugin prints is exact.
type jumpClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []clockTimer
}

type clockTimer struct {
	at   time.Time
	fire func()
}

// WithTimeout is context.WithTimeout on this clock: the context ends when the clock passes the
// deadline.
func (c *jumpClock) WithTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	c.mu.Lock()
	c.timers = append(c.timers, clockTimer{at: c.now.Add(d), fire: func() { cancel(context.DeadlineExceeded) }})
	c.mu.Unlock()
	return ctx, func() { cancel(context.Canceled) }
}

// advance moves the clock on by d and fires the timers it passes.
func (c *jumpClock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	var due []func()
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(now) {
			kept = append(kept, t)
		} else {
			due = append(due, t.fire)
		}
	}
	c.timers = kept
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
	return now
}

func (c *jumpClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *jumpClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- c.advance(d)
	return ch
}

// agents stand in for the agents and the controller: a set time after the last change to a
// VirtualIP or Node, they rewrite every VirtualIP's status as the agents' policy (agent/desired)
// and VRRP say, the way real ones converge. Unit tests of the plugin need only that status follows.
type agents struct {
	clock *jumpClock
	delay time.Duration
	// off stops the agents: status never follows.
	off bool
	// fault names the nodes whose agent reports FAULT, with the reason; down those whose agent
	// has shut down (STOPPED, no reason).
	fault map[string]string
	down  map[string]bool
	// weight is what each node's checks (spec.track) add to its priority, as the agents apply it.
	weight    map[string]int
	changedAt time.Time
	pending   bool
}

func (s *agents) changed() { s.changedAt, s.pending = s.clock.Now(), true }

// priority is the priority ex's node advertises: its checks' weight added, within 1..254.
func (s *agents) priority(ex *desired.Explanation) uint8 {
	if w := s.weight[ex.Node]; w != 0 && ex.Effective != 0 {
		return uint8(min(max(int(ex.Effective)+w, 1), desired.PreferredPriority))
	}
	return ex.Effective
}

func (s *agents) converge(ctx context.Context, c client.WithWatch) error {
	if s.off || !s.pending || s.clock.Now().Sub(s.changedAt) < s.delay {
		return nil
	}
	s.pending = false
	var nodes corev1.NodeList
	if err := c.List(ctx, &nodes); err != nil {
		return err
	}
	var vips vrrpv1.VirtualIPList
	if err := c.List(ctx, &vips); err != nil {
		return err
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.MatchingLabelsSelector{Selector: agentPods}); err != nil {
		return err
	}
	var running []corev1.Pod
	if len(pods.Items) > 0 {
		running = pods.Items
	}
	gone := dark.Nodes(nodes.Items, running)
	for i := range vips.Items {
		v := &vips.Items[i]
		all, err := desired.ExplainAll(v, nodes.Items)
		if err != nil {
			continue // the agents cannot evaluate it either
		}
		// The agents of dark nodes (Ready Unknown, or no agent pod running there) are silent:
		// their entries stay as they were.
		before := v.Status.Nodes
		master := s.elect(v.Status.Master, all, gone)
		v.Status.Nodes, v.Status.Master = nil, master
		for _, ex := range all {
			if !ex.Participates {
				continue
			}
			e := vrrpv1.NodeStatus{Node: ex.Node, State: vrrpv1.StateBackup, Priority: int32(s.priority(&ex)), Reason: ex.Reason, Interface: "eth0"}
			if e.Reason == "" && s.priority(&ex) != ex.Effective {
				e.Reason = desired.ReasonCheckWeight // as desired.Track writes it
			}
			switch {
			case gone[ex.Node] != "":
				old := entryOf(&vrrpv1.VirtualIP{Status: vrrpv1.VirtualIPStatus{Nodes: before}}, ex.Node)
				if old == nil {
					continue
				}
				e = *old
			case s.fault[ex.Node] != "":
				e.State, e.Reason = vrrpv1.StateFault, s.fault[ex.Node]
			case s.down[ex.Node]:
				e.State, e.Priority, e.Reason = vrrpv1.StateStopped, 0, ""
			case ex.Released:
				e.State = vrrpv1.StateStopped
			case ex.Node == master:
				e.State = vrrpv1.StateMaster
			}
			v.Status.Nodes = append(v.Status.Nodes, e)
		}
		if err := c.Status().Update(ctx, v); err != nil {
			return err
		}
	}
	return nil
}

// elect is the Master VRRP ends with, given the one before: the incumbent keeps the VIP unless a
// node of strictly higher priority preempts it (preempt on) or it resigns; a Backup of equal
// priority never preempts (RFC 9568 §6.4.2, §6.4.3). Without an incumbent the highest priority
// wins, the lowest name standing in for the higher address.
func (s *agents) elect(incumbent string, all []desired.Explanation, gone map[string]string) string {
	var best, inc *desired.Explanation
	for i := range all {
		ex := &all[i]
		if !ex.Participates || ex.Released || s.fault[ex.Node] != "" || s.down[ex.Node] || gone[ex.Node] != "" {
			continue
		}
		if best == nil || s.priority(ex) > s.priority(best) {
			best = ex
		}
		if ex.Node == incumbent && !ex.Resign {
			inc = ex
		}
	}
	switch {
	case best == nil:
		return ""
	case inc == nil:
		return best.Node
	case s.priority(best) > s.priority(inc) && best.Preempt:
		return best.Node
	}
	return inc.Node
}

// harness runs the plugin against a fake API server.
type harness struct {
	t      *testing.T
	clock  *jumpClock
	agents *agents
	client client.WithWatch
	stdout bytes.Buffer
	stderr bytes.Buffer
	colour bool
	// fail, when set, is the error every request returns.
	fail error
	// flaky is how many GETs after a change fail with the API server unavailable; hang makes
	// every GET after a change hang for two minutes, until its context ends.
	flaky, flakyLeft int
	hang, changed    bool
	// forbidPods makes listing pods fail as Forbidden.
	forbidPods bool
	// noKubeconfig makes building the client fail, as it does without a usable kubeconfig.
	noKubeconfig bool
	// afterChange, when set, runs once, at the first GET after a change: a VirtualIP deleted
	// meanwhile, a permission revoked (setting fail).
	afterChange func(c client.WithWatch)
	// beforePatch, when set, runs once, before the first patch: a change someone else makes
	// between the plugin's read and its write.
	beforePatch func(c client.WithWatch)
}

func newHarness(t *testing.T, objs ...client.Object) *harness {
	h := &harness{t: t, clock: &jumpClock{now: t0}}
	h.agents = &agents{clock: h.clock, delay: 3 * time.Second}
	h.client = fake.NewClientBuilder().WithScheme(scheme()).WithObjects(objs...).
		WithStatusSubresource(&vrrpv1.VirtualIP{}).
		WithInterceptorFuncs(interceptor.Funcs{
			Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				if f := h.afterChange; f != nil && h.changed {
					h.afterChange = nil
					f(c)
				}
				if h.fail != nil {
					return h.fail
				}
				if h.flakyLeft > 0 {
					h.flakyLeft--
					return apierrors.NewServiceUnavailable("the API server is restarting")
				}
				if h.hang && h.changed {
					h.clock.advance(2 * time.Minute)
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(10 * time.Second): // only when the plugin sets no deadline
						return errors.New("the GET hung: the plugin gave it no deadline")
					}
				}
				if err := h.agents.converge(ctx, c); err != nil {
					return err
				}
				return c.Get(ctx, key, obj, opts...)
			},
			List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
				if h.fail != nil {
					return h.fail
				}
				if _, ok := list.(*corev1.PodList); ok && h.forbidPods {
					return apierrors.NewForbidden(corev1.Resource("pods"), "", errors.New("the user may not list pods"))
				}
				return c.List(ctx, list, opts...)
			},
			Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
				if h.fail != nil {
					return h.fail
				}
				if f := h.beforePatch; f != nil {
					h.beforePatch = nil
					f(c)
				}
				h.agents.changed()
				h.changed, h.flakyLeft = true, h.flaky
				return c.Patch(ctx, obj, patch, opts...)
			},
		}).Build()
	return h
}

// run runs the plugin with args and returns its exit code.
func (h *harness) run(args ...string) int {
	h.stdout.Reset()
	h.stderr.Reset()
	a := &app{stdout: &h.stdout, stderr: &h.stderr, clock: h.clock, colour: h.colour, withTimeout: h.clock.WithTimeout,
		newClient: func(clientcmd.ClientConfig) (client.Client, error) {
			if h.noKubeconfig {
				return nil, errors.New("loading the kubeconfig: invalid configuration: no configuration has been provided")
			}
			return h.client, nil
		}}
	return a.run(context.Background(), args)
}

// mustRun fails the test unless the plugin exits with want.
func (h *harness) mustRun(want int, args ...string) string {
	h.t.Helper()
	if got := h.run(args...); got != want {
		h.t.Fatalf("kubectl vrrp %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, got, want, h.stdout.String(), h.stderr.String())
	}
	return h.stdout.String()
}

func (h *harness) vip(name string) *vrrpv1.VirtualIP {
	h.t.Helper()
	var v vrrpv1.VirtualIP
	if err := h.client.Get(context.Background(), client.ObjectKey{Name: name}, &v); err != nil {
		h.t.Fatal(err)
	}
	return &v
}

func (h *harness) node(name string) *corev1.Node {
	h.t.Helper()
	var n corev1.Node
	if err := h.client.Get(context.Background(), client.ObjectKey{Name: name}, &n); err != nil {
		h.t.Fatal(err)
	}
	return &n
}

// seed is the seed's VirtualIP with its status as the agents and the controller write it.
func seed(mutate ...func(*vrrpv1.VirtualIP)) *vrrpv1.VirtualIP {
	ago := func(d time.Duration) *metav1.Time { t := metav1.NewTime(t0.Add(-d)); return &t }
	v := &vrrpv1.VirtualIP{
		ObjectMeta: metav1.ObjectMeta{Name: "services", Generation: 1},
		Spec: vrrpv1.VirtualIPSpec{VirtualRouterID: 51, Version: vrrpv1.VRRPv2, Addresses: []string{"198.51.100.252/24"},
			Priority: 100, NodePriorities: []vrrpv1.NodePriority{{Node: "primary", Priority: 150}}},
		Status: vrrpv1.VirtualIPStatus{
			ObservedGeneration: 1,
			Master:             "primary",
			Conditions: []metav1.Condition{
				{Type: vrrpv1.ConditionReady, Status: metav1.ConditionTrue, Reason: vrrpv1.ReasonOneMaster, Message: "node primary is MASTER"},
				{Type: vrrpv1.ConditionDegraded, Status: metav1.ConditionFalse, Reason: vrrpv1.ReasonHealthy, Message: "node primary is MASTER"},
			},
			Nodes: []vrrpv1.NodeStatus{
				{Node: "primary", State: vrrpv1.StateMaster, Priority: 150, Interface: "ens3", LastTransitionTime: ago(65 * time.Second),
					LastHook: &vrrpv1.HookResult{Kind: "notify", ExitCode: 0, Duration: &metav1.Duration{Duration: 12 * time.Millisecond}, StartTime: ago(65 * time.Second)}},
				{Node: "secondary", State: vrrpv1.StateBackup, Priority: 100, Interface: "eth0", LastTransitionTime: ago(2 * time.Hour)},
				{Node: "third", State: vrrpv1.StateBackup, Priority: 100, Interface: "eth0", LastTransitionTime: ago(2 * time.Hour)},
			},
		},
	}
	for _, m := range mutate {
		m(v)
	}
	return v
}

// notReady makes a Node's Ready condition Unknown: Kubernetes has lost touch with it.
func notReady(n *corev1.Node) {
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown"}}
}

// agentPod is a pod of the agent DaemonSet on node, in phase.
func agentPod(node string, phase corev1.PodPhase) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "vrrp-system", Name: "agent-" + node,
			Labels: map[string]string{"app.kubernetes.io/name": "vrrp-operator", "app.kubernetes.io/component": "agent"}},
		Spec:   corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: phase},
	}
}

func nodes(names ...string) []client.Object {
	var out []client.Object
	for _, n := range names {
		out = append(out, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
	return out
}

// seedCluster is the seed's VirtualIP and its three nodes.
func seedCluster(mutate ...func(*vrrpv1.VirtualIP)) []client.Object {
	return append(nodes("primary", "secondary", "third"), seed(mutate...))
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*m`)
