package kube

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// refusedWrites is the message the reporter logs a refusal with.
const refusedWrites = "the API server refused the agent's write"

// writeHarness is a reporter of node primary, MASTER of VirtualIP services, whose status and label
// writes answer what fail returns.
type writeHarness struct {
	rep *reporter
	reg *prometheus.Registry
	m   *metrics.Metrics

	mu   sync.Mutex
	fail error
	logs []string // level-0 lines
}

func newWriteHarness(t *testing.T) *writeHarness {
	t.Helper()
	h := &writeHarness{reg: prometheus.NewRegistry()}
	h.m = metrics.New(h.reg)
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	answer := func() error {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.fail
	}
	// Its Node is there: a refusal is the API server's answer, not a Node that is gone.
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "primary"}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(node).WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
			return answer()
		},
		SubResourcePatch: func(context.Context, client.Client, string, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
			return answer()
		},
	}).Build()
	log := funcr.New(func(prefix, args string) {
		h.mu.Lock()
		h.logs = append(h.logs, args)
		h.mu.Unlock()
	}, funcr.Options{Verbosity: 0})
	h.rep = newReporter("primary", log)
	h.rep.connect(c, nil, h.m)
	h.rep.participate(desired.Result{Routers: []desired.Router{{Name: "services"}}})
	h.rep.observe(speaker.Status{Router: "services", State: vrrp.StateMaster, Priority: 150})
	return h
}

func (h *writeHarness) answer(err error) {
	h.mu.Lock()
	h.fail = err
	h.mu.Unlock()
}

// flush writes once and returns the refusals logged at level 0.
func (h *writeHarness) flush() []string {
	h.rep.flush(context.Background())
	h.mu.Lock()
	defer h.mu.Unlock()
	var refusals []string
	for _, l := range h.logs {
		if strings.Contains(l, refusedWrites) {
			refusals = append(refusals, l)
		}
	}
	h.logs = nil
	return refusals
}

func (h *writeHarness) count(resource, reason string) float64 {
	return testutil.ToFloat64(h.m.APIWriteErrors.WithLabelValues(resource, reason))
}

func forbidden(msg string) error {
	return apierrors.NewForbidden(schema.GroupResource{Group: vrrpv1.GroupVersion.Group, Resource: "virtualips"}, "services", errors.New(msg))
}

func TestWriteErrorsAreCountedByReason(t *testing.T) {
	tests := map[string]struct {
		err        error
		wantReason string
		wantLogged int // level-0 lines: one per resource for a refusal
	}{
		"a write RBAC or the admission policy forbids is counted as forbidden and logged": {
			err: forbidden("ValidatingAdmissionPolicy 'vrrp-operator-agent' denied request"), wantReason: metrics.ReasonForbidden, wantLogged: 2,
		},
		"a conflict is counted as conflict and retried quietly": {
			err: apierrors.NewConflict(schema.GroupResource{Resource: "nodes"}, "primary", errors.New("changed")), wantReason: metrics.ReasonConflict,
		},
		"an API server that went away is counted as other and retried quietly": {
			err: apierrors.NewTimeoutError("request timed out", 1), wantReason: metrics.ReasonOther,
		},
		"a transport error is counted as other": {
			err: errors.New("dial tcp 203.0.113.1:6443: connect: connection refused"), wantReason: metrics.ReasonOther,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newWriteHarness(t)
				h.answer(tc.err)
				logged := h.flush()
				if len(logged) != tc.wantLogged {
					t.Errorf("logged %d refusals at level 0, want %d: %q", len(logged), tc.wantLogged, logged)
				}
				for _, l := range logged {
					for _, want := range []string{`"reason"="Forbidden"`, "denied request", `"object"=`} {
						if !strings.Contains(l, want) {
							t.Errorf("refusal logged as %s, want it to name %s", l, want)
						}
					}
				}
				if n, err := testutil.GatherAndCount(h.reg, metrics.APIWriteErrors); err != nil || n != 6 {
					t.Errorf("the registry serves %d series of %s (%v), want one per resource and reason: 6", n, metrics.APIWriteErrors, err)
				}
				for _, resource := range []string{metrics.ResourceVirtualIPStatus, metrics.ResourceNodeLabel} {
					for _, reason := range []string{metrics.ReasonForbidden, metrics.ReasonConflict, metrics.ReasonOther} {
						want := 0.0
						if reason == tc.wantReason {
							want = 1
						}
						if got := h.count(resource, reason); got != want {
							t.Errorf("%s{resource=%q,reason=%q} = %v, want %v", metrics.APIWriteErrors, resource, reason, got, want)
						}
					}
				}
			})
		})
	}
}

