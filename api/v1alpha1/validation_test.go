package v1alpha1_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// TestAPIServer runs against one real kube-apiserver: starting it costs seconds, the subtests do not.
func TestAPIServer(t *testing.T) {
	env, cfg := testenv.APIServer(t)
	c := newClient(t, cfg)
	kubeconfig := testenv.AdminKubeconfig(t, env)

	t.Run("kubectl refuses each invalid sample naming its field", func(t *testing.T) {
		refusesInvalidSamples(t, kubeconfig)
	})

	t.Run("kubectl accepts the seed sample", func(t *testing.T) {
		acceptsSeedSample(t, c, kubeconfig)
	})

	t.Run("the seed sample is stored with its defaults filled in", func(t *testing.T) {
		ctx := context.Background()
		vip := seedSample(t)
		if err := c.Create(ctx, vip); err != nil {
			t.Fatalf("creating the seed VirtualIP: %v", err)
		}
		got := &vrrpv1.VirtualIP{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(vip), got); err != nil {
			t.Fatal(err)
		}
		yes := true
		want := vrrpv1.VirtualIPSpec{
			VirtualRouterID: 51,
			Version:         vrrpv1.VRRPv2,
			Addresses:       []string{"198.51.100.252/24"},
			AdvertInterval:  &metav1.Duration{Duration: time.Second},
			Priority:        100,
			NodePriorities:  []vrrpv1.NodePriority{{Node: "primary", Priority: 150}},
			Preempt:         &yes,
			Authentication: &vrrpv1.Authentication{Type: vrrpv1.AuthenticationPass,
				SecretRef: vrrpv1.SecretKeyReference{Name: "vrrp-auth", Namespace: "vrrp-system", Key: "password"}},
			V3IPv4Checksum: vrrpv1.ChecksumPseudoHeader,
			Failover:       &vrrpv1.Failover{OnCordon: vrrpv1.CordonDemote},
			Hooks: &vrrpv1.Hooks{
				Notify:  &vrrpv1.Hook{Command: []string{"keepalived.sh"}},
				Stop:    &vrrpv1.Hook{Command: []string{"keepalived.sh", "0", "VI_1", "STOP"}},
				Timeout: &metav1.Duration{Duration: 30 * time.Second},
			},
		}
		if diff := cmp.Diff(want, got.Spec); diff != "" {
			t.Errorf("stored spec (-want +got):\n%s", diff)
		}
	})

	t.Run("a minimal VirtualIP defaults to version 3, 1s, priority 100, preempt and Demote", func(t *testing.T) {
		ctx := context.Background()
		vip := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "minimal"},
			Spec: vrrpv1.VirtualIPSpec{VirtualRouterID: 7, Addresses: []string{"2001:db8::7"}}}
		if err := c.Create(ctx, vip); err != nil {
			t.Fatalf("creating a minimal VirtualIP: %v", err)
		}
		s := vip.Spec
		if s.Version != 3 || s.AdvertInterval == nil || s.AdvertInterval.Duration != time.Second || s.Priority != 100 ||
			s.Preempt == nil || !*s.Preempt || s.Failover == nil || s.Failover.OnCordon != vrrpv1.CordonDemote {
			t.Errorf("defaults not applied: %+v", s)
		}
	})

	t.Run("two agents applying their own status entries both survive", func(t *testing.T) {
		ctx := context.Background()
		vip := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "ssa"},
			Spec: vrrpv1.VirtualIPSpec{VirtualRouterID: 8, Addresses: []string{"198.51.100.8/24"}}}
		if err := c.Create(ctx, vip); err != nil {
			t.Fatal(err)
		}
		apply := func(node, state string, prio int64) {
			t.Helper()
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(vrrpv1.GroupVersion.WithKind("VirtualIP"))
			u.SetName("ssa")
			_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{
				"node": node, "state": state, "priority": prio, "interface": "eth0",
			}}, "status", "nodes")
			if err := c.Status().Patch(ctx, u, client.Apply, client.FieldOwner("vrrp.dev/agent-"+node), client.ForceOwnership); err != nil {
				t.Fatalf("applying %s's status entry: %v", node, err)
			}
		}
		apply("primary", "MASTER", 150)
		apply("secondary", "BACKUP", 100)
		apply("primary", "BACKUP", 1) // a later change by one agent must not drop the other's entry
		got := &vrrpv1.VirtualIP{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(vip), got); err != nil {
			t.Fatal(err)
		}
		want := []vrrpv1.NodeStatus{
			{Node: "primary", State: vrrpv1.StateBackup, Priority: 1, Interface: "eth0"},
			{Node: "secondary", State: vrrpv1.StateBackup, Priority: 100, Interface: "eth0"},
		}
		if diff := cmp.Diff(want, got.Status.Nodes); diff != "" {
			t.Errorf("status.nodes (-want +got):\n%s", diff)
		}
	})

	t.Run("a status entry's address is an IP unicast peers can send to", func(t *testing.T) {
		ctx := context.Background()
		vip := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "address"},
			Spec: vrrpv1.VirtualIPSpec{VirtualRouterID: 9, Addresses: []string{"2001:db8::9/64"}}}
		if err := c.Create(ctx, vip); err != nil {
			t.Fatal(err)
		}
		cases := map[string]struct {
			address string
			ok      bool
		}{
			"a global IPv6 address is accepted":                      {address: "2001:db8::2", ok: true},
			"an IPv4 address is accepted":                            {address: "198.51.100.2", ok: true},
			"an IPv6 link-local address is refused: it needs a zone": {address: "fe80::2"},
			"an IPv4 link-local address is refused":                  {address: "169.254.0.2"},
			"the unspecified address is refused":                     {address: "::"},
			"an address with a zone is refused":                      {address: "2001:db8::2%eth0"},
			"an interface name is refused":                           {address: "eth0"},
		}
		for name, tc := range cases {
			t.Run(name, func(t *testing.T) {
				u := &unstructured.Unstructured{}
				u.SetGroupVersionKind(vrrpv1.GroupVersion.WithKind("VirtualIP"))
				u.SetName("address")
				_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{
					"node": "primary", "state": "BACKUP", "address": tc.address,
				}}, "status", "nodes")
				err := c.Status().Patch(ctx, u, client.Apply, client.FieldOwner("vrrp.dev/agent-primary"), client.ForceOwnership, client.DryRunAll)
				switch {
				case tc.ok && err != nil:
					t.Errorf("address %q refused: %v", tc.address, err)
				case !tc.ok && err == nil:
					t.Errorf("address %q accepted", tc.address)
				case !tc.ok && !strings.Contains(err.Error(), "status.nodes[0].address"):
					t.Errorf("address %q refused without naming the field: %v", tc.address, err)
				}
			})
		}
	})
}

