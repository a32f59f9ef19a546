package localcluster

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// The seed's VPN client as a workload: pods labelled app=vpn-client in their own namespace, one
// per node that may hold the VIP, and a pods check of spec.track that follows them.
const (
	vpnNS    = "vpn"
	vpnCheck = "vpn-client"
)

var vpnLabels = map[string]string{"app": "vpn-client"}

// TestPodsCheckFollowsTheVPNPod tracks the VPN client pods with a pods check without a weight, on
// the seed's VirtualIP: a node without a Ready one is FAULT (CheckFailed), so deleting the Master's
// pod moves the VIP at once (the Master in FAULT sends priority 0, RFC 3768 §6.4.3, and the Backup
// takes over after Skew_Time), and the pod returning brings it back by preemption.
func TestPodsCheckFollowsTheVPNPod(t *testing.T) {
	requireCluster(t)
	c := startCluster(t)
	c.installChart()
	admin := c.client(t)
	ctx := context.Background()

	if !t.Run("the chart's ClusterRole lets the agents watch pods", func(t *testing.T) {
		sa := strings.TrimSpace(c.kubectl("-n", namespace, "get", "ds", agentDS, "-o", "jsonpath={.spec.template.spec.serviceAccountName}"))
		as := "system:serviceaccount:" + namespace + ":" + sa
		for _, verb := range []string{"get", "list", "watch"} {
			out, err := c.kubectlErr("auth", "can-i", verb, "pods", "--all-namespaces", "--as", as)
			if strings.TrimSpace(out) != "yes" {
				t.Errorf("kubectl auth can-i %s pods --as %s: %q (%v), want yes", verb, as, strings.TrimSpace(out), err)
			}
		}
		// Read-only: the rule must not let a node's agent touch workloads.
		if out, _ := c.kubectlErr("auth", "can-i", "delete", "pods", "--all-namespaces", "--as", as); strings.TrimSpace(out) != "no" {
			t.Errorf("kubectl auth can-i delete pods --as %s: %q, want no", as, strings.TrimSpace(out))
		}
	}) {
		return
	}

	// The client runs the project's image, already in every node's containerd (nothing can be
	// pulled here): its busybox shell waits until SIGTERM. restricted, as workloads should be.
	image := strings.TrimSpace(c.kubectl("-n", namespace, "get", "ds", agentDS, "-o", "jsonpath={.spec.template.spec.containers[0].image}"))
	c.kubectl("create", "namespace", vpnNS)
	c.kubectl("label", "namespace", vpnNS, "pod-security.kubernetes.io/enforce=restricted")
	start := time.Now()
	for _, n := range []string{"primary", "secondary"} {
		if err := admin.Create(ctx, vpnPod(n, image)); err != nil {
			t.Fatalf("creating the VPN client pod on %s: %v", n, err)
		}
	}
	for _, n := range []string{"primary", "secondary"} {
		eventually(t, 60*time.Second, "the VPN client pod on "+n+" Ready", func() (bool, string) { return podReady(ctx, admin, vpnPodName(n)) })
	}
	report(t, "VPN client pods on primary and secondary created to Ready: %v", time.Since(start).Round(time.Millisecond))

	if !t.Run("a pods check without a weight leaves the Master where its pod is and FAULTs the node without one", func(t *testing.T) {
		c.kubectl("apply", "-f", filepath.Join(testenv.Root(), "config", "samples", "vrrp_v1alpha1_virtualip.yaml"))
		eventually(t, 30*time.Second, "primary alone holds the VIP", func() (bool, string) { return onlyHolder("primary") })
		start := time.Now()
		c.kubectl("patch", "virtualip", "services", "--type", "merge", "-p",
			fmt.Sprintf(`{"spec":{"track":[{"name":%q,"pods":{"namespace":%q,"selector":{"matchLabels":{"app":"vpn-client"}}}}]}}`, vpnCheck, vpnNS))
		eventually(t, 30*time.Second, "status: primary MASTER and secondary BACKUP with the check Passing, third FAULT CheckFailed with it Failing", func() (bool, string) {
			return trackStatus(ctx, admin, "primary", want{"primary", "MASTER", "", vrrpv1.CheckPassing},
				want{"secondary", "BACKUP", "", vrrpv1.CheckPassing}, want{"third", "FAULT", vrrpv1.ReasonCheckFailed, vrrpv1.CheckFailing})
		})
		report(t, "kubectl patch adding the pods check to every node's check state in status: %v", time.Since(start).Round(time.Millisecond))
		if ok, detail := onlyHolder("primary"); !ok {
			t.Errorf("adding the check moved the VIP: %s", detail)
		}
		logStatus(ctx, t, admin)
	}) {
		return
	}

	if !t.Run("deleting the VPN client pod on the Master's node moves the VIP to the node that has one", func(t *testing.T) {
		p := startPinger(t)
		time.Sleep(500 * time.Millisecond) // answers before the delete, to measure the gap from
		start := time.Now()
		if err := admin.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: vpnPodName("primary"), Namespace: vpnNS}}); err != nil {
			t.Fatalf("deleting the VPN client pod on primary: %v", err)
		}
		// Every wait below runs from the delete: each is the time until that one thing is seen.
		var moved, followed, master time.Duration
		eventually(t, 10*time.Second, "secondary alone holds the VIP and the client's neighbour entry follows", func() (bool, string) {
			if moved == 0 {
				if ok, _ := onlyHolder("secondary"); ok {
					moved = time.Since(start)
				}
			}
			if followed == 0 && clientMAC() == mac("secondary") {
				followed = time.Since(start)
			}
			return moved > 0 && followed > 0, fmt.Sprintf("held by %v, the client resolves it to %s", holders(), clientMAC())
		})
		eventually(t, 10*time.Second, "status: master secondary, primary FAULT CheckFailed with the check Failing", func() (bool, string) {
			if master == 0 {
				if vip, err := getVIP(ctx, admin); err == nil && vip.Status.Master == "secondary" {
					master = time.Since(start)
				}
			}
			return trackStatus(ctx, admin, "secondary", want{"primary", "FAULT", vrrpv1.ReasonCheckFailed, vrrpv1.CheckFailing},
				want{"secondary", "MASTER", "", vrrpv1.CheckPassing}, want{"third", "FAULT", vrrpv1.ReasonCheckFailed, vrrpv1.CheckFailing})
		})
		inStatus := time.Since(start)
		time.Sleep(500 * time.Millisecond)
		gap, answers := p.stop(t)
		report(t, "delete of the VPN pod on the Master's node to VIP on secondary: %v, the client's neighbour entry on it: %v, status.master secondary: %v, the whole status right: %v",
			moved.Round(time.Millisecond), followed.Round(time.Millisecond), master.Round(time.Millisecond), inStatus.Round(time.Millisecond))
		report(t, "delete of the VPN pod on the Master's node, longest time the client got no answer: %v (%d answers)", gap.Round(time.Millisecond), answers)
		// FAULT sends priority 0 at once: the Backup takes over after Skew_Time, not Master_Down_Interval.
		skew := 156 * time.Second / 256
		if limit := skew + time.Second; moved > limit || gap > limit {
			t.Errorf("the VIP moved after %v and the client got no answer for %v, want both under Skew_Time + 1 s = %v", moved, gap, limit)
		}
		logStatus(ctx, t, admin)
		events := c.kubectl("events", "--for", "virtualip/services")
		for _, want := range []string{"node primary: check " + vpnCheck + " failing", "secondary is MASTER"} {
			if !strings.Contains(events, want) {
				t.Errorf("no event %q:\n%s", want, events)
			}
		}
	}) {
		return
	}

	t.Run("the VPN client pod back on the Master's node brings the VIP back", func(t *testing.T) {
		eventually(t, 60*time.Second, "the deleted pod gone", func() (bool, string) {
			err := admin.Get(ctx, client.ObjectKey{Namespace: vpnNS, Name: vpnPodName("primary")}, &corev1.Pod{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
		start := time.Now()
		if err := admin.Create(ctx, vpnPod("primary", image)); err != nil {
			t.Fatalf("creating the VPN client pod on primary again: %v", err)
		}
		ready := eventually(t, 60*time.Second, "the new VPN client pod on primary Ready", func() (bool, string) { return podReady(ctx, admin, vpnPodName("primary")) })
		var checkPassing time.Duration
		back := eventually(t, 30*time.Second, "primary alone holds the VIP", func() (bool, string) {
			if checkPassing == 0 {
				if vip, err := getVIP(ctx, admin); err == nil {
					if e := entry(vip, "primary"); e != nil && checkState(e, vpnCheck) == vrrpv1.CheckPassing {
						checkPassing = time.Since(start)
					}
				}
			}
			return onlyHolder("primary")
		}) + ready
		eventually(t, 10*time.Second, "status: primary MASTER with the check Passing, secondary BACKUP", func() (bool, string) {
			return trackStatus(ctx, admin, "primary", want{"primary", "MASTER", "", vrrpv1.CheckPassing},
				want{"secondary", "BACKUP", "", vrrpv1.CheckPassing}, want{"third", "FAULT", vrrpv1.ReasonCheckFailed, vrrpv1.CheckFailing})
		})
		// Out of FAULT, primary is a Backup that follows no Master yet: it preempts when its own
		// Master_Down_Timer runs out (RFC 3768 §6.4.2), 3 s + Skew_Time at priority 150.
		primaryDown := 3*time.Second + (256-150)*time.Second/256
		report(t, "VPN pod recreated on primary: Ready after %v, its check Passing in status after %v, VIP back on primary after %v (primary's Master_Down_Interval %v)",
			ready.Round(time.Millisecond), checkPassing.Round(time.Millisecond), back.Round(time.Millisecond), primaryDown.Round(time.Millisecond))
		if limit := primaryDown + time.Second; back-ready > limit {
			t.Errorf("the VIP came back %v after the pod was Ready, want under primary's Master_Down_Interval + 1 s = %v", back-ready, limit)
		}
		logStatus(ctx, t, admin)
		if events := c.kubectl("events", "--for", "virtualip/services"); !strings.Contains(events, "node primary: check "+vpnCheck+" passing") {
			t.Errorf("no event of the check passing again on primary:\n%s", events)
		}
	})
}

// client is a controller-runtime client as the cluster's admin.
func (c *cluster) client(t *testing.T) client.Client {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		t.Fatalf("reading %s: %v", c.kubeconfig, err)
	}
	log.SetLogger(testr.New(t))
	cl, err := client.New(cfg, client.Options{Scheme: scheme(t)})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func vpnPodName(node string) string { return "vpn-client-" + node }

// vpnPod is a VPN client stand-in pinned to node: busybox's shell waiting for SIGTERM, which ends
// it at once (sh as PID 1 would otherwise ignore the signal until the grace period runs out).
func vpnPod(node, image string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: vpnPodName(node), Namespace: vpnNS, Labels: vpnLabels},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			TerminationGracePeriodSeconds: ptr.To[int64](5),
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name:            "client",
				Image:           image,
				ImagePullPolicy: corev1.PullNever,
				Command:         []string{"/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			}},
		},
	}
}

func podReady(ctx context.Context, c client.Client, name string) (bool, string) {
	var pod corev1.Pod
	if err := c.Get(ctx, client.ObjectKey{Namespace: vpnNS, Name: name}, &pod); err != nil {
		return false, err.Error()
	}
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
			return true, ""
		}
	}
	return false, fmt.Sprintf("%s %+v %+v", pod.Status.Phase, pod.Status.Conditions, pod.Status.ContainerStatuses)
}

