package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestErrorsSayWhatIsWrongWithExitCode1(t *testing.T) {
	noCRD := &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "vrrp.dev", Kind: "VirtualIP"}, SearchedVersions: []string{"v1alpha1"}}
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "vrrp.dev", Resource: "virtualips"}, "services",
		errors.New(`User "viewer" cannot patch resource "virtualips" in API group "vrrp.dev" at the cluster scope`))
	tests := map[string]struct {
		args []string
		fail error
		want string
	}{
		"status without the CRD": {args: []string{"status"}, fail: noCRD,
			want: "kubectl vrrp status: listing VirtualIPs: the VirtualIP CRD is not installed: the server has no resource type virtualips.vrrp.dev (install the chart, or `make install`)"},
		"failover without the CRD": {args: []string{"failover", "services", "--to", "third"}, fail: noCRD,
			want: "kubectl vrrp failover: reading VirtualIP services: the VirtualIP CRD is not installed"},
		"status of a VirtualIP that does not exist": {args: []string{"status", "ghost"},
			want: `kubectl vrrp status: VirtualIP "ghost" not found (kubectl get vip lists them)`},
		"failover of a VirtualIP that does not exist": {args: []string{"failover", "ghost", "--to", "third"},
			want: `kubectl vrrp failover: VirtualIP "ghost" not found (kubectl get vip lists them)`},
		"explain of a VirtualIP that does not exist": {args: []string{"explain", "ghost"},
			want: `kubectl vrrp explain: VirtualIP "ghost" not found (kubectl get vip lists them)`},
		"drain of an unknown node": {args: []string{"drain", "ghost"},
			want: `kubectl vrrp drain: node "ghost" not found (kubectl get nodes lists them)`},
		"undrain of an unknown node": {args: []string{"undrain", "ghost"},
			want: `kubectl vrrp undrain: node "ghost" not found (kubectl get nodes lists them)`},
		"explain of an unknown node": {args: []string{"explain", "services", "--node", "ghost"},
			want: `kubectl vrrp explain: node "ghost" not found (kubectl get nodes lists them)`},
		"status without permission": {args: []string{"status", "services"}, fail: forbidden,
			want: `kubectl vrrp status: reading VirtualIP services: no permission: virtualips.vrrp.dev "services" is forbidden: User "viewer" cannot patch`},
		"drain without permission": {args: []string{"drain", "primary"}, fail: forbidden,
			want: `kubectl vrrp drain: reading node primary: no permission: virtualips.vrrp.dev "services" is forbidden`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, seedCluster()...)
			h.fail = tc.fail
			h.mustRun(exitError, tc.args...)
			if got := h.stderr.String(); !strings.HasPrefix(got, tc.want) {
				t.Errorf("stderr:\n%s\nwant it to start with:\n%s", got, tc.want)
			}
			if h.stdout.Len() != 0 {
				t.Errorf("an error printed on stdout: %q", h.stdout.String())
			}
		})
	}
}

func TestUsageMistakesExitWith2(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string
	}{
		"no command":                          {nil, "Usage:"},
		"an unknown command":                  {[]string{"promote"}, `unknown command "promote"`},
		"an unknown flag":                     {[]string{"status", "--bogus"}, "unknown flag: --bogus"},
		"failover without a target":           {[]string{"failover", "services"}, "failover needs --to NODE or --clear"},
		"failover with both":                  {[]string{"failover", "services", "--to", "third", "--clear"}, "failover takes --to NODE or --clear, not both"},
		"failover without a name":             {[]string{"failover", "--to", "third"}, "failover takes 1 argument(s), got 0"},
		"status of two VirtualIPs":            {[]string{"status", "a", "b"}, "status takes at most 1 argument(s), got 2"},
		"an output format kubectl vrrp lacks": {[]string{"status", "-o", "wide"}, `--output "wide": want json or yaml`},
		"a timeout of zero":                   {[]string{"drain", "primary", "--timeout", "0s"}, "--timeout must be positive"},
		"a negative failover timeout":         {[]string{"failover", "services", "--to", "third", "--timeout", "-1s"}, "--timeout must be positive"},
	}
	for name, tc := range tests {
		// A usage mistake is one whatever the kubeconfig: the flags are checked before the client
		// is built.
		for _, kubeconfig := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, kubeconfig %v", name, kubeconfig), func(t *testing.T) {
				h := newHarness(t, seedCluster()...)
				h.noKubeconfig = !kubeconfig
				h.mustRun(exitUsage, tc.args...)
				if !strings.Contains(h.stderr.String(), tc.want) {
					t.Errorf("stderr lacks %q:\n%s", tc.want, h.stderr.String())
				}
			})
		}
	}
}

