// Package testenv holds what tests share about their environment: whether they may use root, network
// namespaces and external tools, and how they say so.
//
// A test that needs something the machine lacks skips with a message that names it, except when
// VRRP_REQUIRE_PRIVILEGED=1 (set by .ci/run): then a missing prerequisite fails the test, so that CI can
// never pass by skipping.
package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// RequireEnv is the variable that turns skips for missing privileges or tools into failures.
const RequireEnv = "VRRP_REQUIRE_PRIVILEGED"

// Required reports whether missing prerequisites must fail rather than skip.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Unavailable skips or, when Required, fails the test with why.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s (and %s=1 forbids skipping)", why, RequireEnv)
	}
	t.Skipf("%s; set up the machine as README.md says, or run as root", why)
}

// RequireRoot stops the test unless it runs as root with network namespaces available.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "test needs root for raw sockets, netlink and network namespaces")
		return
	}
	if _, err := exec.LookPath("ip"); err != nil {
		Unavailable(t, "test needs the ip command from iproute2")
		return
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		Unavailable(t, "test needs network namespaces (/proc/self/ns/net is missing)")
	}
}

// RequireTool returns the path of an external program, or stops the test when it is missing.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Unavailable(t, "test needs "+name+" on PATH (apt-get install it, see .ci/run)")
	}
	return p
}

// ReportEnv names a file that measured numbers are appended to, one line each, so that `make test`
// can print them after `go test`, which shows a passing package's output only with -v.
const ReportEnv = "VRRP_TEST_REPORT"

var reportMu sync.Mutex

// Report logs a measured number and appends it to the file named by VRRP_TEST_REPORT, if set.
func Report(t testing.TB, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	p := os.Getenv(ReportEnv)
	if p == "" {
		return
	}
	reportMu.Lock()
	defer reportMu.Unlock()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Logf("writing the test report: %v", err)
		return
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, line); err != nil {
		t.Logf("writing the test report: %v", err)
	}
}

// BuildAgent builds cmd/vrrp-operator into path. It has no deadline on purpose: on a fresh machine
// (cold Go cache, two cores, other test packages compiling beside it) the build takes minutes, and a
// test must not fail for that.
func BuildAgent(path string) error { return build("./cmd/vrrp-operator", path) }

// BuildStandaloneAgent builds cmd/vrrp-agent, the standalone agent without the Kubernetes client,
// into path; like BuildAgent, without a deadline.
func BuildStandaloneAgent(path string) error { return build("./cmd/vrrp-agent", path) }

// BuildPlugin builds cmd/kubectl-vrrp into path (a file named kubectl-vrrp in a directory on PATH
// is how kubectl finds it); like BuildAgent, without a deadline.
func BuildPlugin(path string) error { return build("./cmd/kubectl-vrrp", path) }

// build builds the command pkg of this module into path, static as the image's binary is.
func build(pkg, path string) error {
	cmd := exec.Command("go", "build", "-o", path, pkg)
	cmd.Dir = Root()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %w: %s", pkg, err, out)
	}
	return nil
}

// Eventually polls cond every 20 ms until it holds or timeout passes, and returns how long it took;
// past the timeout it fails the test with what and cond's last detail. The network and the API
// server are real where it is used, so polling with a deadline is the honest way to wait.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for {
		ok, detail := cond()
		if ok {
			return time.Since(start)
		}
		last = detail
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %v; last: %s", what, timeout, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Buffer is a bytes.Buffer safe for a process writing its output while the test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
