package kube

import (
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

func TestTheAgentsClientIsNotHeldBackByClientGosDefaultRateLimit(t *testing.T) {
	limiter := flowcontrol.NewFakeAlwaysRateLimiter()
	for _, tc := range []struct {
		name    string
		in      rest.Config
		wantQPS float32
	}{
		{"a kubeconfig file's configuration, which sets no limit, gets none", rest.Config{}, -1},
		{"the in-cluster configuration keeps controller-runtime's none", rest.Config{QPS: -1}, -1},
		{"a limit set on purpose stays", rest.Config{QPS: 50, Burst: 100}, 50},
		{"a rate limiter set on purpose stays", rest.Config{RateLimiter: limiter}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.in.QPS
			got := clientConfig(&tc.in)
			if got.QPS != tc.wantQPS {
				t.Errorf("QPS %v, want %v", got.QPS, tc.wantQPS)
			}
			if got.Timeout == 0 {
				t.Error("no request timeout: a request to an API server that went away would hang the status writer")
			}
			if tc.in.QPS != before {
				t.Error("the cluster's configuration was changed, not copied")
			}
		})
	}
}
