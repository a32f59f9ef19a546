// Package image builds the project's image and the pause image as `make image` and
// `make pause-image` do (hack/image on freshly built static binaries), checks what they hold with
// go-containerregistry, and, as root with containerd installed, imports and runs them in a private
// containerd.
package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

const (
	operatorTag = "vrrp-operator:dev"
	pauseTag    = "registry.k8s.io/pause:3.10"
)

// built is what buildImages made, once per run.
type built struct {
	dir           string // holds everything below; removed by TestMain
	tool          string // hack/image
	operator      string // static cmd/vrrp-operator
	pause         string // static hack/pause
	operatorImage string // docker-archive tarball tagged operatorTag
	pauseImage    string // docker-archive tarball tagged pauseTag
}

var (
	buildOnce sync.Once
	artifacts built
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if artifacts.dir != "" {
		_ = os.RemoveAll(artifacts.dir)
	}
	os.Exit(code)
}

// buildImages builds the binaries as the Dockerfile does and writes both images with hack/image,
// on first use. It has no deadline: a cold build cache on two cores takes minutes.
func buildImages(t *testing.T) built {
	t.Helper()
	if _, err := os.Stat("/bin/busybox"); err != nil {
		testenv.Unavailable(t, "test needs /bin/busybox from Debian's busybox-static (apt-get install busybox-static)")
	}
	buildOnce.Do(func() {
		artifacts.dir, buildErr = os.MkdirTemp("", "vrrp-image-test-")
		if buildErr != nil {
			return
		}
		b := &artifacts
		b.tool = filepath.Join(b.dir, "image")
		b.operator = filepath.Join(b.dir, "vrrp-operator")
		b.pause = filepath.Join(b.dir, "pause")
		b.operatorImage = filepath.Join(b.dir, "vrrp-operator-image.tar")
		b.pauseImage = filepath.Join(b.dir, "pause-image.tar")
		for _, step := range [][]string{
			{"go", "build", "-o", b.tool, "./hack/image"},
			{"go", "build", "-trimpath", "-ldflags=-s -w", "-o", b.operator, "./cmd/vrrp-operator"},
			{"go", "build", "-trimpath", "-ldflags=-s -w", "-o", b.pause, "./hack/pause"},
			{b.tool, "--binary", b.operator, "--tag", operatorTag, "--output", b.operatorImage},
			{b.tool, "--pause", "--binary", b.pause, "--tag", pauseTag, "--output", b.pauseImage},
		} {
			if _, buildErr = runIn(testenv.Root(), step...); buildErr != nil {
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return artifacts
}

// runIn runs a command in dir, for static binaries and images stamped 1970-01-01, and returns its
// standard output.
func runIn(dir string, args ...string) (string, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	// The images' fixed time is the epoch unless SOURCE_DATE_EPOCH says otherwise.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "SOURCE_DATE_EPOCH=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// load reads the image tagged tag from a docker-archive tarball; it fails unless the tag is there.
func load(t *testing.T, path, tag string) v1.Image {
	t.Helper()
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(path, &ref)
	if err != nil {
		t.Fatalf("reading %s from %s: %v", tag, path, err)
	}
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || !slices.Equal(m[0].RepoTags, []string{tag}) {
		t.Errorf("%s: manifest.json names %+v, want one image tagged %s", path, m, tag)
	}
	return img
}

// node is a file of an image's flattened filesystem.
type node struct {
	Type     byte
	Mode     int64
	Link     string
	UID, GID int
}

// flatten reads the image's filesystem, as a container sees it, with the contents of regular files.
func flatten(t *testing.T, img v1.Image) (map[string]node, map[string][]byte) {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	nodes, bodies := map[string]node{}, map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: mtime %v, want the fixed 1970-01-01", h.Name, h.ModTime)
		}
		p := "/" + strings.TrimSuffix(h.Name, "/")
		nodes[p] = node{Type: h.Typeflag, Mode: h.Mode, Link: h.Linkname, UID: h.Uid, GID: h.Gid}
		if h.Typeflag == tar.TypeReg {
			if bodies[p], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	return nodes, bodies
}

func TestOperatorImageHasTheDockerfileLayout(t *testing.T) {
	b := buildImages(t)
	img := load(t, b.operatorImage, operatorTag)

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	wantConfig := v1.Config{
		Entrypoint: []string{"/usr/local/bin/vrrp-operator"},
		User:       "65532:65532",
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	}
	if diff := cmp.Diff(wantConfig, cf.Config); diff != "" {
		t.Errorf("image config (-want +got):\n%s", diff)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH || !cf.Created.Equal(time.Unix(0, 0)) {
		t.Errorf("image is %s/%s created %v, want linux/%s created at the fixed 1970-01-01", cf.OS, cf.Architecture, cf.Created, runtime.GOARCH)
	}

	nodes, bodies := flatten(t, img)
	want := map[string]node{
		"/usr/local/bin/vrrp-operator": {Type: tar.TypeReg, Mode: 0o755},
		"/bin/busybox":                 {Type: tar.TypeReg, Mode: 0o755},
		"/etc/passwd":                  {Type: tar.TypeReg, Mode: 0o644},
		"/etc/group":                   {Type: tar.TypeReg, Mode: 0o644},
		"/tmp":                         {Type: tar.TypeDir, Mode: 0o1777},
		"/home/nonroot":                {Type: tar.TypeDir, Mode: 0o700, UID: 65532, GID: 65532},
	}
	// The applets the seed's notify script and hooks in general use.
	for _, a := range []string{"sh", "echo", "cat", "mkdir", "date", "logger", "printf", "test", "sleep", "ip", "wget"} {
		want["/bin/"+a] = node{Type: tar.TypeSymlink, Mode: 0o777, Link: "busybox"}
	}
	got := map[string]node{}
	for p := range want {
		if n, ok := nodes[p]; ok {
			got[p] = n
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("image files (-want +got):\n%s", diff)
	}

	binary, err := os.ReadFile(b.operator)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bodies["/usr/local/bin/vrrp-operator"], binary) {
		t.Error("/usr/local/bin/vrrp-operator is not the binary built from cmd/vrrp-operator")
	}
	for file, line := range map[string]string{
		"/etc/passwd": "nonroot:x:65532:65532:",
		"/etc/group":  "nonroot:x:65532:",
	} {
		if !strings.Contains(string(bodies[file]), line) || !strings.Contains(string(bodies[file]), "root:x:0:") {
			t.Errorf("%s lacks root or %q:\n%s", file, line, bodies[file])
		}
	}
	applets, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range strings.Fields(string(applets)) {
		if n := nodes["/bin/"+a]; a != "busybox" && n.Link != "busybox" {
			t.Errorf("/bin/%s is %+v, want a link to busybox as for every applet busybox --list prints", a, n)
		}
	}
}

func TestPauseImageHoldsOnlyThePauseProgram(t *testing.T) {
	b := buildImages(t)
	img := load(t, b.pauseImage, pauseTag)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/pause"}, cf.Config.Entrypoint); diff != "" || cf.Config.User != "65535:65535" {
		t.Errorf("pause image runs %q as %q, want [/pause] as 65535:65535", cf.Config.Entrypoint, cf.Config.User)
	}
	nodes, _ := flatten(t, img)
	want := map[string]node{"/pause": {Type: tar.TypeReg, Mode: 0o755}}
	if diff := cmp.Diff(want, nodes); diff != "" {
		t.Errorf("pause image files (-want +got):\n%s", diff)
	}
}

func TestSameInputsGiveTheSameImage(t *testing.T) {
	b := buildImages(t)
	again := filepath.Join(t.TempDir(), "again.tar")
	if _, err := runIn(testenv.Root(), b.tool, "--binary", b.operator, "--tag", operatorTag, "--output", again); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(b.operatorImage)
	if err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(again)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		d1, _ := load(t, b.operatorImage, operatorTag).Digest()
		d2, _ := load(t, again, operatorTag).Digest()
		t.Errorf("two tarballs from the same inputs differ (image digests %s and %s)", d1, d2)
	}
}

// containerd is a private containerd whose root, state, sockets and runc root are all under one
// temporary directory.
type containerd struct {
	t   *testing.T
	dir string
	ctr string
}

// startContainerd starts containerd and stops it, and removes its directory, when the test ends.
func startContainerd(t *testing.T) *containerd {
	t.Helper()
	testenv.RequireRoot(t)
	bin := testenv.RequireTool(t, "containerd")
	c := &containerd{t: t, ctr: testenv.RequireTool(t, "ctr")}
	testenv.RequireTool(t, "containerd-shim-runc-v2")
	testenv.RequireTool(t, "runc")

	// Not t.TempDir: a unix socket path must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "vrrp-ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	// containerd 1.6 puts shim sockets in /run/containerd/s whatever its state directory; remove
	// the directories afterwards if this test made them.
	_, runErr := os.Stat("/run/containerd")
	t.Cleanup(func() {
		unmountBelow(t, dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing %s: %v", dir, err)
		}
		if errors.Is(runErr, os.ErrNotExist) {
			_ = os.Remove("/run/containerd/s") // Only when empty.
			_ = os.Remove("/run/containerd")
		}
	})
	config := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.socket(), c.socket()+".ttrpc", filepath.Join(dir, "opt"))
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", filepath.Join(dir, "config.toml"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting containerd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		c.removeContainers()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = log.Close()
		if t.Failed() {
			out, _ := os.ReadFile(log.Name())
			t.Logf("containerd log:\n%s", out)
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := c.run(context.Background(), "version"); err == nil {
			return c
		}
		select {
		case err := <-exited:
			exited <- err // For the cleanup.
			t.Fatalf("containerd exited at start: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("containerd did not answer on its socket within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *containerd) socket() string { return filepath.Join(c.dir, "containerd.sock") }

// command is ctr on this containerd, in the namespace the kubelet uses.
func (c *containerd) command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, c.ctr, append([]string{"--address", c.socket(), "--namespace", "k8s.io"}, args...)...)
}

func (c *containerd) run(ctx context.Context, args ...string) (string, error) {
	out, err := c.command(ctx, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// removeContainers kills the tasks and removes the containers a failed test left, so that no shim
// outlives containerd.
func (c *containerd) removeContainers() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ids, err := c.run(ctx, "containers", "ls", "--quiet")
	if err != nil {
		c.t.Logf("listing containers left behind: %v", err)
		return
	}
	for _, id := range strings.Fields(ids) {
		_, _ = c.run(ctx, "tasks", "kill", "--signal", "SIGKILL", id)
		_, _ = c.run(ctx, "tasks", "delete", "--force", id)
		if _, err := c.run(ctx, "containers", "delete", id); err != nil {
			c.t.Logf("removing container %s: %v", id, err)
		}
	}
}

// runArgs are the flags of `ctr run` that keep runc's state and the stdio FIFOs in c's directory
// and the container out of any cgroup hierarchy it would otherwise leave behind.
func (c *containerd) runArgs() []string {
	return []string{"run", "--rm", "--runc-root", filepath.Join(c.dir, "runc"), "--fifo-dir", filepath.Join(c.dir, "fifo"), "--cgroup", ""}
}

// unmountBelow detaches whatever a failed test left mounted under dir (container root
// filesystems), so that the directory can be removed.
func unmountBelow(t *testing.T, dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			points = append(points, fields[4])
		}
	}
	slices.Sort(points)
	for _, p := range slices.Backward(points) {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil {
			t.Logf("unmounting %s: %v", p, err)
		}
	}
}

// taskStatus finds the status of task id in the output of `ctr tasks ls`.
func taskStatus(tasks, id string) string {
	for line := range strings.Lines(tasks) {
		if f := strings.Fields(line); len(f) == 3 && f[0] == id {
			return f[2]
		}
	}
	return ""
}

func randomID(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func TestContainerdImportsAndRunsBothImages(t *testing.T) {
	b := buildImages(t)
	c := startContainerd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	for _, tarball := range []string{b.operatorImage, b.pauseImage} {
		if _, err := c.run(ctx, "images", "import", tarball); err != nil {
			t.Fatal(err)
		}
	}
	out, err := c.run(ctx, "images", "ls", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	// containerd names images as the kubelet asks for them: vrrp-operator:dev is Docker Hub's.
	operatorRef := "docker.io/library/" + operatorTag
	for _, ref := range []string{operatorRef, pauseTag} {
		if !slices.Contains(strings.Fields(out), ref) {
			t.Fatalf("ctr images ls lists %q, want %s among them", out, ref)
		}
	}

	t.Run("a hook's shell runs as nonroot with a writable /tmp", func(t *testing.T) {
		args := append(c.runArgs(), operatorRef, randomID("vrrp-sh-"), "/bin/sh", "-c", "id -un; echo ok >/tmp/hook && cat /tmp/hook")
		out, err := c.run(ctx, args...)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Fields(out); !slices.Equal(got, []string{"nonroot", "ok"}) {
			t.Errorf("shell printed %q, want nonroot and ok", out)
		}
	})

	t.Run("the entrypoint is the operator", func(t *testing.T) {
		args := append(c.runArgs(), operatorRef, randomID("vrrp-help-"), "/usr/local/bin/vrrp-operator", "--help")
		out, err := c.run(ctx, args...)
		if err != nil || !strings.Contains(out, "usage: vrrp-operator") {
			t.Errorf("vrrp-operator --help in the image: %v: %q", err, out)
		}
	})

	t.Run("pause as PID 1 exits 0 on SIGTERM", func(t *testing.T) {
		id := randomID("vrrp-pause-")
		run := c.command(ctx, append(c.runArgs(), pauseTag, id)...)
		var output bytes.Buffer
		run.Stdout, run.Stderr = &output, &output
		if err := run.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- run.Wait() }()
		t.Cleanup(func() {
			// On failure the task may still run; kill it so that --rm removes the container.
			_, _ = c.run(context.Background(), "tasks", "kill", "--signal", "SIGKILL", id)
			<-exited
		})
		deadline := time.Now().Add(30 * time.Second)
		for {
			tasks, _ := c.run(ctx, "tasks", "ls")
			if taskStatus(tasks, id) == "RUNNING" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pause task not running after 30s: %q; ctr run said %q", tasks, output.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		if _, err := c.run(ctx, "tasks", "kill", "--signal", "SIGTERM", id); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			exited <- err // For the cleanup.
			if err != nil {
				t.Errorf("pause after SIGTERM: %v, want exit status 0; ctr run said %q", err, output.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("pause still runs 10s after SIGTERM: as PID 1 it must handle the signal itself")
		}
	})
}
