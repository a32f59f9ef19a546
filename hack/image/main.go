// Command image writes a container image as a docker-archive tarball without a container engine:
// `make image` builds the project's image from bin/vrrp-operator, `make pause-image` a pause image
// for a local cluster's pod sandboxes. Both `docker load` and `ctr images import` read the result.
//
// The project's image has the layout the Dockerfile produces: Debian's static busybox with an
// applet link in /bin for every applet (the agent's hooks are often shell scripts), /etc/passwd and
// /etc/group with root and nonroot (65532), /tmp with mode 1777, and the binary at
// /usr/local/bin/vrrp-operator as ENTRYPOINT, run as 65532:65532.
//
// The same inputs give the same image digest: entries are sorted, owned by root unless stated, and
// stamped with one fixed time (SOURCE_DATE_EPOCH, or 1970-01-01 when unset), which is also the
// image's creation time.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const (
	operatorEntrypoint = "/usr/local/bin/vrrp-operator"
	pauseEntrypoint    = "/pause"
	// nonrootUser is distroless's nonroot user, kept from the previous base image. The chart runs
	// the agent as root explicitly; the controller needs no privileges.
	nonrootUser = "65532:65532"
	// pauseUser is the user registry.k8s.io/pause runs as.
	pauseUser = "65535:65535"
	pathEnv   = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

type options struct {
	output  string
	tag     string
	binary  string
	busybox string
	pause   bool
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.output, "output", "", "tarball to write (default bin/vrrp-operator-image.tar, with --pause bin/pause-image.tar)")
	fs.StringVar(&o.tag, "tag", "", "image name and tag, e.g. host:5000/team/vrrp-operator:v1; a digest is refused (default vrrp-operator:dev, with --pause registry.k8s.io/pause:3.10)")
	fs.StringVar(&o.binary, "binary", "", "static binary to use as the entrypoint (default bin/vrrp-operator, with --pause bin/pause)")
	fs.StringVar(&o.busybox, "busybox", "/bin/busybox", "static busybox (Debian's busybox-static) that provides /bin/sh; not used with --pause")
	fs.BoolVar(&o.pause, "pause", false, "write a pause image instead: only --binary, as /pause, run as "+pauseUser)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: go run ./hack/image [flags]

Writes a container image as a docker-archive tarball (for docker load or ctr images import) without
a container engine. By default the image is the project's: --binary at /usr/local/bin/vrrp-operator
as ENTRYPOINT, user 65532:65532, and --busybox with its applets linked in /bin. With --pause it is a
pause image for pod sandboxes: --binary as /pause, nothing else.
The platform is the binary's (linux and the architecture in its ELF header). Entries and the
creation time are fixed (SOURCE_DATE_EPOCH, default 0), so the same inputs give the same digest.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.defaults()

	tag, err := parseTag(o.tag)
	if err != nil {
		return err
	}
	created, err := sourceDate()
	if err != nil {
		return err
	}
	img, err := o.image(created)
	if err != nil {
		return err
	}
	if err := write(o.output, tag, img); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %s %s/%s %s\n", o.output, o.tag, cfg.OS, cfg.Architecture, digest)
	return nil
}

func (o *options) defaults() {
	def := func(v *string, operator, pause string) {
		if *v != "" {
			return
		}
		*v = operator
		if o.pause {
			*v = pause
		}
	}
	def(&o.output, "bin/vrrp-operator-image.tar", "bin/pause-image.tar")
	def(&o.tag, "vrrp-operator:dev", "registry.k8s.io/pause:3.10")
	def(&o.binary, "bin/vrrp-operator", "bin/pause")
}

// parseTag accepts a name with an optional registry (host:port) and tag; a name without a tag is
// tagged latest, as docker does.
func parseTag(s string) (name.Tag, error) {
	ref, err := name.ParseReference(s)
	if err != nil {
		return name.Tag{}, fmt.Errorf("parsing --tag %q: %w", s, err)
	}
	tag, ok := ref.(name.Tag)
	if !ok {
		return name.Tag{}, fmt.Errorf("--tag %q is a digest: a tarball is named by a tag, and its digest is known only once written; use name:tag (for make, IMG=name:tag)", s)
	}
	return tag, nil
}

// sourceDate is SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/), or
// the Unix epoch when unset.
func sourceDate() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("parsing SOURCE_DATE_EPOCH %q: %w", s, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// image assembles the layers and the configuration.
func (o *options) image(created time.Time) (v1.Image, error) {
	bin, err := readStatic(o.binary)
	if err != nil {
		return nil, err
	}
	cfg := v1.Config{Env: []string{pathEnv}}
	var layers [][]file
	var history []string
	if o.pause {
		layers = append(layers, []file{{name: pauseEntrypoint, mode: 0o755, body: bin.body}})
		history = append(history, "COPY pause "+pauseEntrypoint)
		cfg.Entrypoint = []string{pauseEntrypoint}
		cfg.User = pauseUser
	} else {
		base, err := baseFiles(o.busybox, bin.arch)
		if err != nil {
			return nil, err
		}
		layers = append(layers, base, []file{{name: operatorEntrypoint, mode: 0o755, body: bin.body}})
		history = append(history, "busybox with its applets in /bin, /etc/passwd, /etc/group, /tmp", "COPY vrrp-operator "+operatorEntrypoint)
		cfg.Entrypoint = []string{operatorEntrypoint}
		cfg.User = nonrootUser
	}
	adds := make([]mutate.Addendum, len(layers))
	for i, files := range layers {
		data, err := tarLayer(files, created)
		if err != nil {
			return nil, err
		}
		l, err := tarball.LayerFromOpener(bytesOpener(data), tarball.WithCompressedCaching)
		if err != nil {
			return nil, fmt.Errorf("making a layer: %w", err)
		}
		adds[i] = mutate.Addendum{Layer: l, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "hack/image: " + history[i]}}
	}
	img, err := mutate.Append(empty.Image, adds...)
	if err != nil {
		return nil, fmt.Errorf("appending layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = bin.arch
	cf.Created = v1.Time{Time: created}
	cf.Config = cfg
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("setting the image configuration: %w", err)
	}
	return img, nil
}

// write writes the tarball next to path and renames it, so that a failed run leaves no partial file.
func write(path string, tag name.Tag, img v1.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".image-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // After the rename this fails, harmlessly.
	if err := tarball.Write(tag, img, f); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
