package localcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vrrp-dev/vrrp-operator/agent/kube"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// The cluster of hack/cluster.sh: its names and addresses are fixed there.
const (
	vip       = "198.51.100.252"
	namespace = "vrrp-system"
	clientNS  = "vrrpk-client"
	agentDS   = "vrrp-operator-agent"
)

var (
	nodes = []string{"primary", "secondary", "third"}
	links = map[string]string{"primary": "ens3", "secondary": "eth0", "third": "eth0"}
)

// cluster is a running hack/cluster.sh cluster.
type cluster struct {
	t          *testing.T
	dir        string // CLUSTER_DIR
	kubeconfig string
	helmHome   string
}

// bin is the path of bin/NAME.
func bin(name string) string { return filepath.Join(testenv.Root(), "bin", name) }

// requireCluster stops the test where a cluster cannot run: it needs root, the kube binaries, the
// node runtime from Debian and minutes, so -short skips it too.
func requireCluster(t *testing.T) {
	t.Helper()
	if testing.Short() {
		testenv.Unavailable(t, "the local cluster takes minutes: not in -short mode")
	}
	testenv.RequireRoot(t)
	for _, tool := range []string{"containerd", "runc", "ctr", "nsenter", "unshare", "openssl", "iptables", "ping", "make"} {
		testenv.RequireTool(t, tool)
	}
	for _, b := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "etcd", "kubectl", "helm"} {
		if _, err := os.Stat(bin(b)); err != nil {
			testenv.Unavailable(t, "test needs bin/"+b+": run make kube-binaries")
		}
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		testenv.Unavailable(t, "test needs the CNI plugins: apt-get install containernetworking-plugins")
	}
	if _, err := os.Stat("/sys/fs/cgroup/pids"); err != nil {
		testenv.Unavailable(t, "hack/cluster.sh needs cgroup v1 hierarchies (boot with systemd.unified_cgroup_hierarchy=0)")
	}
}

// startCluster builds the images (no deadline: a cold Go cache takes minutes), replaces whatever
// cluster hack/cluster.sh left, starts one, loads the project's image and removes it all when the
// test ends, pass or fail.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	build := exec.Command("make", "--no-print-directory", "image", "pause-image")
	build.Dir = testenv.Root()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make image pause-image: %v\n%s", err, out)
	}
	c := &cluster{t: t, dir: filepath.Join(testenv.Root(), "bin", "cluster"), helmHome: t.TempDir()}
	c.kubeconfig = filepath.Join(c.dir, "admin.kubeconfig")
	c.script("down")
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs()
		}
		c.script("down")
	})
	start := time.Now()
	c.script("up")
	testenv.Report(t, "cluster: hack/cluster.sh up, 3 nodes Ready: %.1fs", time.Since(start).Seconds())
	c.script("load", bin("vrrp-operator-image.tar"))
	return c
}

func (c *cluster) script(args ...string) string {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(testenv.Root(), "hack", "cluster.sh"), args...)
	cmd.Env = append(os.Environ(), "CLUSTER_DIR="+c.dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.t.Fatalf("hack/cluster.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// dumpLogs logs the last lines of every component's log and the agents' logs.
func (c *cluster) dumpLogs() {
	entries, _ := os.ReadDir(filepath.Join(c.dir, "logs"))
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(c.dir, "logs", e.Name()))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		c.t.Logf("%s (last lines):\n%s", e.Name(), strings.Join(lines, "\n"))
	}
	if out, err := c.kubectlErr("-n", namespace, "logs", "ds/"+agentDS, "--all-pods", "--tail=30", "--prefix"); err == nil {
		c.t.Logf("agent logs:\n%s", out)
	}
}

