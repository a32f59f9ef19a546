package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/controllers"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// agentBinary is built once by TestMain.
var agentBinary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "vrrp-cluster-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	agentBinary = filepath.Join(dir, "vrrp-operator")
	if err := testenv.BuildAgent(agentBinary); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// agentNamespace is the agents' namespace, as the chart's release namespace: their ServiceAccount's
// and the authentication Secret's.
const agentNamespace = "vrrp-system"

// agent is one agent process in a node's namespace, authenticated as the agent's ServiceAccount.
type agent struct {
	t    testing.TB
	host *testenv.Host
	node string
	args []string
	log  *testenv.Buffer
	cmd  *exec.Cmd
	done chan struct{}
}

func startAgent(t testing.TB, h *testenv.Host, node string, args ...string) *agent {
	t.Helper()
	a := &agent{t: t, host: h, node: node, args: args, log: &testenv.Buffer{}}
	a.start()
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			t.Logf("agent %s log:\n%s", node, a.log.String())
		}
	})
	return a
}

func (a *agent) start() {
	a.t.Helper()
	args := append([]string{"agent", "--node-name", a.node, "--namespace", agentNamespace}, a.args...)
	a.cmd = a.host.Command(context.Background(), agentBinary, args...)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	a.cmd.WaitDelay = 5 * time.Second
	if err := a.cmd.Start(); err != nil {
		a.t.Fatalf("starting agent %s: %v", a.node, err)
	}
	a.done = make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(a.done) }()
}

// stop sends SIGTERM and waits for the agent to leave cleanly, killing it after 30 s.
func (a *agent) stop() {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	_ = a.cmd.Process.Signal(os.Interrupt)
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
	}
	a.cmd = nil
}

// transitions counts the state changes the agent logged.
func (a *agent) transitions() int {
	return strings.Count(a.log.String(), `msg="state changed"`)
}

// eventually is testenv.Eventually.
var eventually = testenv.Eventually

// holds reports whether the host's interface carries the address.
func holds(h *testenv.Host, addr string) bool {
	out, err := exec.Command("ip", "-n", h.Name, "-br", "addr", "show", "dev", h.Link).Output()
	return err == nil && strings.Contains(string(out), " "+addr+"/")
}

// agentAccess installs the agent's generated ClusterRole and the Role of its namespace (the
// Secrets there), binds them to the agent's ServiceAccount, and installs the admission policy that
// scopes the agent to its own node. Agents then act as that ServiceAccount with a node-bound token's
// extra (see agentKubeconfig).
func agentAccess(t testing.TB, c client.Client) {
	t.Helper()
	ctx := context.Background()
	role, nsRole := &rbacv1.ClusterRole{}, &rbacv1.Role{}
	decodeFile(t, filepath.Join(testenv.Root(), "config", "rbac", "agent", "role.yaml"), role, nsRole)
	must(t, c.Create(ctx, role))
	must(t, c.Create(ctx, nsRole))
	sa := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "vrrp-operator-agent", Namespace: agentNamespace}}
	binding := &rbacv1.ClusterRoleBinding{}
	binding.Name = "vrrp-operator-agent"
	binding.RoleRef = rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name}
	binding.Subjects = sa
	must(t, c.Create(ctx, binding))
	nsBinding := &rbacv1.RoleBinding{}
	nsBinding.Name, nsBinding.Namespace = nsRole.Name, nsRole.Namespace
	nsBinding.RoleRef = rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: nsRole.Name}
	nsBinding.Subjects = sa
	must(t, c.Create(ctx, nsBinding))
	policy, policyBinding := &admissionv1.ValidatingAdmissionPolicy{}, &admissionv1.ValidatingAdmissionPolicyBinding{}
	decodeFile(t, filepath.Join(testenv.Root(), "config", "rbac", "agent", "node_scope_policy.yaml"), policy, policyBinding)
	must(t, c.Create(ctx, policy))
	must(t, c.Create(ctx, policyBinding))
}