func TestPersistentRefusalDoesNotFloodTheLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newWriteHarness(t)
		steps := []struct {
			what       string
			before     func()
			wantLogged int
		}{
			{"the first refusal is logged for the status entry and the label", func() { h.answer(forbidden("denied")) }, 2},
			{"the same refusal on retry is not logged again", func() {}, 0},
			{"nor just before a minute has passed", func() { time.Sleep(refusalLogEvery - time.Second) }, 0},
			{"it is logged again once a minute", func() { time.Sleep(time.Second) }, 2},
			{"a refusal with another message is logged at once", func() { h.answer(forbidden("denied by another rule")) }, 2},
			{"writes that land log nothing", func() { h.answer(nil) }, 0},
		}
		for _, s := range steps {
			s.before()
			if got := len(h.flush()); got != s.wantLogged {
				t.Errorf("%s: logged %d refusals at level 0, want %d", s.what, got, s.wantLogged)
			}
		}
		// A refusal after writes landed again is news: the observe makes both writes due again.
		h.answer(forbidden("denied"))
		h.rep.observe(speaker.Status{Router: "services", State: vrrp.StateBackup, Priority: 150})
		if got := len(h.flush()); got != 2 {
			t.Errorf("a refusal after writes landed: logged %d refusals at level 0, want 2", got)
		}
		if got := h.count(metrics.ResourceVirtualIPStatus, metrics.ReasonForbidden); got != 6 {
			t.Errorf("%s{resource=%q,reason=forbidden} = %v, want every refusal counted: 6", metrics.APIWriteErrors, metrics.ResourceVirtualIPStatus, got)
		}
	})
}

func TestARouterInErrorDropsTheMasterLabel(t *testing.T) {
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var labelPatches []string
	c := fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(_ context.Context, _ client.WithWatch, obj client.Object, p client.Patch, _ ...client.PatchOption) error {
			if _, ok := obj.(*unstructured.Unstructured); ok && obj.GetObjectKind().GroupVersionKind().Kind == "Node" {
				data, err := p.Data(obj)
				if err != nil {
					return err
				}
				mu.Lock()
				labelPatches = append(labelPatches, string(data))
				mu.Unlock()
			}
			return nil
		},
		SubResourcePatch: func(context.Context, client.Client, string, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
			return nil
		},
	}).Build()
	rep := newReporter("primary", logr.Discard())
	rep.connect(c, nil, metrics.New(nil))
	rep.participate(desired.Result{Routers: []desired.Router{{Name: "services"}}})
	rep.observe(speaker.Status{Router: "services", State: vrrp.StateMaster, Priority: 150})
	rep.flush(context.Background())
	// The Secret went away: the router cannot run and stops.
	rep.participate(desired.Result{Errors: []desired.RouterError{{Name: "services", Err: errors.New("secret vrrp-system/vrrp-auth not found")}}})
	rep.flush(context.Background())

	mu.Lock()
	defer mu.Unlock()
	if len(labelPatches) < 2 {
		t.Fatalf("label writes %q, want one while MASTER and one after the error", labelPatches)
	}
	if first := labelPatches[0]; !strings.Contains(first, vrrpv1.MasterLabel("services")) {
		t.Errorf("while MASTER the label write %s lacks %s", first, vrrpv1.MasterLabel("services"))
	}
	if last := labelPatches[len(labelPatches)-1]; strings.Contains(last, vrrpv1.MasterLabel("services")) {
		t.Errorf("after the router failed the label write %s still holds %s", last, vrrpv1.MasterLabel("services"))
	}
}

