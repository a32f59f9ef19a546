package kube

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
	"github.com/vrrp-dev/vrrp-operator/agent/track"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

func TestTruncateKeepsValidUTF8(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"a short string stays as it is", "200 OK", 256, "200 OK"},
		{"a long ASCII string is cut at n bytes", strings.Repeat("x", 300), 256, strings.Repeat("x", 256)},
		{"a rune that would be cut in half is left out", "ab" + "ü", 3, "ab"},
		{"a rune that fits whole is kept", "ab" + "ü", 4, "abü"},
		{"invalid UTF-8 (a program's raw output) becomes the replacement character", "ok\xff\xfe", 256, "ok\uFFFD"},
		{"the replacement counts towards n", "\xff\xff\xffabc", 4, "\uFFFDa"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := truncate(tc.in, tc.n)
			if got != tc.want || !utf8.ValidString(got) || len(got) > tc.n {
				t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}

// TestChecksInStatusAndEventsOnARealAPIServer runs the reporter against a real kube-apiserver and
// proves that each check's state lands in this node's status entry (issue 10 item 3), that a
// status observed again unchanged writes nothing, and that a check turning Failing or Passing is
// an Event on the VirtualIP while its first result after Unknown is not.
func TestChecksInStatusAndEventsOnARealAPIServer(t *testing.T) {
	_, cfg := testenv.APIServer(t)
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	vip := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "services"},
		Spec: vrrpv1.VirtualIPSpec{VirtualRouterID: 51, Addresses: []string{"198.51.100.252/24"}}}
	if err := c.Create(ctx, vip); err != nil {
		t.Fatal(err)
	}
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: kubernetes.NewForConfigOrDie(cfg).EventsV1()})
	if err := broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		t.Fatal(err)
	}
	defer broadcaster.Shutdown()

	writes := &atomic.Int32{}
	rep := newReporter("primary", logr.Discard())
	rep.connect(countingClient{Client: c, writes: writes}, broadcaster.NewRecorder(scheme, "vrrp-operator-agent"), metrics.New(nil))
	rep.participate(desired.Result{Routers: []desired.Router{{Name: "services"}}})

	since := time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	st := speaker.Status{Router: "services", State: vrrp.StateMaster, Priority: 150, Interface: "eth0", Since: since,
		Checks: []desired.CheckState{
			{Name: "haproxy", Result: track.Result{State: track.Passing, Since: since, Message: "200 OK"}},
			{Name: "vpn", Weight: 0},
		}}
	entry := func(t *testing.T) vrrpv1.NodeStatus {
		t.Helper()
		var v vrrpv1.VirtualIP
		if err := c.Get(ctx, client.ObjectKey{Name: "services"}, &v); err != nil {
			t.Fatal(err)
		}
		if len(v.Status.Nodes) != 1 {
			t.Fatalf("status.nodes %+v, want primary's entry", v.Status.Nodes)
		}
		return v.Status.Nodes[0]
	}
	// observe reports st and writes what is due, as the reporter's loop would.
	observe := func(t *testing.T, st speaker.Status) {
		t.Helper()
		rep.observe(st)
		if !rep.flush(ctx) {
			t.Fatal("a write failed")
		}
	}
	check := func(name string, state track.State, weight int, message string) desired.CheckState {
		return desired.CheckState{Name: name, Weight: weight, Result: track.Result{State: state, Since: since, Message: message}}
	}

	t.Run("each check's name, state, weight, since and message land in this node's entry", func(t *testing.T) {
		observe(t, st)
		got := entry(t).Checks
		want := []vrrpv1.CheckStatus{
			{Name: "haproxy", State: vrrpv1.CheckPassing, Since: &metav1.Time{Time: since.Truncate(time.Second)}, Message: "200 OK"},
			{Name: "vpn", State: vrrpv1.CheckUnknown},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("checks %+v, want %+v", got, want)
		}
	})

	t.Run("a status observed again unchanged writes nothing", func(t *testing.T) {
		before := writes.Load()
		for range 3 {
			again := st
			again.Checks = append([]desired.CheckState(nil), st.Checks...)
			// Within the second that status keeps, a new time is the same time.
			again.Checks[0].Result.Since = since.Add(100 * time.Millisecond)
			observe(t, again)
		}
		if n := writes.Load() - before; n != 0 {
			t.Errorf("%d status writes for a status observed again unchanged, want none", n)
		}
	})

	long := strings.Repeat("ü", 200) // 400 bytes
	st.Priority = 130
	st.Checks = []desired.CheckState{check("haproxy", track.Passing, 0, "200 OK"), check("vpn", track.Failing, -20, long)}

	t.Run("a check's new state is written, its message cut to 256 bytes of valid UTF-8", func(t *testing.T) {
		before := writes.Load()
		observe(t, st)
		if n := writes.Load() - before; n != 1 {
			t.Errorf("%d status writes for a check that changed, want 1", n)
		}
		e := entry(t)
		vpn := e.Checks[1]
		if e.Priority != 130 || vpn.State != vrrpv1.CheckFailing || vpn.Weight != -20 || vpn.Message != strings.Repeat("ü", 128) {
			t.Errorf("priority %d, vpn %+v; want 130 and Failing with weight -20 and the message's first 128 runes", e.Priority, vpn)
		}
	})

	// haproxy has no weight: failing, it puts the router in FAULT (the speaker says why).
	failing := st
	failing.State, failing.Reason = vrrp.StateFault, vrrpv1.ReasonCheckFailed
	failing.Checks = []desired.CheckState{check("haproxy", track.Failing, 0, "503 Service Unavailable"), check("vpn", track.Failing, -20, long)}
	observe(t, failing)
	observe(t, st)

	t.Run("a check turning Failing is a Warning, turning Passing again a Normal Event; a first result is none", func(t *testing.T) {
		want := map[string]string{
			"CheckFailing": "Warning node primary: check haproxy failing: 503 Service Unavailable; priority 130",
			"CheckPassing": "Normal node primary: check haproxy passing: 200 OK; priority 130",
		}
		took := testenv.Eventually(t, 10*time.Second, "the check Events", func() (bool, string) {
			var list eventsv1.EventList
			if err := c.List(ctx, &list); err != nil {
				return false, err.Error()
			}
			got := map[string]string{}
			for _, e := range list.Items {
				if strings.HasPrefix(e.Reason, "Check") {
					if e.Regarding.Kind != "VirtualIP" || e.Regarding.Name != "services" || e.Related == nil || e.Related.Name != "primary" {
						return false, fmt.Sprintf("%s regards %+v, related %+v", e.Reason, e.Regarding, e.Related)
					}
					got[e.Reason] += e.Type + " " + e.Note
				}
			}
			return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprintf("%q", got)
		})
		testenv.Report(t, "check Events on the API server within %v of their status", took.Round(time.Millisecond))
		if e := entry(t); e.State != vrrpv1.StateMaster || e.Checks[0].State != vrrpv1.CheckPassing {
			t.Errorf("entry %+v, want MASTER with haproxy passing again", e)
		}
	})

	t.Run("checks no longer reported leave the entry", func(t *testing.T) {
		st.Checks = nil
		observe(t, st)
		if e := entry(t); e.Checks != nil {
			t.Errorf("checks %+v after the router has none, want none", e.Checks)
		}
	})
}
