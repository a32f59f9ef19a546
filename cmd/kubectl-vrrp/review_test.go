package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// Tests of what the review of the plugin for issue 12 found.

// What comes from the cluster (a check's output as a FAULT message, an annotation) cannot act on
// the terminal: control characters are printed escaped, the plugin's own colours stay.
func TestNothingFromTheClusterActsOnTheTerminal(t *testing.T) {
	const hostile = "\x1b]0;pwned\a\x1b[2J\rX\u009b31m\x7f"
	h := newHarness(t, seedCluster(func(v *vrrpv1.VirtualIP) {
		v.Status.Nodes[2].State, v.Status.Nodes[2].Reason, v.Status.Nodes[2].Message = vrrpv1.StateFault, "CheckFailed", "check haproxy: "+hostile
		v.Annotations = map[string]string{vrrpv1.PreferredNodeAnnotation: "x" + hostile}
	})...)
	h.colour = true
	h.run("status", "services")
	out := h.stdout.String()
	for _, code := range colourCodes {
		out = strings.ReplaceAll(out, code, "")
	}
	if i := strings.IndexFunc(out, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f && r <= 0x9f }); i >= 0 {
		t.Errorf("status printed the control character %q from the cluster:\n%q", out[i:i+1], out)
	}
	for _, want := range []string{`\u001b]0;pwned\u0007\u001b[2J\u000dX\u009b31m\u007f`, `preferred x\u001b`} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks the escaped %q:\n%s", want, out)
		}
	}
	if !strings.Contains(h.stdout.String(), string(red)) {
		t.Error("status on a terminal lost its own colours")
	}
	// The table's columns stay aligned: the FAULT row is as wide as the others up to its message.
	h.colour = false
	h.run("status", "services")
	lines := strings.Split(h.stdout.String(), "\n")
	if i, j := strings.Index(lines[1], "PRIORITY"), strings.Index(lines[4], "100"); i != j {
		t.Errorf("columns out of line (PRIORITY at %d, third's at %d):\n%s", i, j, h.stdout.String())
	}
	// For scripts, the same escapes are JSON's: the output stays valid JSON.
	out = h.mustRun(exitProblems, "status", "services", "-o", "json")
	if !json.Valid([]byte(out)) {
		t.Errorf("status -o json is not valid JSON:\n%s", out)
	}
	var got vipStatus
	if err := json.Unmarshal([]byte(out), &got); err != nil || !strings.Contains(got.Nodes[2].Message, "\x7f") {
		t.Errorf("status -o json: %v, third's message %q, want it with its DEL", err, got.Nodes[2].Message)
	}
	// And YAML's: its parser refuses DEL and the C1 controls raw.
	out = h.mustRun(exitProblems, "status", "services", "-o", "yaml")
	got = vipStatus{}
	if err := yaml.Unmarshal([]byte(out), &got); err != nil || got.Nodes[2].Message != "check haproxy: "+hostile {
		t.Errorf("status -o yaml: %v, third's message %q, want %q", err, got.Nodes[2].Message, "check haproxy: "+hostile)
	}
}

// A node gone dark shows as the controller shows it: UNKNOWN, with what its agent last reported;
// for scripts, the state its entry holds and why it is dark.
func TestStatusForScriptsSaysWhichNodesAreDark(t *testing.T) {
	objs := seedCluster(func(v *vrrpv1.VirtualIP) { v.Status.Nodes[2].State = vrrpv1.StateMaster })
	for _, o := range objs {
		if n, ok := o.(*corev1.Node); ok && n.Name == "third" {
			notReady(n)
		}
	}
	h := newHarness(t, objs...)
	var got vipStatus
	if err := json.Unmarshal([]byte(h.mustRun(exitOK, "status", "services", "-o", "json")), &got); err != nil {
		t.Fatal(err)
	}
	for _, n := range got.Nodes {
		want := ""
		if n.Node == "third" {
			want = "node not Ready: status Unknown"
		}
		if n.Dark != want {
			t.Errorf("%s: dark %q, want %q", n.Node, n.Dark, want)
		}
	}
}

