package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/internal/dark"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// TestController runs the controller, as Setup wires it, against one real kube-apiserver: starting
// it costs seconds, the subtests do not. The subtests run in parallel, each with its own Nodes,
// VirtualIPs and VRIDs, and write agents' entries as the agents do.
func TestController(t *testing.T) {
	_, cfg := testenv.APIServer(t)
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, vrrpv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	logger := logr.Discard()
	if testing.Verbose() {
		logger = funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{Verbosity: 1, LogTimestamp: true})
	}
	ctrllog.SetLogger(logger)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Logger:                 logger,
		Cache:                  CacheOptions(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatalf("creating the manager: %v", err)
	}
	agentPods, err := labels.Parse(dark.DefaultAgentPodSelector)
	if err != nil {
		t.Fatal(err)
	}
	// The test's VirtualIPs advertise every 100ms (e.vip), so a handover's bound is 100ms (two
	// Masters) or about 320ms (none), plus this latency: the polls below see the states they wait for
	// within a second.
	if err := SetupWithOptions(mgr, Options{AgentPods: agentPods, AgentNamespace: agentNamespace, ReportLatency: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatalf("creating a client: %v", err)
	}
	e := &env{c: c}
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: agentNamespace}}); err != nil {
		t.Fatal(err)
	}

	// Before the manager starts, so that this subtest's reconciler, on a fake clock, is the only
	// writer of its VirtualIP.
	t.Run("a handover shorter than the protocol's bound is no alarm; a longer one is", func(t *testing.T) {
		e.handover(t)
	})

	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- mgr.Start(ctx) }()
	// Registered after testenv.APIServer's, so it runs before the apiserver stops.
	t.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	t.Run("one MASTER is Ready, named in status.master, with the generation observed", func(t *testing.T) {
		t.Parallel()
		e.nodes(t, "ready", "ready-a", "ready-b")
		v := e.vip(t, "ready", 1, "198.51.100.1/24", group("ready"))
		e.agent(t, v.Name, "ready-a", "MASTER")
		e.agent(t, v.Name, "ready-b", "BACKUP")
		got := e.waitFor(t, v.Name, "Ready True (OneMaster) and master ready-a", func(v *vrrpv1.VirtualIP) bool {
			return is(v, "Ready", "True", "OneMaster") && is(v, "Degraded", "False", "Healthy") &&
				v.Status.Master == "ready-a" && v.Status.ObservedGeneration == v.Generation
		})
		for _, cnd := range got.Status.Conditions {
			if cnd.ObservedGeneration != got.Generation {
				t.Errorf("condition %s observedGeneration = %d, want %d", cnd.Type, cnd.ObservedGeneration, got.Generation)
			}
		}
		e.waitEvents(t, v.Name, "MasterElected")

		// A spec change is a new generation, which the controller observes.
		got.Spec.Priority = 120
		if err := c.Update(context.Background(), got); err != nil {
			t.Fatal(err)
		}
		e.waitFor(t, v.Name, "observedGeneration following a spec change", func(v *vrrpv1.VirtualIP) bool {
			return v.Generation > 1 && v.Status.ObservedGeneration == v.Generation &&
				meta.FindStatusCondition(v.Status.Conditions, "Ready").ObservedGeneration == v.Generation
		})
	})

	t.Run("two MASTERs are a split brain: Degraded, not Ready, no master, one Event", func(t *testing.T) {
		t.Parallel()
		e.nodes(t, "split", "split-a", "split-b")
		v := e.vip(t, "split", 2, "198.51.100.2/24", group("split"))
		e.agent(t, v.Name, "split-a", "MASTER")
		e.waitFor(t, v.Name, "master split-a", func(v *vrrpv1.VirtualIP) bool { return v.Status.Master == "split-a" })
		e.agent(t, v.Name, "split-b", "MASTER")
		e.waitFor(t, v.Name, "SplitBrain and no master", func(v *vrrpv1.VirtualIP) bool {
			return is(v, "Ready", "False", "SplitBrain") && is(v, "Degraded", "True", "SplitBrain") && v.Status.Master == ""
		})
		e.waitEvents(t, v.Name, "MasterElected", "SplitBrain")
		e.agent(t, v.Name, "split-b", "BACKUP")
		e.waitFor(t, v.Name, "recovery to master split-a", func(v *vrrpv1.VirtualIP) bool {
			return is(v, "Ready", "True", "OneMaster") && is(v, "Degraded", "False", "Healthy") && v.Status.Master == "split-a"
		})
		e.waitEvents(t, v.Name, "MasterElected", "SplitBrain", "MasterElected")
	})

	t.Run("entries with no MASTER are NoMaster; no entries at all are not degraded", func(t *testing.T) {
		t.Parallel()
		e.nodes(t, "nomaster", "nomaster-a", "nomaster-b")
		v := e.vip(t, "nomaster", 3, "198.51.100.3/24", group("nomaster"))
		e.waitFor(t, v.Name, "waiting for agents", func(v *vrrpv1.VirtualIP) bool {
			return is(v, "Ready", "False", "NoMaster") && is(v, "Degraded", "False", "Healthy") &&
				meta.FindStatusCondition(v.Status.Conditions, "Ready").Message == "no agent has reported yet"
		})
		e.agent(t, v.Name, "nomaster-a", "BACKUP")
		e.agent(t, v.Name, "nomaster-b", "FAULT")
		e.waitFor(t, v.Name, "NoMaster naming both states", func(v *vrrpv1.VirtualIP) bool {
			return is(v, "Ready", "False", "NoMaster") && is(v, "Degraded", "True", "NoMaster") &&
				meta.FindStatusCondition(v.Status.Conditions, "Degraded").Message == "no node is MASTER: nomaster-a BACKUP, nomaster-b FAULT"
		})
		e.waitEvents(t, v.Name, "NoMaster")
	})

	t.Run("a VirtualIP that reuses the VRID of an older one on shared nodes is the one in RouterIDConflict, until it moves", func(t *testing.T) {
		t.Parallel()
		e.nodes(t, "vrid", "vrid-a", "vrid-b")
		e.nodes(t, "vrid-far", "vrid-c")
		// The older one's name sorts last: the order is by creation, as the agents keep the VRID.
		older := e.vip(t, "vrid-z-older", 4, "198.51.100.4/24", group("vrid"))
		e.nextSecond(t, older.Name) // creationTimestamp has seconds only
		newer := e.vip(t, "vrid-a-newer", 4, "198.51.100.5/24", group("vrid"))
		v6 := e.vip(t, "vrid-v6", 4, "2001:db8::4", group("vrid"))
		far := e.vip(t, "vrid-far", 4, "198.51.100.6/24", group("vrid-far"))
		e.waitFor(t, newer.Name, "RouterIDConflict naming the older VirtualIP", func(v *vrrpv1.VirtualIP) bool {
			d := meta.FindStatusCondition(v.Status.Conditions, "Degraded")
			return is(v, "Degraded", "True", "RouterIDConflict") &&
				strings.HasPrefix(d.Message, "VirtualIP vrid-z-older, older, uses VRID 4 for IPv4 on the same interface of nodes vrid-a, vrid-b")
		})
		evs := e.waitEvents(t, newer.Name, "RouterIDConflict")
		if ev := evs[0]; ev.Type != corev1.EventTypeWarning || !strings.Contains(ev.Note, "VirtualIP vrid-z-older") {
			t.Errorf("RouterIDConflict event: type %s, note %q; want a warning naming vrid-z-older", ev.Type, ev.Note)
		}
		for _, name := range []string{older.Name, v6.Name, far.Name} { // the older one; another family; disjoint nodes
			e.waitFor(t, name, "no conflict", func(v *vrrpv1.VirtualIP) bool { return is(v, "Degraded", "False", "Healthy") })
			e.waitEvents(t, name)
		}
		// The newer one moves to another VRID: it is healthy again.
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			n := e.get(t, newer.Name)
			n.Spec.VirtualRouterID = 5
			return c.Update(context.Background(), n)
		}); err != nil {
			t.Fatal(err)
		}
		e.waitFor(t, newer.Name, "conflict cleared", func(v *vrrpv1.VirtualIP) bool { return is(v, "Degraded", "False", "Healthy") })
		e.waitEvents(t, newer.Name, "RouterIDConflict", "Healthy")
		e.waitEvents(t, older.Name)
	})

	t.Run("the MASTER entry of an unreachable Node does not count: the live MASTER wins; a Ready False Node's live agent still counts", func(t *testing.T) {
		t.Parallel()
		e.nodes(t, "dark", "dark-a", "dark-b")
		v := e.vip(t, "dark", 14, "198.51.100.15/24", group("dark"))
		e.agent(t, v.Name, "dark-b", "MASTER")
		e.waitFor(t, v.Name, "master dark-b", func(v *vrrpv1.VirtualIP) bool { return v.Status.Master == "dark-b" })
		e.agent(t, v.Name, "dark-a", "MASTER")
		e.waitFor(t, v.Name, "SplitBrain of two live MASTERs", func(v *vrrpv1.VirtualIP) bool {
			return is(v, "Ready", "False", "SplitBrain") && is(v, "Degraded", "True", "SplitBrain") && v.Status.Master == ""
		})

		// dark-a's kubelet posts Ready False (its network plugin is not ready, say); its agent pod
		// runs on and is what holds the addresses once dark-b steps down, and beside dark-b as
		// MASTER again it is a real split brain.
		e.setReady(t, "dark-a", corev1.ConditionFalse)
		e.agent(t, v.Name, "dark-b", "BACKUP")
		e.waitFor(t, v.Name, "master dark-a, whose Node is Ready False", func(v *vrrpv1.VirtualIP) bool {
			return v.Status.Master == "dark-a" && is(v, "Ready", "True", "OneMaster") && is(v, "Degraded", "False", "Healthy")
		})
		e.agent(t, v.Name, "dark-b", "MASTER")
		e.waitFor(t, v.Name, "SplitBrain beside a Ready False node's MASTER", func(v *vrrpv1.VirtualIP) bool {
			return is(v, "Ready", "False", "SplitBrain") && is(v, "Degraded", "True", "SplitBrain") && v.Status.Master == ""
		})

		// dark-a's node dies: its kubelet goes silent, the node lifecycle controller sets Ready
		// Unknown, and its entry keeps saying MASTER.
		start := time.Now()
		e.setReady(t, "dark-a", corev1.ConditionUnknown)
		got := e.waitFor(t, v.Name, "master dark-b, Ready, no split brain", func(v *vrrpv1.VirtualIP) bool {
			return v.Status.Master == "dark-b" && is(v, "Ready", "True", "OneMaster") && is(v, "Degraded", "False", "Healthy") &&
				meta.FindStatusCondition(v.Status.Conditions, "Ready").Message == "node dark-b is MASTER; dark-a UNKNOWN (NodeUnreachable, last reported MASTER)"
		})
		testenv.Report(t, "Node Ready Unknown to the live MASTER in status: %v", time.Since(start).Round(time.Millisecond))
		if st := entryStates(got); st["dark-a"] != "MASTER" {
			t.Errorf("entries %v: the controller changed dark-a's entry, which its agent owns", st)
		}
		e.waitEvents(t, v.Name, "MasterElected", "SplitBrain", "MasterElected", "SplitBrain", "MasterElected")

		// Back, and still MASTER: two live MASTERs are a split brain again.
		e.setReady(t, "dark-a", corev1.ConditionTrue)
		e.waitFor(t, v.Name, "SplitBrain again", func(v *vrrpv1.VirtualIP) bool {
			return is(v, "Ready", "False", "SplitBrain") && v.Status.Master == ""
		})
	})

	t.Run("the MASTER entry of a node without a running agent pod does not count (AgentGone)", func(t *testing.T) {
		t.Parallel()
		e.nodes(t, "podgone", "podgone-a", "podgone-b")
		v := e.vip(t, "podgone", 15, "198.51.100.16/24", group("podgone"))
		e.agent(t, v.Name, "podgone-b", "MASTER")
		e.waitFor(t, v.Name, "master podgone-b", func(v *vrrpv1.VirtualIP) bool { return v.Status.Master == "podgone-b" })
		e.agent(t, v.Name, "podgone-a", "MASTER")
		e.waitFor(t, v.Name, "SplitBrain", func(v *vrrpv1.VirtualIP) bool { return is(v, "Ready", "False", "SplitBrain") })
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "agent-podgone-b", Namespace: agentNamespace}}
		if err := c.Delete(context.Background(), pod, client.GracePeriodSeconds(0)); err != nil {
			t.Fatal(err)
		}
		e.waitFor(t, v.Name, "master podgone-a", func(v *vrrpv1.VirtualIP) bool {
			return v.Status.Master == "podgone-a" && is(v, "Degraded", "False", "Healthy") &&
				meta.FindStatusCondition(v.Status.Conditions, "Ready").Message == "node podgone-a is MASTER; podgone-b UNKNOWN (AgentGone, last reported MASTER)"
		})
	})

	t.Run("the MASTER entry of a crash-looping agent does not count: its pod is Running, its container is not", func(t *testing.T) {
		t.Parallel()
		e.nodes(t, "crashloop", "crashloop-a", "crashloop-b")
		v := e.vip(t, "crashloop", 16, "198.51.100.17/24", group("crashloop"))
		e.agent(t, v.Name, "crashloop-a", "MASTER")
		e.agent(t, v.Name, "crashloop-b", "MASTER")
		e.waitFor(t, v.Name, "SplitBrain", func(v *vrrpv1.VirtualIP) bool { return is(v, "Ready", "False", "SplitBrain") })
		container := func(st corev1.ContainerState) {
			t.Helper()
			pod := &corev1.Pod{}
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: agentNamespace, Name: "agent-crashloop-b"}, pod); err != nil {
				t.Fatal(err)
			}
			pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "agent", Image: "vrrp-operator:test", ImageID: "vrrp-operator:test", State: st}}
			if err := c.Status().Update(context.Background(), pod); err != nil {
				t.Fatal(err)
			}
		}
		container(corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}})
		e.waitFor(t, v.Name, "master crashloop-a", func(v *vrrpv1.VirtualIP) bool {
			return v.Status.Master == "crashloop-a" &&
				meta.FindStatusCondition(v.Status.Conditions, "Ready").Message == "node crashloop-a is MASTER; crashloop-b UNKNOWN (AgentGone, last reported MASTER)"
		})
		// Running again, and still MASTER: two live MASTERs are a split brain again.
		container(corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}})
		e.waitFor(t, v.Name, "SplitBrain again", func(v *vrrpv1.VirtualIP) bool { return is(v, "Ready", "False", "SplitBrain") })
	})

	t.Run("a failed hook is HookFailed while the router stays Ready", func(t *testing.T) {
		t.Parallel()
		e.nodes(t, "hook", "hook-a", "hook-b")
		v := e.vip(t, "hook", 6, "198.51.100.7/24", group("hook"))
		e.agent(t, v.Name, "hook-a", "MASTER", func(m map[string]any) {
			m["lastHook"] = map[string]any{"kind": "master", "exitCode": int64(3), "output": "vpn start failed"}
		})
		e.agent(t, v.Name, "hook-b", "BACKUP", func(m map[string]any) {
			m["lastHook"] = map[string]any{"kind": "backup", "exitCode": int64(0)}
		})
		e.waitFor(t, v.Name, "HookFailed naming hook-a", func(v *vrrpv1.VirtualIP) bool {
			return is(v, "Ready", "True", "OneMaster") && is(v, "Degraded", "True", "HookFailed") &&
				meta.FindStatusCondition(v.Status.Conditions, "Degraded").Message == "master hook on node hook-a exited with 3"
		})
		e.waitEvents(t, v.Name, "MasterElected", "HookFailed")
	})

	t.Run("a deleted Node loses its entry, the others keep theirs and still own them", func(t *testing.T) {
		t.Parallel()
		e.nodes(t, "gone", "gone-a", "gone-b", "gone-c")
		v := e.vip(t, "gone", 7, "198.51.100.8/24", group("gone"))
		e.agent(t, v.Name, "gone-c", "MASTER") // first, so that no NoMaster comes before it
		e.agent(t, v.Name, "gone-a", "BACKUP")
		e.agent(t, v.Name, "gone-b", "BACKUP")
		e.waitFor(t, v.Name, "master gone-c", func(v *vrrpv1.VirtualIP) bool {
			return v.Status.Master == "gone-c" && len(v.Status.Nodes) == 3
		})
		if err := c.Delete(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gone-c"}}); err != nil {
			t.Fatal(err)
		}
		e.waitFor(t, v.Name, "gone-c's entry removed, NoMaster", func(v *vrrpv1.VirtualIP) bool {
			return slices.Equal(entryNodes(v), []string{"gone-a", "gone-b"}) && is(v, "Ready", "False", "NoMaster") && v.Status.Master == ""
		})
		e.waitEvents(t, v.Name, "MasterElected", "NoMaster")
		e.ownershipIntact(t, v.Name, "gone-a", "gone-b")
	})

	t.Run("a removal of a stale entry that a policy refuses does not freeze the summary", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		e.nodes(t, "refused", "refused-a", "refused-b", "refused-c")
		v := e.vip(t, "refused", 17, "198.51.100.18/24", group("refused"))
		e.agent(t, v.Name, "refused-c", "MASTER")
		e.agent(t, v.Name, "refused-a", "BACKUP")
		e.waitFor(t, v.Name, "master refused-c", func(v *vrrpv1.VirtualIP) bool { return v.Status.Master == "refused-c" })
		// A policy of the cluster's that refuses any removal of this VirtualIP's entries, with
		// the default reason Invalid: 422, as a lost race answers.
		policy := &admissionv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "keep-entries"},
			Spec: admissionv1.ValidatingAdmissionPolicySpec{
				MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionv1.RuleWithOperations{Operations: []admissionv1.OperationType{admissionv1.Update},
						Rule: admissionv1.Rule{APIGroups: []string{"vrrp.dev"}, APIVersions: []string{"*"}, Resources: []string{"virtualips/status"}}}}}},
				MatchConditions: []admissionv1.MatchCondition{{Name: "this-one", Expression: fmt.Sprintf("object.metadata.name == %q", v.Name)}},
				Validations:     []admissionv1.Validation{{Expression: "size(object.status.nodes) >= size(oldObject.status.nodes)", Message: "entries may not be removed"}},
			}}
		binding := &admissionv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "keep-entries"},
			Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policy.Name, ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny}}}
		for _, o := range []client.Object{policy, binding} {
			if err := c.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Delete(ctx, o) })
		}
		// In force once a dry run of a removal is refused.
		remove := client.RawPatch(types.JSONPatchType, []byte(`[{"op":"remove","path":"/status/nodes/0"}]`))
		e.waitFor(t, v.Name, "the policy in force", func(v *vrrpv1.VirtualIP) bool {
			err := c.Status().Patch(ctx, v, remove, client.DryRunAll)
			return apierrors.IsInvalid(err) && strings.Contains(err.Error(), "entries may not be removed")
		})
		// refused-c leaves the cluster as refused-a takes over: its stale MASTER entry stays, and
		// the summary follows refused-a all the same.
		if err := c.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "refused-c"}}); err != nil {
			t.Fatal(err)
		}
		e.agent(t, v.Name, "refused-a", "MASTER")
		e.waitFor(t, v.Name, "master refused-a beside refused-c's entry", func(v *vrrpv1.VirtualIP) bool {
			return v.Status.Master == "refused-a" && is(v, "Ready", "True", "OneMaster") && slices.Contains(entryNodes(v), "refused-c")
		})
	})

	t.Run("a Node that stops matching nodeSelector loses its entry, the others keep theirs and still own them", func(t *testing.T) {
		t.Parallel()
		e.nodes(t, "relabel", "relabel-a", "relabel-b", "relabel-c")
		v := e.vip(t, "relabel", 8, "198.51.100.9/24", group("relabel"))
		e.agent(t, v.Name, "relabel-a", "MASTER")
		e.agent(t, v.Name, "relabel-b", "BACKUP")
		e.agent(t, v.Name, "relabel-c", "BACKUP")
		e.waitFor(t, v.Name, "three entries, master relabel-a", func(v *vrrpv1.VirtualIP) bool {
			return len(v.Status.Nodes) == 3 && v.Status.Master == "relabel-a"
		})
		n := &corev1.Node{}
		if err := c.Get(context.Background(), client.ObjectKey{Name: "relabel-a"}, n); err != nil {
			t.Fatal(err)
		}
		n.Labels["test"] = "elsewhere"
		if err := c.Update(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		e.waitFor(t, v.Name, "relabel-a's entry removed", func(v *vrrpv1.VirtualIP) bool {
			return slices.Equal(entryNodes(v), []string{"relabel-b", "relabel-c"}) && v.Status.Master == ""
		})
		e.ownershipIntact(t, v.Name, "relabel-b", "relabel-c")
	})

	t.Run("the controller owns only master, observedGeneration and conditions", func(t *testing.T) {
		t.Parallel()
		e.nodes(t, "owner", "owner-a")
		v := e.vip(t, "owner", 9, "198.51.100.10/24", group("owner"))
		e.agent(t, v.Name, "owner-a", "MASTER")
		got := e.waitFor(t, v.Name, "master owner-a", func(v *vrrpv1.VirtualIP) bool { return v.Status.Master == "owner-a" })
		var owned []string
		for _, mf := range got.ManagedFields {
			if mf.Manager != FieldManager || mf.Operation != metav1.ManagedFieldsOperationApply {
				continue
			}
			var fields map[string]map[string]any
			if err := json.Unmarshal(mf.FieldsV1.Raw, &fields); err != nil {
				t.Fatal(err)
			}
			for k := range fields["f:status"] {
				owned = append(owned, k)
			}
		}
		slices.Sort(owned)
		if diff := cmp.Diff([]string{"f:conditions", "f:master", "f:observedGeneration"}, owned); diff != "" {
			t.Errorf("status fields applied by %s (-want +got):\n%s", FieldManager, diff)
		}
		// What it owns is the API server's business: its cache keeps none of the managedFields.
		var cached vrrpv1.VirtualIP
		if err := mgr.GetClient().Get(context.Background(), client.ObjectKey{Name: v.Name}, &cached); err != nil {
			t.Fatal(err)
		}
		if len(got.ManagedFields) == 0 || len(cached.ManagedFields) != 0 {
			t.Errorf("managedFields: %d stored, %d in the controller's cache; want some and none", len(got.ManagedFields), len(cached.ManagedFields))
		}
	})

	// Why removeEntries uses a JSON patch: server-side apply removes only what its manager owned.
	t.Run("a server-side apply cannot remove another manager's entry", func(t *testing.T) {
		t.Parallel()
		e.nodes(t, "ssa", "ssa-a")
		v := e.vip(t, "ssa", 10, "198.51.100.11/24", group("ssa"))
		e.agent(t, v.Name, "ssa-a", "BACKUP")
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(vrrpv1.GroupVersion.WithKind("VirtualIP"))
		u.SetName(v.Name)
		if err := unstructured.SetNestedSlice(u.Object, []any{}, "status", "nodes"); err != nil {
			t.Fatal(err)
		}
		if err := c.Status().Patch(context.Background(), u, client.Apply, client.FieldOwner("vrrp.dev/test-remover"), client.ForceOwnership); err != nil {
			t.Fatal(err)
		}
		if got := entryNodes(e.get(t, v.Name)); !slices.Equal(got, []string{"ssa-a"}) {
			t.Errorf("after a forced apply of an empty status.nodes, entries are %v; want ssa-a's to stay", got)
		}
	})

	t.Run("writes made from an outdated read are refused and change nothing", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		e.nodes(t, "race", "race-a", "race-b")
		v := e.vip(t, "race", 11, "198.51.100.12/24", group("race"))
		e.agent(t, v.Name, "race-a", "MASTER")
		e.agent(t, v.Name, "race-b", "BACKUP")
		read := e.waitFor(t, v.Name, "master race-a", func(v *vrrpv1.VirtualIP) bool { return v.Status.Master == "race-a" })
		r := &VirtualIPReconciler{Client: c}

		// The read saw [race-a, race-b]; suppose the list had since become [race-b, race-a].
		swapped := read.DeepCopy()
		slices.Reverse(swapped.Status.Nodes)
		err := r.removeEntries(ctx, swapped, []string{"race-a"})
		if !apierrors.IsInvalid(err) || !lostRace(err) {
			t.Errorf("removeEntries on a reordered list = %v, want a refused test (422)", err)
		}
		if got := entryNodes(e.get(t, v.Name)); !slices.Equal(got, []string{"race-a", "race-b"}) {
			t.Errorf("entries after the refused patch: %v", got)
		}

		e.agent(t, v.Name, "race-b", "BACKUP", func(m map[string]any) { m["priority"] = int64(99) })
		sum := Summarize(read, nil, map[string]labels.Set{"race-a": {}, "race-b": {}}, nil, metav1.Now())
		sum.Master = "race-b"
		err = r.applyStatus(ctx, read, sum)
		if !apierrors.IsConflict(err) {
			t.Errorf("applyStatus with an outdated resourceVersion = %v, want a conflict", err)
		}
		if got := e.get(t, v.Name).Status.Master; got != "race-a" {
			t.Errorf("status.master after the refused apply = %q, want race-a", got)
		}
	})

	t.Run("Events record each transition once, from the controller", func(t *testing.T) {
		t.Parallel()
		e.nodes(t, "events", "events-a", "events-b")
		v := e.vip(t, "events", 12, "198.51.100.13/24", group("events"))
		e.agent(t, v.Name, "events-a", "BACKUP")
		e.waitFor(t, v.Name, "NoMaster", func(v *vrrpv1.VirtualIP) bool { return is(v, "Degraded", "True", "NoMaster") })
		// A new message but the same reasons: no Event.
		e.agent(t, v.Name, "events-b", "BACKUP")
		e.waitFor(t, v.Name, "NoMaster with both nodes", func(v *vrrpv1.VirtualIP) bool {
			return strings.Contains(meta.FindStatusCondition(v.Status.Conditions, "Ready").Message, "events-b BACKUP")
		})
		e.agent(t, v.Name, "events-a", "MASTER")
		e.waitFor(t, v.Name, "master events-a", func(v *vrrpv1.VirtualIP) bool { return v.Status.Master == "events-a" })
		// Degraded's end, which only mirrored Ready's NoMaster, is said by MasterElected.
		evs := e.waitEvents(t, v.Name, "NoMaster", "MasterElected")
		want := map[string]string{"NoMaster": corev1.EventTypeWarning, "MasterElected": corev1.EventTypeNormal}
		for _, ev := range evs {
			if ev.Type != want[ev.Reason] || ev.ReportingController != RecorderName || ev.Action != eventAction ||
				ev.Regarding.Kind != "VirtualIP" || ev.Series != nil {
				t.Errorf("event %s: type %s, controller %s, action %s, regarding %s, series %v; want type %s from %s, once",
					ev.Reason, ev.Type, ev.ReportingController, ev.Action, ev.Regarding.Kind, ev.Series, want[ev.Reason], RecorderName)
			}
		}
	})

	t.Run("a nodeSelector no agent can run is InvalidSpec: not Ready, Degraded, no master, one Event", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		e.nodes(t, "invalid", "invalid-a", "invalid-b")
		v := e.vip(t, "invalid", 13, "198.51.100.14/24", group("invalid"))
		e.agent(t, v.Name, "invalid-a", "MASTER")
		e.agent(t, v.Name, "invalid-b", "BACKUP")
		e.waitFor(t, v.Name, "master invalid-a", func(v *vrrpv1.VirtualIP) bool { return v.Status.Master == "invalid-a" })
		setSelector := func(sel *metav1.LabelSelector) {
			t.Helper()
			if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				got := e.get(t, v.Name)
				got.Spec.NodeSelector = sel
				return c.Update(ctx, got)
			}); err != nil {
				t.Fatalf("setting nodeSelector %v: %v", sel, err)
			}
		}

		// A label key the API server lets through (its rules check operators and values, not the
		// syntax of keys) but no selector parser takes: every agent goes FAULT, reason InvalidSpec.
		setSelector(&metav1.LabelSelector{MatchLabels: map[string]string{"test": "invalid", "not a key!": "x"}})
		fault := func(m map[string]any) { m["reason"] = "InvalidSpec" }
		e.agent(t, v.Name, "invalid-a", "FAULT", fault)
		e.agent(t, v.Name, "invalid-b", "FAULT", fault)
		got := e.waitFor(t, v.Name, "InvalidSpec naming spec.nodeSelector, the generation observed", func(v *vrrpv1.VirtualIP) bool {
			d := meta.FindStatusCondition(v.Status.Conditions, "Degraded")
			return is(v, "Ready", "False", "InvalidSpec") && is(v, "Degraded", "True", "InvalidSpec") &&
				strings.Contains(d.Message, `spec.nodeSelector: key: Invalid value: "not a key!"`) &&
				v.Status.Master == "" && v.Status.ObservedGeneration == v.Generation
		})
		if nodes := entryNodes(got); !slices.Equal(nodes, []string{"invalid-a", "invalid-b"}) {
			t.Errorf("entries %v: the controller removed some though it cannot tell which nodes match", nodes)
		}
		evs := e.waitEvents(t, v.Name, "MasterElected", "InvalidSpec")
		for _, ev := range evs {
			if ev.Reason == "InvalidSpec" && (ev.Type != corev1.EventTypeWarning || !strings.Contains(ev.Note, "spec.nodeSelector")) {
				t.Errorf("InvalidSpec event: type %s, note %q; want a warning naming spec.nodeSelector", ev.Type, ev.Note)
			}
		}

		// Fixed, the VirtualIP is summarised as before. The entries come first: FAULT everywhere under
		// a valid selector is a real NoMaster, raised at once since no node could take over.
		e.agent(t, v.Name, "invalid-a", "MASTER")
		e.agent(t, v.Name, "invalid-b", "BACKUP")
		setSelector(group("invalid"))
		e.waitFor(t, v.Name, "Ready again with master invalid-a", func(v *vrrpv1.VirtualIP) bool {
			return is(v, "Ready", "True", "OneMaster") && is(v, "Degraded", "False", "Healthy") && v.Status.Master == "invalid-a"
		})
		e.waitEvents(t, v.Name, "MasterElected", "InvalidSpec", "MasterElected")
	})
}

