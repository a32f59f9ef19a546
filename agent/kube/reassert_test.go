package kube

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// countingClient counts status writes.
type countingClient struct {
	client.Client
	writes *atomic.Int32
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

// TestTheAgentReassertsItsStatusEntry runs the reporter against a real kube-apiserver, reading
// through an informer cache as the agent does and told of a sync every resync: an entry that goes
// missing or changes without a transition here is written again within a resync, and nothing is
// written while it stays as written (issue 9 item 9).
func TestTheAgentReassertsItsStatusEntry(t *testing.T) {
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
	informers, err := cache.New(cfg, cache.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := informers.GetInformer(ctx, &vrrpv1.VirtualIP{}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = informers.Start(ctx) }()
	cached, err := client.New(cfg, client.Options{Scheme: scheme, Cache: &client.CacheOptions{Reader: informers}})
	if err != nil {
		t.Fatal(err)
	}

	newVIP := func() *vrrpv1.VirtualIP {
		return &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "services"},
			Spec: vrrpv1.VirtualIPSpec{VirtualRouterID: 51, Addresses: []string{"198.51.100.252/24"}, Unicast: true}}
	}
	if err := admin.Create(ctx, newVIP()); err != nil {
		t.Fatal(err)
	}
	if !informers.WaitForCacheSync(ctx) {
		t.Fatal("the cache did not sync")
	}

	const resync = time.Second
	writes := &atomic.Int32{}
	rep := newReporter("primary", logr.Discard())
	rep.connect(countingClient{Client: cached, writes: writes}, events.NewFakeRecorder(100), metrics.New(nil))
	res := desired.Result{Routers: []desired.Router{{Name: "services", Unicast: true, Source: netip.MustParseAddr("198.51.100.2")}}}
	rep.participate(res)
	go func() { _ = rep.Start(ctx) }()
	// The agent's resync: participate on every sync.
	go func() {
		tick := time.NewTicker(resync)
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

	steady := func(what string) {
		t.Helper()
		// Past reassertAfter, then three resyncs of nothing new.
		time.Sleep(reassertAfter + resync)
		before := writes.Load()
		time.Sleep(3 * resync)
		if n := writes.Load() - before; n != 0 {
			t.Errorf("%s: %d status writes in three resyncs without a change, want none", what, n)
		}
	}
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
			took := testenv.Eventually(t, resync+reassertAfter+2*time.Second, "primary's entry as written", asWritten)
			t.Logf("back after %s", took.Round(time.Millisecond))
			if took > resync+time.Second {
				t.Errorf("the entry came back after %s, want within a resync (%s) and a second for the API server", took, resync)
			}
			steady("after restoring it")
		})
	}
}