// client-go's limiter says in words that a request would wait past the deadline: a wait's last
// poll, which is a timeout (exit 3), not an error (exit 1).
func TestTheRateLimitersRefusalIsTransient(t *testing.T) {
	err := fmt.Errorf("client rate limiter Wait returned an error: %w", errors.New("rate: Wait(n=1) would exceed context deadline"))
	if !transient(err) {
		t.Errorf("transient(%v) = false", err)
	}
}

// Draining a node gone dark: its agent never updates the entry, which counts as nobody's. The
// drain is done once another node holds the VIP.
func TestDrainingADarkNodeEndsWhenAnotherHoldsTheVIP(t *testing.T) {
	objs := seedCluster(func(v *vrrpv1.VirtualIP) {
		v.Status.Nodes[1].State, v.Status.Master = vrrpv1.StateMaster, "secondary"
	})
	for _, o := range objs {
		if n, ok := o.(*corev1.Node); ok && n.Name == "primary" {
			notReady(n)
		}
	}
	h := newHarness(t, objs...)
	h.agents.off = true // primary's agent is gone; nothing changes
	out := h.mustRun(exitOK, "drain", "primary", "--timeout", "10s")
	if !strings.Contains(out, "node not Ready: status Unknown; secondary holds the VIP") {
		t.Errorf("drain: %s", out)
	}
}

// failover --to a node whose own failing check keeps it below the Master even at 254 is refused:
// it would wait out --timeout and leave the preference, to take the VIP when the check recovers.
func TestFailoverToANodeItsChecksKeepBelowTheMasterIsRefused(t *testing.T) {
	h := newHarness(t, seedCluster(func(v *vrrpv1.VirtualIP) {
		e := &v.Status.Nodes[2]
		e.Priority, e.Reason = 1, desired.ReasonCheckWeight
		e.Checks = []vrrpv1.CheckStatus{{Name: "haproxy", State: vrrpv1.CheckFailing, Weight: -150}}
	})...)
	h.mustRun(exitError, "failover", "services", "--to", "third")
	want := "node third would stand at priority 104 for VirtualIP services (254 with the preference, haproxy failing -150), not above primary's 150"
	if !strings.Contains(h.stderr.String(), want) {
		t.Errorf("stderr: %s\nwant %q", h.stderr.String(), want)
	}
	if p := h.vip("services").Annotations[vrrpv1.PreferredNodeAnnotation]; p != "" {
		t.Errorf("the preference was set to %q", p)
	}
}

// A preference another admin set since the plugin read the VirtualIP is not overwritten; a
// conflict with a status write alone is tried again.
func TestFailoverDoesNotOverwriteAPreferenceSetMeanwhile(t *testing.T) {
	t.Run("another admin's preference", func(t *testing.T) {
		h := newHarness(t, seedCluster()...)
		h.beforePatch = func(c client.WithWatch) {
			v := h.vip("services")
			v.Annotations = map[string]string{vrrpv1.PreferredNodeAnnotation: "secondary"}
			if err := c.Update(context.Background(), v); err != nil {
				t.Fatal(err)
			}
		}
		h.mustRun(exitError, "failover", "services", "--to", "third")
		if want := `its preferred node changed meanwhile, from "" to "secondary"`; !strings.Contains(h.stderr.String(), want) {
			t.Errorf("stderr: %s\nwant %q", h.stderr.String(), want)
		}
		if p := h.vip("services").Annotations[vrrpv1.PreferredNodeAnnotation]; p != "secondary" {
			t.Errorf("preference %q, want secondary's kept", p)
		}
	})
	t.Run("another admin's preference over the one read, for --to and --clear", func(t *testing.T) {
		for _, args := range [][]string{{"--to", "third"}, {"--clear"}} {
			h := newHarness(t, seedCluster(func(v *vrrpv1.VirtualIP) {
				v.Annotations = map[string]string{vrrpv1.PreferredNodeAnnotation: "secondary"}
			})...)
			h.beforePatch = func(c client.WithWatch) {
				v := h.vip("services")
				v.Annotations[vrrpv1.PreferredNodeAnnotation] = "primary"
				if err := c.Update(context.Background(), v); err != nil {
					t.Fatal(err)
				}
			}
			h.mustRun(exitError, append([]string{"failover", "services"}, args...)...)
			if want := `its preferred node changed meanwhile, from "secondary" to "primary"`; !strings.Contains(h.stderr.String(), want) {
				t.Errorf("%v: stderr: %s\nwant %q", args, h.stderr.String(), want)
			}
			if p := h.vip("services").Annotations[vrrpv1.PreferredNodeAnnotation]; p != "primary" {
				t.Errorf("%v: preference %q, want primary's kept", args, p)
			}
		}
	})
	t.Run("a status write meanwhile", func(t *testing.T) {
		h := newHarness(t, seedCluster()...)
		h.beforePatch = func(c client.WithWatch) {
			v := h.vip("services")
			v.Status.Nodes[1].Priority = 101
			if err := c.Status().Update(context.Background(), v); err != nil {
				t.Fatal(err)
			}
		}
		h.mustRun(exitOK, "failover", "services", "--to", "third")
	})
}