func getVIP(ctx context.Context, c client.Client) (*vrrpv1.VirtualIP, error) {
	var vip vrrpv1.VirtualIP
	if err := c.Get(ctx, client.ObjectKey{Name: "services"}, &vip); err != nil {
		return nil, fmt.Errorf("getting VirtualIP services: %w", err)
	}
	return &vip, nil
}

func entry(vip *vrrpv1.VirtualIP, node string) *vrrpv1.NodeStatus {
	i := slices.IndexFunc(vip.Status.Nodes, func(e vrrpv1.NodeStatus) bool { return e.Node == node })
	if i < 0 {
		return nil
	}
	return &vip.Status.Nodes[i]
}

func checkState(e *vrrpv1.NodeStatus, name string) vrrpv1.CheckState {
	for _, ch := range e.Checks {
		if ch.Name == name {
			return ch.State
		}
	}
	return ""
}

// want is one node's expected status entry: its state, reason ("" for any) and the VPN check's state.
type want struct {
	node   string
	state  vrrpv1.RouterState
	reason string
	check  vrrpv1.CheckState
}

// trackStatus reports whether status names master and every entry is as wanted.
func trackStatus(ctx context.Context, c client.Client, master string, wants ...want) (bool, string) {
	vip, err := getVIP(ctx, c)
	if err != nil {
		return false, err.Error()
	}
	var got []string
	ok := vip.Status.Master == master
	for _, w := range wants {
		e := entry(vip, w.node)
		if e == nil {
			ok = false
			got = append(got, w.node+": no entry")
			continue
		}
		got = append(got, fmt.Sprintf("%s: %s %s priority %d check %s", e.Node, e.State, e.Reason, e.Priority, checkState(e, vpnCheck)))
		if e.State != w.state || w.reason != "" && e.Reason != w.reason || checkState(e, vpnCheck) != w.check {
			ok = false
		}
	}
	return ok, fmt.Sprintf("master %q; %s", vip.Status.Master, strings.Join(got, "; "))
}

// logStatus logs each node's entry with its check, as users read it.
func logStatus(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	vip, err := getVIP(ctx, c)
	if err != nil {
		t.Log(err)
		return
	}
	for _, e := range vip.Status.Nodes {
		for _, ch := range e.Checks {
			since := ""
			if ch.Since != nil {
				since = ch.Since.UTC().Format(time.RFC3339)
			}
			t.Logf("%s: %s %s priority %d; check %s %s since %s: %s", e.Node, e.State, e.Reason, e.Priority, ch.Name, ch.State, since, ch.Message)
		}
	}
}