// refusesInvalidSamples applies each of config/samples/invalid with a server-side dry run and wants
// it refused with the message its first line names.
func refusesInvalidSamples(t *testing.T, kubeconfig string) {
	t.Helper()
	for _, sample := range testenv.InvalidSamples(t) {
		t.Run(sample.Name, func(t *testing.T) {
			f, want := sample.File, sample.Want
			out, err := kubectl(t, kubeconfig, "apply", "--dry-run=server", "-f", f)
			if err == nil {
				t.Fatalf("kubectl apply --dry-run=server accepted %s:\n%s", f, out)
			}
			if !strings.Contains(out, want) {
				t.Fatalf("kubectl refused %s, but its message does not contain %q:\n%s", f, want, out)
			}
		})
	}
}

// newClient is a client of the API server at cfg that knows the core types and VirtualIP.
func newClient(t *testing.T, cfg *rest.Config) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, vrrpv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatalf("creating client: %v", err)
	}
	return c
}

// acceptsSeedSample creates the namespace of the seed sample's Secret and applies the whole sample
// with a server-side dry run.
func acceptsSeedSample(t *testing.T, c client.Client, kubeconfig string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "vrrp-system"}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(testenv.Root(), "config", "samples", "vrrp_v1alpha1_virtualip.yaml")
	if out, err := kubectl(t, kubeconfig, "apply", "--dry-run=server", "-f", f); err != nil {
		t.Fatalf("kubectl apply --dry-run=server %s: %v\n%s", f, err, out)
	}
}

func seedSample(t *testing.T) *vrrpv1.VirtualIP {
	t.Helper()
	f, err := os.Open(filepath.Join(testenv.Root(), "config", "samples", "vrrp_v1alpha1_virtualip.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The sample holds the Secret first, then the VirtualIP.
	d := yaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		vip := &vrrpv1.VirtualIP{}
		if err := d.Decode(vip); err != nil {
			t.Fatalf("decoding the seed sample: no VirtualIP: %v", err)
		}
		if vip.Kind == "VirtualIP" {
			return vip
		}
	}
}

func kubectl(t *testing.T, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	bin := filepath.Join(testenv.Root(), "bin", "kubectl")
	if _, err := os.Stat(bin); err != nil {
		testenv.Unavailable(t, "test needs bin/kubectl: run make kube-binaries")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
	return string(out), err
}
