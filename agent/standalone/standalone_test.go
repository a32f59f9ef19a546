package standalone

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
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

// Review of issue 12: a reload that would stop what runs by mistake keeps the last good file: an
// empty file (the shell empties it before `convert > file` runs, and a failed convert leaves it
// so), and a VirtualIP whose password is no longer in the file. A VirtualIP added later with the
// VRID of one that runs is the newer one, whatever its name.
func TestAReloadKeepsWhatRunsFromMistakes(t *testing.T) {
	const auth = `apiVersion: vrrp.dev/v1alpha1
kind: VirtualIP
metadata: {name: zz-first}
spec:
  virtualRouterID: 7
  version: 2
  addresses: ["198.51.100.7/24"]
  authentication: {type: PASS, secretRef: {namespace: vrrp-system, name: auth, key: password}}
---
apiVersion: v1
kind: Secret
metadata: {namespace: vrrp-system, name: auth}
stringData: {%s: secret12}
`
	const newcomer = `---
apiVersion: vrrp.dev/v1alpha1
kind: VirtualIP
metadata: {name: aa-newcomer}
spec:
  virtualRouterID: 7
  addresses: ["198.51.100.8/24"]
`
	tests := map[string]struct {
		next    string
		refused string // "": loaded
	}{
		"an empty file is refused":           {next: "", refused: "no VirtualIP, where the last good file had 1"},
		"a file of comments only is refused": {next: "# being written\n", refused: "no VirtualIP"},
		"a renamed key is refused":           {next: strings.ReplaceAll(auth, "%s", "pasword"), refused: `has no key "password" in the file`},
		"a Secret left out is refused":       {next: auth[:strings.Index(auth, "---")], refused: `has no key "password"`},
		"a rotated password loads":           {next: strings.ReplaceAll(strings.ReplaceAll(auth, "%s", "password"), "secret12", "rotated1")},
		"a VirtualIP added beside it loads":  {next: strings.ReplaceAll(auth, "%s", "password") + newcomer},
		// Review of issue 12: it read the missing authentication's secretRef and panicked.
		"authentication removed loads": {next: strings.Replace(auth[:strings.Index(auth, "---")], "  authentication: {type: PASS, secretRef: {namespace: vrrp-system, name: auth, key: password}}\n", "", 1)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vrrp.yaml")
			if err := os.WriteFile(path, []byte(strings.ReplaceAll(auth, "%s", "password")), 0o600); err != nil {
				t.Fatal(err)
			}
			c := &configFile{path: path}
			if _, err := c.load(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(tc.next), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := c.load()
			switch {
			case tc.refused == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
				t.Errorf("loaded with error %v, want it refused saying %q", err, tc.refused)
			}
		})
	}

	t.Run("a VirtualIP added later is the newer one, whatever its name", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "vrrp.yaml")
		first := strings.ReplaceAll(auth, "%s", "password")
		if err := os.WriteFile(path, []byte(first), 0o600); err != nil {
			t.Fatal(err)
		}
		c := &configFile{path: path}
		if _, err := c.load(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // a later load is a later time
		if err := os.WriteFile(path, []byte(first+newcomer), 0o600); err != nil {
			t.Fatal(err)
		}
		objs, err := c.load()
		if err != nil {
			t.Fatal(err)
		}
		res := desired.Derive(desired.Inputs{NodeName: "n1", VirtualIPs: objs.VirtualIPs, Secrets: objs.Secrets, Standalone: true,
			Interfaces: []desired.Interface{{Name: "eth0", Up: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.2/24")}}}})
		if len(res.Routers) != 1 || res.Routers[0].Name != "zz-first" || len(res.Errors) != 1 || res.Errors[0].Name != "aa-newcomer" {
			t.Errorf("Derive ran %v and refused %v, want zz-first run and aa-newcomer refused", res.Routers, res.Errors)
		}
	})
}
