package testenv

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// InvalidSample is one manifest of config/samples/invalid and the text its refusal must contain.
type InvalidSample struct {
	Name string // file name without .yaml, for subtest names
	File string
	Want string
}

// InvalidSamples reads config/samples/invalid. Each file's first line says what the refusal
// contains: "# Refused by the API server with a message containing: ...". The API server and the
// standalone loader are held to the same words.
func InvalidSamples(t testing.TB) []InvalidSample {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(Root(), "config", "samples", "invalid", "*.yaml"))
	if err != nil || len(files) < 20 {
		t.Fatalf("want at least 20 invalid samples, found %d (%v)", len(files), err)
	}
	out := make([]InvalidSample, 0, len(files))
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		s := bufio.NewScanner(f)
		s.Scan()
		_ = f.Close()
		_, want, ok := strings.Cut(s.Text(), "containing: ")
		if !ok || want == "" {
			t.Fatalf("%s: first line must say what the refusal contains, got %q", file, s.Text())
		}
		out = append(out, InvalidSample{Name: strings.TrimSuffix(filepath.Base(file), ".yaml"), File: file, Want: want})
	}
	return out
}
