package kube

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// hungStopHook is a data plane whose routers stop at once and whose stop hook hangs: Close, which
// waits for the hooks, returns only when the test lets the hook end.
type hungStopHook struct {
	rep      *reporter
	atClose  func() // what the test checks while the hook still runs
	hookDone bool
}

func (h *hungStopHook) Leave() error {
	h.rep.observe(speaker.Status{Router: "services", State: vrrp.StateStopped, Priority: 150})
	return nil
}

func (h *hungStopHook) Close() error {
	if h.hookDone {
		return nil
	}
	h.atClose()
	h.hookDone = true
	return nil
}

// TestGoodbyeWritesStoppedBeforeWaitingForStopHooks proves that the STOPPED entry and the master
// label's removal are written while a stop hook still runs (issue 9 item 11): before, the agent
// waited for the hooks (up to --shutdown-timeout) first, and a hook that used up the pod's grace
// period left status saying MASTER for a node that had left.
func TestGoodbyeWritesStoppedBeforeWaitingForStopHooks(t *testing.T) {
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var writes []string // status entries and label sets, in order
	record := func(obj client.Object, p client.Patch) error {
		data, err := p.Data(obj)
		if err != nil {
			return err
		}
		mu.Lock()
		writes = append(writes, obj.GetObjectKind().GroupVersionKind().Kind+" "+string(data))
		mu.Unlock()
		return nil
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(_ context.Context, _ client.WithWatch, obj client.Object, p client.Patch, _ ...client.PatchOption) error {
			if _, ok := obj.(*unstructured.Unstructured); !ok {
				return nil
			}
			return record(obj, p)
		},
		SubResourcePatch: func(_ context.Context, _ client.Client, _ string, obj client.Object, p client.Patch, _ ...client.SubResourcePatchOption) error {
			return record(obj, p)
		},
	}).Build()
	rep := newReporter("primary", logr.Discard())
	rep.connect(c, nil, metrics.New(nil))
	rep.participate(desired.Result{Routers: []desired.Router{{Name: "services"}}})
	rep.observe(speaker.Status{Router: "services", State: vrrp.StateMaster, Priority: 150})
	rep.flush(context.Background())
	mu.Lock()
	writes = nil
	mu.Unlock()

	plane := &hungStopHook{rep: rep}
	var whileHookRuns []string
	plane.atClose = func() {
		mu.Lock()
		defer mu.Unlock()
		whileHookRuns = append(whileHookRuns, writes...)
	}
	goodbye(plane, rep, logr.Discard())

	if !plane.hookDone {
		t.Fatal("goodbye did not wait for the stop hooks")
	}
	var stopped, unlabelled bool
	for _, w := range whileHookRuns {
		stopped = stopped || strings.HasPrefix(w, "VirtualIP ") && strings.Contains(w, `"state":"STOPPED"`)
		unlabelled = unlabelled || strings.HasPrefix(w, "Node ") && !strings.Contains(w, vrrpv1.MasterLabel("services"))
	}
	if !stopped || !unlabelled {
		t.Errorf("while the stop hook ran, written: %q; want the STOPPED entry and the label set without %s",
			whileHookRuns, vrrpv1.MasterLabel("services"))
	}
}
