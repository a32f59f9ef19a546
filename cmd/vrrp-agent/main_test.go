package main

import (
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The exit codes are vrrp-operator agent's: 0 for -h, 1 for any error, with the error on stderr.
func TestExitCodes(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "vrrp-agent")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	tests := map[string]struct {
		args       []string
		wantCode   int
		wantStderr string
	}{
		"-h prints the usage and succeeds": {
			args: []string{"-h"}, wantCode: 0, wantStderr: "usage: vrrp-agent --config FILE",
		},
		"no --config fails": {
			args: []string{"--node-name=primary"}, wantCode: 1, wantStderr: "vrrp-agent: --config is required",
		},
		"an unreadable --config fails before anything starts": {
			args: []string{"--node-name=primary", "--config=" + filepath.Join(t.TempDir(), "missing.yaml")}, wantCode: 1,
			wantStderr: "vrrp-agent: reading configuration",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			if exit, ok := errors.AsType[*exec.ExitError](err); ok {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode || !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("vrrp-agent %q: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr.String(), tc.wantCode, tc.wantStderr)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	tests := map[string]struct {
		args    []string
		wantErr error // nil: any error
	}{
		"--config is required: without it there is nothing to run": {
			args: []string{"--node-name=primary"},
		},
		"a cluster's flag is unknown": {
			args: []string{"--node-name=primary", "--config=vips.yaml", "--kubeconfig=/etc/kubernetes/admin.conf"},
		},
		"a check of the shared flags applies": {
			args: []string{"--node-name=primary", "--config=vips.yaml", "--shutdown-timeout=0s"},
		},
		"-h asks for the usage, which is no failure": {
			args: []string{"-h"}, wantErr: flag.ErrHelp,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// parseFlags, not run: run would fail on the missing vips.yaml whatever the flags.
			_, err := parseFlags(tc.args)
			if err == nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("parseFlags(%q) = %v, want an error (%v)", tc.args, err, tc.wantErr)
			}
		})
	}
	o, err := parseFlags([]string{"--node-name=primary", "--config=vips.yaml"})
	if err != nil || o.ConfigFile != "vips.yaml" || o.Name != "primary" {
		t.Errorf("parseFlags with --config: %+v, %v; want config vips.yaml and node primary", o, err)
	}
}

// allowedKube are the Kubernetes client packages vrrp-agent may link: the scheme builder that
// api/v1alpha1 declares its types with (kubebuilder's layout), which imports apimachinery alone and
// has no init function.
var allowedKube = map[string]bool{"sigs.k8s.io/controller-runtime/pkg/scheme": true}

// vrrp-agent exists to run without client-go and controller-runtime, whose packages' init functions
// alone cost about 14 MiB of resident memory (issue 12). This fails on each import that brings
// them back: a package of ours or a third party's that imports one of theirs.
func TestLinksNoKubernetesClient(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, ".").Output()
	if err != nil {
		if exit, ok := errors.AsType[*exec.ExitError](err); ok {
			t.Fatalf("go list -deps: %v: %s", err, exit.Stderr)
		}
		t.Fatalf("go list -deps: %v", err)
	}
	in := func(p, module string) bool { return p == module || strings.HasPrefix(p, module+"/") }
	client := func(p string) bool {
		return (in(p, "k8s.io/client-go") || in(p, "sigs.k8s.io/controller-runtime")) && !allowedKube[p]
	}
	var packages int
	var entries []string
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		packages++
		if client(f[0]) {
			continue
		}
		for _, imp := range f[1:] {
			if client(imp) {
				entries = append(entries, f[0]+" imports "+imp)
			}
		}
	}
	if packages < 2 {
		t.Fatalf("go list -deps listed %d packages: %q", packages, out)
	}
	if len(entries) > 0 {
		t.Errorf("vrrp-agent links the Kubernetes client:\n%s", strings.Join(entries, "\n"))
	}
}
