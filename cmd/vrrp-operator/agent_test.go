package main

import (
	"testing"
	"time"

	"github.com/vrrp-dev/vrrp-operator/agent/node"
)

func TestAgentFlags(t *testing.T) {
	type want struct {
		metrics  string
		shutdown time.Duration
	}
	defaults := want{metrics: "127.0.0.1:9472", shutdown: node.DefaultShutdownTimeout}
	tests := map[string]struct {
		args    []string
		want    want
		wantErr bool
	}{
		"the defaults keep the endpoints on loopback and the 25s shutdown": {
			want: defaults,
		},
		"the shutdown timeout follows the grace period the chart passes": {
			args: []string{"--shutdown-timeout=85s"},
			want: want{metrics: defaults.metrics, shutdown: 85 * time.Second},
		},
		"a zero shutdown timeout is refused": {
			args:    []string{"--shutdown-timeout=0s"},
			wantErr: true,
		},
		"a negative shutdown timeout is refused": {
			args:    []string{"--shutdown-timeout=-5s"},
			wantErr: true,
		},
		"the node's IPv4 address from status.hostIP is taken": {
			args: []string{"--metrics-bind-address=198.51.100.253:9472"},
			want: want{metrics: "198.51.100.253:9472", shutdown: defaults.shutdown},
		},
		"the node's IPv6 address from status.hostIP is taken without brackets": {
			args: []string{"--metrics-bind-address=2001:db8::1:9472"},
			want: want{metrics: "2001:db8::1:9472", shutdown: defaults.shutdown},
		},
		"every address is taken when asked for": {
			args: []string{"--metrics-bind-address=:9472"},
			want: want{metrics: ":9472", shutdown: defaults.shutdown},
		},
		"0 turns the endpoints off": {
			args: []string{"--metrics-bind-address=0"},
			want: want{metrics: "0", shutdown: defaults.shutdown},
		},
		"an unexpanded host IP is refused before anything starts": {
			args:    []string{"--metrics-bind-address=$(HOST_IP):9472"},
			wantErr: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f, err := parseAgentFlags(append([]string{"--node-name=primary"}, tc.args...))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parseAgentFlags(%q) succeeded, want an error", tc.args)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseAgentFlags(%q): %v", tc.args, err)
			}
			if got := (want{metrics: f.MetricsAddr, shutdown: f.ShutdownTimeout}); got != tc.want {
				t.Errorf("parseAgentFlags(%q) = %+v, want %+v", tc.args, got, tc.want)
			}
		})
	}
}