// TestTheUnicastSourceIsPublished: a node's entry carries the address its unicast adverts leave
// from, for the other nodes to send to, and a new one is written without waiting for a transition
// (issue 9 item 1).
func TestTheUnicastSourceIsPublished(t *testing.T) {
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var entries []string
	c := fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
			return nil
		},
		SubResourcePatch: func(_ context.Context, _ client.Client, _ string, obj client.Object, p client.Patch, _ ...client.SubResourcePatchOption) error {
			data, err := p.Data(obj)
			if err != nil {
				return err
			}
			mu.Lock()
			entries = append(entries, string(data))
			mu.Unlock()
			return nil
		},
	}).Build()
	rep := newReporter("primary", logr.Discard())
	rep.connect(c, nil, metrics.New(nil))
	router := func(source string) desired.Result {
		d := desired.Router{Name: "services", Unicast: true}
		if source != "" {
			d.Source = netip.MustParseAddr(source)
		}
		return desired.Result{Routers: []desired.Router{d}}
	}
	steps := []struct {
		what string
		do   func()
		want string // in the last entry written; "" for no address at all
	}{
		{"the first entry names the source", func() {
			rep.participate(router("2001:db8::2"))
			rep.observe(speaker.Status{Router: "services", State: vrrp.StateBackup, Priority: 100})
		}, `"address":"2001:db8::2"`},
		{"a new source is written without a transition", func() { rep.participate(router("2001:db8::3")) }, `"address":"2001:db8::3"`},
		{"a transition keeps it", func() {
			rep.observe(speaker.Status{Router: "services", State: vrrp.StateMaster, Priority: 100})
		}, `"address":"2001:db8::3"`},
		{"no source, no address", func() { rep.participate(router("")) }, ""},
	}
	for _, s := range steps {
		s.do()
		rep.flush(context.Background())
		mu.Lock()
		last := entries[len(entries)-1]
		mu.Unlock()
		if s.want != "" && !strings.Contains(last, s.want) || s.want == "" && strings.Contains(last, `"address"`) {
			t.Errorf("%s: wrote %s, want %s", s.what, last, cmp.Or(s.want, "no address"))
		}
	}
}

// TestAReassertThatDoesNotStickBacksOff: while another writer keeps removing this node's entry (the
// controller whose cache counts the node out), or the API server keeps it other than written, or
// someone keeps removing its Node's master label (a tool that owns the Node's labels), the agent
// writes it again at 1 s, 2 s, 4 s... up to once a minute, not once a second.
func TestAReassertThatDoesNotStickBacksOff(t *testing.T) {
	for _, c := range []struct {
		name string
		what string
		// label: the label writes are taken and undone at once, else the entry writes are.
		label bool
	}{
		{name: "an entry that never shows", what: "an entry"},
		{name: "a master label that never shows", what: "a master label", label: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				scheme, err := newScheme()
				if err != nil {
					t.Fatal(err)
				}
				var mu sync.Mutex
				var writes []time.Time
				// Taken, and removed again at once: the write never shows.
				taken := func(label bool) error {
					if label == c.label {
						mu.Lock()
						writes = append(writes, time.Now())
						mu.Unlock()
					}
					return nil
				}
				cl := fake.NewClientBuilder().WithScheme(scheme).
					WithObjects(&vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "services"}},
						&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "primary"}}).
					WithInterceptorFuncs(interceptor.Funcs{
						Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
							return taken(true)
						},
						SubResourcePatch: func(context.Context, client.Client, string, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
							return taken(false)
						},
					}).Build()
				start := fiveMinutesOfResyncs(t, cl)
				mu.Lock()
				defer mu.Unlock()
				var at []time.Duration
				for _, w := range writes {
					at = append(at, w.Sub(start).Round(time.Second))
				}
				t.Logf("writes in five minutes at %v", at)
				// The first write, then re-asserts 1, 2, 4, 8, 16, 32 and 60, 60, 60 s apart.
				if len(writes) > 10 {
					t.Errorf("%d writes of %s that never stuck in five minutes, want at most 10", len(writes), c.what)
				}
				if len(writes) < 5 {
					t.Fatalf("%d writes of %s that never stuck in five minutes, want it written again at least once a minute", len(writes), c.what)
				}
				if last := writes[len(writes)-1]; time.Since(last) > reassertMax+time.Second {
					t.Errorf("the last re-assert was %v ago, want one at least every %v", time.Since(last), reassertMax)
				}
			})
		})
	}
}

