package main

import (
	"testing"
	"time"
)

func TestAgentNamespaceAndLastKnownMaxAge(t *testing.T) {
	type want struct {
		namespace, pod string
		maxAge         time.Duration
	}
	tests := map[string]struct {
		env     string // $POD_NAMESPACE
		podEnv  string // $POD_NAME
		args    []string
		want    want
		wantErr bool
	}{
		"the namespace comes from the pod's $POD_NAMESPACE and the snapshot may be 4h old": {
			env: "vrrp-system", want: want{namespace: "vrrp-system", maxAge: 4 * time.Hour},
		},
		"--namespace wins over $POD_NAMESPACE": {
			env: "vrrp-system", args: []string{"--namespace=network-system"}, want: want{namespace: "network-system", maxAge: 4 * time.Hour},
		},
		"the pod's name comes from $POD_NAME": {
			env: "vrrp-system", podEnv: "vrrp-operator-agent-x7k2p", want: want{namespace: "vrrp-system", pod: "vrrp-operator-agent-x7k2p", maxAge: 4 * time.Hour},
		},
		"--pod-name wins over $POD_NAME": {
			env: "vrrp-system", podEnv: "vrrp-operator-agent-x7k2p", args: []string{"--pod-name=agent-0"},
			want: want{namespace: "vrrp-system", pod: "agent-0", maxAge: 4 * time.Hour},
		},
		"a chart value of 30m is taken": {
			env: "vrrp-system", args: []string{"--last-known-max-age=30m"}, want: want{namespace: "vrrp-system", maxAge: 30 * time.Minute},
		},
		"0 never runs the last known configuration": {
			env: "vrrp-system", args: []string{"--last-known-max-age=0s"}, want: want{namespace: "vrrp-system"},
		},
		"no namespace anywhere is no error: the agent starts and refuses every secretRef": {
			want: want{maxAge: 4 * time.Hour},
		},
		"a negative age is refused": {
			env: "vrrp-system", args: []string{"--last-known-max-age=-1h"}, wantErr: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Setenv("POD_NAMESPACE", tc.env)
			t.Setenv("POD_NAME", tc.podEnv)
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
			if got := (want{namespace: f.namespace, pod: f.pod, maxAge: f.lastKnownMaxAge}); got != tc.want {
				t.Errorf("parseAgentFlags(%q) = %+v, want %+v", tc.args, got, tc.want)
			}
		})
	}
}
