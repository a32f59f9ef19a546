package manifests

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// specs to default, from bare to full: every optional object absent, present and empty, present
// with everything set.
func defaultingCases() map[string]vrrpv1.VirtualIPSpec {
	return map[string]vrrpv1.VirtualIPSpec{
		"a bare spec gets every top-level default": {VirtualRouterID: 10, Addresses: []string{"198.51.100.10/24"}},
		"empty optional objects get their fields' defaults": {
			VirtualRouterID: 10, Addresses: []string{"198.51.100.10/24"}, Version: 2,
			Failover:       &vrrpv1.Failover{},
			GARP:           &vrrpv1.GARP{},
			Hooks:          &vrrpv1.Hooks{Stop: &vrrpv1.Hook{Command: []string{"stop.sh"}}},
			Authentication: &vrrpv1.Authentication{Type: vrrpv1.AuthenticationPass, SecretRef: vrrpv1.SecretKeyReference{Name: "a", Namespace: "b"}},
		},
		"set fields are kept": {
			VirtualRouterID: 10, Addresses: []string{"2001:db8::10/64"}, Version: 3,
			AdvertInterval: dur(100 * time.Millisecond), Priority: 50, Preempt: ptr(false),
			V3IPv4Checksum: vrrpv1.ChecksumNoPseudoHeader,
			Failover:       &vrrpv1.Failover{OnCordon: vrrpv1.CordonIgnore},
			GARP:           &vrrpv1.GARP{Count: 7, Interval: dur(time.Second), Refresh: dur(time.Minute)},
			Hooks:          &vrrpv1.Hooks{Timeout: dur(time.Minute)},
		},
		"checks of every kind get no defaults": {
			VirtualRouterID: 10, Addresses: []string{"198.51.100.10/24"},
			Track: []vrrpv1.Check{
				{Name: "vpn", Exec: &vrrpv1.ExecCheck{Command: []string{"check-vpn.sh"}}},
				{Name: "web", Weight: ptr(int32(-20)), HTTP: &vrrpv1.HTTPCheck{URL: "http://198.51.100.20:8404/healthz"}},
				{Name: "db", TCP: &vrrpv1.TCPCheck{Address: "[2001:db8::1]:5432"}},
				{Name: "uplink", Weight: ptr(int32(-50)), Interface: &vrrpv1.InterfaceCheck{Name: "eth1"}},
				{Name: "flag", Weight: ptr(int32(1)), File: &vrrpv1.FileCheck{Path: "/run/vpn/flag"}},
			},
		},
	}
}

// TestDefaultMatchesTheCRD applies the generated CRD's schema defaults the way the API server's
// structural defaulting does, and requires Default to give the same object: a new default marker
// in api/v1alpha1 must show up here.
func TestDefaultMatchesTheCRD(t *testing.T) {
	schema := crdSchema(t)
	for name, spec := range defaultingCases() {
		t.Run(name, func(t *testing.T) {
			v := vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: spec}

			var obj map[string]any
			roundTrip(t, v, &obj)
			schemaDefault(obj, schema)
			var want vrrpv1.VirtualIP
			roundTrip(t, obj, &want)

			got := *v.DeepCopy()
			Default(&got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Default() differs from the CRD's defaults (-crd +Default):\n%s", diff)
			}
		})
	}
}

// TestDefaultChangesNothingDeriveSees makes sure desired.Derive applies the same defaults to an
// object nobody defaulted: a VirtualIP built by hand runs as the stored one does.
func TestDefaultChangesNothingDeriveSees(t *testing.T) {
	for name, spec := range defaultingCases() {
		t.Run(name, func(t *testing.T) {
			bare := vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: spec}
			full := *bare.DeepCopy()
			Default(&full)
			derive := func(v vrrpv1.VirtualIP) desired.Result {
				return desired.Derive(desired.Inputs{
					NodeName:   "n1",
					VirtualIPs: []vrrpv1.VirtualIP{v},
					Secrets:    []corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "b"}, Data: map[string][]byte{"password": []byte("pw")}}},
					Interfaces: []desired.Interface{{Name: "eth0", Up: true, Prefixes: []netip.Prefix{
						netip.MustParsePrefix("198.51.100.2/24"), netip.MustParsePrefix("2001:db8::2/64"),
					}}},
				})
			}
			want, got := derive(full), derive(bare)
			if len(want.Routers) != 1 {
				t.Fatalf("Derive(defaulted) = %+v, want one router", want)
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
				t.Errorf("Derive() of the object before and after Default (-after +before):\n%s", diff)
			}
		})
	}
}

func TestDefaultIsIdempotent(t *testing.T) {
	for name, spec := range defaultingCases() {
		t.Run(name, func(t *testing.T) {
			once := vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: spec}
			Default(&once)
			twice := *once.DeepCopy()
			Default(&twice)
			if diff := cmp.Diff(once, twice); diff != "" {
				t.Errorf("Default() a second time (-once +twice):\n%s", diff)
			}
			if err := Validate(&once); err != nil {
				t.Errorf("Validate(Default(%s)): %v", name, err)
			}
		})
	}
}

// crdSchema reads the openAPIV3Schema of the generated CRD.
func crdSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.Root(), "config", "crd", "bases", "vrrp.dev_virtualips.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Name   string `json:"name"`
				Schema struct {
					OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatalf("parsing the CRD: %v", err)
	}
	for _, v := range crd.Spec.Versions {
		if v.Name == vrrpv1.GroupVersion.Version {
			return v.Schema.OpenAPIV3Schema
		}
	}
	t.Fatalf("the CRD has no version %s", vrrpv1.GroupVersion.Version)
	return nil
}

// schemaDefault sets the schema's defaults in obj top-down, descending into what it defaulted, as
// the API server's structural defaulting does for absent (or null) fields.
func schemaDefault(obj any, schema map[string]any) {
	switch obj := obj.(type) {
	case map[string]any:
		props, _ := schema["properties"].(map[string]any)
		for name, p := range props {
			ps := p.(map[string]any)
			if def, ok := ps["default"]; ok && obj[name] == nil {
				var copied any
				b, _ := json.Marshal(def)
				_ = json.Unmarshal(b, &copied)
				obj[name] = copied
			}
			if v, ok := obj[name]; ok {
				schemaDefault(v, ps)
			}
		}
	case []any:
		items, _ := schema["items"].(map[string]any)
		for _, v := range obj {
			schemaDefault(v, items)
		}
	}
}

func roundTrip(t *testing.T, from, to any) {
	t.Helper()
	b, err := json.Marshal(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, to); err != nil {
		t.Fatal(err)
	}
}
