package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

func TestParseTag(t *testing.T) {
	for sentence, tc := range map[string]struct {
		in      string
		want    string
		wantErr string
	}{
		"a name and tag stay as given":                  {in: "vrrp-operator:dev", want: "vrrp-operator:dev"},
		"a registry port is not taken for a tag":        {in: "host:5000/team/vrrp-operator:v1", want: "host:5000/team/vrrp-operator:v1"},
		"a name without a tag is tagged latest":         {in: "vrrp-operator", want: "vrrp-operator:latest"},
		"a registry port without a tag is still latest": {in: "host:5000/vrrp-operator", want: "host:5000/vrrp-operator:latest"},
		"a digest is refused, naming the reason": {
			in:      "host:5000/vrrp-operator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			wantErr: "is a digest",
		},
		"an invalid name is refused": {in: "Vrrp Operator", wantErr: "parsing --tag"},
	} {
		t.Run(sentence, func(t *testing.T) {
			tag, err := parseTag(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseTag(%q) = %v, want an error containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := tag.String()
			if tag.TagStr() == "latest" && !strings.HasSuffix(got, ":latest") {
				got += ":latest" // As tarball.Write names it.
			}
			if got != tc.want {
				t.Errorf("parseTag(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

type entry struct {
	Name, Link string
	Type       byte
	Mode       int64
	UID        int
}

func TestTarLayerAddsParentsSortsAndStampsEveryEntry(t *testing.T) {
	mtime := time.Unix(1700000000, 0)
	files := []file{
		{name: "/usr/local/bin/x", mode: 0o755, body: []byte("x")},
		{name: "/bin/sh", mode: 0o777, link: "busybox"},
		{name: "/tmp", mode: 0o1777, dir: true},
		{name: "/home/nonroot", mode: 0o700, uid: 65532, gid: 65532, dir: true},
	}
	data, err := tarLayer(files, mtime)
	if err != nil {
		t.Fatal(err)
	}
	var got []entry
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(mtime) {
			t.Errorf("%s: mtime %v, want %v", h.Name, h.ModTime, mtime)
		}
		got = append(got, entry{Name: h.Name, Link: h.Linkname, Type: h.Typeflag, Mode: h.Mode, UID: h.Uid})
	}
	want := []entry{
		{Name: "bin/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "bin/sh", Link: "busybox", Type: tar.TypeSymlink, Mode: 0o777},
		{Name: "home/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "home/nonroot/", Type: tar.TypeDir, Mode: 0o700, UID: 65532},
		{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
		{Name: "usr/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "usr/local/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "usr/local/bin/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "usr/local/bin/x", Type: tar.TypeReg, Mode: 0o755},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("layer entries (-want +got):\n%s", diff)
	}

	reversed := []file{files[3], files[2], files[1], files[0]}
	again, err := tarLayer(reversed, mtime)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, again) {
		t.Error("the same files in another order gave another layer")
	}
}

// staticBusybox stands in for both binaries here: it is a static ELF executable, and building the
// real binary is test/image's job.
func staticBusybox(t *testing.T) string {
	t.Helper()
	const p = "/bin/busybox"
	f, err := elf.Open(p)
	if err != nil {
		testenv.Unavailable(t, "test needs Debian's busybox-static at "+p+": "+err.Error())
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			testenv.Unavailable(t, p+" is dynamically linked: test needs Debian's busybox-static")
		}
	}
	return p
}

func TestRunWritesATaggedImageWithTheSameDigestEachTime(t *testing.T) {
	bb := staticBusybox(t)
	dir := t.TempDir()
	const tag = "host:5000/team/vrrp-operator:v1"
	var digests []string
	for _, out := range []string{"a.tar", "b.tar"} {
		out = filepath.Join(dir, out)
		var stdout, stderr bytes.Buffer
		if err := run([]string{"--binary", bb, "--busybox", bb, "--tag", tag, "--output", out}, &stdout, &stderr); err != nil {
			t.Fatalf("run: %v\n%s", err, stderr.String())
		}
		m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(out) })
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{tag}, m[0].RepoTags); diff != "" {
			t.Errorf("RepoTags (-want +got):\n%s", diff)
		}
		img, err := tarball.ImageFromPath(out, nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d.String())
	}
	if digests[0] != digests[1] {
		t.Errorf("two runs on the same inputs gave digests %s and %s", digests[0], digests[1])
	}
}

func TestRunRefusesWhatCannotMakeAnImage(t *testing.T) {
	bb := staticBusybox(t)
	for sentence, tc := range map[string]struct {
		args []string
		want string
	}{
		"a digest for a tag": {
			args: []string{"--tag", "vrrp-operator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
			want: "is a digest",
		},
		"a binary that is not an executable": {args: []string{"--binary", "main.go"}, want: "reading main.go as an ELF executable"},
		"a dynamically linked binary":        {args: []string{"--binary", dynamicExecutable(t)}, want: "dynamically linked"},
		"stray arguments":                    {args: []string{"extra"}, want: "unexpected arguments"},
	} {
		t.Run(sentence, func(t *testing.T) {
			args := append([]string{"--binary", bb, "--busybox", bb, "--output", filepath.Join(t.TempDir(), "x.tar")}, tc.args...)
			err := run(args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
			}
		})
	}
}

// dynamicExecutable is a program of this machine that needs the dynamic loader.
func dynamicExecutable(t *testing.T) string {
	t.Helper()
	const p = "/bin/ls"
	f, err := elf.Open(p)
	if err != nil {
		testenv.Unavailable(t, fmt.Sprintf("no %s to stand for a dynamically linked program: %v", p, err))
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return p
		}
	}
	testenv.Unavailable(t, p+" is statically linked: no dynamically linked program to refuse")
	return ""
}
