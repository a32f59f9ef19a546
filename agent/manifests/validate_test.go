package manifests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		change func(*vrrpv1.VirtualIP)
		// want are parts of the error, each of which must be there; none: v is valid.
		want []string
	}{
		// Accepted.
		"the defaults alone are valid": {change: func(*vrrpv1.VirtualIP) {}},
		"VRID 255 is in range":         {change: func(v *vrrpv1.VirtualIP) { v.Spec.VirtualRouterID = 255 }},
		"an IPv6 router at 10ms is valid": {change: func(v *vrrpv1.VirtualIP) {
			v.Spec.Addresses = []string{"2001:db8::1", "2001:db8::2/64"}
			v.Spec.AdvertInterval = dur(10 * time.Millisecond)
		}},
		"version 3 at its longest interval, 40.95s": {change: func(v *vrrpv1.VirtualIP) { v.Spec.AdvertInterval = dur(40950 * time.Millisecond) }},
		"version 2 with PASS at 255s is valid": {change: func(v *vrrpv1.VirtualIP) {
			v.Spec.Version = 2
			v.Spec.AdvertInterval = dur(255 * time.Second)
			v.Spec.Authentication = pass()
		}},
		"node and selector entries with priorities 1-254": {change: func(v *vrrpv1.VirtualIP) {
			v.Spec.NodePriorities = []vrrpv1.NodePriority{{Node: "a", Priority: 1}, {Selector: &metav1.LabelSelector{}, Priority: 254}}
		}},
		"garp refresh 0 turns refreshing off": {change: func(v *vrrpv1.VirtualIP) {
			v.Spec.GARP = &vrrpv1.GARP{Count: 1, Interval: dur(10 * time.Millisecond), Refresh: dur(0)}
		}},
		"an interface name of 15 characters": {change: func(v *vrrpv1.VirtualIP) { v.Spec.Interface = "enp0s31f6.1000x" }},
		"a check of each kind": {change: func(v *vrrpv1.VirtualIP) {
			v.Spec.Track = []vrrpv1.Check{
				{Name: "vpn", Weight: ptr(int32(-253)), Interval: dur(2 * time.Second), Timeout: dur(2 * time.Second), Rise: ptr(int32(100)), Fall: ptr(int32(1)),
					Exec: &vrrpv1.ExecCheck{Command: []string{"check-vpn.sh", "tun0"}}},
				{Name: "haproxy", HTTP: &vrrpv1.HTTPCheck{URL: "http://[::1]:8404/healthz", ExpectedStatus: []int32{200, 503}}},
				{Name: "web", HTTP: &vrrpv1.HTTPCheck{URL: "https://localhost:8443/"}},
				{Name: "db", Weight: ptr(int32(253)), TCP: &vrrpv1.TCPCheck{Address: "[2001:db8::1]:80"}},
				{Name: "uplink", Interface: &vrrpv1.InterfaceCheck{Name: "eth1"}},
				{Name: "flag", Weight: ptr(int32(1)), File: &vrrpv1.FileCheck{Path: "/run/vpn/flag"}},
				{Name: "ingress", Pods: &vrrpv1.PodsCheck{Namespace: "ingress", Selector: vrrpv1.PodSelector{MatchLabels: map[string]vrrpv1.LabelValue{"app": "nginx"}}}},
			}
		}},

		// Refused, with the API server's field paths and CEL messages.
		"a missing name":                     {change: func(v *vrrpv1.VirtualIP) { v.Name = "" }, want: []string{`VirtualIP "" is invalid: metadata.name: Required value`}},
		"a name that is no DNS subdomain":    {change: func(v *vrrpv1.VirtualIP) { v.Name = "Web_1" }, want: []string{`metadata.name: Invalid value: "Web_1"`}},
		"a VRID above 255":                   {change: func(v *vrrpv1.VirtualIP) { v.Spec.VirtualRouterID = 256 }, want: []string{"spec.virtualRouterID: Invalid value: 256"}},
		"a version that was never defaulted": {change: func(v *vrrpv1.VirtualIP) { v.Spec.Version = 0 }, want: []string{"spec.version: Unsupported value: 0"}},
		"more than 16 addresses": {
			change: func(v *vrrpv1.VirtualIP) {
				v.Spec.Addresses = nil
				for i := range 17 {
					v.Spec.Addresses = append(v.Spec.Addresses, fmt.Sprintf("198.51.100.%d", i+1))
				}
			},
			want: []string{"spec.addresses: Too many: 17: must have at most 16 items"},
		},
		"an address listed twice":                                 {change: func(v *vrrpv1.VirtualIP) { v.Spec.Addresses = []string{"198.51.100.1/24", "198.51.100.1/24"} }, want: []string{`spec.addresses[1]: Duplicate value: "198.51.100.1/24"`}},
		"an address with a zone":                                  {change: func(v *vrrpv1.VirtualIP) { v.Spec.Addresses = []string{"fe80::1%eth0"} }, want: []string{"spec.addresses[0]: Invalid value", "IP address or CIDR"}},
		"an IPv4-mapped IPv6 address":                             {change: func(v *vrrpv1.VirtualIP) { v.Spec.Addresses = []string{"::ffff:198.51.100.1"} }, want: []string{"spec.addresses[0]: Invalid value"}},
		"an interface name with a slash":                          {change: func(v *vrrpv1.VirtualIP) { v.Spec.Interface = "eth0/1" }, want: []string{`spec.interface: Invalid value: "eth0/1"`}},
		"an interface name longer than 15":                        {change: func(v *vrrpv1.VirtualIP) { v.Spec.Interface = "enp0s31f6.10000x" }, want: []string{"spec.interface: Too long"}},
		"version 2 at 256s":                                       {change: func(v *vrrpv1.VirtualIP) { v.Spec.Version = 2; v.Spec.AdvertInterval = dur(256 * time.Second) }, want: []string{"advertInterval must be whole seconds from 1s to 255s with version 2"}},
		"a node in nodePriorities with neither node nor selector": {change: func(v *vrrpv1.VirtualIP) { v.Spec.NodePriorities = []vrrpv1.NodePriority{{Priority: 5}} }, want: []string{"spec.nodePriorities[0]: Invalid value", "exactly one of node or selector"}},
		"a nodePriorities selector that does not parse": {
			change: func(v *vrrpv1.VirtualIP) {
				v.Spec.NodePriorities = []vrrpv1.NodePriority{{Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}, Priority: 5}}
			},
			want: []string{"spec.nodePriorities[0].selector: Invalid value"},
		},
		"a nodeSelector that does not parse": {
			change: func(v *vrrpv1.VirtualIP) {
				v.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"a b": "c"}}
			},
			want: []string{"spec.nodeSelector: Invalid value"},
		},
		"a preemptDelay above 1h": {change: func(v *vrrpv1.VirtualIP) { v.Spec.PreemptDelay = dur(2 * time.Hour) }, want: []string{"spec.preemptDelay: Invalid value", "preemptDelay must be at most 1h"}},
		"a secretRef without name or namespace": {
			change: func(v *vrrpv1.VirtualIP) {
				v.Spec.Version = 2
				v.Spec.Authentication = &vrrpv1.Authentication{Type: vrrpv1.AuthenticationPass}
			},
			want: []string{"spec.authentication.secretRef.name: Required value", "spec.authentication.secretRef.namespace: Required value"},
		},
		"a garp count above 100":   {change: func(v *vrrpv1.VirtualIP) { v.Spec.GARP = &vrrpv1.GARP{Count: 101} }, want: []string{"spec.garp.count: Invalid value: 101"}},
		"a garp interval above 1m": {change: func(v *vrrpv1.VirtualIP) { v.Spec.GARP = &vrrpv1.GARP{Count: 3, Interval: dur(2 * time.Minute)} }, want: []string{"garp.interval must be between 10ms and 1m"}},
		"a garp refresh below 1s":  {change: func(v *vrrpv1.VirtualIP) { v.Spec.GARP = &vrrpv1.GARP{Count: 3, Refresh: dur(500 * time.Millisecond)} }, want: []string{"garp.refresh must be 0 (off) or at least 1s"}},
		"a hook timeout above 1h":  {change: func(v *vrrpv1.VirtualIP) { v.Spec.Hooks = &vrrpv1.Hooks{Timeout: dur(61 * time.Minute)} }, want: []string{"hooks.timeout must be positive and at most 1h"}},
		"a hook with 33 arguments": {
			change: func(v *vrrpv1.VirtualIP) {
				v.Spec.Hooks = &vrrpv1.Hooks{Fault: &vrrpv1.Hook{Command: make([]string, 33)}}
			},
			want: []string{"spec.hooks.fault.command: Too many: 33", "spec.hooks.fault.command[32]: Invalid value"},
		},
		"a hook argument longer than 1024 bytes": {
			change: func(v *vrrpv1.VirtualIP) {
				v.Spec.Hooks = &vrrpv1.Hooks{Master: &vrrpv1.Hook{Command: []string{strings.Repeat("x", 1025)}}}
			},
			want: []string{"spec.hooks.master.command[0]: Too long"},
		},
		"a check with two kinds": {
			change: func(v *vrrpv1.VirtualIP) {
				v.Spec.Track = []vrrpv1.Check{{Name: "vpn", Exec: &vrrpv1.ExecCheck{Command: []string{"x"}}, File: &vrrpv1.FileCheck{Path: "/run/x"}}}
			},
			want: []string{"spec.track[0]: Invalid value: each check needs exactly one of exec, http, tcp, interface, file or pods"},
		},
		"a check weight of 254": {
			change: func(v *vrrpv1.VirtualIP) {
				v.Spec.Track = []vrrpv1.Check{{Name: "vpn", Weight: ptr(int32(254)), Exec: &vrrpv1.ExecCheck{Command: []string{"x"}}}}
			},
			want: []string{"spec.track[0].weight: Invalid value: 254"},
		},
		"a tcp check of IPv4 in brackets, which the agent could not dial": {
			change: func(v *vrrpv1.VirtualIP) {
				v.Spec.Track = []vrrpv1.Check{{Name: "db", TCP: &vrrpv1.TCPCheck{Address: "[198.51.100.1]:80"}}}
			},
			want: []string{`spec.track[0].tcp.address: Invalid value: "[198.51.100.1]:80"`},
		},
		"an http check of a hostname": {
			change: func(v *vrrpv1.VirtualIP) {
				v.Spec.Track = []vrrpv1.Check{{Name: "web", HTTP: &vrrpv1.HTTPCheck{URL: "http://web.example/healthz"}}}
			},
			want: []string{"spec.track[0].http.url: Invalid value", "whose host is an IP address or localhost"},
		},
		"a timeout longer than the interval it defaults to": {
			change: func(v *vrrpv1.VirtualIP) {
				v.Spec.Track = []vrrpv1.Check{{Name: "vpn", Timeout: dur(2 * time.Second), Exec: &vrrpv1.ExecCheck{Command: []string{"x"}}}}
			},
			want: []string{"spec.track[0]: Invalid value: timeout must not be longer than interval (1s when absent)"},
		},
		"a pods selector key that is no label key, named by its map": {
			change: func(v *vrrpv1.VirtualIP) {
				v.Spec.Track = []vrrpv1.Check{{Name: "ingress", Pods: &vrrpv1.PodsCheck{Namespace: "ingress",
					Selector: vrrpv1.PodSelector{MatchLabels: map[string]vrrpv1.LabelValue{"a b": "c"}}}}}
			},
			want: []string{"spec.track[0].pods.selector.matchLabels: Invalid value: pods.selector label keys must be"},
		},
		"a pods selector value that is no label value, named by its key": {
			change: func(v *vrrpv1.VirtualIP) {
				v.Spec.Track = []vrrpv1.Check{{Name: "ingress", Pods: &vrrpv1.PodsCheck{Namespace: "ingress",
					Selector: vrrpv1.PodSelector{MatchExpressions: []vrrpv1.PodSelectorRequirement{{Key: "app", Operator: "In", Values: []vrrpv1.LabelValue{"a", "b c"}}}}}}}
			},
			want: []string{`spec.track[0].pods.selector.matchExpressions[0].values[1]: Invalid value: "b c"`},
		},
		"an http check on port 0": {
			change: func(v *vrrpv1.VirtualIP) {
				v.Spec.Track = []vrrpv1.Check{{Name: "web", HTTP: &vrrpv1.HTTPCheck{URL: "http://127.0.0.1:0/healthz"}}}
			},
			want: []string{"spec.track[0].http.url: Invalid value", "with a port from 1 to 65535 if any"},
		},
		"every problem at once": {
			change: func(v *vrrpv1.VirtualIP) { v.Spec.Priority = 255; v.Spec.Version = 3; v.Spec.Authentication = pass() },
			want:   []string{"spec.priority: Invalid value: 255", "spec.authentication: Forbidden: authentication (PASS) requires version 2"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v := vrrpv1.VirtualIP{
				ObjectMeta: metav1.ObjectMeta{Name: "web"},
				Spec:       vrrpv1.VirtualIPSpec{VirtualRouterID: 1, Addresses: []string{"198.51.100.10/24"}},
			}
			Default(&v)
			tc.change(&v)
			err := Validate(&v)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want it valid", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() accepted %+v", v.Spec)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func pass() *vrrpv1.Authentication {
	return &vrrpv1.Authentication{
		Type:      vrrpv1.AuthenticationPass,
		SecretRef: vrrpv1.SecretKeyReference{Name: "vrrp-auth", Namespace: "vrrp-system", Key: "password"},
	}
}
