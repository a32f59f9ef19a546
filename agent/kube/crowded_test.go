package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
	"github.com/vrrp-dev/vrrp-operator/agent/track"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/controllers"
)

func TestTheAgentAndTheControllerAgreeOnHowManyNodesStatusLists(t *testing.T) {
	if maxListedNodes != controllers.MaxListedNodes {
		t.Fatalf("the agents list up to %d nodes, the controller counts on %d", maxListedNodes, controllers.MaxListedNodes)
	}
}

// TestABackupOfAVirtualIPOfManyNodesLeavesStatusNodes: beyond maxListedNodes selected nodes, a
// Backup with nothing to tell writes no entry (its apply holds none, which removes one it had),
// so that a VirtualIP of hundreds of nodes costs a write per Master, not per node; a Master, a
// Backup whose check fails and the Backups of a smaller VirtualIP are listed as before.
func TestABackupOfAVirtualIPOfManyNodesLeavesStatusNodes(t *testing.T) {
	failing := []desired.CheckState{{Name: "web", Weight: -20, Result: track.Result{State: track.Failing, Message: "connection refused"}}}
	for name, tc := range map[string]struct {
		nodes     int
		state     vrrp.State
		checks    []desired.CheckState
		had       bool // the VirtualIP has an entry of this node already
		wantWrite bool
		wantEntry bool
	}{
		"a Backup of a VirtualIP of many nodes writes nothing":      {nodes: maxListedNodes + 1, state: vrrp.StateBackup},
		"a Master that becomes a Backup of many removes its entry":  {nodes: maxListedNodes + 1, state: vrrp.StateBackup, had: true, wantWrite: true},
		"a Master of a VirtualIP of many nodes is listed":           {nodes: maxListedNodes + 1, state: vrrp.StateMaster, wantWrite: true, wantEntry: true},
		"a Backup whose check fails is listed however many nodes":   {nodes: 500, state: vrrp.StateBackup, checks: failing, wantWrite: true, wantEntry: true},
		"a node in FAULT is listed however many nodes":              {nodes: 500, state: vrrp.StateFault, wantWrite: true, wantEntry: true},
		"a Backup of a VirtualIP of maxListedNodes nodes is listed": {nodes: maxListedNodes, state: vrrp.StateBackup, wantWrite: true, wantEntry: true},
	} {
		t.Run(name, func(t *testing.T) {
			// The first write of an entry of many nodes waits (spread): in fake time.
			synctest.Test(t, func(t *testing.T) {
				scheme, err := newScheme()
				if err != nil {
					t.Fatal(err)
				}
				v := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "services"}}
				if tc.had {
					v.Status.Nodes = []vrrpv1.NodeStatus{{Node: "node-000", State: vrrpv1.StateMaster}}
				}
				objs := []client.Object{v}
				for i := range tc.nodes {
					objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%03d", i)}})
				}
				var (
					mu      sync.Mutex
					applied []string
				)
				c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
					Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
						return nil
					},
					SubResourcePatch: func(_ context.Context, _ client.Client, _ string, obj client.Object, p client.Patch, _ ...client.SubResourcePatchOption) error {
						data, err := p.Data(obj)
						if err != nil {
							return err
						}
						mu.Lock()
						applied = append(applied, string(data))
						mu.Unlock()
						return nil
					},
				}).Build()
				rep := newReporter("node-000", logr.Discard())
				rep.connect(c, events.NewFakeRecorder(10), metrics.New(nil))
				rep.participate(desired.Result{Routers: []desired.Router{{Name: "services"}}})
				rep.observe(speaker.Status{Router: "services", State: tc.state, Priority: 100, Checks: tc.checks})
				if !rep.flush(context.Background()) {
					t.Fatal("flush failed")
				}
				if !tc.wantWrite {
					if len(applied) != 0 {
						t.Errorf("applied %q, want no write", applied)
					}
					return
				}
				if len(applied) != 1 {
					t.Fatalf("applied %q, want one write", applied)
				}
				if got := strings.Contains(applied[0], `"node":"node-000"`); got != tc.wantEntry {
					t.Errorf("the apply %s holds this node's entry: %v, want %v", applied[0], got, tc.wantEntry)
				}
			})
		})
	}
}

// TestTheFirstWritesOfAVirtualIPOfManyNodesAreSpread: every selected node's agent writes its entry
// as a VirtualIP appears, each write a read-modify-write of the one object; at once they made the
// API server retry them against each other for seconds. Beyond spreadFrom nodes the first writes
// are spread over spreadPerNode per node; a node whose entry is there already writes at once, as
// a handover must not wait.
func TestTheFirstWritesOfAVirtualIPOfManyNodesAreSpread(t *testing.T) {
	for name, tc := range map[string]struct {
		had        bool
		state      vrrp.State
		wantSpread bool
	}{
		"first entries of a VirtualIP of 64 nodes are spread":                {state: vrrp.StateBackup, wantSpread: true},
		"a Master's first entry goes at once, as status.master waits for it": {state: vrrp.StateMaster},
		"entries written before are written again at once":                   {state: vrrp.StateBackup, had: true},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const nodes, agents = maxListedNodes, 20
				scheme, err := newScheme()
				if err != nil {
					t.Fatal(err)
				}
				v := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "services"}}
				objs := []client.Object{v}
				for i := range nodes {
					name := fmt.Sprintf("node-%03d", i)
					objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}})
					if tc.had {
						v.Status.Nodes = append(v.Status.Nodes, vrrpv1.NodeStatus{Node: name, State: vrrpv1.StateBackup})
					}
				}
				start := time.Now()
				var (
					mu     sync.Mutex
					landed []time.Duration
				)
				c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
					Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
						return nil
					},
					SubResourcePatch: func(context.Context, client.Client, string, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
						mu.Lock()
						landed = append(landed, time.Since(start))
						mu.Unlock()
						return nil
					},
				}).Build()
				var wg sync.WaitGroup
				for i := range agents {
					rep := newReporter(fmt.Sprintf("node-%03d", i), logr.Discard())
					rep.connect(c, events.NewFakeRecorder(10), metrics.New(nil))
					rep.participate(desired.Result{Routers: []desired.Router{{Name: "services"}}})
					rep.observe(speaker.Status{Router: "services", State: tc.state, Priority: 100})
					wg.Go(func() { rep.flush(context.Background()) })
				}
				wg.Wait()
				if len(landed) != agents {
					t.Fatalf("%d writes, want %d", len(landed), agents)
				}
				slices.Sort(landed)
				if last := landed[len(landed)-1]; last >= nodes*spreadPerNode {
					t.Errorf("the last write waited %v, want under %v", last, nodes*spreadPerNode)
				}
				spread := len(slices.Compact(slices.Clone(landed))) > agents/2
				if spread != tc.wantSpread {
					t.Errorf("writes landed at %v: spread %v, want %v", landed, spread, tc.wantSpread)
				}
			})
		})
	}
}
