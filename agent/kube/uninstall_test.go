package kube

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// hungReader is an API server that never answers, whatever the request's context says, as the
// REST mapper's discovery may not heed it.
type hungReader struct {
	client.Reader
	release chan struct{}
}

func (r hungReader) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	<-r.release
	return context.DeadlineExceeded
}

// An agent that cannot tell whether it is uninstalled keeps its last known configuration: it is
// what the next agent runs while the API server is away. The check ends with the shutdown's time.
func TestAnAgentThatCannotTellKeepsTheLastKnownConfiguration(t *testing.T) {
	tests := map[string]struct {
		pod string
		api bool
	}{
		"the pod's name is unknown (a manifest without $POD_NAME)":  {api: true},
		"the API server was never reached":                          {pod: "agent-primary"},
		"the API server does not answer before the shutdown's time": {pod: "agent-primary", api: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dir := t.TempDir()
				file := filepath.Join(dir, SnapshotFile)
				for _, f := range []string{file, file + ".tmp"} {
					if err := os.WriteFile(f, []byte("{}\n"), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				a := newTestAgent(dir, &recordingPlane{})
				a.pod = tc.pod
				release := make(chan struct{})
				defer close(release)
				if tc.api {
					a.api = hungReader{release: release}
				}
				ctx, cancel := context.WithTimeout(context.Background(), finalStatusTimeout)
				defer cancel()
				start := time.Now()
				a.forgetIfUninstalled(ctx)
				if took := time.Since(start); took > finalStatusTimeout {
					t.Errorf("the check took %v, more than the %v of the last words", took, finalStatusTimeout)
				}
				for _, f := range []string{file, file + ".tmp"} {
					if _, err := os.Stat(f); err != nil {
						t.Errorf("%s: %v, want it kept", filepath.Base(f), err)
					}
				}
			})
		})
	}
}
