// Package localcluster proves vrrp-operator the way users run it: a cluster of three nodes, each a
// network namespace with its own kubelet and containerd (hack/cluster.sh), the chart installed with
// Helm from the image make image builds, the agents running as DaemonSet pods with the chart's
// ServiceAccount, RBAC and admission policy and the pods' own bound tokens, and the seed's VirtualIP
// applied with kubectl. A client namespace on the same bridge measures what users see: how long the
// VIP does not answer.
//
// The numbers are reported (testenv.Report), one "cluster-kubelet: ..." line each.
package localcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

func report(t *testing.T, format string, args ...any) {
	t.Helper()
	testenv.Report(t, "cluster-kubelet: "+format, args...)
}

// masterDownInterval of the seed (VRRPv2, 1 s adverts, backup priority 100): RFC 3768 §6.1,
// 3 * Advertisement_Interval + Skew_Time, where Skew_Time = (256 - 100) / 256 s.
const masterDownInterval = 3*time.Second + 156*time.Second/256

func TestHelmInstalledAgentsRunTheSeed(t *testing.T) {
	requireCluster(t)
	c := startCluster(t)

	chart, install := c.installChart()

	if !t.Run("the seed's VirtualIP elects primary, in status, labels and the notify script's flag", func(t *testing.T) {
		start := time.Now()
		c.kubectl("apply", "-f", filepath.Join(testenv.Root(), "config", "samples", "vrrp_v1alpha1_virtualip.yaml"))
		took := eventually(t, 30*time.Second, "primary alone holds the VIP", func() (bool, string) { return onlyHolder("primary") })
		report(t, "kubectl apply of the seed to VIP on primary: %v", took.Round(time.Millisecond))
		eventually(t, 30*time.Second, "status: primary MASTER, the others BACKUP, Ready", func() (bool, string) {
			s, err := c.status("services")
			if err != nil {
				return false, err.Error()
			}
			states, ready := s.states()
			ok := s.Master == "primary" && ready && states["primary"] == "MASTER" &&
				states["secondary"] == "BACKUP" && states["third"] == "BACKUP"
			return ok, fmt.Sprintf("%+v", s)
		})
		report(t, "kubectl apply of the seed to status right: %v", time.Since(start).Round(time.Millisecond))
		eventually(t, 10*time.Second, "the master label on primary alone", func() (bool, string) {
			out := c.kubectl("get", "nodes", "-l", "vrrp.dev/master-services=true", "-o", "name")
			return strings.TrimSpace(out) == "node/primary", out
		})
		eventually(t, 10*time.Second, "the seed's script wrote 1 on primary and 0 elsewhere", func() (bool, string) {
			f := map[string]string{}
			for _, n := range nodes {
				f[n] = c.masterFlag(n)
			}
			return f["primary"] == "1" && f["secondary"] == "0" && f["third"] == "0", fmt.Sprint(f)
		})
		if out, err := run(5*time.Second, nil, "ip", "netns", "exec", clientNS, "ping", "-c", "1", "-W", "1", vip); err != nil {
			t.Fatalf("the VIP does not answer the client: %v\n%s", err, out)
		}
		if got, want := clientMAC(), mac("primary"); got != want {
			t.Errorf("the client resolves %s to %s, want primary's %s", vip, got, want)
		}
		out := c.kubectl("get", "vip", "-o", "wide")
		t.Logf("kubectl get vip -o wide:\n%s", out)
		if !strings.Contains(out, "primary") || !strings.Contains(out, "True") {
			t.Errorf("kubectl get vip -o wide does not show primary and Ready:\n%s", out)
		}
	}) {
		return
	}

	t.Run("the agent, PID 1 of its pod, collects what hooks leave behind", func(t *testing.T) {
		pod, err := c.agentPod("secondary")
		if err != nil {
			t.Fatal(err)
		}
		inPod := func(script string) (string, error) {
			return c.kubectlErr("-n", namespace, "exec", pod, "-c", "agent", "--", "sh", "-c", script)
		}
		// A job that a hook starts in the background (the README's `vpn-client &`) becomes, once
		// the hook exits, a child of PID 1 of the pod, which the agent is; so does this one, once
		// kubectl exec's shell exits. Its zombie is the agent's to collect when it ends. Like a
		// hook's, it is in a process group of its own (the agent leaves its own group's alone).
		out, err := inPod("setsid sleep 8 >/dev/null 2>&1 & echo $!")
		if err != nil {
			t.Fatalf("starting a job in the background in %s: %v\n%s", pod, err, out)
		}
		pid := strings.TrimSpace(out)
		stat := func() (string, error) { return inPod("cat /proc/" + pid + "/stat") }
		eventually(t, 8*time.Second, "the job's parent is PID 1, the agent", func() (bool, string) {
			out, err := stat()
			if err != nil {
				return false, fmt.Sprintf("%v: %s", err, out)
			}
			f := strings.Fields(out[strings.LastIndexByte(out, ')')+1:])
			return len(f) > 1 && f[1] == "1", out
		})
		took := eventually(t, 25*time.Second, "the job collected once it ended (no zombie left in /proc)", func() (bool, string) {
			out, err := stat()
			return err != nil && strings.Contains(out, "No such file"), out
		})
		report(t, "a background job (sleep 8) orphaned to the agent, PID 1 of its pod: collected, no zombie, %v after it was seen the agent's child", took.Round(100*time.Millisecond))
	})

	if !t.Run("kubectl vrrp steers the chart's agents: status, failover --to third and --clear", func(t *testing.T) {
		dir := t.TempDir()
		if err := testenv.BuildPlugin(filepath.Join(dir, "kubectl-vrrp")); err != nil {
			t.Fatal(err)
		}
		// Through kubectl itself, which finds the plugin on PATH; flags before a plugin's name would
		// hide it from kubectl, so the kubeconfig goes in the environment.
		vrrp := func(args ...string) string {
			t.Helper()
			env := []string{"PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH"), "KUBECONFIG=" + c.kubeconfig}
			out, err := run(2*time.Minute, env, bin("kubectl"), append([]string{"vrrp"}, args...)...)
			if err != nil {
				t.Fatalf("kubectl vrrp %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return out
		}
		// Before any handover (the later ones may leave the VirtualIP Flapping for a minute), with
		// the agents' pods running on every node: the plugin counts each entry as live, as the
		// controller does, and sees nothing wrong (exit 0).
		if out := vrrp("status", "services"); !strings.Contains(out, "master primary  ready True") {
			t.Errorf("kubectl vrrp status services:\n%s", out)
		}
		var res struct {
			Master, PreviousMaster string
			Converged              bool
			TookSeconds            float64
		}
		out := vrrp("failover", "services", "--to", "third", "-o", "json")
		if err := json.Unmarshal([]byte(out), &res); err != nil || res.Master != "third" || res.PreviousMaster != "primary" || !res.Converged {
			t.Fatalf("kubectl vrrp failover services --to third: %+v (%v)\n%s", res, err, out)
		}
		eventually(t, 2*time.Second, "third alone holds the VIP", func() (bool, string) { return onlyHolder("third") })
		report(t, "kubectl vrrp failover services --to third: status.master third after %.3fs", res.TookSeconds)
		out = vrrp("failover", "services", "--clear")
		if !strings.Contains(out, "preference for third cleared; primary is Master after ") {
			t.Errorf("kubectl vrrp failover services --clear:\n%s", out)
		}
		eventually(t, 2*time.Second, "primary alone holds the VIP", func() (bool, string) { return onlyHolder("primary") })
		report(t, "kubectl vrrp failover services --clear: %s", strings.TrimSpace(out))
	}) {
		return
	}

	if !t.Run("kubectl cordon moves the VIP and uncordon brings it back", func(t *testing.T) {
		p := startPinger(t)
		time.Sleep(500 * time.Millisecond) // answers before the cordon, to measure the gap from
		c.kubectl("cordon", "primary")
		// secondary and third both have priority 100: the Backup whose Master_Down_Timer runs out
		// first takes over, and the other, hearing an equal priority, stays Backup (RFC 3768 §6.4.2).
		// When both timers run out together both take over, and the one with the lower address
		// steps back at the other's first advert, a few milliseconds later (RFC 9568 §6.4.3): a
		// look between the two sees the one that steps back alone, so each check looks again.
		var next string
		alone := func() (bool, string) {
			hs := holders()
			if len(hs) != 1 || hs[0] == "primary" {
				next = ""
				return false, fmt.Sprint(hs)
			}
			next = hs[0]
			return true, ""
		}
		moved := eventually(t, 10*time.Second, "another node alone holds the VIP", alone)
		followed := eventually(t, 10*time.Second, "the client's neighbour entry follows", func() (bool, string) {
			if ok, held := alone(); !ok {
				return false, held
			}
			return clientMAC() == mac(next), clientMAC()
		}) + moved
		time.Sleep(500 * time.Millisecond)
		gap, answers := p.stop(t)
		report(t, "kubectl cordon to VIP on a Backup (%s): %v, client's neighbour entry on it: %v", next, moved.Round(time.Millisecond), followed.Round(time.Millisecond))
		report(t, "kubectl cordon, longest time the client got no answer: %v (%d answers)", gap.Round(time.Millisecond), answers)
		skew := 156 * time.Second / 256
		if limit := skew + time.Second; gap > limit {
			t.Errorf("the client got no answer for %v, want under Skew_Time + 1 s = %v", gap, limit)
		}
		eventually(t, 10*time.Second, "status: the new Master MASTER, primary cordoned", func() (bool, string) {
			if ok, held := alone(); !ok {
				return false, held
			}
			s, err := c.status("services")
			if err != nil {
				return false, err.Error()
			}
			for _, n := range s.Nodes {
				if n.Node == "primary" && (n.State == "MASTER" || n.Reason != "Cordoned") {
					return false, fmt.Sprintf("%+v", s)
				}
			}
			return s.Master == next, fmt.Sprintf("%+v", s)
		})
		events := c.kubectl("events", "--for", "virtualip/services")
		if !strings.Contains(events, next+" is MASTER") {
			t.Errorf("no BecameMaster event of %s:\n%s", next, events)
		}
		c.kubectl("uncordon", "primary")
		took := eventually(t, 15*time.Second, "primary holds the VIP again", func() (bool, string) { return onlyHolder("primary") })
		report(t, "kubectl uncordon to VIP back on primary: %v (preemption waits Master_Down_Interval %v)", took.Round(time.Millisecond), masterDownInterval.Round(time.Millisecond))
	}) {
		return
	}

	if !t.Run("helm upgrade rolls every agent and the VIP keeps answering", func(t *testing.T) {
		before := podUIDs(t, c)
		p := startPinger(t)
		time.Sleep(500 * time.Millisecond)
		start := time.Now()
		c.helm(6*time.Minute, append([]string{"upgrade", "vrrp-operator", chart, "--set", "agent.podAnnotations.rollout=two"}, install...)...)
		c.kubectl("-n", namespace, "rollout", "status", "ds/"+agentDS, "--timeout=5m")
		eventually(t, 30*time.Second, "primary holds the VIP after the roll", func() (bool, string) { return onlyHolder("primary") })
		rolled := time.Since(start)
		time.Sleep(500 * time.Millisecond)
		gap, answers := p.stop(t)
		after := podUIDs(t, c)
		for n, uid := range before {
			if after[n] == uid || after[n] == "" {
				t.Errorf("the agent pod of %s was not replaced (%s -> %s)", n, uid, after[n])
			}
		}
		report(t, "helm upgrade rolling 3 agents (minReadySeconds 10): %.1fs, longest time the client got no answer: %v (%d answers)",
			rolled.Seconds(), gap.Round(time.Millisecond), answers)
		if gap > masterDownInterval {
			t.Errorf("during the roll the VIP did not answer for %v, want under Master_Down_Interval %v", gap, masterDownInterval)
		}
	}) {
		return
	}

	if !t.Run("deleting the Master's agent pod hands over and the new pod takes the VIP back", func(t *testing.T) {
		pod, err := c.agentPod("primary")
		if err != nil {
			t.Fatal(err)
		}
		c.kubectl("-n", namespace, "delete", "pod", pod, "--wait=false")
		moved := eventually(t, 10*time.Second, "the VIP leaves primary", func() (bool, string) {
			hs := holders()
			return len(hs) == 1 && hs[0] != "primary", fmt.Sprint(hs)
		})
		report(t, "kubectl delete pod of the Master's agent to VIP on a backup: %v", moved.Round(time.Millisecond))
		back := eventually(t, 60*time.Second, "the replacement pod takes the VIP back", func() (bool, string) {
			p, err := c.agentPod("primary")
			if err != nil || p == pod {
				return false, fmt.Sprint(p, err)
			}
			return onlyHolder("primary")
		})
		report(t, "kubectl delete pod of the Master's agent to the replacement holding the VIP: %v", (moved + back).Round(time.Millisecond))
	}) {
		return
	}

	t.Run("an agent pod's own token may not write another node's label or status entry", func(t *testing.T) {
		pod, err := c.agentPod("secondary")
		if err != nil {
			t.Fatal(err)
		}
		token := strings.TrimSpace(c.kubectl("-n", namespace, "exec", pod, "-c", "agent", "--",
			"cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"))
		cfg := &rest.Config{Host: "https://198.51.100.1:443", BearerToken: token,
			TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(c.dir, "pki", "ca.crt")}}
		log.SetLogger(testr.New(t))
		agent, err := client.New(cfg, client.Options{Scheme: scheme(t)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var vip vrrpv1.VirtualIP
		if err := agent.Get(ctx, client.ObjectKey{Name: "services"}, &vip); err != nil {
			t.Fatalf("the agent's token cannot even read VirtualIPs: %v", err)
		}
		i := slices.IndexFunc(vip.Status.Nodes, func(e vrrpv1.NodeStatus) bool { return e.Node == "primary" })
		if i < 0 {
			t.Fatalf("no status entry of primary: %+v", vip.Status.Nodes)
		}
		entry := fmt.Sprintf(`[{"op":"test","path":"/status/nodes/%d/node","value":"primary"},{"op":"replace","path":"/status/nodes/%d/state","value":"FAULT"}]`, i, i)
		refusals := map[string]error{
			"the master label of primary": agent.Patch(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "primary"}},
				client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"vrrp.dev/master-services":"true"}}}`))),
			"primary's status entry": agent.Status().Patch(ctx, &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "services"}},
				client.RawPatch(types.JSONPatchType, []byte(entry))),
		}
		for what, err := range refusals {
			if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "vrrp-operator-agent-node-scope") {
				t.Errorf("the agent of secondary wrote %s: got %v, want the node-scope policy's refusal", what, err)
				continue
			}
			t.Logf("refused as it should be: %s: %v", what, err)
		}
		// Its own Node's label is its to write: the same token is not simply powerless.
		own := agent.Patch(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "secondary"}},
			client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"vrrp.dev/master-services":null}}}`)))
		if own != nil {
			t.Errorf("the agent of secondary may not clear its own master label: %v", own)
		}
	})

	t.Run("helm uninstall leaves no VIP and no master label", func(t *testing.T) {
		eventually(t, 10*time.Second, "a master label before the uninstall", func() (bool, string) {
			out := c.kubectl("get", "nodes", "-l", "vrrp.dev/master-services=true", "-o", "name")
			return strings.TrimSpace(out) == "node/primary", out
		})
		// The agents' last known configuration holds the seed's password: an uninstall removes it.
		for _, n := range nodes {
			if _, err := os.Stat(c.lastKnown(n)); err != nil {
				t.Errorf("before the uninstall, %s has no last known configuration: %v", n, err)
			}
		}
		start := time.Now()
		c.helm(3*time.Minute, "uninstall", "vrrp-operator", "--namespace", namespace, "--wait", "--timeout", "2m")
		uninstalled := time.Since(start)
		took := eventually(t, 60*time.Second, "no node holds the VIP", func() (bool, string) {
			hs := holders()
			return len(hs) == 0, fmt.Sprint(hs)
		})
		report(t, "helm uninstall (its pre-delete hook stops every agent first): %.1fs, then the VIP gone from every node after %v",
			uninstalled.Seconds(), took.Round(time.Millisecond))
		eventually(t, 30*time.Second, "no node has a master label", func() (bool, string) {
			out := c.kubectl("get", "nodes", "-o", "jsonpath={range .items[*]}{.metadata.name}={.metadata.labels}{\"\\n\"}{end}")
			return !strings.Contains(out, "vrrp.dev/master-"), out
		})
		eventually(t, 60*time.Second, "no agent pod left", func() (bool, string) {
			out := c.kubectl("-n", namespace, "get", "pods", "-o", "name")
			return strings.TrimSpace(out) == "", out
		})
		for _, n := range nodes {
			if f := c.masterFlag(n); f == "1" {
				t.Errorf("the seed's master flag on %s still says 1 after uninstall", n)
			}
			if _, err := os.Stat(c.lastKnown(n)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("after the uninstall, %s keeps its last known configuration, with the seed's password: %v", n, err)
			}
		}
	})
}

// podUIDs is node -> UID of its agent pod.
func podUIDs(t *testing.T, c *cluster) map[string]string {
	t.Helper()
	out := c.kubectl("-n", namespace, "get", "pods", "-l", "app.kubernetes.io/component=agent",
		"-o", "jsonpath={range .items[*]}{.spec.nodeName}={.metadata.uid}{\"\\n\"}{end}")
	m := map[string]string{}
	for _, line := range strings.Fields(out) {
		if n, uid, ok := strings.Cut(line, "="); ok {
			m[n] = uid
		}
	}
	if len(m) != len(nodes) {
		t.Fatalf("agent pods on %v, want one on each of %v", m, nodes)
	}
	return m
}

// scheme knows the core types and VirtualIP.
func scheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := vrrpv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}