// agentKubeconfig is a kubeconfig that acts as the agent's ServiceAccount with the user extra a
// token bound to a pod on node carries, the way the kubelet-mounted token of a DaemonSet pod does.
// envtest issues client certificates, which carry no extra, so the admin impersonates.
func agentKubeconfig(t testing.TB, admin, dir, node string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(admin)
	must(t, err)
	for _, a := range cfg.AuthInfos {
		a.Impersonate = "system:serviceaccount:vrrp-system:vrrp-operator-agent"
		a.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:vrrp-system", "system:authenticated"}
		a.ImpersonateUserExtra = map[string][]string{"authentication.kubernetes.io/node-name": {node}}
	}
	p := filepath.Join(dir, node+".kubeconfig")
	must(t, clientcmd.WriteToFile(*cfg, p))
	return p
}

// decodeFile decodes the YAML documents of file into objs, in order.
func decodeFile(t testing.TB, file string, objs ...any) {
	t.Helper()
	f, err := os.Open(file)
	must(t, err)
	defer f.Close()
	d := yaml.NewYAMLOrJSONDecoder(f, 4096)
	for _, o := range objs {
		if err := d.Decode(o); err != nil {
			t.Fatalf("decoding %s: %v", file, err)
		}
	}
}

// process is the kube-apiserver as a process. The test freezes it (SIGSTOP) rather than stopping
// it: envtest cannot restart an API server with the same certificates, and a frozen server is the
// harder case for clients, whose requests hang instead of being refused.
type process struct{ pid int }

// apiServerProcess finds the kube-apiserver serving host (https://ADDR:PORT).
func apiServerProcess(t testing.TB, host string) *process {
	t.Helper()
	host = strings.TrimRight(host, "/")
	port := host[strings.LastIndex(host, ":")+1:]
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if strings.HasSuffix(args[0], "kube-apiserver") && slices.Contains(args, "--secure-port="+port) {
			return &process{pid: pid}
		}
	}
	t.Fatalf("no kube-apiserver process serves port %s", port)
	return nil
}

