package hooks

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestResolveKeepsHooksInsideTheDirectory(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	writeScript(t, dir, "notify.sh", "exit 0")
	writeScript(t, dir, "sub/fault.sh", "exit 0")
	writeScript(t, outside, "evil.sh", "exit 0")
	// A ConfigMap volume: keepalived.sh -> ..data/keepalived.sh -> ..2024_01_01/keepalived.sh.
	writeScript(t, dir, "..2024_01_01/keepalived.sh", "exit 0")
	symlink(t, "..2024_01_01", filepath.Join(dir, "..data"))
	symlink(t, "..data/keepalived.sh", filepath.Join(dir, "keepalived.sh"))
	symlink(t, "/bin/true", filepath.Join(dir, "true"))
	symlink(t, outside, filepath.Join(dir, "elsewhere"))
	if err := os.WriteFile(filepath.Join(dir, "plain.txt"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}

	tests := map[string]struct {
		name    string
		want    string
		wantErr error
	}{
		"a script in the directory resolves to itself":             {name: "notify.sh", want: "notify.sh"},
		"a script in a subdirectory resolves":                      {name: "sub/fault.sh", want: "sub/fault.sh"},
		"a ConfigMap symlink chain resolves to the real file":      {name: "keepalived.sh", want: "..2024_01_01/keepalived.sh"},
		"an absolute path inside the directory resolves":           {name: filepath.Join(dir, "notify.sh"), want: "notify.sh"},
		"a harmless dot-dot that stays inside resolves":            {name: "sub/../notify.sh", want: "notify.sh"},
		"a parent-directory escape is refused":                     {name: "../x", wantErr: ErrOutsideHookDir},
		"an absolute path outside is refused":                      {name: "/bin/sh", wantErr: ErrOutsideHookDir},
		"a symlink to a program outside is refused":                {name: "true", wantErr: ErrOutsideHookDir},
		"a program under a symlinked directory outside is refused": {name: "elsewhere/evil.sh", wantErr: ErrOutsideHookDir},
		"the directory itself is refused":                          {name: ".", wantErr: ErrOutsideHookDir},
		"a file without an execute bit is refused":                 {name: "plain.txt", wantErr: ErrNotExecutable},
		"a directory is refused":                                   {name: "adir", wantErr: ErrNotExecutable},
		"an empty name is refused":                                 {name: "", wantErr: ErrNotExecutable},
		"a missing file is reported as not existing":               {name: "missing.sh", wantErr: fs.ErrNotExist},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Resolve(dir, tc.name)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Resolve(%q) = %q, %v; want error %v", tc.name, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tc.name, err)
			}
			if want := filepath.Join(realDir, tc.want); got != want {
				t.Errorf("Resolve(%q) = %q, want %q", tc.name, got, want)
			}
		})
	}
}

// A hook directory that is none, or the root directory, would let a VirtualIP's author run any
// program of the node (bin/sh) as a hook.
func TestResolveRefusesAHookDirectoryThatHoldsEverything(t *testing.T) {
	root := t.TempDir()
	symlink(t, "/", filepath.Join(root, "slash"))
	for name, dir := range map[string]string{
		"no directory":                       "",
		"the root directory":                 "/",
		"the root directory spelt with dots": "/tmp/..",
		"a symlink to the root directory":    filepath.Join(root, "slash"),
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := Resolve(dir, "bin/sh"); !errors.Is(err, ErrOutsideHookDir) {
				t.Errorf("Resolve(%q, bin/sh) = %q, %v; want an error wrapping %v", dir, got, err, ErrOutsideHookDir)
			}
		})
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// writeScript writes an executable shell script into dir and returns its path.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("#!/bin/bash\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
