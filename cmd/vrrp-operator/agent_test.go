package main

import (
	"testing"
	"time"

	"github.com/vrrp-dev/vrrp-operator/agent/node"
)

func TestAgentFlags(t *testing.T) {
	type want struct {
		shutdown time.Duration
	}
	defaults := want{shutdown: node.DefaultShutdownTimeout}
	tests := map[string]struct {
		args    []string
		want    want
		wantErr bool
	}{
		"the default keeps the 25s shutdown": {
			want: defaults,
		},
		"the shutdown timeout follows the grace period the chart passes": {
			args: []string{"--shutdown-timeout=85s"},
			want: want{shutdown: 85 * time.Second},
		},
		"a zero shutdown timeout is refused": {
			args:    []string{"--shutdown-timeout=0s"},
			wantErr: true,
		},
		"a negative shutdown timeout is refused": {
			args:    []string{"--shutdown-timeout=-5s"},
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
			if got := (want{shutdown: f.ShutdownTimeout}); got != tc.want {
				t.Errorf("parseAgentFlags(%q) = %+v, want %+v", tc.args, got, tc.want)
			}
		})
	}
}
