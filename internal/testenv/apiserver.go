package testenv

import (
	"os"
	"path/filepath"
	"runtime"
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
	if testing.Short() {
		Unavailable(t, "envtest needs a real kube-apiserver: not in -short mode")
	}
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(Root(), "bin")
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			Unavailable(t, "envtest needs "+b+" in "+assets+": run make kube-binaries")
		}
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(Root(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd from %s: %v", assets, err)
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
