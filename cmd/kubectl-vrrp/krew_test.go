package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// TestKrewManifest checks hack/krew/vrrp.yaml against what krew requires of a manifest: the name of
// its file, a semantic version with v, and for each platform an os/arch selector, an archive URI of
// that version, a sha256 of 64 hex digits and the binary kubectl runs as `kubectl vrrp`.
func TestKrewManifest(t *testing.T) {
	path := filepath.Join(testenv.Root(), "hack", "krew", "vrrp.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Version          string `json:"version"`
			Homepage         string `json:"homepage"`
			ShortDescription string `json:"shortDescription"`
			Description      string `json:"description"`
			Caveats          string `json:"caveats"`
			Platforms        []struct {
				Selector struct {
					MatchLabels map[string]string `json:"matchLabels"`
				} `json:"selector"`
				URI    string `json:"uri"`
				SHA256 string `json:"sha256"`
				Bin    string `json:"bin"`
				Files  []struct {
					From string `json:"from"`
					To   string `json:"to"`
				} `json:"files"`
			} `json:"platforms"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" {
		t.Errorf("apiVersion %q kind %q", m.APIVersion, m.Kind)
	}
	if m.Metadata.Name+".yaml" != filepath.Base(path) {
		t.Errorf("metadata.name %q must match the file name %s", m.Metadata.Name, filepath.Base(path))
	}
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+$`).MatchString(m.Spec.Version) {
		t.Errorf("spec.version %q is not v-prefixed semver", m.Spec.Version)
	}
	if m.Spec.ShortDescription == "" || m.Spec.Description == "" || m.Spec.Homepage == "" {
		t.Errorf("shortDescription, description and homepage are required")
	}
	seen := map[string]bool{}
	for _, p := range m.Spec.Platforms {
		os, arch := p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"]
		key := os + "/" + arch
		if os == "" || arch == "" || seen[key] {
			t.Errorf("platform %q: want one per os/arch", key)
		}
		seen[key] = true
		bin := "kubectl-vrrp"
		if os == "windows" {
			bin += ".exe"
		}
		if p.Bin != bin || len(p.Files) != 1 || p.Files[0].From != bin {
			t.Errorf("platform %s: bin %q files %+v, want %s", key, p.Bin, p.Files, bin)
		}
		if !strings.Contains(p.URI, "/"+m.Spec.Version+"/") || !strings.Contains(p.URI, "_"+os+"_"+arch+".") {
			t.Errorf("platform %s: uri %q names another version or platform", key, p.URI)
		}
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(p.SHA256) {
			t.Errorf("platform %s: sha256 %q is not 64 hex digits", key, p.SHA256)
		}
	}
	if !seen["linux/amd64"] || !seen["linux/arm64"] {
		t.Errorf("platforms %v lack Linux", seen)
	}
}