// explain ranks the nodes as they stand, their checks' weights included: primary at 150 with a
// failing check of -60 stands at 90, below secondary, which rightly holds the VIP.
func TestExplainWeighsTheChecks(t *testing.T) {
	h := newHarness(t, seedCluster(func(v *vrrpv1.VirtualIP) {
		v.Status.Nodes[0].State, v.Status.Nodes[0].Priority, v.Status.Nodes[0].Reason = vrrpv1.StateBackup, 90, desired.ReasonCheckWeight
		v.Status.Nodes[0].Checks = []vrrpv1.CheckStatus{{Name: "haproxy", State: vrrpv1.CheckFailing, Weight: -60}}
		v.Status.Nodes[1].State, v.Status.Master = vrrpv1.StateMaster, "secondary"
	})...)
	out := h.mustRun(exitOK, "explain", "services")
	for _, want := range []string{"Status: secondary is Master."} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "primary should be Master") {
		t.Errorf("explain ranks primary first, without its check's weight:\n%s", out)
	}

	// A cordon demotes to 1 whatever the checks add: the agent weighs no demoted router.
	objs := seedCluster(func(v *vrrpv1.VirtualIP) {
		v.Status.Nodes[2].State, v.Status.Nodes[2].Priority, v.Status.Nodes[2].Reason = vrrpv1.StateBackup, 1, desired.ReasonCordoned
		v.Status.Nodes[2].Checks = []vrrpv1.CheckStatus{{Name: "haproxy", State: vrrpv1.CheckPassing, Weight: 200}}
	})
	for _, o := range objs {
		if n, ok := o.(*corev1.Node); ok && n.Name == "third" {
			n.Spec.Unschedulable = true
		}
	}
	h = newHarness(t, objs...)
	if out := h.mustRun(exitOK, "explain", "services"); !strings.Contains(out, "primary should be Master") {
		t.Errorf("explain, with third cordoned and a check of +200:\n%s", out)
	}
}

func TestSafeWriterEscapesWholeSpansAndKeepsItsColours(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"text of several bytes a character passes":           {"§ 1.2, 5 €, ünïcödé", "§ 1.2, 5 €, ünïcödé"},
		"a stray lead byte before a C1 control":              {"\xc2\xc2\x85", "\xc2\\u0085"},
		"an escape inside colours, the colours kept":         {string(red) + "x\x1b[2Jy" + reset, string(red) + `x\u001b[2Jy` + reset},
		"tabs and newlines pass, a carriage return does not": {"a\tb\r\n", "a\tb\\u000d\n"},
	} {
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			if _, err := terminalSafe(&b).Write([]byte(tc.in)); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("wrote %q, want %q", b.String(), tc.want)
			}
		})
	}
}
