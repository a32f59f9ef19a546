package desired

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vrrp-dev/vrrp-operator/agent/track"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

func TestTrack(t *testing.T) {
	since := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	passing := track.Result{State: track.Passing, Since: since, Message: "200 OK"}
	failing := track.Result{State: track.Failing, Since: since, Message: "connection refused"}
	exec := func(name string, weight int) track.Check {
		return track.Check{Name: name, Kind: track.KindExec, Weight: weight}
	}
	file := func(name string, weight int) track.Check {
		return track.Check{Name: name, Kind: track.KindFile, Weight: weight}
	}
	value := func(v int) track.Result { return track.Result{State: track.Passing, Since: since, Value: v} }
	base := func(prio uint8, checks ...track.Check) Router {
		r := router("web", 10, "198.51.100.10/24")
		r.Config.Priority, r.Config.StartAsMaster, r.Checks = prio, true, checks
		return r
	}

	tests := []struct {
		name      string
		router    Router
		results   map[string]track.Result // by check name
		priority  uint8
		fault     string // a substring of CheckFault, "" for none
		startsAsM bool
		reason    string
		weights   []int
	}{
		{name: "a router without checks is left as it is",
			router: base(100), priority: 100, startsAsM: true},
		{name: "a failing check with a negative weight lowers the priority",
			router: base(150, exec("web", -60)), results: map[string]track.Result{"web": failing},
			priority: 90, reason: ReasonCheckWeight, weights: []int{-60}},
		{name: "a passing check with a negative weight adds nothing, and the node may start as Master",
			router: base(150, exec("web", -60)), results: map[string]track.Result{"web": passing},
			priority: 150, startsAsM: true, weights: []int{0}},
		{name: "a passing check with a positive weight raises the priority, and the node waits as Backup",
			router: base(100, exec("web", 20)), results: map[string]track.Result{"web": passing},
			priority: 120, reason: ReasonCheckWeight, weights: []int{20}},
		{name: "a failing check with a positive weight adds nothing",
			router: base(100, exec("web", 20)), results: map[string]track.Result{"web": failing},
			priority: 100, weights: []int{0}},
		{name: "a check that has not run yet counts as passing, but the node does not start as Master",
			router: base(150, exec("web", -60)), priority: 150, weights: []int{0}},
		{name: "a check with a positive weight that has not run yet adds nothing, as keepalived's",
			router: base(100, exec("web", 20)), priority: 100, weights: []int{0}},
		{name: "a pods check whose selector does not parse adds nothing and faults nothing, on every node alike",
			router: func() Router {
				r := base(150, track.Check{Name: "vpn", Kind: track.KindPods, Invalid: "not run: pods.selector: bad"})
				return r
			}(), results: map[string]track.Result{"vpn": failing},
			priority: 150, weights: []int{0}},
		{name: "a failing check without a weight puts the router in FAULT and names the check",
			router: base(150, exec("vpn", 0)), results: map[string]track.Result{"vpn": failing},
			priority: 150, fault: "check vpn failing: connection refused", weights: []int{0}},
		{name: "weights add up and stop at 1",
			router: base(100, exec("a", -60), exec("b", -60)), results: map[string]track.Result{"a": failing, "b": failing},
			priority: 1, reason: ReasonCheckWeight, weights: []int{-60, -60}},
		{name: "weights add up and stop at 254",
			router: base(250, exec("a", 10)), results: map[string]track.Result{"a": passing},
			priority: 254, reason: ReasonCheckWeight, weights: []int{10}},
		{name: "a file check with a weight adds the number times the weight",
			router: base(100, file("flag", 10)), results: map[string]track.Result{"flag": value(-3)},
			priority: 70, reason: ReasonCheckWeight, weights: []int{-30}},
		{name: "a file check whose product is -254 or less puts the router in FAULT",
			router: base(100, file("flag", 127)), results: map[string]track.Result{"flag": value(-2)},
			priority: 100, fault: "-254 or less", weights: []int{0}},
		{name: "a file check with a weight that cannot read its file adds nothing",
			router: base(100, file("flag", 10)), results: map[string]track.Result{"flag": failing},
			priority: 100, weights: []int{0}},
		{name: "a cordoned node keeps priority 1 whatever its checks add",
			router: func() Router {
				r := base(100, exec("web", 50))
				r.Config.Priority, r.Resign, r.Reason = DemotedPriority, true, ReasonCordoned
				return r
			}(), results: map[string]track.Result{"web": passing},
			priority: DemotedPriority, reason: ReasonCordoned, weights: []int{50}},
		{name: "the preferred node's 254 is lowered by a failing check, and keeps its reason",
			router: func() Router {
				r := base(PreferredPriority, exec("web", -100))
				r.Reason = ReasonPreferred
				return r
			}(), results: map[string]track.Result{"web": failing},
			priority: 154, reason: ReasonPreferred, weights: []int{-100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results := map[track.Key]track.Result{}
			for name, res := range tt.results {
				results[track.Key{Router: "web", Check: name}] = res
			}
			in := []Router{tt.router}
			before := tt.router.Config.Priority
			got := Track(in, results)[0]
			if in[0].Config.Priority != before || in[0].CheckStates != nil {
				t.Fatalf("Track changed its input")
			}
			if got.Config.Priority != tt.priority {
				t.Errorf("priority = %d, want %d", got.Config.Priority, tt.priority)
			}
			if (tt.fault == "") != (got.CheckFault == "") || !strings.Contains(got.CheckFault, tt.fault) {
				t.Errorf("CheckFault = %q, want one containing %q", got.CheckFault, tt.fault)
			}
			if got.Config.StartAsMaster != tt.startsAsM {
				t.Errorf("StartAsMaster = %v, want %v", got.Config.StartAsMaster, tt.startsAsM)
			}
			if got.Reason != tt.reason {
				t.Errorf("Reason = %q, want %q", got.Reason, tt.reason)
			}
			var weights []int
			for i, st := range got.CheckStates {
				weights = append(weights, st.Weight)
				want := tt.results[st.Name]
				if inv := tt.router.Checks[i].Invalid; inv != "" {
					want = track.Result{Message: inv}
				}
				if st.Name != tt.router.Checks[i].Name || st.Result != want {
					t.Errorf("CheckStates[%d] = %+v, want check %s with result %+v", i, st, tt.router.Checks[i].Name, want)
				}
			}
			if diff := cmp.Diff(tt.weights, weights); diff != "" {
				t.Errorf("weights (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeriveChecks(t *testing.T) {
	w := func(v int32) *int32 { return &v }
	d := func(s string) *metav1.Duration {
		v, _ := time.ParseDuration(s)
		return &metav1.Duration{Duration: v}
	}
	tests := []struct {
		name       string
		track      []vrrpv1.Check
		standalone bool
		want       []track.Check
		err        string
	}{
		{name: "an http check gets keepalived's defaults: interval 1s, timeout the interval, rise and fall 1",
			track: []vrrpv1.Check{{Name: "haproxy", Weight: w(-60), HTTP: &vrrpv1.HTTPCheck{URL: "http://203.0.113.5:8404/healthz"}}},
			want: []track.Check{{Name: "haproxy", Kind: track.KindHTTP, Weight: -60, Interval: time.Second, Timeout: time.Second,
				Rise: 1, Fall: 1, URL: "http://203.0.113.5:8404/healthz"}}},
		{name: "an exec check keeps its interval, timeout, rise and fall",
			track: []vrrpv1.Check{{Name: "vpn", Interval: d("2s"), Timeout: d("500ms"), Rise: w(2), Fall: w(3),
				Exec: &vrrpv1.ExecCheck{Command: []string{"check-vpn.sh", "tun0"}}}},
			want: []track.Check{{Name: "vpn", Kind: track.KindExec, Interval: 2 * time.Second, Timeout: 500 * time.Millisecond,
				Rise: 2, Fall: 3, Command: []string{"check-vpn.sh", "tun0"}}}},
		{name: "tcp, interface and file checks",
			track: []vrrpv1.Check{
				{Name: "db", TCP: &vrrpv1.TCPCheck{Address: "[2001:db8::5]:5432"}},
				{Name: "uplink", Weight: w(-20), Interface: &vrrpv1.InterfaceCheck{Name: "eth1"}},
				{Name: "flag", Weight: w(5), File: &vrrpv1.FileCheck{Path: "/run/vrrp/flag"}}},
			want: []track.Check{
				{Name: "db", Kind: track.KindTCP, Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1, Address: "[2001:db8::5]:5432"},
				{Name: "uplink", Kind: track.KindInterface, Weight: -20, Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1, Interface: "eth1"},
				{Name: "flag", Kind: track.KindFile, Weight: 5, Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1, Path: "/run/vrrp/flag"}}},
		{name: "a check with two kinds is refused",
			track: []vrrpv1.Check{{Name: "x", TCP: &vrrpv1.TCPCheck{Address: "198.51.100.5:80"}, File: &vrrpv1.FileCheck{Path: "/x"}}},
			err:   "exactly one of"},
		{name: "a check with no kind is refused",
			track: []vrrpv1.Check{{Name: "x"}}, err: "exactly one of"},
		{name: "a weight beyond 253 is refused",
			track: []vrrpv1.Check{{Name: "x", Weight: w(254), TCP: &vrrpv1.TCPCheck{Address: "198.51.100.5:80"}}}, err: "weight 254"},
		{name: "a tcp address without a port is refused",
			track: []vrrpv1.Check{{Name: "x", TCP: &vrrpv1.TCPCheck{Address: "198.51.100.5"}}}, err: "tcp.address"},
		{name: "an http url with a host name is refused",
			track: []vrrpv1.Check{{Name: "x", HTTP: &vrrpv1.HTTPCheck{URL: "http://example.org/healthz"}}}, err: "http.url"},
		{name: "a timeout longer than the interval is refused",
			track: []vrrpv1.Check{{Name: "x", Interval: d("1s"), Timeout: d("2s"), TCP: &vrrpv1.TCPCheck{Address: "198.51.100.5:80"}}}, err: "timeout"},
		{name: "two checks with one name are refused",
			track: []vrrpv1.Check{{Name: "x", TCP: &vrrpv1.TCPCheck{Address: "198.51.100.5:80"}}, {Name: "x", File: &vrrpv1.FileCheck{Path: "/x"}}},
			err:   "used twice"},
		{name: "a pods check with an empty selector is refused",
			track: []vrrpv1.Check{{Name: "vpn", Pods: &vrrpv1.PodsCheck{Namespace: "vpn"}}}, err: "pods.selector is empty"},
		{name: "a pods check is refused by a standalone agent",
			track:      []vrrpv1.Check{{Name: "vpn", Pods: &vrrpv1.PodsCheck{Namespace: "vpn", Selector: vrrpv1.PodSelector{MatchLabels: map[string]vrrpv1.LabelValue{"app": "vpn"}}}}},
			standalone: true, err: "standalone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := vip("web", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) { v.Spec.Track = tt.track })
			res := Derive(Inputs{NodeName: "primary", VirtualIPs: []vrrpv1.VirtualIP{v}, Interfaces: standardInterfaces(), Standalone: tt.standalone})
			if tt.err != "" {
				if len(res.Errors) != 1 || !errors.Is(res.Errors[0], ErrInvalidSpec) || !strings.Contains(res.Errors[0].Error(), tt.err) {
					t.Fatalf("errors = %v, want one InvalidSpec containing %q", res.Errors, tt.err)
				}
				return
			}
			if len(res.Routers) != 1 {
				t.Fatalf("routers = %v, errors = %v", res.Routers, res.Errors)
			}
			if diff := cmp.Diff(tt.want, res.Routers[0].Checks, cmpopts.IgnoreFields(track.Check{}, "Selector")); diff != "" {
				t.Errorf("checks (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("a pods check whose selector does not parse, stored under an older CRD, runs the router, the check marked", func(t *testing.T) {
		v := vip("web", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) {
			v.Spec.Track = []vrrpv1.Check{{Name: "vpn", Pods: &vrrpv1.PodsCheck{Namespace: "vpn",
				Selector: vrrpv1.PodSelector{MatchLabels: map[string]vrrpv1.LabelValue{"app": "vpn client"}}}}}
		})
		res := Derive(Inputs{NodeName: "primary", VirtualIPs: []vrrpv1.VirtualIP{v}, Interfaces: standardInterfaces()})
		if len(res.Routers) != 1 || len(res.Errors) != 0 {
			t.Fatalf("routers %v, errors %v: want the router to run", res.Routers, res.Errors)
		}
		if c := res.Routers[0].Checks[0]; c.Selector != nil || !strings.Contains(c.Invalid, "pods.selector") {
			t.Errorf("check = %+v, want it marked Invalid", c)
		}
	})
	t.Run("a pods check keeps its namespace and selector", func(t *testing.T) {
		v := vip("web", 10, "198.51.100.10/24", func(v *vrrpv1.VirtualIP) {
			v.Spec.Track = []vrrpv1.Check{{Name: "vpn", Pods: &vrrpv1.PodsCheck{Namespace: "vpn",
				Selector: vrrpv1.PodSelector{MatchLabels: map[string]vrrpv1.LabelValue{"app": "vpn-client"}}}}}
		})
		res := Derive(Inputs{NodeName: "primary", VirtualIPs: []vrrpv1.VirtualIP{v}, Interfaces: standardInterfaces()})
		if len(res.Routers) != 1 {
			t.Fatalf("errors = %v", res.Errors)
		}
		c := res.Routers[0].Checks[0]
		if c.Kind != track.KindPods || c.Namespace != "vpn" || c.Selector.String() != "app=vpn-client" {
			t.Errorf("check = %+v (selector %v)", c, c.Selector)
		}
	})
}
