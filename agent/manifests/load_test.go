package manifests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

func ptr[T any](v T) *T { return &v }

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

// defaulted is a VirtualIP as the API server stores it when the manifest sets only name, VRID and
// addresses, changed by mutate.
func defaulted(name string, vrid int32, addrs []string, mutate ...func(*vrrpv1.VirtualIP)) vrrpv1.VirtualIP {
	v := vrrpv1.VirtualIP{
		TypeMeta:   metav1.TypeMeta{APIVersion: "vrrp.dev/v1alpha1", Kind: "VirtualIP"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: vrrpv1.VirtualIPSpec{
			VirtualRouterID: vrid,
			Version:         3,
			Addresses:       addrs,
			AdvertInterval:  dur(time.Second),
			Priority:        100,
			Preempt:         ptr(true),
			V3IPv4Checksum:  vrrpv1.ChecksumPseudoHeader,
			Failover:        &vrrpv1.Failover{OnCordon: vrrpv1.CordonDemote},
		},
	}
	for _, m := range mutate {
		m(&v)
	}
	return v
}

func TestLoadTheSeedSample(t *testing.T) {
	f, err := os.Open(filepath.Join(testenv.Root(), "config", "samples", "vrrp_v1alpha1_virtualip.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := Load(f)
	if err != nil {
		t.Fatalf("Load(seed sample): %v", err)
	}
	want := Objects{
		VirtualIPs: []vrrpv1.VirtualIP{defaulted("services", 51, []string{"198.51.100.252/24"}, func(v *vrrpv1.VirtualIP) {
			v.Spec.Version = vrrpv1.VRRPv2
			v.Spec.NodePriorities = []vrrpv1.NodePriority{{Node: "primary", Priority: 150}}
			v.Spec.Authentication = &vrrpv1.Authentication{
				Type:      vrrpv1.AuthenticationPass,
				SecretRef: vrrpv1.SecretKeyReference{Name: "vrrp-auth", Namespace: "vrrp-system", Key: "password"},
			}
			v.Spec.Hooks = &vrrpv1.Hooks{
				Notify:  &vrrpv1.Hook{Command: []string{"keepalived.sh"}},
				Stop:    &vrrpv1.Hook{Command: []string{"keepalived.sh", "0", "VI_1", "STOP"}},
				Timeout: dur(30 * time.Second),
			}
		})},
		Secrets: []corev1.Secret{{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Name: "vrrp-auth", Namespace: "vrrp-system"},
			Data:       map[string][]byte{"password": []byte("secret12")},
			Type:       corev1.SecretTypeOpaque,
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load(seed sample) (-want +got):\n%s", diff)
	}
}

func TestLoad(t *testing.T) {
	tests := map[string]struct {
		in   string
		want Objects
	}{
		"an empty stream loads nothing": {in: "", want: Objects{}},
		"comments, empty documents and a leading separator are skipped": {
			in: `---
# nothing here
---

---
apiVersion: vrrp.dev/v1alpha1
kind: VirtualIP
metadata: {name: web}   # a comment
spec: {virtualRouterID: 10, addresses: [198.51.100.10/24]}
---
# trailing comment
`,
			want: Objects{VirtualIPs: []vrrpv1.VirtualIP{defaulted("web", 10, []string{"198.51.100.10/24"})}},
		},
		"objects keep the order of the stream": {
			in: `apiVersion: v1
kind: Node
metadata: {name: n2, labels: {zone: b}}
status: {addresses: [{type: InternalIP, address: 198.51.100.3}]}
---
apiVersion: vrrp.dev/v1alpha1
kind: VirtualIP
metadata: {name: b}
spec: {virtualRouterID: 11, addresses: ["2001:db8::11"]}
---
apiVersion: v1
kind: Node
metadata: {name: n1}
---
apiVersion: vrrp.dev/v1alpha1
kind: VirtualIP
metadata: {name: a}
spec: {virtualRouterID: 10, addresses: [198.51.100.10/24]}
`,
			want: Objects{
				VirtualIPs: []vrrpv1.VirtualIP{
					defaulted("b", 11, []string{"2001:db8::11"}),
					defaulted("a", 10, []string{"198.51.100.10/24"}),
				},
				Nodes: []corev1.Node{
					{
						TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
						ObjectMeta: metav1.ObjectMeta{Name: "n2", Labels: map[string]string{"zone": "b"}},
						Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "198.51.100.3"}}},
					},
					{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"}, ObjectMeta: metav1.ObjectMeta{Name: "n1"}},
				},
			},
		},
		"a kind List is flattened, nested Lists too": {
			in: `apiVersion: v1
kind: List
items:
- apiVersion: vrrp.dev/v1alpha1
  kind: VirtualIP
  metadata: {name: web}
  spec: {virtualRouterID: 10, addresses: [198.51.100.10/24]}
- apiVersion: v1
  kind: List
  items:
  - {apiVersion: v1, kind: Node, metadata: {name: n1}}
`,
			want: Objects{
				VirtualIPs: []vrrpv1.VirtualIP{defaulted("web", 10, []string{"198.51.100.10/24"})},
				Nodes:      []corev1.Node{{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"}, ObjectMeta: metav1.ObjectMeta{Name: "n1"}}},
			},
		},
		"a typed list gives its items their kind": {
			in: `apiVersion: vrrp.dev/v1alpha1
kind: VirtualIPList
items:
- metadata: {name: web}
  spec: {virtualRouterID: 10, addresses: [198.51.100.10/24]}
`,
			want: Objects{VirtualIPs: []vrrpv1.VirtualIP{defaulted("web", 10, []string{"198.51.100.10/24"}, func(v *vrrpv1.VirtualIP) {
				v.TypeMeta = metav1.TypeMeta{}
			})}},
		},
		"JSON loads too": {
			in: `{"apiVersion": "vrrp.dev/v1alpha1", "kind": "VirtualIP", "metadata": {"name": "web"},
 "spec": {"virtualRouterID": 10, "addresses": ["198.51.100.10/24"], "priority": 120}}`,
			want: Objects{VirtualIPs: []vrrpv1.VirtualIP{defaulted("web", 10, []string{"198.51.100.10/24"}, func(v *vrrpv1.VirtualIP) {
				v.Spec.Priority = 120
			})}},
		},
		"a null field gets its default, as the API server prunes nulls": {
			in: `apiVersion: vrrp.dev/v1alpha1
kind: VirtualIP
metadata: {name: web}
spec: {virtualRouterID: 10, addresses: [198.51.100.10/24], priority: null, garp: {count: null}}
`,
			want: Objects{VirtualIPs: []vrrpv1.VirtualIP{defaulted("web", 10, []string{"198.51.100.10/24"}, func(v *vrrpv1.VirtualIP) {
				v.Spec.GARP = &vrrpv1.GARP{Count: 3, Interval: dur(1100 * time.Millisecond)}
			})}},
		},
		"checks load as written: spec.track has no defaults": {
			in: `apiVersion: vrrp.dev/v1alpha1
kind: VirtualIP
metadata: {name: web}
spec:
  virtualRouterID: 10
  addresses: [198.51.100.10/24]
  track:
  - {name: vpn, weight: -60, interval: 2s, timeout: 1500ms, fall: 3, exec: {command: [check-vpn.sh, tun0]}}
  - {name: uplink, interface: {name: eth1}}
`,
			want: Objects{VirtualIPs: []vrrpv1.VirtualIP{defaulted("web", 10, []string{"198.51.100.10/24"}, func(v *vrrpv1.VirtualIP) {
				v.Spec.Track = []vrrpv1.Check{
					{Name: "vpn", Weight: ptr(int32(-60)), Interval: dur(2 * time.Second), Timeout: dur(1500 * time.Millisecond), Fall: ptr(int32(3)),
						Exec: &vrrpv1.ExecCheck{Command: []string{"check-vpn.sh", "tun0"}}},
					{Name: "uplink", Interface: &vrrpv1.InterfaceCheck{Name: "eth1"}},
				}
			})}},
		},
		"a VirtualIP's namespace is dropped: it is cluster-scoped": {
			in: `apiVersion: vrrp.dev/v1alpha1
kind: VirtualIP
metadata: {name: web, namespace: default}
spec: {virtualRouterID: 10, addresses: [198.51.100.10/24]}
`,
			want: Objects{VirtualIPs: []vrrpv1.VirtualIP{defaulted("web", 10, []string{"198.51.100.10/24"})}},
		},
		"stringData is merged into data and wins, a Secret without namespace is in default": {
			in: `apiVersion: v1
kind: Secret
metadata: {name: auth}
data: {password: b2xk, other: eA==}
stringData: {password: new}
`,
			want: Objects{Secrets: []corev1.Secret{{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
				ObjectMeta: metav1.ObjectMeta{Name: "auth", Namespace: "default"},
				Data:       map[string][]byte{"password": []byte("new"), "other": []byte("x")},
				Type:       corev1.SecretTypeOpaque,
			}}},
		},
		"Secrets of one name in two namespaces are two Secrets": {
			in: `{apiVersion: v1, kind: Secret, metadata: {name: auth, namespace: a}, type: Opaque}
---
{apiVersion: v1, kind: Secret, metadata: {name: auth, namespace: b}, type: Opaque}
`,
			want: Objects{Secrets: []corev1.Secret{
				{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: metav1.ObjectMeta{Name: "auth", Namespace: "a"}, Type: corev1.SecretTypeOpaque},
				{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: metav1.ObjectMeta{Name: "auth", Namespace: "b"}, Type: corev1.SecretTypeOpaque},
			}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Load(strings.NewReader(tc.in))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Load (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadRefuses(t *testing.T) {
	const web = "apiVersion: vrrp.dev/v1alpha1\nkind: VirtualIP\nmetadata: {name: web}\n"
	tests := map[string]struct {
		in string
		// want are parts of the error message, each of which must be there.
		want []string
	}{
		"an unknown kind, naming the document and the kind": {
			in:   web + "spec: {virtualRouterID: 10, addresses: [198.51.100.10/24]}\n---\n# a comment\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
			want: []string{`document 2: unsupported kind "ConfigMap" (apiVersion "v1")`},
		},
		"a known kind in another API version": {
			in:   "apiVersion: vrrp.dev/v1beta1\nkind: VirtualIP\nmetadata: {name: web}\n",
			want: []string{`document 1: unsupported kind "VirtualIP" (apiVersion "vrrp.dev/v1beta1")`},
		},
		"an unknown kind inside a List, naming the item": {
			in:   "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Node, metadata: {name: n1}}\n- {apiVersion: apps/v1, kind: Deployment, metadata: {name: d}}\n",
			want: []string{`document 1, item 2: unsupported kind "Deployment"`},
		},
		"a document without a kind": {
			in:   "metadata: {name: web}\n",
			want: []string{"document 1: no kind"},
		},
		"a document that is not an object": {
			in:   "- just\n- a list\n",
			want: []string{"document 1: not a Kubernetes object"},
		},
		"a YAML syntax error": {
			in:   web + "spec: {virtualRouterID: 10\n",
			want: []string{"document 1: "},
		},
		"a misspelt field, naming it": {
			in:   web + "spec: {virtualRouterID: 10, addresses: [198.51.100.10/24], prioirty: 150}\n",
			want: []string{"document 1 (VirtualIP web)", `unknown field "spec.prioirty"`},
		},
		"a field given twice": {
			in:   web + "spec: {virtualRouterID: 10, addresses: [198.51.100.10/24]}\nspec: {virtualRouterID: 11}\n",
			want: []string{"document 1: ", `"spec"`},
		},
		"a misspelt field of a Secret": {
			in:   "apiVersion: v1\nkind: Secret\nmetadata: {name: auth}\nstringdata: {password: x}\n",
			want: []string{"document 1 (Secret auth)", `unknown field "stringdata"`},
		},
		"a priority set to 0, unlike one left out": {
			in:   web + "spec: {virtualRouterID: 10, addresses: [198.51.100.10/24], priority: 0}\n",
			want: []string{"document 1 (VirtualIP web)", "spec.priority: Invalid value: 0"},
		},
		"a version set to 0": {
			in:   web + "spec: {virtualRouterID: 10, addresses: [198.51.100.10/24], version: 0}\n",
			want: []string{"spec.version: Unsupported value: 0"},
		},
		"a garp count set to 0": {
			in:   web + "spec: {virtualRouterID: 10, addresses: [198.51.100.10/24], garp: {count: 0}}\n",
			want: []string{"spec.garp.count: Invalid value: 0"},
		},
		"an empty onCordon": {
			in:   web + "spec: {virtualRouterID: 10, addresses: [198.51.100.10/24], failover: {onCordon: ''}}\n",
			want: []string{`spec.failover.onCordon: Unsupported value: ""`},
		},
		"a duration in microseconds, which the CRD's pattern refuses": {
			in:   web + "spec: {virtualRouterID: 10, addresses: [198.51.100.10/24], preemptDelay: 1500us}\n",
			want: []string{`spec.preemptDelay: Invalid value: "1500us"`},
		},
		"a negative duration": {
			in:   web + "spec: {virtualRouterID: 10, addresses: [198.51.100.10/24], garp: {refresh: -1s}}\n",
			want: []string{`spec.garp.refresh: Invalid value: "-1s"`},
		},
		"a duration given as a number": {
			in:   web + "spec: {virtualRouterID: 10, addresses: [198.51.100.10/24], advertInterval: 1}\n",
			want: []string{"spec.advertInterval: Invalid value: 1"},
		},
		"a check interval in microseconds": {
			in:   web + "spec: {virtualRouterID: 10, addresses: [198.51.100.10/24], track: [{name: a, file: {path: /run/a}}, {name: b, exec: {command: [b.sh]}, interval: 1500us}]}\n",
			want: []string{`spec.track[1].interval: Invalid value: "1500us"`},
		},
		"a check timeout given as a number": {
			in:   web + "spec: {virtualRouterID: 10, addresses: [198.51.100.10/24], track: [{name: a, exec: {command: [a.sh]}, timeout: 1}]}\n",
			want: []string{"spec.track[0].timeout: Invalid value: 1"},
		},
		"a check field put in its kind's object": {
			in:   web + "spec: {virtualRouterID: 10, addresses: [198.51.100.10/24], track: [{name: a, exec: {command: [a.sh], fall: 3}}]}\n",
			want: []string{`unknown field "spec.track[0].exec.fall"`},
		},
		"a VirtualIP defined twice, naming both documents": {
			in:   web + "spec: {virtualRouterID: 10, addresses: [198.51.100.10/24]}\n---\n" + web + "spec: {virtualRouterID: 11, addresses: [198.51.100.11/24]}\n",
			want: []string{"document 2 (VirtualIP web): VirtualIP web is already defined in document 1"},
		},
		"a Secret defined twice in one namespace": {
			in:   "{apiVersion: v1, kind: Secret, metadata: {name: a, namespace: x}}\n---\n{apiVersion: v1, kind: List, items: [{apiVersion: v1, kind: Secret, metadata: {name: a, namespace: x}}]}\n",
			want: []string{"document 2, item 1 (Secret a): Secret x/a is already defined in document 1"},
		},
		"a Node without a name": {
			in:   "{apiVersion: v1, kind: Node, metadata: {labels: {a: b}}}\n",
			want: []string{"document 1 (Node ): metadata.name: Required value"},
		},
		"every bad document, not only the first": {
			in: web + "spec: {virtualRouterID: 0, addresses: [198.51.100.10/24]}\n---\n" +
				"apiVersion: v1\nkind: Pod\n---\n" +
				"apiVersion: vrrp.dev/v1alpha1\nkind: VirtualIP\nmetadata: {name: ok}\nspec: {virtualRouterID: 10, addresses: [198.51.100.10/24]}\n",
			want: []string{"document 1 (VirtualIP web): spec.virtualRouterID", `document 2: unsupported kind "Pod"`},
		},
		"several problems of one VirtualIP together": {
			in:   web + "spec: {virtualRouterID: 300, addresses: [198.51.100.10/24], priority: 255}\n",
			want: []string{"spec.virtualRouterID: Invalid value: 300", "spec.priority: Invalid value: 255"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Load(strings.NewReader(tc.in))
			if err == nil {
				t.Fatalf("Load accepted it: %+v", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load error does not contain %q:\n%v", w, err)
				}
			}
			if diff := cmp.Diff(Objects{}, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Load returned objects with its error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLoadRefusesEveryInvalidSample runs the samples the envtest suite sends to a real API server
// (api/v1alpha1/validation_test.go): a standalone agent must refuse each with the same words.
func TestLoadRefusesEveryInvalidSample(t *testing.T) {
	for _, sample := range testenv.InvalidSamples(t) {
		t.Run(sample.Name, func(t *testing.T) {
			file, want := sample.File, sample.Want
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			_, err = Load(f)
			if err == nil {
				t.Fatalf("Load accepted %s; the API server refuses it with %q", file, want)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Load refused %s, but its message does not contain %q:\n%v", file, want, err)
			}
		})
	}
}
