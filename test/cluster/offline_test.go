package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vrrp-dev/vrrp-operator/agent/kube"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// TestAgentStartsWithoutTheAPIServer: an agent (re)started while the API server is unreachable runs
// the last known configuration from its state directory, as keepalived runs its file, and keeps
// running rather than exiting when its watches cannot start.
func TestAgentStartsWithoutTheAPIServer(t *testing.T) {
	lab := testenv.NewLab(t)
	h := lab.Host("eth0", "198.51.100.253/24")
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	must(t, os.MkdirAll(state, 0o700))
	sample, err := os.ReadFile(filepath.Join(testenv.Root(), "config", "samples", "standalone-seed.yaml"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(state, kube.SnapshotFile), sample, 0o600))
	// A kubeconfig whose server no namespace can reach: every request fails at once.
	kc := filepath.Join(dir, "unreachable.kubeconfig")
	must(t, os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://203.0.113.99:6443", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600))
	a := startAgent(t, h, "primary", "--kubeconfig", kc, "--hook-dir", dir, "--state-dir", state, "--metrics-bind-address", "0")
	took := eventually(t, 10*time.Second, "the agent holds the VIP from its last known configuration", func() (bool, string) {
		return holds(h, vip), ""
	})
	report(t, "agent started without an API server: holds the VIP after %v", took.Round(time.Millisecond))
	// Several watch retries later it still runs and still holds the VIP.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-a.done:
			t.Fatalf("the agent exited without an API server:\n%s", a.log.String())
		default:
		}
		if !holds(h, vip) {
			t.Fatalf("the agent dropped the VIP without an API server:\n%s", a.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(a.log.String(), "retrying") {
		t.Errorf("the agent should say it is retrying the API server:\n%s", a.log.String())
	}
}