// fiveMinutesOfResyncs runs a reporter of node primary on c, MASTER of services, through five
// minutes of the agent's resync (a sync every second), in a synctest bubble; it returns when they
// began.
func fiveMinutesOfResyncs(t *testing.T, c client.Client) time.Time {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rep := newReporter("primary", logr.Discard())
	rep.connect(c, events.NewFakeRecorder(100), metrics.New(nil))
	res := desired.Result{Routers: []desired.Router{{Name: "services"}}}
	rep.participate(res)
	rep.observe(speaker.Status{Router: "services", State: vrrp.StateMaster, Priority: 150, Since: time.Now()})
	go func() { _ = rep.Start(ctx) }()
	start := time.Now()
	for range 300 {
		time.Sleep(time.Second)
		rep.participate(res)
		synctest.Wait()
	}
	return start
}

// fightingClient is a VirtualIP services whose status shows this node's entry as the agent last
// applied it, until a second writer (the controller counting the node out) removes it undoAfter
// after it landed, having seen it.
type fightingClient struct {
	mu      sync.Mutex
	entry   *vrrpv1.NodeStatus // as shown; nil: removed
	landed  time.Time
	writes  []time.Time
	created time.Time // the VirtualIP's creation: a new one shows no entry
}

const undoAfter = 1500 * time.Millisecond

func (f *fightingClient) build(t *testing.T) client.Client {
	t.Helper()
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
			return nil
		},
		SubResourcePatch: func(_ context.Context, _ client.Client, _ string, obj client.Object, p client.Patch, _ ...client.SubResourcePatchOption) error {
			u, ok := obj.(*unstructured.Unstructured)
			if !ok || p.Type() != client.Apply.Type() {
				return nil
			}
			nodes, _, _ := unstructured.NestedSlice(u.Object, "status", "nodes")
			f.mu.Lock()
			defer f.mu.Unlock()
			f.writes = append(f.writes, time.Now())
			f.entry, f.landed = nil, time.Now()
			if len(nodes) == 1 {
				var e vrrpv1.NodeStatus
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(nodes[0].(map[string]any), &e); err != nil {
					return err
				}
				f.entry = &e
			}
			return nil
		},
		List: func(_ context.Context, _ client.WithWatch, list client.ObjectList, _ ...client.ListOption) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.entry != nil && time.Since(f.landed) >= undoAfter {
				f.entry = nil
			}
			v := vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "services"}}
			if f.entry != nil {
				v.Status.Nodes = []vrrpv1.NodeStatus{*f.entry}
			}
			list.(*vrrpv1.VirtualIPList).Items = []vrrpv1.VirtualIP{v}
			return nil
		},
	}).Build()
}

// writesAfter counts the writes after t.
func (f *fightingClient) writesAfter(t time.Time) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, w := range f.writes {
		if w.After(t) {
			n++
		}
	}
	return n
}

// Review of issue 9 item 9: the entry shows as written right after the agent's own write lands and
// only then does the other writer remove it. Seeing it once must not end the back-off, or agent and
// controller write every other resync forever.
func TestAReassertUndoneAfterItShowedBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fightingClient{}
		start := fiveMinutesOfResyncs(t, f.build(t))
		n := f.writesAfter(start)
		t.Logf("%d writes in five minutes against a writer that removes the entry %v after it lands", n, undoAfter)
		// The first write, then re-asserts 2, 2, 4, 8, 16, 32 and 60... s apart.
		if n > 12 {
			t.Errorf("%d writes in five minutes, want at most 12", n)
		}
		if n < 5 {
			t.Errorf("%d writes in five minutes, want the entry re-asserted at least once a minute", n)
		}
	})
}

