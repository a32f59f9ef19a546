package node

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
)

type answer struct {
	code int
	body string // a substring of the body
}

func TestHealthEndpoints(t *testing.T) {
	const resync = 10 * time.Second
	tests := map[string]struct {
		steps           func(n *Node)
		healthz, readyz answer
	}{
		"a fresh agent is alive but not ready": {
			steps:   func(*Node) {},
			healthz: answer{http.StatusOK, "ok"},
			readyz:  answer{http.StatusServiceUnavailable, "no configuration applied yet"},
		},
		"an agent waiting for the API server says so": {
			steps:   func(n *Node) { n.Waiting("waiting for the API server") },
			healthz: answer{http.StatusOK, "ok"},
			readyz:  answer{http.StatusServiceUnavailable, "waiting for the API server"},
		},
		"an agent is ready once the routers of its first configuration run": {
			steps:   func(n *Node) { n.Run(desired.Result{}) },
			healthz: answer{http.StatusOK, "ok"},
			readyz:  answer{http.StatusOK, "ok"},
		},
		"a reason given after the first configuration does not take readiness back": {
			steps:   func(n *Node) { n.Run(desired.Result{}); n.Waiting("listing interfaces: busy") },
			healthz: answer{http.StatusOK, "ok"},
			readyz:  answer{http.StatusOK, "ok"},
		},
		"an agent shutting down is not ready": {
			steps:   func(n *Node) { n.Run(desired.Result{}); n.health.notReady("shutting down") },
			healthz: answer{http.StatusOK, "ok"},
			readyz:  answer{http.StatusServiceUnavailable, "shutting down"},
		},
		"a main loop that beats every resync is alive": {
			steps: func(n *Node) {
				for range 100 {
					n.Heartbeat()
					time.Sleep(resync)
				}
			},
			healthz: answer{http.StatusOK, "ok"},
			readyz:  answer{http.StatusServiceUnavailable, "no configuration applied yet"},
		},
		"a main loop that has not started yet is not wedged, however long it waits": {
			steps:   func(*Node) { time.Sleep(time.Hour) },
			healthz: answer{http.StatusOK, "ok"},
			readyz:  answer{http.StatusServiceUnavailable, "no configuration applied yet"},
		},
		"a main loop late by less than the stall window is alive": {
			steps:   func(n *Node) { n.Heartbeat(); time.Sleep(minStallAfter) },
			healthz: answer{http.StatusOK, "ok"},
			readyz:  answer{http.StatusServiceUnavailable, "no configuration applied yet"},
		},
		"a main loop that stopped beating is wedged": {
			steps:   func(n *Node) { n.Run(desired.Result{}); n.Heartbeat(); time.Sleep(minStallAfter + time.Second) },
			healthz: answer{http.StatusServiceUnavailable, "main loop stalled: last ran 5m1s ago"},
			readyz:  answer{http.StatusOK, "ok"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := &Node{speaker: speaker.New(speaker.Options{}), health: newHealth(resync)}
				mux := newMux(prometheus.NewRegistry(), n.health)
				tc.steps(n)
				for path, want := range map[string]answer{HealthzPath: tc.healthz, ReadyzPath: tc.readyz} {
					rec := httptest.NewRecorder()
					mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
					body, _ := io.ReadAll(rec.Result().Body)
					if rec.Code != want.code || !strings.Contains(string(body), want.body) {
						t.Errorf("GET %s = %d %q, want %d with %q", path, rec.Code, body, want.code, want.body)
					}
				}
			})
		})
	}
}

func TestStallWindowFollowsResync(t *testing.T) {
	tests := map[string]struct {
		resync, want time.Duration
	}{
		"the default resync keeps the floor":           {10 * time.Second, minStallAfter},
		"no resync keeps the floor":                    {0, minStallAfter},
		"a long resync allows ten rounds to be missed": {time.Hour, 10 * time.Hour},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := newHealth(tc.resync).stallAfter; got != tc.want {
				t.Errorf("stall window for resync %v = %v, want %v", tc.resync, got, tc.want)
			}
		})
	}
}

// TestMetricsEndpointServes asks a real HTTP server for each path the probes and Prometheus use.
func TestMetricsEndpointServes(t *testing.T) {
	h := newHealth(0)
	h.setReady()
	srv := httptest.NewServer(newMux(prometheus.NewRegistry(), h))
	defer srv.Close()
	for _, path := range []string{MetricsPath, HealthzPath, ReadyzPath} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %s, want 200", path, resp.Status)
		}
	}
}
