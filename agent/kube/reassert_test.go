package kube

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// countingClient counts status writes, and in nodeWrites (when not nil) the writes of Nodes.
type countingClient struct {
	client.Client
	writes     *atomic.Int32
	nodeWrites *atomic.Int32
}

func (c countingClient) Patch(ctx context.Context, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
	if _, node := obj.(*corev1.Node); node && c.nodeWrites != nil {
		c.nodeWrites.Add(1)
	} else if u, ok := obj.(*unstructured.Unstructured); ok && u.GetKind() == "Node" && c.nodeWrites != nil {
		c.nodeWrites.Add(1)
	}
	return c.Client.Patch(ctx, obj, p, opts...)
}

func (c countingClient) Status() client.SubResourceWriter {
	return countingStatus{SubResourceWriter: c.Client.Status(), writes: c.writes}
}

type countingStatus struct {
	client.SubResourceWriter
	writes *atomic.Int32
}

func (s countingStatus) Patch(ctx context.Context, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
	s.writes.Add(1)
	return s.SubResourceWriter.Patch(ctx, obj, p, opts...)
}

// reassertResync is the resync of the re-assert tests: participate on every one, as the agent does.
const reassertResync = time.Second

// reassertLab starts a real kube-apiserver and returns an admin client and a client that reads
// through an informer cache of VirtualIPs and Nodes, as the agent does.
func reassertLab(t *testing.T) (context.Context, client.Client, client.Client) {
	t.Helper()
	_, cfg := testenv.APIServer(t)
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, vrrpv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	admin, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	informers, err := cache.New(cfg, cache.Options{Scheme: scheme,
		ByObject: map[client.Object]cache.ByObject{&corev1.Node{}: {Transform: slimNode}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []client.Object{&vrrpv1.VirtualIP{}, &corev1.Node{}} {
		if _, err := informers.GetInformer(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	go func() { _ = informers.Start(ctx) }()
	if !informers.WaitForCacheSync(ctx) {
		t.Fatal("the cache did not sync")
	}
	cached, err := client.New(cfg, client.Options{Scheme: scheme, Cache: &client.CacheOptions{Reader: informers}})
	if err != nil {
		t.Fatal(err)
	}
	return ctx, admin, cached
}

// quiet fails t unless writes stays the same over three resyncs, past reassertAfter.
func quiet(t *testing.T, writes *atomic.Int32, what, kind string) {
	t.Helper()
	time.Sleep(reassertAfter + reassertResync)
	before := writes.Load()
	time.Sleep(3 * reassertResync)
	if n := writes.Load() - before; n != 0 {
		t.Errorf("%s: %d %s in three resyncs without a change, want none", what, n, kind)
	}
}

// runReporter starts rep, told of a sync of res every reassertResync until ctx ends.
func runReporter(ctx context.Context, rep *reporter, res desired.Result) {
	rep.participate(res)
	go func() { _ = rep.Start(ctx) }()
	go func() {
		tick := time.NewTicker(reassertResync)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				rep.participate(res)
			}
		}
	}()
}

// TestTheAgentReassertsItsStatusEntry runs the reporter against a real kube-apiserver, reading
// through an informer cache as the agent does and told of a sync every resync: an entry that goes
// missing or changes without a transition here is written again within a resync, and nothing is
// written while it stays as written (issue 9 item 9).
func TestTheAgentReassertsItsStatusEntry(t *testing.T) {
	ctx, admin, cached := reassertLab(t)
	newVIP := func() *vrrpv1.VirtualIP {
		return &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "services"},
			Spec: vrrpv1.VirtualIPSpec{VirtualRouterID: 51, Addresses: []string{"198.51.100.252/24"}, Unicast: true}}
	}
	if err := admin.Create(ctx, newVIP()); err != nil {
		t.Fatal(err)
	}
	writes := &atomic.Int32{}
	rep := newReporter("primary", logr.Discard())
	rep.connect(countingClient{Client: cached, writes: writes}, events.NewFakeRecorder(100), metrics.New(nil))
	res := desired.Result{Routers: []desired.Router{{Name: "services", Unicast: true, Source: netip.MustParseAddr("198.51.100.2")}}}
	runReporter(ctx, rep, res)
	rep.observe(speaker.Status{Router: "services", State: vrrp.StateMaster, Priority: 150, Interface: "eth0", Since: time.Now()})

	entry := func() *vrrpv1.NodeStatus {
		var v vrrpv1.VirtualIP
		if err := admin.Get(ctx, client.ObjectKey{Name: "services"}, &v); err != nil {
			return nil
		}
		for i := range v.Status.Nodes {
			if v.Status.Nodes[i].Node == "primary" {
				return &v.Status.Nodes[i]
			}
		}
		return nil
	}
	asWritten := func() (bool, string) {
		e := entry()
		if e == nil {
			return false, "no entry of primary"
		}
		return e.State == vrrpv1.StateMaster && e.Priority == 150 && e.Address == "198.51.100.2" &&
			e.Reason == "" && e.Message == "" && e.LastHook == nil, fmt.Sprintf("%+v", *e)
	}
	testenv.Eventually(t, 5*time.Second, "primary's entry, with the address it sends from", asWritten)

	steady := func(what string) { t.Helper(); quiet(t, writes, what, "status writes") }
	steady("after the first write")

	tests := []struct {
		name   string
		change func(t *testing.T)
	}{
		{"the entry removed by another writer is back within a resync", func(t *testing.T) {
			patch := client.RawPatch(types.MergePatchType, []byte(`{"status":{"nodes":[]}}`))
			if err := admin.Status().Patch(ctx, newVIP(), patch, client.FieldOwner("someone")); err != nil {
				t.Fatal(err)
			}
		}},
		{"the entry edited by hand is restored within a resync", func(t *testing.T) {
			patch := client.RawPatch(types.MergePatchType, []byte(`{"status":{"nodes":[{"node":"primary","state":"BACKUP","priority":1}]}}`))
			if err := admin.Status().Patch(ctx, newVIP(), patch, client.FieldOwner("someone")); err != nil {
				t.Fatal(err)
			}
		}},
		{"fields the agent leaves empty, set by another writer, are removed within a resync", func(t *testing.T) {
			// A forced apply takes over only the fields it sends: these it does not send.
			patch := client.RawPatch(types.JSONPatchType, []byte(`[
				{"op":"test","path":"/status/nodes/0/node","value":"primary"},
				{"op":"add","path":"/status/nodes/0/reason","value":"Hijacked"},
				{"op":"add","path":"/status/nodes/0/message","value":"hands off"},
				{"op":"add","path":"/status/nodes/0/lastHook","value":{"kind":"master","exitCode":1}}]`))
			if err := admin.Status().Patch(ctx, newVIP(), patch, client.FieldOwner("someone")); err != nil {
				t.Fatal(err)
			}
		}},
		{"the VirtualIP deleted and created again between two syncs gets the entry within a resync", func(t *testing.T) {
			if err := admin.Delete(ctx, newVIP()); err != nil {
				t.Fatal(err)
			}
			if err := admin.Create(ctx, newVIP()); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.change(t)
			took := testenv.Eventually(t, reassertResync+reassertAfter+2*time.Second, "primary's entry as written", asWritten)
			t.Logf("back after %s", took.Round(time.Millisecond))
			if took > reassertResync+time.Second {
				t.Errorf("the entry came back after %s, want within a resync (%s) and a second for the API server", took, reassertResync)
			}
			steady("after restoring it")
		})
	}
}

// TestTheAgentPutsItsMasterLabelsBack runs the reporter against a real kube-apiserver as above: a
// master label of this node that someone removes or changes is applied again within a resync, one
// that someone sets for a router this node is not MASTER of is removed, and nothing is written
// while the labels stay as written. Workloads placed by the labels follow them.
func TestTheAgentPutsItsMasterLabelsBack(t *testing.T) {
	ctx, admin, cached := reassertLab(t)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "primary", Labels: map[string]string{"zone": "a"}}}
	if err := admin.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"services", "dns"} {
		v := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: vrrpv1.VirtualIPSpec{VirtualRouterID: 51,
			Addresses: []string{"198.51.100.252/24"}}}
		if name == "dns" {
			v.Spec.VirtualRouterID = 52
		}
		if err := admin.Create(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	writes, nodeWrites := &atomic.Int32{}, &atomic.Int32{}
	rep := newReporter("primary", logr.Discard())
	rep.connect(countingClient{Client: cached, writes: writes, nodeWrites: nodeWrites}, events.NewFakeRecorder(100), metrics.New(nil))
	runReporter(ctx, rep, desired.Result{Routers: []desired.Router{{Name: "services"}, {Name: "dns"}}})
	rep.observe(speaker.Status{Router: "services", State: vrrp.StateMaster, Priority: 150, Since: time.Now()})
	rep.observe(speaker.Status{Router: "dns", State: vrrp.StateBackup, Priority: 100, Since: time.Now()})

	master, other := vrrpv1.MasterLabel("services"), vrrpv1.MasterLabel("dns")
	asWritten := func() (bool, string) {
		var n corev1.Node
		if err := admin.Get(ctx, client.ObjectKey{Name: "primary"}, &n); err != nil {
			return false, err.Error()
		}
		_, stray := n.Labels[other]
		return n.Labels[master] == "true" && !stray && n.Labels["zone"] == "a", fmt.Sprintf("labels %v", n.Labels)
	}
	testenv.Eventually(t, 5*time.Second, "primary labelled MASTER of services only", asWritten)

	steady := func(what string) { t.Helper(); quiet(t, nodeWrites, what, "Node writes") }
	steady("after the first write")

	for _, tc := range []struct {
		name  string
		patch string
	}{
		{"the master label removed by someone is back within a resync", `{"metadata":{"labels":{"` + master + `":null}}}`},
		{"the master label changed by someone is set again within a resync", `{"metadata":{"labels":{"` + master + `":"false"}}}`},
		{"a master label someone set for a router this node is Backup of is removed within a resync", `{"metadata":{"labels":{"` + other + `":"true"}}}`},
		{"a master label someone set for a VirtualIP that does not exist is removed within a resync", `{"metadata":{"labels":{"` + vrrpv1.MasterLabel("gone") + `":"true"}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := admin.Patch(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "primary"}},
				client.RawPatch(types.MergePatchType, []byte(tc.patch)), client.FieldOwner("someone")); err != nil {
				t.Fatal(err)
			}
			gone := func() (bool, string) {
				var n corev1.Node
				if err := admin.Get(ctx, client.ObjectKey{Name: "primary"}, &n); err != nil {
					return false, err.Error()
				}
				_, found := n.Labels[vrrpv1.MasterLabel("gone")]
				return !found, fmt.Sprintf("labels %v", n.Labels)
			}
			took := testenv.Eventually(t, reassertResync+reassertAfter+2*time.Second, "primary labelled as written", func() (bool, string) {
				if ok, msg := asWritten(); !ok {
					return false, msg
				}
				return gone()
			})
			t.Logf("back after %s", took.Round(time.Millisecond))
			if took > reassertResync+time.Second {
				t.Errorf("the labels came back after %s, want within a resync (%s) and a second for the API server", took, reassertResync)
			}
			steady("after restoring them")
		})
	}
	if n := writes.Load(); n > 2 {
		t.Errorf("%d status writes, want the two entries' first only: the labels' re-asserts write no entry", n)
	}
}
