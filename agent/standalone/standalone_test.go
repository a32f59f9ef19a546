package standalone

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const vipYAML = `apiVersion: vrrp.dev/v1alpha1
kind: VirtualIP
metadata: {name: %s}
spec:
  virtualRouterID: 7
  addresses: ["198.51.100.7/24"]
`

func writeConfig(t *testing.T, path, name string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(vipYAML, "%s", name)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The resync reads the file every time but must parse it only when it changed: parsing is most of
// a steady agent's periodic work.
func TestTheConfigFileIsParsedOnlyWhenItsBytesChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vrrp.yaml")
	writeConfig(t, path, "first")
	c := &configFile{path: path}

	a, err := c.load()
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.load()
	if err != nil {
		t.Fatal(err)
	}
	if len(a.VirtualIPs) != 1 || len(b.VirtualIPs) != 1 || &a.VirtualIPs[0] != &b.VirtualIPs[0] {
		t.Fatalf("an unchanged file was parsed again: %p and %p", a.VirtualIPs, b.VirtualIPs)
	}

	writeConfig(t, path, "second")
	got, err := c.load()
	if err != nil {
		t.Fatal(err)
	}
	if got.VirtualIPs[0].Name != "second" {
		t.Fatalf("a changed file kept the old objects: %q", got.VirtualIPs[0].Name)
	}
	if got.VirtualIPs[0].Spec.AdvertInterval == nil {
		t.Fatal("the objects of a changed file were not defaulted")
	}

	if err := os.WriteFile(path, []byte("kind: VirtualIP\nspec: {virtualRouterID: 0}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.load(); err == nil {
		t.Fatal("an invalid file loaded")
	}
	writeConfig(t, path, "second")
	again, err := c.load()
	if err != nil {
		t.Fatal(err)
	}
	if &again.VirtualIPs[0] != &got.VirtualIPs[0] {
		t.Fatal("the last good file, back after an invalid one, was parsed again")
	}
}
