package testenv

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Root is the repository root, found from this file's location.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// APIServer starts a real etcd and kube-apiserver (built by hack/build-kube-binaries.sh into bin/,
// or wherever KUBEBUILDER_ASSETS points) with the project's CRDs installed, and stops them when the
// test ends.
func APIServer(t testing.TB) (*envtest.Environment, *rest.Config) {
	t.Helper()
	return APIServerAt(t, "")
}

// APIServerAt is APIServer listening on addr (an address of this host) instead of 127.0.0.1, so
// that processes in a Lab's namespaces reach it through an Uplink. The serving certificate names
// addr.
func APIServerAt(t testing.TB, addr string) (*envtest.Environment, *rest.Config) {
	t.Helper()
	return startAPIServer(t, addr, "")
}

// APIServerFrom is APIServer with the kube-apiserver of dir instead of the one beside etcd, for a test
// against another Kubernetes release: bin/kube-min holds the oldest one the chart supports.
func APIServerFrom(t testing.TB, dir string) (*envtest.Environment, *rest.Config) {
	t.Helper()
	return startAPIServer(t, "", dir)
}

// startAPIServer starts etcd and kube-apiserver from KUBEBUILDER_ASSETS or bin/, the kube-apiserver
// from apiServerDir instead when it is set.
func startAPIServer(t testing.TB, addr, apiServerDir string) (*envtest.Environment, *rest.Config) {
	t.Helper()
	if testing.Short() {
		Unavailable(t, "envtest needs a real kube-apiserver: not in -short mode")
	}
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(Root(), "bin")
	}
	if apiServerDir == "" {
		apiServerDir = assets
	}
	for _, b := range []string{filepath.Join(apiServerDir, "kube-apiserver"), filepath.Join(assets, "etcd")} {
		if _, err := os.Stat(b); err != nil {
			Unavailable(t, "envtest needs "+b+": run make kube-binaries")
		}
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(Root(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	// envtest takes every binary from BinaryAssetsDirectory unless its path is set.
	env.ControlPlane.GetAPIServer().Path = filepath.Join(apiServerDir, "kube-apiserver")
	if addr != "" {
		// envtest replaces the address unless the port is set as well.
		l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
		if err != nil {
			t.Fatalf("finding a free port on %s: %v", addr, err)
		}
		port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		_ = l.Close()
		api := env.ControlPlane.GetAPIServer()
		api.SecureServing.ListenAddr = envtest.ListenAddr{Address: addr, Port: port}
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop() // Start may fail after starting etcd or the API server (a CRD refused).
		t.Fatalf("starting %s and etcd from %s: %v", env.ControlPlane.GetAPIServer().Path, assets, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stopping envtest: %v", err)
		}
	})
	return env, cfg
}

// VirtualIPResource is the GroupVersionResource of VirtualIP.
var VirtualIPResource = schema.GroupVersionResource{Group: "vrrp.dev", Version: "v1alpha1", Resource: "virtualips"}

// AdminKubeconfig writes a kubeconfig of a system:masters user of env into a temporary file, for
// kubectl, helm and agents that impersonate, and returns its path.
func AdminKubeconfig(t testing.TB, env *envtest.Environment) string {
	t.Helper()
	user, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatalf("adding an admin user: %v", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatalf("writing the admin's kubeconfig: %v", err)
	}
	p := filepath.Join(t.TempDir(), "admin.kubeconfig")
	if err := os.WriteFile(p, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
