package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// file is one entry of a layer. Parent directories are added with mode 0755, owned by root.
type file struct {
	name     string // absolute path in the image
	mode     int64  // permission bits, with the sticky bit
	uid, gid int
	dir      bool
	link     string // symbolic link target
	body     []byte
}

// passwd and group hold root and distroless's nonroot, so that tools inside the image name the
// users the image runs as.
const (
	passwd = "root:x:0:0:root:/root:/bin/sh\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/bin/false\n"
	group = "root:x:0:\n" +
		"nonroot:x:65532:\n"
)

// baseFiles is the layer under the binary: busybox and its applets, the users, /tmp.
func baseFiles(busybox, arch string) ([]file, error) {
	bb, err := readStatic(busybox)
	if err != nil {
		return nil, err
	}
	if bb.arch != arch {
		return nil, fmt.Errorf("%s is for %s, the binary for %s", busybox, bb.arch, arch)
	}
	applets, err := busyboxApplets(busybox)
	if err != nil {
		return nil, err
	}
	files := []file{
		{name: "/bin/busybox", mode: 0o755, body: bb.body},
		{name: "/etc/passwd", mode: 0o644, body: []byte(passwd)},
		{name: "/etc/group", mode: 0o644, body: []byte(group)},
		{name: "/tmp", mode: 0o1777, dir: true},
		{name: "/root", mode: 0o700, dir: true},
		{name: "/home/nonroot", mode: 0o700, uid: 65532, gid: 65532, dir: true},
		{name: "/usr/local/bin", mode: 0o755, dir: true},
	}
	for _, a := range applets {
		files = append(files, file{name: "/bin/" + a, mode: 0o777, link: "busybox"})
	}
	return files, nil
}

// busyboxApplets runs `busybox --list`, which needs busybox to run on this machine.
func busyboxApplets(busybox string) ([]string, error) {
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("listing the applets of %s (it must run on this machine): %w", busybox, err)
	}
	var applets []string
	for _, a := range strings.Fields(string(out)) {
		if a == "busybox" {
			continue
		}
		if strings.ContainsRune(a, '/') || a == "." || a == ".." {
			return nil, fmt.Errorf("%s --list printed %q, not an applet name", busybox, a)
		}
		applets = append(applets, a)
	}
	if !slices.Contains(applets, "sh") {
		return nil, fmt.Errorf("%s has no sh applet", busybox)
	}
	return applets, nil
}

// static is a statically linked Linux executable and the GOARCH it runs on.
type static struct {
	arch string
	body []byte
}

// readStatic reads an executable and refuses one that needs a dynamic loader: the image holds no
// C library.
func readStatic(p string) (static, error) {
	body, err := os.ReadFile(p)
	if err != nil {
		return static{}, err
	}
	f, err := elf.NewFile(bytes.NewReader(body))
	if err != nil {
		return static{}, fmt.Errorf("reading %s as an ELF executable: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return static{}, fmt.Errorf("%s is dynamically linked; the image has no C library (for Go, build with CGO_ENABLED=0; for busybox, install busybox-static)", p)
		}
	}
	arch, err := goarch(f)
	if err != nil {
		return static{}, fmt.Errorf("%s: %w", p, err)
	}
	return static{arch: arch, body: body}, nil
}

func goarch(f *elf.File) (string, error) {
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	case elf.EM_ARM:
		return "arm", nil
	case elf.EM_386:
		return "386", nil
	case elf.EM_S390:
		return "s390x", nil
	case elf.EM_RISCV:
		return "riscv64", nil
	case elf.EM_PPC64:
		if f.Data == elf.ELFDATA2LSB {
			return "ppc64le", nil
		}
		return "ppc64", nil
	}
	return "", fmt.Errorf("unknown ELF machine %v", f.Machine)
}

// tarLayer writes files, their parent directories first and all in path order, each stamped with
// mtime, so that the same files give the same bytes.
func tarLayer(files []file, mtime time.Time) ([]byte, error) {
	entries := map[string]file{}
	for _, f := range files {
		n := strings.TrimPrefix(path.Clean(f.name), "/")
		if n == "" || n == "." || !path.IsAbs(f.name) {
			return nil, fmt.Errorf("layer entry %q: want an absolute path below /", f.name)
		}
		if _, dup := entries[n]; dup {
			return nil, fmt.Errorf("layer entry %s given twice", f.name)
		}
		entries[n] = f
	}
	for n := range entries {
		for d := path.Dir(n); d != "."; d = path.Dir(d) {
			if _, ok := entries[d]; !ok {
				entries[d] = file{name: "/" + d, mode: 0o755, dir: true}
			}
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range slices.Sorted(maps.Keys(entries)) {
		f := entries[n]
		h := &tar.Header{Name: n, Mode: f.mode, Uid: f.uid, Gid: f.gid, ModTime: mtime}
		switch {
		case f.dir:
			h.Typeflag, h.Name = tar.TypeDir, n+"/"
		case f.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("writing %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, fmt.Errorf("writing %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func bytesOpener(b []byte) tarball.Opener {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}
