// Package helm tests the install story: the chart charts/vrrp-operator rendered by the real bin/helm
// and installed into a real kube-apiserver, and the kustomize tree config/default beside it.
package helm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// chartDir is the chart under test.
var chartDir = filepath.Join(testenv.Root(), "charts", "vrrp-operator")

// namespace is where the tests install the chart, as the Makefile's deploy target does.
const namespace = "vrrp-system"

// tool returns the path of bin/NAME (built by make kube-binaries), or stops the test without it.
func tool(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(testenv.Root(), "bin", name)
	if _, err := os.Stat(p); err != nil {
		testenv.Unavailable(t, "test needs bin/"+name+": run make kube-binaries")
	}
	return p
}

// helm runs bin/helm with its cache, configuration and data in a temporary directory, so that
// nothing of the user's Helm setup (repositories, plugins) takes part.
func helm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	bin := tool(t, "helm")
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// kubectl runs bin/kubectl against the cluster of kubeconfig ("" for none, as `kubectl kustomize`).
func kubectl(t testing.TB, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	bin := tool(t, "kubectl")
	if kubeconfig != "" {
		args = append([]string{"--kubeconfig", kubeconfig}, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// object is one document of a rendered manifest stream.
type object struct {
	Kind      string
	Name      string
	Namespace string
	JSON      []byte
}

// objects is a rendered manifest stream.
type objects []object

// template renders the chart with helm template and the given extra arguments.
func template(t testing.TB, args ...string) objects {
	t.Helper()
	out, err := helm(t, append([]string{"template", "vrrp-operator", chartDir, "--namespace", namespace}, args...)...)
	if err != nil {
		t.Fatalf("helm template %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return parse(t, out)
}

// parse splits a YAML stream into its documents, dropping empty ones.
func parse(t testing.TB, stream string) objects {
	t.Helper()
	var objs objects
	d := yaml.NewYAMLOrJSONDecoder(strings.NewReader(stream), 4096)
	for {
		var raw json.RawMessage
		err := d.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("decoding the rendered manifests: %v\n%s", err, stream)
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			t.Fatalf("decoding a rendered object: %v\n%s", err, raw)
		}
		objs = append(objs, object{Kind: meta.Kind, Name: meta.Metadata.Name, Namespace: meta.Metadata.Namespace, JSON: raw})
	}
}

// find returns the objects of a kind.
func (objs objects) find(kind string) []object {
	var found []object
	for _, o := range objs {
		if o.Kind == kind {
			found = append(found, o)
		}
	}
	return found
}

// has reports whether the stream holds the object kind/name.
func (objs objects) has(kind, name string) bool {
	for _, o := range objs.find(kind) {
		if o.Name == name {
			return true
		}
	}
	return false
}

// get decodes the object kind/name of the stream into a typed object, failing the test when the
// object is missing or has fields the type does not know.
func get[T any](t testing.TB, objs objects, kind, name string) *T {
	t.Helper()
	for _, o := range objs.find(kind) {
		if o.Name != name {
			continue
		}
		v := new(T)
		if err := sigsyaml.UnmarshalStrict(o.JSON, v); err != nil {
			t.Fatalf("decoding %s %s: %v", kind, name, err)
		}
		return v
	}
	t.Fatalf("no %s %s among the rendered objects", kind, name)
	return nil
}

// readYAML decodes a file of the repository (path relative to the root) into v.
func readYAML(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.Root(), path))
	if err != nil {
		t.Fatal(err)
	}
	if err := sigsyaml.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
}

// writeValues writes a values file for -f and returns its path.
func writeValues(t testing.TB, values string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(p, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// readJSON decodes a rendered object into v.
func readJSON(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
}