// Review of issue 9 item 9: a VirtualIP deleted (the router removed here) and created again under
// the same name starts without the back-off of its predecessor: its missing entry is written again
// within a resync or two, not a minute.
func TestARecreatedVirtualIPDoesNotInheritTheReassertBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fightingClient{}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		rep := newReporter("primary", logr.Discard())
		rep.connect(f.build(t), events.NewFakeRecorder(100), metrics.New(nil))
		res := desired.Result{Routers: []desired.Router{{Name: "services"}}}
		rep.participate(res)
		rep.observe(speaker.Status{Router: "services", State: vrrp.StateMaster, Priority: 150, Since: time.Now()})
		go func() { _ = rep.Start(ctx) }()
		// Three minutes of the controller removing the entry: the re-asserts back off to a minute.
		for range 180 {
			time.Sleep(time.Second)
			rep.participate(res)
			synctest.Wait()
		}
		// The VirtualIP is deleted, then created again; its router runs here once more.
		rep.participate(desired.Result{})
		synctest.Wait()
		time.Sleep(time.Second)
		rep.participate(res)
		rep.observe(speaker.Status{Router: "services", State: vrrp.StateInit, Since: time.Now()})
		synctest.Wait()
		// The entry written for the new object is lost (as the controller removes it), and the
		// agent must write it again within a few resyncs.
		start := time.Now()
		for range 5 {
			time.Sleep(time.Second)
			rep.participate(res)
			synctest.Wait()
		}
		if n := f.writesAfter(start); n == 0 {
			t.Errorf("no re-assert of the recreated VirtualIP's missing entry within 5 s")
		}
	})
}

// TestTheMasterLabelsAreNotAppliedAgainUnchanged: a takeover that ended before the Node's labels
// went out leaves them as the last write that landed applied, so none is made; after a label
// write that failed, the same labels are applied again.
func TestTheMasterLabelsAreNotAppliedAgainUnchanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newWriteHarness(t)
		h.flush()
		conflict := apierrors.NewConflict(schema.GroupResource{Resource: "nodes"}, "primary", errors.New("changed"))
		h.answer(conflict)
		labelWrites := func() float64 { return h.count(metrics.ResourceNodeLabel, metrics.ReasonConflict) }

		h.rep.observe(speaker.Status{Router: "services", State: vrrp.StateBackup, Priority: 150})
		h.rep.observe(speaker.Status{Router: "services", State: vrrp.StateMaster, Priority: 150})
		h.flush()
		if n := labelWrites(); n != 0 {
			t.Fatalf("MASTER again before the labels went out: %v label writes, want none", n)
		}
		h.rep.observe(speaker.Status{Router: "services", State: vrrp.StateBackup, Priority: 150})
		h.flush()
		if n := labelWrites(); n != 1 {
			t.Fatalf("BACKUP: %v label writes, want 1", n)
		}
		h.rep.observe(speaker.Status{Router: "services", State: vrrp.StateMaster, Priority: 150})
		h.flush()
		if n := labelWrites(); n != 2 {
			t.Errorf("MASTER again after the label write of BACKUP failed: %v label writes, want 2", n)
		}
	})
}

// labelModel is a Node primary's labels as the API server keeps them: an apply of the agent's
// field manager sets what it applies and removes what it applied before and no longer does, a
// merge patch sets or removes (null) what it names.
type labelModel struct {
	mu      sync.Mutex
	labels  map[string]string
	applied map[string]bool
}

func (m *labelModel) client(t *testing.T) client.Client {
	t.Helper()
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	m.labels, m.applied = map[string]string{}, map[string]bool{}
	return fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(_ context.Context, _ client.WithWatch, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
			n, ok := obj.(*corev1.Node)
			if !ok || key.Name != "primary" {
				return apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, key.Name)
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			*n = corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "primary", Labels: maps.Clone(m.labels)}}
			return nil
		},
		Patch: func(_ context.Context, _ client.WithWatch, obj client.Object, p client.Patch, _ ...client.PatchOption) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			if p.Type() == client.Apply.Type() {
				for k := range m.applied {
					delete(m.labels, k)
				}
				clear(m.applied)
				for k, v := range obj.GetLabels() {
					m.labels[k], m.applied[k] = v, true
				}
				return nil
			}
			data, err := p.Data(obj)
			if err != nil {
				return err
			}
			var patch struct {
				Metadata struct {
					Labels map[string]*string `json:"labels"`
				} `json:"metadata"`
			}
			if err := json.Unmarshal(data, &patch); err != nil {
				return err
			}
			for k, v := range patch.Metadata.Labels {
				if v == nil {
					delete(m.labels, k)
				} else {
					m.labels[k] = *v
				}
			}
			return nil
		},
		SubResourcePatch: func(context.Context, client.Client, string, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
			return nil
		},
	}).Build()
}

