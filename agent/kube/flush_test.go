package kube

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
)

// TestAHandoverOfManyVirtualIPsWritesTheirEntriesTogether: a node that hands over ten VirtualIPs at
// once has ten entries to write, one request each. Written one after the other, the last waited
// for nine round trips to the API server (seconds under load); they go out together, the label
// beside them, and a write that fails is retried alone.
func TestAHandoverOfManyVirtualIPsWritesTheirEntriesTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const routers = 10
		scheme, err := newScheme()
		if err != nil {
			t.Fatal(err)
		}
		var (
			mu       sync.Mutex
			inFlight int
			most     int
			written  []string
			refused  bool
			all      = make(chan struct{})
		)
		// Each write waits until every entry's write has started, or a second (fake time) passes.
		write := func(name string) error {
			mu.Lock()
			inFlight++
			most = max(most, inFlight)
			if inFlight == routers {
				close(all)
			}
			mu.Unlock()
			select {
			case <-all:
			case <-time.After(time.Second):
			}
			mu.Lock()
			defer mu.Unlock()
			inFlight--
			written = append(written, name)
			if name == "vip-3" && !refused {
				refused = true
				return fmt.Errorf("the API server is busy")
			}
			return nil
		}
		c := fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(interceptor.Funcs{
			Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
				return nil
			},
			SubResourcePatch: func(_ context.Context, _ client.Client, _ string, obj client.Object, _ client.Patch, _ ...client.SubResourcePatchOption) error {
				return write(obj.GetName())
			},
		}).Build()
		rep := newReporter("primary", logr.Discard())
		rep.connect(c, nil, metrics.New(nil))
		var res desired.Result
		for i := range routers {
			res.Routers = append(res.Routers, desired.Router{Name: fmt.Sprintf("vip-%d", i)})
		}
		rep.participate(res)
		for i := range routers {
			rep.observe(speaker.Status{Router: fmt.Sprintf("vip-%d", i), State: vrrp.StateMaster, Priority: 150})
		}
		start := time.Now()
		if rep.flush(context.Background()) {
			t.Fatal("flush reported success with a failed write")
		}
		if took := time.Since(start); took >= time.Second {
			t.Errorf("ten entries took %v to write, want them in one round trip", took)
		}
		if most != routers {
			t.Errorf("at most %d writes were in flight, want all %d", most, routers)
		}
		// The failed entry alone is due again.
		written = nil
		if !rep.flush(context.Background()) {
			t.Fatal("the retry failed")
		}
		if !slices.Equal(written, []string{"vip-3"}) {
			t.Errorf("the retry wrote %v, want only vip-3", written)
		}
	})
}
