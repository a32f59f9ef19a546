package hooks

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

var (
	// ErrOutsideHookDir is returned for a hook whose path, after following symlinks, leaves the hook
	// directory: "../x", "/bin/sh", or a symlink to /bin/true.
	ErrOutsideHookDir = errors.New("hook is outside the hook directory")
	// ErrNotExecutable is returned for a hook that is not a regular file with an execute bit.
	ErrNotExecutable = errors.New("hook is not an executable regular file")
)

// Resolve returns the real path of the hook name inside dir, or an error wrapping ErrOutsideHookDir,
// ErrNotExecutable or fs.ErrNotExist. A relative name is taken relative to dir; an absolute name is
// accepted only when it lies inside dir.
//
// Symlinks are resolved on both sides before the comparison: a ConfigMap volume is a tree of symlinks
// (name -> ..data/name -> ..2024_01_01/name), which must work, while a link to a program elsewhere must
// not. The returned path contains no symlinks, so the program that runs is the one that was checked.
// Someone able to swap files inside dir between the check and the exec could run anything anyway, as
// they control the hooks themselves; the directory is meant to be read-only to everyone but root.
func Resolve(dir, name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("resolving hook: %w: empty name", ErrNotExecutable)
	}
	if dir == "" {
		// filepath.Abs would make it the working directory, / in the image.
		return "", fmt.Errorf("resolving hook %q: %w: no hook directory (--hook-dir)", name, ErrOutsideHookDir)
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolving hook directory %s: %w", dir, err)
	}
	realDir, err := filepath.EvalSymlinks(absDir)
	if err != nil {
		return "", fmt.Errorf("resolving hook directory %s: %w", dir, err)
	}
	if realDir == "/" {
		// Every program of the node would be a hook that a VirtualIP's author may name.
		return "", fmt.Errorf("resolving hook %q: %w: the hook directory %s is the root directory", name, ErrOutsideHookDir, dir)
	}
	p := filepath.Clean(name)
	if !filepath.IsAbs(p) {
		p = filepath.Join(realDir, p)
	}
	// Refuse lexical escapes before touching the file system, so "../x" fails the same way whether
	// or not x exists. An absolute name may spell the directory either way.
	if !inside(realDir, p) && !inside(absDir, p) {
		return "", fmt.Errorf("resolving hook %q in %s: %w", name, dir, ErrOutsideHookDir)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("resolving hook %q in %s: %w", name, dir, err)
	}
	if !inside(realDir, real) {
		return "", fmt.Errorf("resolving hook %q in %s: resolves to %s: %w", name, dir, real, ErrOutsideHookDir)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("resolving hook %q in %s: %w", name, dir, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("resolving hook %q in %s: mode %s: %w", name, dir, fi.Mode(), ErrNotExecutable)
	}
	return real, nil
}

// inside reports whether p is strictly below dir; both must be clean absolute paths.
func inside(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	if err != nil || rel == "." {
		return false
	}
	return rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
