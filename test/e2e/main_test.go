// Package e2e runs vrrp-operator agents against each other and against keepalived, in network
// namespaces joined by a bridge (internal/testenv), as root. Each test builds the lab it needs, uses
// documentation prefixes only, and leaves no namespace or process behind.
//
// The failover times the tests observe are reported (testenv.Report), one "e2e: ..." line each.
package e2e

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
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
// skip (no root, -short) builds nothing. The build has no deadline: on a cold Go cache with two cores
// it takes minutes while other packages compile beside it.
func agentBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "vrrp-e2e-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "vrrp-operator")
		buildErr = testenv.BuildAgent(binPath)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// requireLab stops tests that need root and network namespaces where they cannot run. They take
// minutes, so -short skips them too.
func requireLab(t testing.TB) {
	t.Helper()
	if testing.Short() {
		testenv.Unavailable(t, "e2e tests run agents in network namespaces for minutes: not in -short mode")
	}
	testenv.RequireRoot(t)
}

// recordTiming reports an observed time; `make test` prints these after the run.
func recordTiming(t testing.TB, what string, d time.Duration) {
	t.Helper()
	testenv.Report(t, "e2e: %s %.3fs", what, d.Seconds())
}