// run runs a command with a deadline and returns its combined output.
func run(timeout time.Duration, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (c *cluster) kubectlErr(args ...string) (string, error) {
	return run(60*time.Second, nil, bin("kubectl"), append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
}

// kubectl runs bin/kubectl as the cluster's admin and fails the test on error.
func (c *cluster) kubectl(args ...string) string {
	c.t.Helper()
	out, err := c.kubectlErr(args...)
	if err != nil {
		c.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// helm runs bin/helm with a private home, so that nothing of the user's Helm setup takes part.
func (c *cluster) helm(timeout time.Duration, args ...string) string {
	c.t.Helper()
	env := []string{
		"KUBECONFIG=" + c.kubeconfig,
		"HELM_CACHE_HOME=" + filepath.Join(c.helmHome, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(c.helmHome, "config"),
		"HELM_DATA_HOME=" + filepath.Join(c.helmHome, "data"),
	}
	out, err := run(timeout, env, bin("helm"), args...)
	if err != nil {
		c.t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// holders lists the nodes whose VRRP interface carries the VIP.
func holders() []string {
	var hs []string
	for _, n := range nodes {
		out, err := exec.Command("ip", "-n", "vrrpk-"+n, "-br", "addr", "show", "dev", links[n]).Output()
		if err == nil && strings.Contains(string(out), " "+vip+"/") {
			hs = append(hs, n)
		}
	}
	return hs
}

// onlyHolder reports whether node alone holds the VIP.
func onlyHolder(node string) (bool, string) {
	hs := holders()
	return len(hs) == 1 && hs[0] == node, fmt.Sprintf("held by %v", hs)
}

func mac(node string) string {
	out, _ := exec.Command("ip", "-n", "vrrpk-"+node, "-br", "link", "show", links[node]).Output()
	if f := strings.Fields(string(out)); len(f) >= 3 {
		return f[2]
	}
	return ""
}

// clientMAC is the MAC in the client's neighbour entry for the VIP.
func clientMAC() string {
	out, _ := exec.Command("ip", "-n", clientNS, "neigh", "show", vip).Output()
	f := strings.Fields(string(out))
	for i := range len(f) - 1 {
		if f[i] == "lladdr" {
			return f[i+1]
		}
	}
	return ""
}

// masterFlag is what the seed's notify script last wrote on node (its hostPath /run/vrrp-operator).
func (c *cluster) masterFlag(node string) string {
	b, err := os.ReadFile(filepath.Join(c.dir, "nodes", node, "fs", "_run_vrrp-operator", "master_status"))
	if err != nil {
		return "none"
	}
	return strings.TrimSpace(string(b))
}

// lastKnown is the path of node's last known configuration (in its hostPath /var/lib/vrrp-operator).
func (c *cluster) lastKnown(node string) string {
	return filepath.Join(c.dir, "nodes", node, "fs", "_var_lib_vrrp-operator", kube.SnapshotFile)
}

// eventually is testenv.Eventually.
var eventually = testenv.Eventually

// vipStatus is the part of a VirtualIP's status the tests read.
type vipStatus struct {
	Master     string `json:"master"`
	Conditions []struct {
		Type   string `json:"type"`
		Status string `json:"status"`
		Reason string `json:"reason"`
	} `json:"conditions"`
	Nodes []struct {
		Node   string `json:"node"`
		State  string `json:"state"`
		Reason string `json:"reason"`
	} `json:"nodes"`
}

func (c *cluster) status(name string) (vipStatus, error) {
	var s struct {
		Status vipStatus `json:"status"`
	}
	out, err := c.kubectlErr("get", "virtualip", name, "-o", "json")
	if err != nil {
		return s.Status, fmt.Errorf("%w: %s", err, out)
	}
	err = json.Unmarshal([]byte(out), &s)
	return s.Status, err
}

// states is node -> state of the status entries, and whether Ready is True.
func (s vipStatus) states() (map[string]string, bool) {
	m := map[string]string{}
	for _, n := range s.Nodes {
		m[n.Node] = n.State
	}
	ready := false
	for _, c := range s.Conditions {
		if c.Type == "Ready" {
			ready = c.Status == "True"
		}
	}
	return m, ready
}

// pinger pings the VIP from the client every 10 ms and tells the longest time without an answer.
type pinger struct {
	cmd *exec.Cmd
	out testenv.Buffer
}

func startPinger(t *testing.T) *pinger {
	t.Helper()
	p := &pinger{}
	p.cmd = exec.Command("ip", "netns", "exec", clientNS, "ping", "-D", "-n", "-i", "0.01", "-W", "1", vip)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting ping: %v", err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _, _ = p.cmd.Process.Wait() })
	return p
}

var replyLine = regexp.MustCompile(`^\[(\d+\.\d+)\] \d+ bytes from`)

// stop ends the pings and returns the longest time between two answers and how many there were.
func (p *pinger) stop(t *testing.T) (time.Duration, int) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	_ = p.cmd.Wait()
	var prev, longest float64
	n := 0
	for _, line := range strings.Split(p.out.String(), "\n") {
		m := replyLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		ts, _ := strconv.ParseFloat(m[1], 64)
		if n > 0 && ts-prev > longest {
			longest = ts - prev
		}
		prev = ts
		n++
	}
	if n < 2 {
		t.Fatalf("the client got %d answers from %s:\n%s", n, vip, p.out.String())
	}
	return time.Duration(longest * float64(time.Second)), n
}

// agentPod is the name of the agent pod on node.
func (c *cluster) agentPod(node string) (string, error) {
	out, err := c.kubectlErr("-n", namespace, "get", "pods", "-l", "app.kubernetes.io/component=agent",
		"--field-selector", "spec.nodeName="+node+",status.phase=Running", "-o", "jsonpath={.items[*].metadata.name}")
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, out)
	}
	names := strings.Fields(out)
	if len(names) != 1 {
		return "", fmt.Errorf("%d running agent pods on %s: %v", len(names), node, names)
	}
	return names[0], nil
}

// installChart installs the chart from the image make image built, with the seed's values (its
// hook script and hostPath) but no VirtualIP: the tests apply theirs with kubectl. It returns the
// chart's path and the install flags, for helm upgrade.
func (c *cluster) installChart() (chart string, install []string) {
	c.t.Helper()
	// The release namespace must admit privileged pods: this cluster enforces baseline elsewhere.
	c.kubectl("create", "namespace", namespace)
	c.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=privileged")
	chart = filepath.Join(testenv.Root(), "charts", "vrrp-operator")
	seedValues := filepath.Join(chart, "examples", "seed-values.yaml")
	install = []string{"--namespace", namespace, "-f", seedValues, "--set-json", "virtualIPs=[]",
		"--set", "image.repository=vrrp-operator", "--set", "image.tag=dev", "--wait", "--timeout", "3m"}
	start := time.Now()
	c.helm(4*time.Minute, append([]string{"install", "vrrp-operator", chart}, install...)...)
	report(c.t, "helm install --wait, every agent and controller pod Ready: %.1fs", time.Since(start).Seconds())
	return chart, install
}
