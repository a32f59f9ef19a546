package v1alpha1_test

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// TestAPIServerAdmitsOnlySpecsAgentsCanRun holds the CRD's address and nodeSelector rules (issue
// "Truth and safety under failure", item 16) to both sides on a real kube-apiserver: what no agent
// can run is refused with a message naming the field, and what lies just beside it is admitted.
// config/samples/invalid holds one manifest per refusal; this adds the cases a sample cannot show.
func TestAPIServerAdmitsOnlySpecsAgentsCanRun(t *testing.T) {
	_, cfg := testenv.APIServer(t)
	c := newClient(t, cfg)
	create := func(spec vrrpv1.VirtualIPSpec) error {
		v := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "admission"}, Spec: spec}
		return c.Create(context.Background(), v, client.DryRunAll)
	}
	addresses := func(a ...string) vrrpv1.VirtualIPSpec {
		return vrrpv1.VirtualIPSpec{VirtualRouterID: 10, Addresses: a}
	}
	selector := func(reqs ...metav1.LabelSelectorRequirement) vrrpv1.VirtualIPSpec {
		s := addresses("198.51.100.10/24")
		s.NodeSelector = &metav1.LabelSelector{MatchExpressions: reqs}
		return s
	}
	const role = "node-role.kubernetes.io/edge"

	admitted := map[string]vrrpv1.VirtualIPSpec{
		"two IPs of one subnet":                       addresses("198.51.100.252/24", "198.51.100.253/24"),
		"an IP with and without a prefix, told apart": addresses("198.51.100.252", "198.51.100.25/24"),
		"IPs of both IPv4 documentation prefixes":     addresses("198.51.100.254/24", "203.0.113.1/24", "203.0.113.255/32"),
		"IPv6 of the documentation prefix":            addresses("2001:db8::1/64", "2001:db8::2/64", "2001:db8:ffff::1/128"),
		"an IP whose prefix holds a refused range":    addresses("198.51.100.252/0"),
		"nodeSelector with In, NotIn, Exists and DoesNotExist": selector(
			metav1.LabelSelectorRequirement{Key: role, Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}},
			metav1.LabelSelectorRequirement{Key: "zone", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"c"}},
			metav1.LabelSelectorRequirement{Key: "vpn", Operator: metav1.LabelSelectorOpExists},
			metav1.LabelSelectorRequirement{Key: "spare", Operator: metav1.LabelSelectorOpDoesNotExist, Values: []string{}},
		),
	}
	for name, spec := range admitted {
		t.Run("admits "+name, func(t *testing.T) {
			if err := create(spec); err != nil {
				t.Errorf("creating a VirtualIP with %v: %v", spec.Addresses, err)
			}
		})
	}

	refused := map[string]struct {
		spec vrrpv1.VirtualIPSpec
		want []string // each in the refusal
	}{
		"one IPv6 address spelt two ways": {
			spec: addresses("2001:db8::1/64", "2001:DB8:0::1/128"),
			want: []string{"spec.addresses", "addresses must name each IP once"},
		},
		"an IP without a prefix and with one": {
			spec: addresses("198.51.100.252", "198.51.100.252/24"),
			want: []string{"spec.addresses", "addresses must name each IP once"},
		},
		"the VRRP multicast group itself": {
			spec: addresses("198.51.100.10/24", "224.0.0.18/24"),
			want: []string{"spec.addresses[1]", "each address must be unicast"},
		},
		"the IPv6 multicast of all nodes": {
			spec: addresses("ff02::1"),
			want: []string{"spec.addresses[0]", "each address must be unicast"},
		},
		"a loopback address other than 127.0.0.1": {
			spec: addresses("127.255.255.254/8"),
			want: []string{"spec.addresses[0]", "each address must not be a loopback address"},
		},
		"the IPv4 link-local address of cloud metadata": {
			spec: addresses("169.254.169.254"),
			want: []string{"spec.addresses[0]", "each address must not be an IPv4 link-local address"},
		},
		"a nodeSelector operator Kubernetes does not know": {
			spec: selector(metav1.LabelSelectorRequirement{Key: role, Operator: "Gt", Values: []string{"1"}}),
			want: []string{"spec.nodeSelector", "nodeSelector.matchExpressions operator must be In, NotIn, Exists or DoesNotExist"},
		},
		"values with Exists": {
			spec: selector(metav1.LabelSelectorRequirement{Key: role, Operator: metav1.LabelSelectorOpExists, Values: []string{"true"}}),
			want: []string{"spec.nodeSelector", "nodeSelector.matchExpressions values must be empty with Exists and DoesNotExist"},
		},
		"In without values": {
			spec: selector(metav1.LabelSelectorRequirement{Key: role, Operator: metav1.LabelSelectorOpIn}),
			want: []string{"spec.nodeSelector", "and not empty with In and NotIn"},
		},
	}
	for name, tc := range refused {
		t.Run("refuses "+name, func(t *testing.T) {
			err := create(tc.spec)
			if err == nil {
				t.Fatalf("the API server admitted %+v", tc.spec)
			}
			t.Logf("refused: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("refusal does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}
