package v1alpha1_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/vrrp-dev/vrrp-operator/agent/manifests"
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

// TestAPIServerAndStandaloneAgentAgreeOnChecks holds spec.track's rules (issue 10, item 5) to both
// sides on a real kube-apiserver and in manifests.Validate, which a standalone agent runs: each
// kind in a good form is admitted by both, and what no agent can run is refused by both, naming the
// field. config/samples/invalid/track-* hold one manifest per refusal; these are the cases a sample
// cannot show, and the admitted ones.
func TestAPIServerAndStandaloneAgentAgreeOnChecks(t *testing.T) {
	_, cfg := testenv.APIServer(t)
	c := newClient(t, cfg)
	virtualIP := func(track ...vrrpv1.Check) *vrrpv1.VirtualIP {
		return &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "track"},
			Spec: vrrpv1.VirtualIPSpec{VirtualRouterID: 10, Addresses: []string{"198.51.100.10/24"}, Track: track}}
	}
	exec := func(name string) vrrpv1.Check {
		return vrrpv1.Check{Name: name, Exec: &vrrpv1.ExecCheck{Command: []string{"check-vpn.sh"}}}
	}
	http := func(url string) vrrpv1.Check { return vrrpv1.Check{Name: "web", HTTP: &vrrpv1.HTTPCheck{URL: url}} }
	tcp := func(address string) vrrpv1.Check {
		return vrrpv1.Check{Name: "db", TCP: &vrrpv1.TCPCheck{Address: address}}
	}
	pods := func(sel vrrpv1.PodSelector) vrrpv1.Check {
		return vrrpv1.Check{Name: "ingress", Pods: &vrrpv1.PodsCheck{Namespace: "ingress", Selector: sel}}
	}
	expr := func(op metav1.LabelSelectorOperator, values ...vrrpv1.LabelValue) vrrpv1.PodSelectorRequirement {
		return vrrpv1.PodSelectorRequirement{Key: "app.kubernetes.io/name", Operator: op, Values: values}
	}
	labelled := func(key string, value vrrpv1.LabelValue) vrrpv1.Check {
		return pods(vrrpv1.PodSelector{MatchLabels: map[string]vrrpv1.LabelValue{key: value}})
	}
	keyed := func(key vrrpv1.LabelKey, values ...vrrpv1.LabelValue) vrrpv1.Check {
		return pods(vrrpv1.PodSelector{MatchExpressions: []vrrpv1.PodSelectorRequirement{{Key: key, Operator: "In", Values: values}}})
	}
	// The longest label key: a DNS subdomain of 253 characters, '/', and a name of 63.
	longPrefix := strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("b", 61)
	longName, longValue := "N"+strings.Repeat("-_.", 20)+"9z", vrrpv1.LabelValue("v"+strings.Repeat("x", 61)+"0")
	const keyWords = "pods.selector label keys must be a name of 1 to 63 letters, digits, '-', '_' or '.'"
	with := func(c vrrpv1.Check, change func(*vrrpv1.Check)) vrrpv1.Check { change(&c); return c }
	i32 := func(v int32) *int32 { return &v }
	dur := func(s string) *metav1.Duration {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		return &metav1.Duration{Duration: d}
	}
	sixteen := make([]vrrpv1.Check, 16)
	for i := range sixteen {
		sixteen[i] = vrrpv1.Check{Name: fmt.Sprintf("flag-%d", i), Weight: i32(int32(253 - 2*253*(i%2))),
			File: &vrrpv1.FileCheck{Path: fmt.Sprintf("/run/flags/%d", i)}}
	}

	tests := map[string]struct {
		track []vrrpv1.Check
		want  []string // each in both refusals; none: both admit it
	}{
		// Admitted.
		"an exec check with weight, interval, timeout, rise and fall": {track: []vrrpv1.Check{with(exec("vpn"), func(c *vrrpv1.Check) {
			c.Exec.Command = []string{"check-vpn.sh", "--tunnel", "tun0"}
			c.Weight, c.Interval, c.Timeout, c.Rise, c.Fall = i32(-60), dur("2s"), dur("1500ms"), i32(2), i32(3)
		})}},
		"an exec check whose timeout is the default interval, 1s": {track: []vrrpv1.Check{with(exec("vpn"), func(c *vrrpv1.Check) { c.Timeout = dur("1s") })}},
		"a weight of 0, which faults on failure":                  {track: []vrrpv1.Check{with(exec("vpn"), func(c *vrrpv1.Check) { c.Weight = i32(0) })}},
		"an http check of an IPv4 address with expected statuses": {track: []vrrpv1.Check{with(http("http://198.51.100.20:8404/healthz"), func(c *vrrpv1.Check) {
			c.HTTP.ExpectedStatus = []int32{200, 204, 599}
		})}},
		"an http check of the IPv6 loopback":              {track: []vrrpv1.Check{http("http://[::1]:8404/healthz")}},
		"an https check of localhost":                     {track: []vrrpv1.Check{http("https://localhost:8443/")}},
		"an http check of an IPv6 address with no port":   {track: []vrrpv1.Check{http("http://[2001:db8::20]/healthz?full=1")}},
		"an http check of an IPv4 address with no path":   {track: []vrrpv1.Check{http("http://203.0.113.20")}},
		"a tcp check of an IPv4 address":                  {track: []vrrpv1.Check{tcp("198.51.100.20:5432")}},
		"a tcp check of an IPv6 address in brackets":      {track: []vrrpv1.Check{tcp("[2001:db8::1]:80")}},
		"a tcp check on port 65535":                       {track: []vrrpv1.Check{tcp("203.0.113.20:65535")}},
		"an interface check with a positive weight":       {track: []vrrpv1.Check{{Name: "uplink", Weight: i32(20), Interface: &vrrpv1.InterfaceCheck{Name: "enp0s31f6.1000"}}}},
		"a file check whose number the weight multiplies": {track: []vrrpv1.Check{{Name: "flag", Weight: i32(10), File: &vrrpv1.FileCheck{Path: "/run/vpn/flag"}}}},
		"a pods check with matchLabels and every operator": {track: []vrrpv1.Check{pods(vrrpv1.PodSelector{
			MatchLabels:      map[string]vrrpv1.LabelValue{"app": "nginx"},
			MatchExpressions: []vrrpv1.PodSelectorRequirement{expr("In", "a", "b"), expr("NotIn", "c"), expr("Exists"), expr("DoesNotExist")},
		})}},
		"a pods check with the longest label keys and values, and empty ones": {track: []vrrpv1.Check{pods(vrrpv1.PodSelector{
			MatchLabels: map[string]vrrpv1.LabelValue{longPrefix + "/" + longName: longValue, "App_1.x": "", "a": "B-2_c.D"},
			MatchExpressions: []vrrpv1.PodSelectorRequirement{
				{Key: vrrpv1.LabelKey(longPrefix + "/" + longName), Operator: "In", Values: []vrrpv1.LabelValue{longValue, "", "x"}},
				{Key: "example.com/vpn-client", Operator: "NotIn", Values: slices.Repeat([]vrrpv1.LabelValue{"a"}, 64)},
			},
		})}},
		"an http url on port 1":                  {track: []vrrpv1.Check{http("http://127.0.0.1:1/healthz")}},
		"an http url on port 65535":              {track: []vrrpv1.Check{http("http://[::1]:65535")}},
		"16 checks with weights of 253 and -253": {track: sixteen},
		"every kind side by side": {track: []vrrpv1.Check{exec("vpn"), http("https://localhost:8443/"), tcp("[2001:db8::1]:80"),
			{Name: "uplink", Interface: &vrrpv1.InterfaceCheck{Name: "eth1"}}, {Name: "flag", File: &vrrpv1.FileCheck{Path: "/run/vpn/flag"}},
			pods(vrrpv1.PodSelector{MatchLabels: map[string]vrrpv1.LabelValue{"app": "nginx"}})}},

		// Refused, naming the field.
		"a check without a name":                   {track: []vrrpv1.Check{exec("")}, want: []string{"spec.track[0].name"}},
		"a check name of 64 characters":            {track: []vrrpv1.Check{exec(strings.Repeat("a", 64))}, want: []string{"spec.track[0].name: Too long"}},
		"a check name that starts with a dash":     {track: []vrrpv1.Check{exec("-vpn")}, want: []string{`spec.track[0].name: Invalid value: "-vpn"`}},
		"two checks of one name, the second named": {track: []vrrpv1.Check{exec("vpn"), tcp("198.51.100.20:1194"), with(tcp("198.51.100.20:1195"), func(c *vrrpv1.Check) { c.Name = "vpn" })}, want: []string{"spec.track[2]: Duplicate value"}},
		"17 checks":           {track: append(sixteen[:16:16], exec("vpn")), want: []string{"spec.track: Too many: 17: must have at most 16 items"}},
		"an interval of 50ms": {track: []vrrpv1.Check{with(exec("vpn"), func(c *vrrpv1.Check) { c.Interval = dur("50ms") })}, want: []string{"spec.track[0].interval", "interval must be between 100ms and 1h"}},
		"a timeout of 5ms":    {track: []vrrpv1.Check{with(exec("vpn"), func(c *vrrpv1.Check) { c.Timeout = dur("5ms") })}, want: []string{"spec.track[0].timeout", "timeout must be between 10ms and 1h"}},
		"a timeout longer than the default interval": {track: []vrrpv1.Check{exec("a"), with(exec("vpn"), func(c *vrrpv1.Check) { c.Timeout = dur("1001ms") })}, want: []string{"spec.track[1]: Invalid value", "timeout must not be longer than interval (1s when absent)"}},
		"rise 0":                                       {track: []vrrpv1.Check{with(exec("vpn"), func(c *vrrpv1.Check) { c.Rise = i32(0) })}, want: []string{"spec.track[0].rise: Invalid value: 0"}},
		"fall 101":                                     {track: []vrrpv1.Check{with(exec("vpn"), func(c *vrrpv1.Check) { c.Fall = i32(101) })}, want: []string{"spec.track[0].fall: Invalid value: 101"}},
		"rise on an interface check":                   {track: []vrrpv1.Check{{Name: "uplink", Rise: i32(2), Interface: &vrrpv1.InterfaceCheck{Name: "eth1"}}}, want: []string{"spec.track[0]: Invalid value", "interface and pods checks are watched"}},
		"a timeout on a pods check":                    {track: []vrrpv1.Check{with(pods(vrrpv1.PodSelector{MatchLabels: map[string]vrrpv1.LabelValue{"app": "nginx"}}), func(c *vrrpv1.Check) { c.Timeout = dur("1s") })}, want: []string{"spec.track[0]: Invalid value", "interface and pods checks are watched"}},
		"an exec check without a command":              {track: []vrrpv1.Check{{Name: "vpn", Exec: &vrrpv1.ExecCheck{}}}, want: []string{"spec.track[0].exec.command: Required value"}},
		"an exec command of 33 arguments":              {track: []vrrpv1.Check{with(exec("vpn"), func(c *vrrpv1.Check) { c.Exec.Command = slices.Repeat([]string{"x"}, 33) })}, want: []string{"spec.track[0].exec.command: Too many: 33"}},
		"an expected status of 600":                    {track: []vrrpv1.Check{with(http("http://198.51.100.20/"), func(c *vrrpv1.Check) { c.HTTP.ExpectedStatus = []int32{600} })}, want: []string{"spec.track[0].http.expectedStatus[0]: Invalid value: 600"}},
		"an expected status listed twice":              {track: []vrrpv1.Check{with(http("http://198.51.100.20/"), func(c *vrrpv1.Check) { c.HTTP.ExpectedStatus = []int32{200, 200} })}, want: []string{"spec.track[0].http.expectedStatus[1]: Duplicate value: 200"}},
		"an http check with an empty url":              {track: []vrrpv1.Check{http("")}, want: []string{"spec.track[0].http.url: Invalid value"}},
		"a tcp check with an empty address":            {track: []vrrpv1.Check{tcp("")}, want: []string{"spec.track[0].tcp.address: Invalid value"}},
		"an http url with an IPv4-mapped IPv6 host":    {track: []vrrpv1.Check{http("http://[::ffff:198.51.100.20]/")}, want: []string{"spec.track[0].http.url: Invalid value", "whose host is an IP address or localhost"}},
		"an http url whose host has a zone":            {track: []vrrpv1.Check{http("http://[2001:db8::1%25eth0]/")}, want: []string{"spec.track[0].http.url: Invalid value"}},
		"an http url with IPv4 in brackets":            {track: []vrrpv1.Check{http("http://[198.51.100.20]/")}, want: []string{"spec.track[0].http.url: Invalid value"}},
		"an http url with an IPv4 address of 5 bytes":  {track: []vrrpv1.Check{http("http://198.51.100.20.1/")}, want: []string{"spec.track[0].http.url: Invalid value"}},
		"an http url that only starts as localhost":    {track: []vrrpv1.Check{http("http://localhost.example/")}, want: []string{"spec.track[0].http.url: Invalid value"}},
		"an http url without a host":                   {track: []vrrpv1.Check{http("http:///healthz")}, want: []string{"spec.track[0].http.url: Invalid value"}},
		"an http url with user information":            {track: []vrrpv1.Check{http("http://admin@198.51.100.20/")}, want: []string{"spec.track[0].http.url: Invalid value"}},
		"a tcp address with IPv4 in brackets":          {track: []vrrpv1.Check{tcp("[198.51.100.20]:80")}, want: []string{"spec.track[0].tcp.address: Invalid value", "IP:port or [IPv6]:port"}},
		"a tcp address of IPv6 without brackets":       {track: []vrrpv1.Check{tcp("2001:db8::1:80")}, want: []string{"spec.track[0].tcp.address: Invalid value"}},
		"a tcp address with a zone":                    {track: []vrrpv1.Check{tcp("[2001:db8::1%eth0]:80")}, want: []string{"spec.track[0].tcp.address: Invalid value"}},
		"a tcp address of an IPv4-mapped IPv6 address": {track: []vrrpv1.Check{tcp("[::ffff:198.51.100.20]:80")}, want: []string{"spec.track[0].tcp.address: Invalid value"}},
		"an interface name longer than 15":             {track: []vrrpv1.Check{{Name: "uplink", Interface: &vrrpv1.InterfaceCheck{Name: "enp0s31f6.10000x"}}}, want: []string{"spec.track[0].interface.name: Too long"}},
		"an interface name with white space":           {track: []vrrpv1.Check{{Name: "uplink", Interface: &vrrpv1.InterfaceCheck{Name: "eth 1"}}}, want: []string{`spec.track[0].interface.name: Invalid value: "eth 1"`}},
		"a file path of / alone":                       {track: []vrrpv1.Check{{Name: "flag", File: &vrrpv1.FileCheck{Path: "/"}}}, want: []string{`spec.track[0].file.path: Invalid value: "/"`}},
		"a pods namespace that is no DNS label": {
			track: []vrrpv1.Check{with(pods(vrrpv1.PodSelector{MatchLabels: map[string]vrrpv1.LabelValue{"app": "nginx"}}), func(c *vrrpv1.Check) { c.Pods.Namespace = "Ingress" })},
			want:  []string{`spec.track[0].pods.namespace: Invalid value: "Ingress"`},
		},
		"a pods selector with In and no values": {
			track: []vrrpv1.Check{pods(vrrpv1.PodSelector{MatchExpressions: []vrrpv1.PodSelectorRequirement{expr("In")}})},
			want:  []string{"spec.track[0].pods.selector: Invalid value", "and not empty with In and NotIn"},
		},
		"a pods selector with 17 expressions": {
			track: []vrrpv1.Check{pods(vrrpv1.PodSelector{MatchExpressions: slices.Repeat([]vrrpv1.PodSelectorRequirement{expr("Exists")}, 17)})},
			want:  []string{"spec.track[0].pods.selector.matchExpressions: Too many: 17"},
		},
		"a pods selector label value with a space": {
			track: []vrrpv1.Check{labelled("app", "vpn client")},
			want:  []string{`spec.track[0].pods.selector.matchLabels.app: Invalid value: "vpn client"`},
		},
		"a pods selector label value of 64 characters": {
			track: []vrrpv1.Check{labelled("app", longValue+"x")},
			want:  []string{"spec.track[0].pods.selector.matchLabels.app: Too long"},
		},
		"a pods selector label value that ends with a dot": {
			track: []vrrpv1.Check{labelled("app", "vpn.")},
			want:  []string{`spec.track[0].pods.selector.matchLabels.app: Invalid value: "vpn."`},
		},
		"an empty pods selector label key": {
			track: []vrrpv1.Check{labelled("", "vpn")},
			want:  []string{"spec.track[0].pods.selector.matchLabels: Invalid value", keyWords},
		},
		"a pods selector label key with a space and capitals in its prefix": {
			track: []vrrpv1.Check{labelled("Bad Key/x", "vpn")},
			want:  []string{"spec.track[0].pods.selector.matchLabels: Invalid value", keyWords},
		},
		"a pods selector label key with a name of 64 characters": {
			track: []vrrpv1.Check{labelled(longName+"x", "vpn")},
			want:  []string{"spec.track[0].pods.selector.matchLabels: Invalid value", keyWords},
		},
		"a pods selector label key with a prefix of 254 characters": {
			track: []vrrpv1.Check{labelled("c"+longPrefix+"/app", "vpn")},
			want:  []string{"spec.track[0].pods.selector.matchLabels: Invalid value", keyWords},
		},
		"a pods selector label key with two slashes": {
			track: []vrrpv1.Check{labelled("example.com/app/name", "vpn")},
			want:  []string{"spec.track[0].pods.selector.matchLabels: Invalid value", keyWords},
		},
		"a pods selector label key of 10000 characters": {
			track: []vrrpv1.Check{labelled(strings.Repeat("a", 10000), "vpn")},
			want:  []string{"spec.track[0].pods.selector.matchLabels: Invalid value", keyWords},
		},
		"an empty pods selector expression key": {
			track: []vrrpv1.Check{keyed("", "vpn")},
			want:  []string{"spec.track[0].pods.selector.matchExpressions[0].key: Invalid value", keyWords},
		},
		"a pods selector expression key that starts with a dash": {
			track: []vrrpv1.Check{keyed("-app", "vpn")},
			want:  []string{"spec.track[0].pods.selector.matchExpressions[0].key: Invalid value", keyWords},
		},
		"a pods selector expression key with a prefix of 254 characters": {
			track: []vrrpv1.Check{keyed(vrrpv1.LabelKey("c"+longPrefix+"/app"), "vpn")},
			want:  []string{"spec.track[0].pods.selector.matchExpressions[0].key: Invalid value", keyWords},
		},
		"a pods selector expression key of 318 characters": {
			track: []vrrpv1.Check{keyed(vrrpv1.LabelKey(longPrefix+"/"+longName+"x"), "vpn")},
			want:  []string{"spec.track[0].pods.selector.matchExpressions[0].key: Too long"},
		},
		"a pods selector expression value with a slash": {
			track: []vrrpv1.Check{keyed("app", "vpn", "vpn/client")},
			want:  []string{`spec.track[0].pods.selector.matchExpressions[0].values[1]: Invalid value: "vpn/client"`},
		},
		"a pods selector expression value of 64 characters": {
			track: []vrrpv1.Check{keyed("app", longValue+"x")},
			want:  []string{"spec.track[0].pods.selector.matchExpressions[0].values[0]: Too long"},
		},
		"a pods selector expression with 65 values": {
			track: []vrrpv1.Check{keyed("app", slices.Repeat([]vrrpv1.LabelValue{"a"}, 65)...)},
			want:  []string{"spec.track[0].pods.selector.matchExpressions[0].values: Too many: 65"},
		},
		"an http url on port 0":                    {track: []vrrpv1.Check{http("http://127.0.0.1:0/")}, want: []string{"spec.track[0].http.url: Invalid value", "with a port from 1 to 65535 if any"}},
		"an http url on port 65536":                {track: []vrrpv1.Check{http("http://[::1]:65536/")}, want: []string{"spec.track[0].http.url: Invalid value", "with a port from 1 to 65535 if any"}},
		"an http url on port 99999":                {track: []vrrpv1.Check{http("http://127.0.0.1:99999/")}, want: []string{"spec.track[0].http.url: Invalid value"}},
		"an http url with a port of leading zeros": {track: []vrrpv1.Check{http("https://localhost:08443/")}, want: []string{"spec.track[0].http.url: Invalid value"}},
		"an http url with a colon and no port":     {track: []vrrpv1.Check{http("http://127.0.0.1:/")}, want: []string{"spec.track[0].http.url: Invalid value"}},
		"a pods selector with 17 labels": {
			track: []vrrpv1.Check{pods(vrrpv1.PodSelector{MatchLabels: seventeenLabels()})},
			want:  []string{"spec.track[0].pods.selector.matchLabels: Too many: 17"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			apiErr := c.Create(context.Background(), virtualIP(tc.track...), client.DryRunAll)
			standalone := virtualIP(tc.track...)
			manifests.Default(standalone)
			for side, err := range map[string]error{"the API server": apiErr, "a standalone agent": manifests.Validate(standalone)} {
				switch {
				case len(tc.want) == 0 && err != nil:
					t.Errorf("%s refused it: %v", side, err)
				case len(tc.want) > 0 && err == nil:
					t.Errorf("%s admitted it", side)
				case err != nil:
					t.Logf("%s refused it: %v", side, err)
					for _, w := range tc.want {
						if !strings.Contains(err.Error(), w) {
							t.Errorf("%s's refusal does not contain %q:\n%v", side, w, err)
						}
					}
				}
			}
		})
	}

	// A field of no kind, or of another kind than its own, is refused by kubectl's default strict
	// field validation and by a standalone agent's loader; a typed client cannot send one.
	unknown := map[string]string{
		"a kind nobody knows":                          `{name: vpn, foo: {}}`,
		"rise given to the exec object, not the check": `{name: vpn, exec: {command: [check-vpn.sh], rise: 2}}`,
	}
	for name, check := range unknown {
		t.Run("refuses "+name, func(t *testing.T) {
			doc := "apiVersion: vrrp.dev/v1alpha1\nkind: VirtualIP\nmetadata: {name: track}\n" +
				"spec: {virtualRouterID: 10, addresses: [198.51.100.10/24], track: [" + check + "]}\n"
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
				t.Fatal(err)
			}
			apiErr := c.Create(context.Background(), u, client.DryRunAll, client.FieldValidation("Strict"))
			_, loadErr := manifests.Load(strings.NewReader(doc))
			for side, err := range map[string]error{"the API server": apiErr, "a standalone agent": loadErr} {
				if err == nil || !strings.Contains(err.Error(), `unknown field "spec.track[0].`) {
					t.Errorf("%s: want a refusal naming the unknown field under spec.track[0], got %v", side, err)
				}
			}
		})
	}
}

func seventeenLabels() map[string]vrrpv1.LabelValue {
	m := make(map[string]vrrpv1.LabelValue, 17)
	for i := range 17 {
		m[fmt.Sprintf("label-%d", i)] = "x"
	}
	return m
}