// env holds the client the subtests share, and the helpers that create, write and poll.
type env struct {
	c client.Client
}

const (
	pollInterval = 50 * time.Millisecond
	pollTimeout  = 10 * time.Second
)

// group selects the Nodes a subtest created with e.nodes(t, name, ...).
func group(name string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"test": name}}
}

// agentNamespace holds the agent pods that e.nodes creates.
const agentNamespace = "vrrp-system"

// nodes creates Nodes that Kubernetes considers alive: Ready, each with a running agent pod.
func (e *env) nodes(t *testing.T, group string, names ...string) {
	t.Helper()
	ctx := context.Background()
	for _, n := range names {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"test": group}}}
		if err := e.c.Create(ctx, node); err != nil {
			t.Fatalf("creating Node %s: %v", n, err)
		}
		e.setReady(t, n, corev1.ConditionTrue)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "agent-" + n, Namespace: agentNamespace,
				Labels: map[string]string{"app.kubernetes.io/name": "vrrp-operator", "app.kubernetes.io/component": "agent"}},
			Spec: corev1.PodSpec{NodeName: n, Containers: []corev1.Container{{Name: "agent", Image: "vrrp-operator:test"}}},
		}
		if err := e.c.Create(ctx, pod); err != nil {
			t.Fatalf("creating the agent pod of %s: %v", n, err)
		}
		pod.Status.Phase = corev1.PodRunning
		if err := e.c.Status().Update(ctx, pod); err != nil {
			t.Fatalf("running the agent pod of %s: %v", n, err)
		}
	}
}