func (m *labelModel) set(k, v string) {
	m.mu.Lock()
	m.labels[k] = v
	m.mu.Unlock()
}

func (m *labelModel) get() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.labels)
}

// Review of the master labels' re-assert: a master label someone set for a router this node is
// Backup of is stray, but once the node becomes MASTER of that router before the label write
// goes out, it is the node's own: the write applies it and removes none.
func TestAStrayMasterLabelOfANewMasterStays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &labelModel{}
		rep := newReporter("primary", logr.Discard())
		rep.connect(m.client(t), events.NewFakeRecorder(10), metrics.New(nil))
		res := desired.Result{Routers: []desired.Router{{Name: "services"}, {Name: "dns"}}}
		rep.participate(res)
		rep.observe(speaker.Status{Router: "services", State: vrrp.StateMaster, Priority: 150, Since: time.Now()})
		rep.observe(speaker.Status{Router: "dns", State: vrrp.StateBackup, Priority: 100, Since: time.Now()})
		rep.flush(t.Context())
		services, dns := vrrpv1.MasterLabel("services"), vrrpv1.MasterLabel("dns")
		if got := m.get(); !maps.Equal(got, map[string]string{services: "true"}) {
			t.Fatalf("labels after the first write: %v, want %s only", got, services)
		}

		m.set(dns, "true") // someone pins dns's workload to primary
		time.Sleep(2 * reassertAfter)
		rep.participate(res)
		rep.reassert(t.Context())
		if rep.stray == nil {
			t.Fatalf("the re-assert found no stray label in %v", m.get())
		}
		rep.observe(speaker.Status{Router: "dns", State: vrrp.StateMaster, Priority: 100, Since: time.Now()})
		rep.flush(t.Context())
		if got := m.get(); !maps.Equal(got, map[string]string{services: "true", dns: "true"}) {
			t.Errorf("labels after primary became MASTER of dns: %v, want %s and %s", got, services, dns)
		}
	})
}

// A Node deleted while its agent runs takes its labels with it. An apply of them would create the
// Node, which the agent may not: it was refused and retried every few seconds for ever, logged as
// a matter of RBAC.
func TestNoMasterLabelsAreWrittenForANodeThatIsGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		scheme, err := newScheme()
		if err != nil {
			t.Fatal(err)
		}
		labelWrites := 0
		c := fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(interceptor.Funcs{
			Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
				labelWrites++
				return apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "primary", errors.New("cannot create resource \"nodes\""))
			},
			SubResourcePatch: func(context.Context, client.Client, string, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
				return nil
			},
		}).Build()
		m := metrics.New(prometheus.NewRegistry())
		logs := &funcrLog{}
		rep := newReporter("primary", logs.logger())
		rep.connect(c, nil, m)
		rep.participate(desired.Result{Routers: []desired.Router{{Name: "services"}}})
		rep.observe(speaker.Status{Router: "services", State: vrrp.StateMaster, Priority: 150})
		if !rep.flush(context.Background()) {
			t.Error("flush reported a write left: the labels of a Node that is gone")
		}
		time.Sleep(time.Minute)
		rep.flush(context.Background())
		if labelWrites != 1 {
			t.Errorf("%d label writes, want 1: none again for a Node that is gone", labelWrites)
		}
		// A handover while it is gone tries again, and says nothing new at level 0.
		rep.observe(speaker.Status{Router: "services", State: vrrp.StateBackup, Priority: 100})
		time.Sleep(time.Minute)
		rep.flush(context.Background())
		gone := 0
		for _, l := range logs.lines() {
			if strings.Contains(l, "Node object is gone") {
				gone++
			}
		}
		if labelWrites != 2 || gone != 1 {
			t.Errorf("%d label writes, %d level-0 lines that the Node is gone; want 2 and 1: %q", labelWrites, gone, logs.lines())
		}
		if got := testutil.ToFloat64(m.APIWriteErrors.WithLabelValues(metrics.ResourceNodeLabel, metrics.ReasonForbidden)); got != 0 {
			t.Errorf("%v label refusals counted, want 0", got)
		}
	})
}
