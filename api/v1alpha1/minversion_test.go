package v1alpha1_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// TestCRDOnMinimumKubernetes installs the CRD on the kube-apiserver of the oldest Kubernetes minor that
// the chart's kubeVersion allows (bin/kube-min, built by hack/build-kube-binaries.sh from
// hack/tools/kube-min). The CRD's rules call isIP and isCIDR: that CEL library came in 1.30, but an API
// server compiles the rules of a new CRD against the library of the minor before its own, so 1.31 is
// the first release that accepts the CRD.
func TestCRDOnMinimumKubernetes(t *testing.T) {
	minMinor := chartMinimumMinor(t)
	env, cfg := testenv.APIServerFrom(t, filepath.Join(testenv.Root(), "bin", "kube-min"))
	c := newClient(t, cfg)
	kubeconfig := testenv.AdminKubeconfig(t, env)

	t.Run("the API server is of the chart's minimum minor", func(t *testing.T) {
		dc, err := discovery.NewDiscoveryClientForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		v, err := dc.ServerVersion()
		if err != nil {
			t.Fatalf("asking the API server its version: %v", err)
		}
		t.Logf("kube-apiserver %s", v.GitVersion)
		if want := "v1." + strconv.Itoa(minMinor) + "."; !strings.HasPrefix(v.GitVersion, want) {
			t.Fatalf("bin/kube-min/kube-apiserver is %s, want %s* as charts/vrrp-operator/Chart.yaml's kubeVersion says",
				v.GitVersion, want)
		}
	})

	t.Run("the CRD is Established", func(t *testing.T) {
		crd := &unstructured.Unstructured{}
		crd.SetAPIVersion("apiextensions.k8s.io/v1")
		crd.SetKind("CustomResourceDefinition")
		if err := c.Get(context.Background(), client.ObjectKey{Name: "virtualips.vrrp.dev"}, crd); err != nil {
			t.Fatalf("reading the CRD: %v", err)
		}
		conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, cond := range conditions {
			m, _ := cond.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return
			}
		}
		t.Fatalf("the CRD is not Established; its conditions: %v", conditions)
	})

	t.Run("kubectl accepts the seed sample", func(t *testing.T) {
		acceptsSeedSample(t, c, kubeconfig)
	})

	t.Run("the seed VirtualIP is stored", func(t *testing.T) {
		if err := c.Create(context.Background(), seedSample(t)); err != nil {
			t.Fatalf("creating the seed VirtualIP: %v", err)
		}
	})

	t.Run("kubectl refuses each invalid sample naming its field", func(t *testing.T) {
		refusesInvalidSamples(t, kubeconfig)
	})
}

// chartMinimumMinor reads the minor version of the lower bound in charts/vrrp-operator/Chart.yaml's
// kubeVersion, such as 31 for ">=1.31.0-0".
func chartMinimumMinor(t *testing.T) int {
	t.Helper()
	p := filepath.Join(testenv.Root(), "charts", "vrrp-operator", "Chart.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		KubeVersion string `json:"kubeVersion"`
	}
	if err := yaml.Unmarshal(b, &chart); err != nil {
		t.Fatalf("reading %s: %v", p, err)
	}
	m := regexp.MustCompile(`^>=\s*v?1\.(\d+)\.`).FindStringSubmatch(chart.KubeVersion)
	if m == nil {
		t.Fatalf("%s: kubeVersion %q does not start with a lower bound >=1.MINOR.PATCH", p, chart.KubeVersion)
	}
	minor, _ := strconv.Atoi(m[1])
	return minor
}