func (p *process) freeze(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(p.pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("freezing the API server: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Kill(p.pid, syscall.SIGCONT) })
}

func (p *process) thaw(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(p.pid, syscall.SIGCONT); err != nil {
		t.Fatalf("thawing the API server: %v", err)
	}
}

// ping fails the test unless addr answers one ping from h within a second.
func ping(t *testing.T, h *testenv.Host, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if out, err := h.Command(ctx, "ping", "-c1", "-W1", addr).CombinedOutput(); err != nil {
		t.Fatalf("the VIP %s does not answer: %v\n%s", addr, err, out)
	}
}

// controllerOptions are the options of the controller's manager in these tests. Each test runs its
// own controller in this process, and controller-runtime refuses a second controller of one name
// unless told that they are separate managers.
func controllerOptions(scheme *runtime.Scheme) ctrl.Options {
	return ctrl.Options{
		Scheme:     scheme,
		Cache:      controllers.CacheOptions(),
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
	}
}

// seedLab is what TestCluster and TestKubectlVRRP share: three node namespaces (primary on ens3,
// secondary and third on eth0) beside a real kube-apiserver, the seed's namespace, Secret and Nodes,
// the agents' access, the controller in this process (stopController stops it), and one agent per
// node authenticated as the agent's ServiceAccount.
type seedLab struct {
	lab            *testenv.Lab
	hosts          map[string]*testenv.Host
	agents         map[string]*agent
	env            *envtest.Environment
	cfg            *rest.Config
	scheme         *runtime.Scheme
	c              client.Client
	ctx            context.Context
	dir, admin     string
	stopController context.CancelFunc
	// controllerWrites counts the controller's mutating requests.
	controllerWrites *writeCounter
}

func newSeedLab(t testing.TB) *seedLab {
	t.Helper()
	return newSeedLabArgs(t, "--resync", "2s")
}

// newSeedLabArgs is newSeedLab with the agents' flags beyond those every agent needs.
func newSeedLabArgs(t testing.TB, agentArgs ...string) *seedLab {
	t.Helper()
	s := &seedLab{lab: testenv.NewLab(t), agents: map[string]*agent{}, dir: t.TempDir()}
	s.lab.Uplink(apiNet)
	s.hosts = map[string]*testenv.Host{
		"primary":   s.lab.Host("ens3", "198.51.100.253/24", "203.0.113.11/24"),
		"secondary": s.lab.Host("eth0", "198.51.100.254/24", "203.0.113.12/24"),
		"third":     s.lab.Host("eth0", "198.51.100.251/24", "203.0.113.13/24"),
	}
	s.env, s.cfg = testenv.APIServerAt(t, strings.Split(apiNet, "/")[0])
	s.scheme = runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s.scheme)
	_ = vrrpv1.AddToScheme(s.scheme)
	var err error
	s.c, err = client.New(s.cfg, client.Options{Scheme: s.scheme})
	must(t, err)
	var cancel context.CancelFunc
	s.ctx, cancel = context.WithCancel(context.Background())
	t.Cleanup(cancel)

	// The cluster's objects: the namespace and Secret of the seed, three Nodes.
	must(t, s.c.Create(s.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: agentNamespace}}))
	must(t, s.c.Create(s.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "vrrp-auth", Namespace: agentNamespace},
		StringData: map[string]string{"password": "secret12"}}))
	for name := range s.hosts {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		must(t, s.c.Create(s.ctx, n))
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: internalIP(name)}}
		must(t, s.c.Status().Update(s.ctx, n))
	}
	s.admin = testenv.AdminKubeconfig(t, s.env)
	agentAccess(t, s.c)

	// The controller, in this process.
	var mgrCtx context.Context
	mgrCtx, s.stopController = context.WithCancel(s.ctx)
	s.controllerWrites = &writeCounter{}
	mgr, err := ctrl.NewManager(s.controllerWrites.wrap(s.cfg), controllerOptions(s.scheme))
	must(t, err)
	must(t, controllers.Setup(mgr))
	go func() { _ = mgr.Start(mgrCtx) }()

	hookDir := filepath.Join(s.dir, "hooks")
	must(t, os.MkdirAll(hookDir, 0o755))
	must(t, os.WriteFile(filepath.Join(hookDir, "notify.sh"), []byte("#!/bin/sh\necho \"$NODE_NAME $*\"\n"), 0o755))
	for name, h := range s.hosts {
		args := append([]string{"--kubeconfig", agentKubeconfig(t, s.admin, s.dir, name), "--hook-dir", hookDir,
			"--state-dir", filepath.Join(s.dir, "state-"+name), "--metrics-bind-address", "0"}, agentArgs...)
		s.agents[name] = startAgent(t, h, name, args...)
	}
	return s
}

// seedVirtualIP is the seed's VirtualIP: VRID 51, VRRPv2 with PASS, 1 s adverts, primary at 150,
// the notify hook.
func seedVirtualIP() *vrrpv1.VirtualIP {
	return &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "services"}, Spec: vrrpv1.VirtualIPSpec{
		VirtualRouterID: 51, Version: vrrpv1.VRRPv2, Addresses: []string{vip + "/24"},
		AdvertInterval: &metav1.Duration{Duration: time.Second},
		NodePriorities: []vrrpv1.NodePriority{{Node: "primary", Priority: 150}},
		Authentication: &vrrpv1.Authentication{Type: vrrpv1.AuthenticationPass,
			SecretRef: vrrpv1.SecretKeyReference{Name: "vrrp-auth", Namespace: agentNamespace}},
		Hooks: &vrrpv1.Hooks{Notify: &vrrpv1.Hook{Command: []string{"notify.sh"}}},
	}}
}
