package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Paths served on the metrics address.
const (
	MetricsPath = "/metrics"
	// HealthzPath is liveness: the process serves and its main loop is not wedged.
	HealthzPath = "/healthz"
	// ReadyzPath is readiness: the first configuration was loaded and its routers started.
	ReadyzPath = "/readyz"
)

// minStallAfter is the least time without a heartbeat of the main loop before /healthz fails. A
// failed liveness probe restarts the agent, a failover, so it is generous: a slow sync (Secrets read
// one by one from an API server that times out, routers that take stopWait each to stop) must never
// trip it; only a loop that is stuck for good does.
const minStallAfter = 5 * time.Minute

// health is what /healthz and /readyz answer.
type health struct {
	stallAfter time.Duration

	mu     sync.Mutex
	ready  bool
	reason string    // why not ready
	beat   time.Time // the main loop's last heartbeat; zero until it runs
}

// newHealth returns a health that is not ready yet, for a main loop that runs every resync.
func newHealth(resync time.Duration) *health {
	return &health{stallAfter: max(10*resync, minStallAfter), reason: "no configuration applied yet"}
}

// setReady records that the routers of a configuration were started.
func (h *health) setReady() {
	h.mu.Lock()
	h.ready, h.reason = true, ""
	h.mu.Unlock()
}

// waiting says why the agent is not ready yet; it changes nothing once it is.
func (h *health) waiting(reason string) {
	h.mu.Lock()
	if !h.ready {
		h.reason = reason
	}
	h.mu.Unlock()
}

// notReady makes the agent unready for good (shutting down).
func (h *health) notReady(reason string) {
	h.mu.Lock()
	h.ready, h.reason = false, reason
	h.mu.Unlock()
}

func (h *health) heartbeat() {
	h.mu.Lock()
	h.beat = time.Now()
	h.mu.Unlock()
}

func (h *health) readyz(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	ready, reason := h.ready, h.reason
	h.mu.Unlock()
	if !ready {
		http.Error(w, reason, http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// healthz fails only when the main loop ran once and then stopped beating for stallAfter: before
// its first beat the agent is waiting (for the API server's caches, say), which is not wedged.
func (h *health) healthz(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	beat := h.beat
	h.mu.Unlock()
	if since := time.Since(beat); !beat.IsZero() && since > h.stallAfter {
		http.Error(w, fmt.Sprintf("main loop stalled: last ran %v ago", since.Round(time.Second)), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// newMux serves the metrics of reg and the health endpoints.
func newMux(reg *prometheus.Registry, h *health) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle(MetricsPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc(HealthzPath, h.healthz)
	mux.HandleFunc(ReadyzPath, h.readyz)
	return mux
}

// serveMetrics serves newMux on addr, as returned by ParseBindAddress ("" for none), until the
// returned function is called.
func serveMetrics(addr string, reg *prometheus.Registry, h *health, log logr.Logger) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for metrics on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: newMux(reg, h), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(err, "serving metrics")
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