// setReady sets the Ready condition of a Node, as its kubelet or the node lifecycle controller do.
func (e *env) setReady(t *testing.T, name string, status corev1.ConditionStatus) {
	t.Helper()
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n := &corev1.Node{}
		if err := e.c.Get(context.Background(), client.ObjectKey{Name: name}, n); err != nil {
			return err
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status, Reason: "Test",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		return e.c.Status().Update(context.Background(), n)
	}); err != nil {
		t.Fatalf("setting Node %s Ready=%s: %v", name, status, err)
	}
}

// nextSecond waits until the API server's clock has passed the second in which the VirtualIP was
// created, so that the next one is younger by creationTimestamp.
func (e *env) nextSecond(t *testing.T, name string) {
	t.Helper()
	created := e.get(t, name).CreationTimestamp.Time
	err := wait.PollUntilContextTimeout(context.Background(), pollInterval, pollTimeout, true, func(context.Context) (bool, error) {
		return time.Now().After(created.Add(time.Second)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// vip creates a VirtualIP that advertises every 100ms, unless an option says otherwise.
func (e *env) vip(t *testing.T, name string, vrid int32, addr string, sel *metav1.LabelSelector, opts ...func(*vrrpv1.VirtualIP)) *vrrpv1.VirtualIP {
	t.Helper()
	v := &vrrpv1.VirtualIP{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: vrrpv1.VirtualIPSpec{VirtualRouterID: vrid, Addresses: []string{addr}, NodeSelector: sel,
			AdvertInterval: &metav1.Duration{Duration: 100 * time.Millisecond}},
	}
	for _, o := range opts {
		o(v)
	}
	if err := e.c.Create(context.Background(), v); err != nil {
		t.Fatalf("creating VirtualIP %s: %v", name, err)
	}
	return v
}

func (e *env) get(t *testing.T, name string) *vrrpv1.VirtualIP {
	t.Helper()
	v := &vrrpv1.VirtualIP{}
	if err := e.c.Get(context.Background(), client.ObjectKey{Name: name}, v); err != nil {
		t.Fatalf("getting VirtualIP %s: %v", name, err)
	}
	return v
}

// agent applies node's entry of the VirtualIP's status.nodes as that node's agent does: only its
// own entry, server-side, under its own field manager.
func (e *env) agent(t *testing.T, vip, node string, state vrrpv1.RouterState, opts ...func(map[string]any)) {
	t.Helper()
	entry := map[string]any{"node": node, "state": string(state), "priority": int64(100), "interface": "eth0"}
	for _, o := range opts {
		o(entry)
	}
	if err := e.applyEntries(vip, node, []any{entry}); err != nil {
		t.Fatalf("applying %s's entry of %s: %v", node, vip, err)
	}
}

func (e *env) applyEntries(vip, node string, entries []any) error {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(vrrpv1.GroupVersion.WithKind("VirtualIP"))
	u.SetName(vip)
	if err := unstructured.SetNestedSlice(u.Object, entries, "status", "nodes"); err != nil {
		return err
	}
	return e.c.Status().Patch(context.Background(), u, client.Apply, client.FieldOwner("vrrp.dev/agent-"+node), client.ForceOwnership)
}

// ownershipIntact proves that the surviving agents still own their entries after the controller
// removed another's: the first changes its entry, the second withdraws it by applying none, which
// only removes what its manager owns.
func (e *env) ownershipIntact(t *testing.T, vip, changer, withdrawer string) {
	t.Helper()
	e.agent(t, vip, changer, "MASTER")
	e.waitFor(t, vip, changer+" MASTER", func(v *vrrpv1.VirtualIP) bool { return v.Status.Master == changer })
	if err := e.applyEntries(vip, withdrawer, []any{}); err != nil {
		t.Fatalf("%s withdrawing its entry: %v", withdrawer, err)
	}
	if got := entryNodes(e.get(t, vip)); !slices.Equal(got, []string{changer}) {
		t.Errorf("entries after %s withdrew its own: %v, want only %s", withdrawer, got, changer)
	}
}

// waitFor polls the VirtualIP until ok holds, and fails with its last status otherwise.
func (e *env) waitFor(t *testing.T, name, what string, ok func(*vrrpv1.VirtualIP) bool) *vrrpv1.VirtualIP {
	t.Helper()
	var last *vrrpv1.VirtualIP
	err := wait.PollUntilContextTimeout(context.Background(), pollInterval, pollTimeout, true, func(ctx context.Context) (bool, error) {
		v := &vrrpv1.VirtualIP{}
		if err := e.c.Get(ctx, client.ObjectKey{Name: name}, v); err != nil {
			return false, err
		}
		last = v
		return ok(v), nil
	})
	if err != nil {
		status, _ := json.MarshalIndent(last.Status, "", "  ")
		t.Fatalf("VirtualIP %s: no %s within %s (%v); last status:\n%s", name, what, pollTimeout, err, status)
	}
	return last
}

// waitEvents polls until the Events about the VirtualIP have exactly the reasons given, in any
// order, a reason given twice for two Events, and returns them. Each emission is an Event of its
// own: the regarding reference carries the resourceVersion, which differs between transitions, so
// the recorder does not fold them into a series, and an Event too many shows.
func (e *env) waitEvents(t *testing.T, name string, reasons ...string) []eventsv1.Event {
	t.Helper()
	want := slices.Sorted(slices.Values(reasons))
	var got []string
	var evs []eventsv1.Event
	err := wait.PollUntilContextTimeout(context.Background(), pollInterval, pollTimeout, true, func(ctx context.Context) (bool, error) {
		var list eventsv1.EventList
		if err := e.c.List(ctx, &list, client.InNamespace(metav1.NamespaceDefault)); err != nil {
			return false, err
		}
		got, evs = nil, nil
		for _, ev := range list.Items {
			if ev.Regarding.Kind == "VirtualIP" && ev.Regarding.Name == name {
				got = append(got, ev.Reason)
				evs = append(evs, ev)
			}
		}
		slices.Sort(got)
		return slices.Equal(want, got), nil
	})
	if err != nil {
		t.Fatalf("Events about VirtualIP %s: reasons %v, want %v (%v)", name, got, want, err)
	}
	return evs
}

func is(v *vrrpv1.VirtualIP, typ string, status metav1.ConditionStatus, reason string) bool {
	c := meta.FindStatusCondition(v.Status.Conditions, typ)
	return c != nil && c.Status == status && c.Reason == reason
}

func entryStates(v *vrrpv1.VirtualIP) map[string]string {
	out := map[string]string{}
	for _, e := range v.Status.Nodes {
		out[e.Node] = string(e.State)
	}
	return out
}

func entryNodes(v *vrrpv1.VirtualIP) []string {
	var out []string
	for _, e := range v.Status.Nodes {
		out = append(out, e.Node)
	}
	return out
}

// handover drives a reconciler on a fake clock through a handover that stays within the protocol's
// bounds, through gaps that outlast them and through short gaps that keep recurring (issue 9
// item 8). Its VirtualIP advertises every second; the entries' lowest priority is 100, so no
// Master is held for Master_Down_Interval, 3s + 156/256 s, and two Masters for one interval, each
// plus the default latency of 1s.
func (e *env) handover(t *testing.T) {
	ctx := context.Background()
	e.nodes(t, "handover", "handover-a", "handover-b")
	v := e.vip(t, "handover", 20, "198.51.100.20/24", group("handover"), func(v *vrrpv1.VirtualIP) {
		v.Spec.AdvertInterval = &metav1.Duration{Duration: time.Second}
	})
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	rec := events.NewFakeRecorder(32)
	r := &VirtualIPReconciler{Client: e.c, Cluster: e.c, Recorder: rec, Clock: clk}
	const (
		noMaster = 4*time.Second + 609375*time.Microsecond // 3s + 156/256 s + 1s
		twoOf    = 2 * time.Second                         // 1s + 1s
	)
	// step advances the clock by by, reconciles, and checks the requeue, the stored master and
	// Ready reason, and the Events recorded.
	step := func(what string, by, wantWait time.Duration, wantMaster, wantReady string, wantEvents ...string) {
		t.Helper()
		clk.SetTime(clk.Now().Add(by))
		res, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Name: v.Name}})
		if err != nil {
			t.Fatalf("%s: reconcile: %v", what, err)
		}
		if res.RequeueAfter != wantWait {
			t.Errorf("%s: requeue after %v, want %v", what, res.RequeueAfter, wantWait)
		}
		got := e.get(t, v.Name)
		if ready := meta.FindStatusCondition(got.Status.Conditions, "Ready"); got.Status.Master != wantMaster || ready == nil || ready.Reason != wantReady {
			t.Errorf("%s: master %q, Ready %+v; want master %q, Ready reason %s", what, got.Status.Master, ready, wantMaster, wantReady)
		}
		var evs []string
		for len(rec.Events) > 0 {
			evs = append(evs, <-rec.Events)
		}
		if diff := cmp.Diff(wantEvents, evs); diff != "" {
			t.Errorf("%s: events (-want +got):\n%s", what, diff)
		}
	}
	prio := func(p int64) func(map[string]any) { return func(m map[string]any) { m["priority"] = p } }

	e.agent(t, v.Name, "handover-a", "MASTER", prio(200))
	e.agent(t, v.Name, "handover-b", "BACKUP")
	step("a Master", 0, 0, "handover-a", "OneMaster", "Normal MasterElected node handover-a is MASTER")
	rv := e.get(t, v.Name).ResourceVersion
	step("nothing changed", time.Minute, 0, "handover-a", "OneMaster")
	if got := e.get(t, v.Name).ResourceVersion; got != rv {
		t.Errorf("a reconcile with nothing changed wrote the VirtualIP: resourceVersion %s, was %s", got, rv)
	}

	// Cordon: the Master resigns, the Backup takes over within Master_Down_Interval.
	e.agent(t, v.Name, "handover-a", "BACKUP", prio(200))
	step("no Master, just now", time.Second, noMaster, "handover-a", "OneMaster")
	step("no Master, 3s on", 3*time.Second, noMaster-3*time.Second, "handover-a", "OneMaster")
	e.agent(t, v.Name, "handover-b", "MASTER")
	step("the Backup took over", 0, 0, "handover-b", "OneMaster")

	// Preemption: the higher priority takes the router back, the lower steps down at its advert.
	e.agent(t, v.Name, "handover-a", "MASTER", prio(200))
	step("two Masters, just now", time.Minute, twoOf, "handover-b", "OneMaster")
	e.agent(t, v.Name, "handover-b", "BACKUP")
	step("the lower one stepped down", 500*time.Millisecond, 0, "handover-a", "OneMaster")

	// Two Masters that outlast one interval and the latency are a split brain.
	e.agent(t, v.Name, "handover-b", "MASTER")
	step("two Masters, just now, again", time.Minute, twoOf, "handover-a", "OneMaster")
	step("two Masters, 1.5s on", 1500*time.Millisecond, 500*time.Millisecond, "handover-a", "OneMaster")
	step("two Masters, 2s on", 500*time.Millisecond, 0, "", "SplitBrain", "Warning SplitBrain 2 nodes are MASTER: handover-a, handover-b")
	e.agent(t, v.Name, "handover-b", "BACKUP")
	step("the split brain ended", time.Second, 0, "handover-a", "OneMaster", "Normal MasterElected node handover-a is MASTER")

	// No Master that outlasts Master_Down_Interval and the latency is NoMaster.
	e.agent(t, v.Name, "handover-a", "FAULT", prio(0))
	step("no Master, just now, again", time.Minute, noMaster, "handover-a", "OneMaster")
	step("no Master past the bound", noMaster, 0, "", "NoMaster",
		"Warning NoMaster no node is MASTER: handover-a FAULT, handover-b BACKUP")
	e.agent(t, v.Name, "handover-a", "MASTER", prio(200))
	step("a Master again", time.Minute, 0, "handover-a", "OneMaster", "Normal MasterElected node handover-a is MASTER")

	// Two Masters for half a second every ten: each within the bound, but the fourth within a
	// minute makes the VirtualIP flapping: Degraded says so, with the gaps still held, until a
	// minute has passed without one.
	for i := 1; i <= 4; i++ {
		e.agent(t, v.Name, "handover-b", "MASTER")
		step(fmt.Sprintf("flap %d", i), 10*time.Second, twoOf, "handover-a", "OneMaster")
		e.agent(t, v.Name, "handover-b", "BACKUP")
		if i < 4 {
			step(fmt.Sprintf("flap %d over", i), 500*time.Millisecond, 0, "handover-a", "OneMaster")
		}
	}
	const flapping = "node handover-a is MASTER; flapping: 4 times without exactly one MASTER within 1m0s"
	degraded := func(what, reason, message string) {
		t.Helper()
		if d := meta.FindStatusCondition(e.get(t, v.Name).Status.Conditions, "Degraded"); d == nil || d.Reason != reason || d.Message != message {
			t.Errorf("%s: Degraded %+v, want reason %s and message %q", what, d, reason, message)
		}
	}
	step("flap 4 over", 500*time.Millisecond, time.Minute-500*time.Millisecond, "handover-a", "OneMaster", "Warning Flapping "+flapping)
	degraded("flap 4 over", "Flapping", flapping)
	rv = e.get(t, v.Name).ResourceVersion
	step("still flapping", 30*time.Second, 29500*time.Millisecond, "handover-a", "OneMaster")
	if got := e.get(t, v.Name).ResourceVersion; got != rv {
		t.Errorf("a reconcile while flapping with nothing changed wrote the VirtualIP: resourceVersion %s, was %s", got, rv)
	}
	// A new leader remembers nothing: it keeps the mark for a minute from when it first looks,
	// without writing or announcing anything, rather than calling the VirtualIP healthy.
	r = &VirtualIPReconciler{Client: e.c, Cluster: e.c, Recorder: rec, Clock: clk}
	step("a new leader", 20*time.Second, time.Minute, "handover-a", "OneMaster")
	degraded("a new leader", "Flapping", flapping)
	if got := e.get(t, v.Name).ResourceVersion; got != rv {
		t.Errorf("a new leader wrote a flapping VirtualIP with nothing changed: resourceVersion %s, was %s", got, rv)
	}
	step("a minute without a gap", time.Minute, 0, "handover-a", "OneMaster", "Normal Healthy node handover-a is MASTER")
	degraded("a minute without a gap", "Healthy", "node handover-a is MASTER")

	// Cordoning and uncordoning handover-a four times in 80s makes eight gaps, each held, none
	// counted: they were asked for (its entry's reason Cordoned, then none).
	const cordoned = 4*time.Second + 996093750*time.Nanosecond // 3s + 255/256 s + 1s: handover-a's priority is 1
	cordon := func(m map[string]any) { m["priority"], m["reason"] = int64(1), "Cordoned" }
	for i := 1; i <= 4; i++ {
		e.agent(t, v.Name, "handover-a", "BACKUP", cordon)
		step(fmt.Sprintf("cordon %d", i), 10*time.Second, cordoned, "handover-a", "OneMaster")
		e.agent(t, v.Name, "handover-b", "MASTER")
		step(fmt.Sprintf("cordon %d, the Backup took over", i), 500*time.Millisecond, 0, "handover-b", "OneMaster")
		e.agent(t, v.Name, "handover-a", "MASTER", prio(200))
		step(fmt.Sprintf("uncordon %d", i), 10*time.Second, twoOf, "handover-b", "OneMaster")
		e.agent(t, v.Name, "handover-b", "BACKUP")
		step(fmt.Sprintf("uncordon %d, handover-a took it back", i), 500*time.Millisecond, 0, "handover-a", "OneMaster")
	}
	degraded("eight gaps asked for", "Healthy", "node handover-a is MASTER")
}
