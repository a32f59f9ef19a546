package desired

import (
	"errors"
	"strings"
	"testing"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// TestAnHTTPCheckNeedsAPortTheAgentCanDial holds checkURL to the CRD's http.url rule on ports:
// absent or 1 to 65535 runs; 0 and beyond 65535, which no dial reaches, refuse the router's spec
// as the API server refuses the VirtualIP.
func TestAnHTTPCheckNeedsAPortTheAgentCanDial(t *testing.T) {
	tests := map[string]struct {
		url string
		ok  bool
	}{
		"no port":                         {url: "http://127.0.0.1/healthz", ok: true},
		"port 1":                          {url: "http://127.0.0.1:1/healthz", ok: true},
		"port 65535 of the IPv6 loopback": {url: "https://[::1]:65535/", ok: true},
		"port 8404 of localhost":          {url: "http://localhost:8404/healthz", ok: true},
		"port 0":                          {url: "http://127.0.0.1:0/healthz"},
		"port 65536":                      {url: "http://[::1]:65536/"},
		"port 99999":                      {url: "http://127.0.0.1:99999/"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v := vip("web", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) {
				v.Spec.Track = []vrrpv1.Check{{Name: "web", HTTP: &vrrpv1.HTTPCheck{URL: tc.url}}}
			})
			res := Derive(Inputs{NodeName: "primary", VirtualIPs: []vrrpv1.VirtualIP{v}, Interfaces: standardInterfaces()})
			switch {
			case tc.ok && (len(res.Errors) != 0 || len(res.Routers) != 1):
				t.Fatalf("url %s: routers %v, errors %v: want the router to run", tc.url, res.Routers, res.Errors)
			case !tc.ok && (len(res.Errors) != 1 || !errors.Is(res.Errors[0], ErrInvalidSpec) || !strings.Contains(res.Errors[0].Error(), "with a port from 1 to 65535")):
				t.Fatalf("url %s: errors %v, want one InvalidSpec naming the port range", tc.url, res.Errors)
			}
		})
	}
}