func TestHelpExitsWith0OnStdout(t *testing.T) {
	h := newHarness(t)
	for _, args := range [][]string{{"--help"}, {"help"}, {"failover", "--help"}, {"drain", "-h"}} {
		if out := h.mustRun(exitOK, args...); !strings.Contains(out, "Usage:") {
			t.Errorf("kubectl vrrp %v: %q", args, out)
		}
	}
}

func TestSplitCommandSkipsTheValuesOfConnectionFlags(t *testing.T) {
	global := pflag.NewFlagSet("test", pflag.ContinueOnError)
	bindOutput(global, &options{})
	bindConnection(global, &options{})
	tests := map[string]struct {
		args     []string
		wantCmd  string
		wantRest []string
	}{
		"command first":                {[]string{"status", "services"}, "status", []string{"services"}},
		"--context before the command": {[]string{"--context", "lab", "status"}, "status", []string{"--context", "lab"}},
		"-n before the command":        {[]string{"-n", "x", "failover", "services", "--to", "a"}, "failover", []string{"-n", "x", "services", "--to", "a"}},
		"a flag with =":                {[]string{"--kubeconfig=/k", "drain", "n"}, "drain", []string{"--kubeconfig=/k", "n"}},
		"a boolean flag":               {[]string{"--insecure-skip-tls-verify", "status"}, "status", []string{"--insecure-skip-tls-verify"}},
		"no command":                   {[]string{"--context", "lab"}, "", []string{"--context", "lab"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cmd, rest := splitCommand(global, tc.args)
			if cmd != tc.wantCmd {
				t.Errorf("command %q, want %q", cmd, tc.wantCmd)
			}
			if diff := cmp.Diff(tc.wantRest, rest); diff != "" {
				t.Errorf("rest (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConnectionFlagsReachTheKubeconfigLoader(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "config")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters:
- {name: a, cluster: {server: "https://198.51.100.1:6443"}}
- {name: b, cluster: {server: "https://198.51.100.2:6443"}}
users: [{name: u, user: {token: x}}]
contexts:
- {name: a, context: {cluster: a, user: u}}
- {name: b, context: {cluster: b, user: u}}
current-context: a
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		env  string
		args []string
		want string
	}{
		"--kubeconfig, its current context": {args: []string{"--kubeconfig", kc}, want: "https://198.51.100.1:6443"},
		"--kubeconfig and --context":        {args: []string{"--kubeconfig", kc, "--context", "b"}, want: "https://198.51.100.2:6443"},
		"$KUBECONFIG":                       {env: kc, want: "https://198.51.100.1:6443"},
		"$KUBECONFIG and --server":          {env: kc, args: []string{"--server", "https://203.0.113.9:6443"}, want: "https://203.0.113.9:6443"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tc.env)
			h := newHarness(t, seedCluster()...)
			var host string
			a := &app{stdout: &h.stdout, stderr: &h.stderr, clock: h.clock,
				newClient: func(cc clientcmd.ClientConfig) (client.Client, error) {
					cfg, err := cc.ClientConfig()
					if err != nil {
						return nil, err
					}
					host = cfg.Host
					return h.client, nil
				}}
			if code := a.run(context.Background(), append([]string{"status"}, tc.args...)); code != exitOK {
				t.Fatalf("exit %d: %s", code, h.stderr.String())
			}
			if host != tc.want {
				t.Errorf("server %q, want %q", host, tc.want)
			}
		})
	}
}

// Review of the plugin: --timeout bounds every request, not only the wait after the change. An
// API server that accepts the connection and never answers used to hold the first GET for ever.
func TestTimeoutBoundsARequestThatNeverAnswers(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop: // the test is over: Close waits for the handlers
		}
	}))
	defer srv.Close()
	defer close(stop)
	kc := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kc, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: a, cluster: {server: %q}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: a, context: {cluster: a, user: u}}]
current-context: a
`, srv.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	// The commands that only read have no --timeout: each request ends after readTimeout (review
	// of issue 12: they waited for ever).
	defer func(d time.Duration) { readTimeout = d }(readTimeout)
	readTimeout = time.Second
	for _, args := range [][]string{{"failover", "services", "--to", "third", "--timeout", "1s"}, {"status"}, {"explain", "services"}} {
		var stdout, stderr bytes.Buffer
		a := &app{stdout: &stdout, stderr: &stderr, clock: clock.RealClock{}}
		done := make(chan int, 1)
		start := time.Now()
		go func() {
			done <- a.run(context.Background(), append(args, "--kubeconfig", kc))
		}()
		select {
		case code := <-done:
			if code != exitError {
				t.Errorf("%v: exit %d, want %d: %s", args, code, exitError, stderr.String())
			}
			t.Logf("%v ended after %v: %s", args, time.Since(start).Round(time.Millisecond), strings.TrimSpace(stderr.String()))
		case <-time.After(30 * time.Second):
			t.Fatalf("kubectl vrrp %v still waits for an API server that never answers after 30 s", args)
		}
	}
}
