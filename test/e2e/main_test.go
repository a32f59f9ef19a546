// Package e2e runs vrrp-operator agents against each other and against keepalived, in network
// namespaces joined by a bridge (internal/testenv), as root. Each test builds the lab it needs, uses
// documentation prefixes only, and leaves no namespace or process behind.
//
// The failover times the tests observe are printed at the end of the run, one "e2e: ..." line each.
package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	printTimings(code == 0)
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// agentBinary builds cmd/vrrp-operator once per run, on first use, so that a run whose tests all
// skip (no root, -short) builds nothing.
func agentBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "vrrp-e2e-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "vrrp-operator")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", binPath, "./cmd/vrrp-operator")
		cmd.Dir = testenv.Root()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building the agent: %w: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// requireLab stops tests that need root and network namespaces where they cannot run. They take
// minutes, so -short skips them too.
func requireLab(t *testing.T) {
	t.Helper()
	if testing.Short() {
		testenv.Unavailable(t, "e2e tests run agents in network namespaces for minutes: not in -short mode")
	}
	testenv.RequireRoot(t)
}

var (
	timingsMu sync.Mutex
	timings   []string
)

// recordTiming keeps an observed time for the summary printed at the end of the run.
func recordTiming(t *testing.T, what string, d time.Duration) {
	t.Helper()
	line := fmt.Sprintf("e2e: %s %.3fs", what, d.Seconds())
	t.Log(line)
	timingsMu.Lock()
	timings = append(timings, line)
	timingsMu.Unlock()
}

// printTimings prints the observed times. `go test ./...` shows the output of a package that
// passed only with -v, so then the lines also go to the go command's own standard output when it
// is a terminal or a pipe, which is where `make test` prints.
func printTimings(passed bool) {
	timingsMu.Lock()
	defer timingsMu.Unlock()
	if len(timings) == 0 {
		return
	}
	slices.Sort(timings)
	summary := strings.Join(timings, "\n") + "\n"
	_, _ = io.WriteString(os.Stdout, summary)
	if testing.Verbose() || !passed {
		return
	}
	if w := goCommandOutput(); w != nil {
		_, _ = io.WriteString(w, summary)
		_ = w.Close()
	}
}

// goCommandOutput opens the standard output of the go command that runs this test binary, or
// returns nil. Only terminals and pipes are used: writing into a regular file behind the go
// command's file offset would be overwritten by its next write.
func goCommandOutput() *os.File {
	ppid := os.Getppid()
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", ppid))
	if err != nil || strings.TrimSpace(string(comm)) != "go" {
		return nil
	}
	path := fmt.Sprintf("/proc/%d/fd/1", ppid)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode()&(os.ModeNamedPipe|os.ModeCharDevice|os.ModeSocket) == 0 {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil
	}
	return f
}
